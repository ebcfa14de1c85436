#!/bin/sh
# busybox udhcpc event script for rig clients: configure the interface like a phone would
# and record exactly which options the router offered (KEY=VALUE lines in $TBX_DHCP_OUT).
# It never touches /etc/resolv.conf: the rig writes the client's resolver itself.
# shellcheck disable=SC2154 # udhcpc passes the lease in the environment
case "$1" in
	deconfig)
		ip -4 addr flush dev "$interface"
		ip link set "$interface" up
		;;
	bound|renew)
		ip -4 addr flush dev "$interface"
		ip addr add "$ip/${mask:-24}" broadcast "${broadcast:-+}" dev "$interface"
		ip -4 route flush dev "$interface" proto static 2>/dev/null
		for r in $router; do
			ip route replace default via "$r" dev "$interface" proto static
			break
		done
		{
			echo "event=$1"
			echo "ip=$ip"
			echo "mask=$mask"
			echo "subnet=$subnet"
			echo "broadcast=$broadcast"
			echo "router=$router"
			echo "dns=$dns"
			echo "domain=$domain"
			echo "serverid=$serverid"
			echo "lease=$lease"
			echo "ntpsrv=$ntpsrv"
			echo "opt_names=$(env | sed -n 's/^\([a-z0-9_]*\)=.*/\1/p' | sort | tr '\n' ' ')"
		} > "$TBX_DHCP_OUT"
		;;
esac
exit 0
