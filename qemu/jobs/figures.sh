# shellcheck shell=sh
# Memory figures of the running router, as TBX-RESULT lines on stdout (run over SSH):
# /proc/meminfo, and RSS and PSS (shared pages split between their users) of each
# service that has a pid file in /var/run/torbox, and the CPU time each has used so far.
# shellcheck source=/dev/null
. /job/lib.sh
for pair in total:MemTotal available:MemAvailable free:MemFree cached:Cached shmem:Shmem \
	anon:AnonPages mapped:Mapped active_file:'Active(file)' inactive_file:'Inactive(file)' \
	slab:Slab slab_unreclaimable:SUnreclaim kernel_stack:KernelStack page_tables:PageTables; do
	result "mem_${pair%%:*}_kb" "$(meminfo_kb "${pair#*:}")"
done
tck=$(getconf CLK_TCK)
for f in /var/run/torbox/*.pid; do
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	name=$(basename "$f" .pid | tr - _)
	if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
		result "rss_${name}_kb" "$(rss_kb "$pid")"
		result "pss_${name}_kb" "$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup")"
		# utime + stime, fields 14 and 15 (counted after the ")" that ends the name)
		result "cpu_${name}_ms" "$(sed 's/.*) //' "/proc/$pid/stat" |
			awk -v t="$tck" '{ print int(($12 + $13) * 1000 / t) }')"
	else
		result "rss_${name}_kb" dead
	fi
done
# Everything else that runs (the test harness's sessions and the guest's stand-ins).
result processes "$(ps -eo rss=,comm= | awk '$1 > 0 { printf "%s:%s ", $2, $1 }')"
