# shellcheck shell=sh
# A simulated phone inside the guest: one mac80211_hwsim radio moved into its own network
# namespace, so its traffic really crosses the air to the router's access point.
#   sh /job/station.sh up NAME PHY SSID   (passphrase on stdin) join, take a DHCP lease;
#                                         FREQ=MHz limits the scan to that channel,
#                                         WAIT=s how long to try (default 240)
#   sh /job/station.sh down NAME
# Run commands as the phone with: ip netns exec sta-NAME CMD...
set -eu
cmd=$1
ns=sta-$2
run=/run/$ns

case $cmd in
up)
	phy=$3
	ssid=$4
	IFS= read -r psk
	# A radio comes back from a deleted phone namespace asynchronously (the kernel cleans up
	# namespaces in a work queue): wait until it is here before moving it again.
	n=0
	until iw phy "$phy" info >/dev/null 2>&1; do
		n=$((n + 1))
		if [ $n -gt 60 ]; then
			echo "station $ns: radio $phy not back in the router's namespace after 30 s" >&2
			exit 1
		fi
		sleep 0.5
	done
	ip netns add "$ns"
	mkdir -p "$run" "/etc/netns/$ns"
	: >"/etc/netns/$ns/resolv.conf"
	iw phy "$phy" set netns name "$ns"
	ip netns exec "$ns" ip link set lo up
	dev=$(ip netns exec "$ns" iw dev | awk '$1 == "Interface" { print $2; exit }')
	umask 077
	{
		echo "ctrl_interface=$run/ctrl"
		echo "network={"
		echo "	ssid=\"$ssid\""
		echo "	psk=\"$psk\""
		echo "	key_mgmt=WPA-PSK"
		echo "	scan_ssid=1"
		# Only the AP's channel: a full hwsim scan takes ~60 s of emulated CPU.
		[ -n "${FREQ:-}" ] && echo "	scan_freq=$FREQ"
		echo "}"
	} >"$run/wpa.conf"
	t0=$(date +%s%3N)
	ip netns exec "$ns" wpa_supplicant -B -t -i "$dev" -c "$run/wpa.conf" -P "$run/wpa.pid" \
		-f "$run/wpa.log"
	# Watch wpa_supplicant's log, not wpa_cli: every `ip netns exec` costs the emulated CPU
	# time the access point's hostapd needs to answer within mac80211's auth timeouts.
	# When the AP's 4-way handshake times out on the starved CPU (AP gives up after ~2 s,
	# phone logs "WRONG_KEY"), wpa_supplicant sometimes never retries: kick it, as a person
	# would tap the network again, 15 s after each failure. The kicks are reported.
	n=0
	kicks=0
	kick_at=0
	fails=0
	tries=0
	wait_s=${WAIT:-240}
	until grep -q 'CTRL-EVENT-CONNECTED' "$run/wpa.log" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -gt "$wait_s" ]; then
			echo "station $ns: no association with $ssid after $wait_s s ($kicks kicks)" >&2
			tail -n 30 "$run/wpa.log" >&2
			exit 1
		fi
		now_fails=$(grep -c -E 'CTRL-EVENT-(DISCONNECTED|SSID-TEMP-DISABLED)' \
			"$run/wpa.log" 2>/dev/null || true)
		now_tries=$(grep -c 'Trying to authenticate' "$run/wpa.log" 2>/dev/null || true)
		if [ "${now_fails:-0}" -gt "$fails" ]; then
			fails=$now_fails
			tries=${now_tries:-0}
			kick_at=$((n + 15))
		elif [ "${now_tries:-0}" -gt "$tries" ]; then
			# It is retrying by itself: leave it alone.
			tries=$now_tries
			kick_at=0
		elif [ "$kick_at" -gt 0 ] && [ $n -ge "$kick_at" ]; then
			# The control socket is a file, so no `ip netns exec` is needed.
			wpa_cli -p "$run/ctrl" -i "$dev" enable_network 0 >/dev/null 2>&1 || true
			wpa_cli -p "$run/ctrl" -i "$dev" reassociate >/dev/null 2>&1 || true
			kicks=$((kicks + 1))
			kick_at=0
		fi
		sleep 1
	done
	t1=$(date +%s%3N)
	# Up to 45 s: a lease took 6-15 s here, on an emulated CPU shared with the phone itself.
	TBX_DHCP_OUT=$run/lease ip netns exec "$ns" busybox udhcpc -i "$dev" -s /job/udhcpc.sh \
		-q -f -n -t 15 -T 3 >"$run/udhcpc.log" 2>&1 || {
		echo "station $ns: no DHCP lease on $ssid" >&2
		cat "$run/udhcpc.log" >&2
		exit 1
	}
	t2=$(date +%s%3N)
	dns=$(sed -n 's/^dns=//p' "$run/lease")
	for d in $dns; do
		echo "nameserver $d"
	done >"/etc/netns/$ns/resolv.conf"
	echo "dev=$dev"
	echo "associate_ms=$((t1 - t0))"
	echo "associate_kicks=$kicks"
	echo "dhcp_ms=$((t2 - t1))"
	cat "$run/lease"
	;;
down)
	# The phone's Wi-Fi log goes to the serial console, which the host keeps.
	[ -f "$run/wpa.log" ] && sed "s/^/$ns: /" "$run/wpa.log" >/dev/console
	if [ -f "$run/wpa.pid" ]; then
		kill "$(cat "$run/wpa.pid")" 2>/dev/null || true
	fi
	# Deleting the namespace hands the radio back to the initial namespace.
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$run" "/etc/netns/$ns"
	;;
*)
	echo "usage: station.sh up NAME PHY SSID | down NAME" >&2
	exit 2
	;;
esac
