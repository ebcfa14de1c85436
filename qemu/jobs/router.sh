# shellcheck shell=sh
# Router job: the router as it comes out of the box (WAN on eth0, wired LAN port eth1
# in br-lan at 192.168.8.1, dropbear with a fresh host key), then it waits while the
# host deploys and tests over SSH. The host ends it by creating /run/tbx-poweroff.
# /job/env sets WAN_ADDR (cidr, empty: no WAN address), WAN_GW, WAN_DNS, LAN_ADDR, WAIT_MAX,
# RADIOS (simulated Wi-Fi radios: phy0 for the router's AP, the rest for stations).
# shellcheck source=/dev/null
. /job/lib.sh
# shellcheck source=/dev/null
. /job/env
set -eu

modprobe -a nf_tables bridge 2>/dev/null || true
ip link set eth0 up
if [ -n "${WAN_ADDR:-}" ]; then
	ip addr add "$WAN_ADDR" dev eth0
	ip route add default via "$WAN_GW" dev eth0
fi
# The resolver the WAN's DHCP would hand out (tor_off's dnsmasq forwards to it).
if [ -n "${WAN_DNS:-}" ]; then
	echo "nameserver $WAN_DNS" >/etc/resolv.conf
fi
ip link add br-lan type bridge
ip link set eth1 master br-lan
ip link set eth1 up
ip link set br-lan up
ip addr add "${LAN_ADDR:-192.168.8.1/24}" dev br-lan
echo 1 >/proc/sys/net/ipv4/ip_forward
if [ "${RADIOS:-0}" -gt 0 ]; then
	modprobe mac80211_hwsim radios="$RADIOS"
fi

mkdir -p /root/.ssh /etc/dropbear
install -m 600 /job/authorized_keys /root/.ssh/authorized_keys
key=/etc/dropbear/dropbear_ed25519_host_key
rm -f "$key"
dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1
# What a user reads off the console to check the key on first connection.
pub=$(dropbearkey -y -f "$key" | awk '/^ssh-ed25519 / { print $2 }')
fp=$(python3 -c 'import base64, hashlib, sys
d = hashlib.sha256(base64.b64decode(sys.argv[1])).digest()
print("SHA256:" + base64.b64encode(d).decode().rstrip("="))' "$pub")
echo "TBX-HOSTKEY ssh-ed25519 $fp"
dropbear -F -E -s -r "$key" -p 22 >/run/dropbear.log 2>&1 &
# procd's part on OpenWrt: start torbox's services once deploy has applied a config.
sh /job/svc.sh >/var/log/tbx-svc.log 2>&1 &
echo "TBX-READY uptime=$(cut -d' ' -f1 /proc/uptime) mem_available_kb=$(meminfo_kb MemAvailable)"

limit=${WAIT_MAX:-1800}
while [ ! -e /run/tbx-poweroff ]; do
	up=$(cut -d. -f1 /proc/uptime)
	if [ "$up" -gt "$limit" ]; then
		echo "router job: no poweroff request after $limit s"
		exit 3
	fi
	sleep 5
done
cat /run/tbx-poweroff 2>/dev/null || true
