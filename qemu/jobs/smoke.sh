# shellcheck shell=sh
# Smoke job: memory, interpreter start-up and tor, with nothing else running.
# shellcheck source=/dev/null
. /job/lib.sh
set -eu

result boot_to_init_s "$(cut -d' ' -f1 /proc/uptime)"
result cpu "$(awk -F': ' '/^cpu model/ { print $2; exit }' /proc/cpuinfo | tr ' ' _)"
result mem_total_kb "$(meminfo_kb MemTotal)"
result mem_available_kb "$(meminfo_kb MemAvailable)"
for i in 1 2 3; do
	result "python3_c_pass_ms_$i" "$(time_ms python3 -c pass)"
done
result python3_version "$(python3 -c 'import sys; print(sys.version.split()[0])')"
result tor_version "$(tor --version | head -n 1 | tr ' ' _)"
result guest_date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
