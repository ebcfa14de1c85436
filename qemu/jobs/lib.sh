# shellcheck shell=sh
# Helpers sourced by job scripts inside the guest (/job/lib.sh). POSIX sh (dash).

# result NAME VALUE: a figure the host collects from the serial console.
result() {
	echo "TBX-RESULT $1 $2"
}

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() {
	date +%s%3N
}

# meminfo_kb FIELD: a /proc/meminfo value in kB.
meminfo_kb() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
}

# rss_kb PID: resident set size of a process in kB.
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# time_ms CMD...: run CMD, print how long it took in ms (its output is discarded).
time_ms() {
	t0=$(now_ms)
	"$@" >/dev/null 2>&1
	echo $(($(now_ms) - t0))
}
