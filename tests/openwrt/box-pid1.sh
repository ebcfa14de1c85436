#!/bin/sh
# PID 1 inside the OpenWrt box: what OpenWrt's procd does at boot, minus hardware:
# the RAM-disk folders, ubusd, procd as service manager; with TBX_MODE=boot also the boot
# itself (/tbx-boot). It stays as the reaper of orphans until the rig kills the box.
mkdir -p /tmp/run /tmp/lock /tmp/state /tmp/log /tmp/.uci /tmp/resolv.conf.d
touch /tmp/resolv.conf.d/resolv.conf.auto
ln -sf /tmp/resolv.conf.d/resolv.conf.auto /tmp/resolv.conf

/usr/sbin/ubusd &
i=0
while [ ! -S /var/run/ubus/ubus.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
/usr/sbin/procd -S &
i=0
while ! ubus list service >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
touch /tmp/.tbx-up

[ "$TBX_MODE" = boot ] && /bin/sh /tbx-boot

trap 'exit 0' TERM INT
while :; do
	wait 2>/dev/null || sleep 1
done
