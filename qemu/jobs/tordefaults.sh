# shellcheck shell=sh
# For the memory comparison: stop torbox's tor and run tor with its own defaults (only
# what it needs to reach the private test network), same VM, same run.
#   sh /job/tordefaults.sh start | stop
set -eu
d=/run/tor-defaults
case $1 in
start)
	if [ -f /var/run/torbox/tor.pid ]; then
		kill "$(cat /var/run/torbox/tor.pid)" 2>/dev/null || true
		rm -f /var/run/torbox/tor.pid
		sleep 2
	fi
	mkdir -p "$d/data"
	chmod 700 "$d/data"
	{
		[ -f /job/tor-extra.torrc ] && cat /job/tor-extra.torrc
		echo "DataDirectory $d/data"
		echo "Log notice file $d/tor.log"
		echo "RunAsDaemon 1"
		echo "PidFile $d/tor.pid"
	} >"$d/torrc"
	: >"$d/tor.log"
	tor --defaults-torrc /dev/null -f "$d/torrc" >"$d/start.log" 2>&1
	;;
stop)
	[ -f "$d/tor.pid" ] && kill "$(cat "$d/tor.pid")" 2>/dev/null
	rm -f "$d/tor.pid"
	;;
esac
