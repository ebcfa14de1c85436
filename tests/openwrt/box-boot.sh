#!/bin/sh
# The boot of an OpenWrt router after preinit, as /etc/init.d/boot and rcS do it:
# first the uci-defaults scripts (each deleted once it succeeded) and the config
# checksums reload_config compares against, then every enabled init script in START
# order. Ends by marking the box booted.
if cd /etc/uci-defaults 2>/dev/null; then
	applied=""
	for file in *; do
		[ -f "$file" ] || continue
		echo "tbx-boot: uci-defaults $file"
		# shellcheck disable=SC1090  # each uci-defaults script, as OpenWrt sources it
		( . "./$file" ) && applied="$applied $file"
	done
	uci commit
	# shellcheck disable=SC2086  # a list of file names without spaces
	[ -z "$applied" ] || rm -f $applied
	cd /
fi
# /etc/init.d/boot ends with this: the baseline a later `reload_config` compares against.
/sbin/reload_config
# /etc/init.d/sysctl (S11), namespaced keys only: kernel.*, vm.*, fs.* and net.core.* of
# OpenWrt's defaults are global, and the box must never change the host.
for conf in /etc/sysctl.d/*.conf /etc/sysctl.conf; do
	[ -f "$conf" ] || continue
	grep -E '^net\.(ipv4|ipv6|netfilter)\.[a-z0-9_.]+=' "$conf" | while IFS='=' read -r key value; do
		sysctl -q -w "$key=$value" || echo "tbx-boot: sysctl $key not set"
	done
done
for s in /etc/rc.d/S*; do
	[ -x "$s" ] || continue
	echo "tbx-boot: $s boot"
	"$s" boot 2>&1
done
touch /tmp/.tbx-booted
echo "tbx-boot: booted"
