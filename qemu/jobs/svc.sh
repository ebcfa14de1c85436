# shellcheck shell=sh
# The Debian guest's stand-in for procd + /etc/init.d/torbox: whenever torbox's generated
# files (torbox apply --target linux) or its config change, (re)start what they describe,
# the way tests/rig/router.py runs them in the network rig: bridges with the router
# addresses, per-interface sysctls, one dnsmasq per network, tor with the rendered torrc
# (plus /job/tor-extra.torrc: the private test network), hostapd, and the status page.
# On OpenWrt, netifd, fw4, /etc/init.d/tor and torbox's own procd service do this.
GEN=/etc/torbox/generated
CONF=/etc/config/torbox
RUN=/var/run/torbox
LOG=/var/log/torbox
export PYTHONPATH=/usr/lib/torbox PYTHONDONTWRITEBYTECODE=1

say() {
	echo "TBX-SVC $* uptime=$(cut -d' ' -f1 /proc/uptime)" >/dev/console
}

signature() {
	cat "$CONF" "$GEN"/* 2>/dev/null | cksum
}

stop_pid() {
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.2
			n=$((n + 1))
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$1"
}

# name device router prefixlen per enabled network, from torbox's own config model.
networks() {
	python3 -c 'import sys
from torbox import config
cfg = config.load(sys.argv[1])
for n in cfg.enabled_networks:
    print(n.name, n.device, n.router, n.subnet.prefixlen)' "$CONF"
}

bridges() {
	networks >"$RUN/networks" || return 1
	while read -r _name dev router plen; do
		ip link show "$dev" >/dev/null 2>&1 || ip link add "$dev" type bridge
		ip link set "$dev" up
		if ! ip -4 addr show dev "$dev" | grep -q " $router/$plen "; then
			ip -4 addr flush dev "$dev"
			ip addr add "$router/$plen" dev "$dev"
		fi
	done <"$RUN/networks"
}

start_tor() {
	stop_pid "$RUN/tor.pid"
	{
		cat "$GEN/torrc"
		echo "# ---- added by the QEMU guest's service stand-in"
		[ -f /job/tor-extra.torrc ] && cat /job/tor-extra.torrc
		echo "RunAsDaemon 1"
		echo "PidFile $RUN/tor.pid"
		echo "Log notice file $LOG/tor.log"
	} >"$RUN/torrc"
	data=$(awk '$1 == "DataDirectory" { print $2 }' "$RUN/torrc" | tail -n 1)
	ctl=$(awk '$1 == "ControlPort" { sub(/^unix:/, "", $2); print $2 }' "$RUN/torrc" | tail -n 1)
	for d in ${data:-/var/lib/tor} ${ctl:+"$(dirname "$ctl")"}; do
		mkdir -p "$d"
		chown root:root "$d"
		chmod 700 "$d"
	done
	: >"$LOG/tor.log"
	tor --defaults-torrc /dev/null -f "$RUN/torrc" >"$LOG/tor.start" 2>&1 ||
		say "tor failed to start: $(tail -n 3 "$LOG/tor.start" | tr '\n' ' ')"
}

start_dnsmasq() {
	for pidf in "$RUN"/dnsmasq-*.pid; do
		stop_pid "$pidf"
	done
	for conf in "$GEN"/dnsmasq-*.conf; do
		[ -f "$conf" ] || continue
		dnsmasq -C "$conf" --user=root --log-dhcp --log-facility="$LOG/$(basename "$conf" .conf).log" ||
			say "dnsmasq $conf failed"
	done
}

start_hostapd() {
	stop_pid "$RUN/hostapd.pid"
	[ -f "$GEN/hostapd.conf" ] || return 0
	wlan=$(awk -F= '$1 == "interface" { print $2; exit }' "$GEN/hostapd.conf")
	if [ ! -e "/sys/class/net/$wlan" ]; then
		say "no $wlan: hostapd not started"
		return 0
	fi
	hostapd -B -P "$RUN/hostapd.pid" -f "$LOG/hostapd.log" "$GEN/hostapd.conf" ||
		say "hostapd failed: $(tail -n 3 "$LOG/hostapd.log" | tr '\n' ' ')"
}

start_webui() {
	stop_pid "$RUN/webui.pid"
	python3 -m webui --config "$CONF" >"$LOG/webui.log" 2>&1 &
	echo $! >"$RUN/webui.pid"
}

up() {
	mkdir -p "$RUN" "$LOG"
	bridges || { say "torbox config unreadable: services unchanged"; return 1; }
	[ -f "$GEN/sysctl.conf" ] && sysctl -q -p "$GEN/sysctl.conf"
	start_dnsmasq
	start_hostapd
	start_tor
	start_webui
	say "started"
}

last=$(signature)
while :; do
	sleep 3
	now=$(signature)
	[ "$now" = "$last" ] && continue
	# Settle: deploy writes the generated files, then the config, a moment apart.
	while sleep 3; do
		again=$(signature)
		[ "$again" = "$now" ] && break
		now=$again
	done
	last=$now
	if [ ! -f "$GEN/torrc" ] || [ ! -f "$CONF" ]; then
		continue
	fi
	say "torbox files changed"
	up
done
