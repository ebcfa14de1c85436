#!/bin/sh
# Install what torbox's tests and demo need on a fresh Debian 12 machine (run as root).
# Idempotent: a stamp keyed by this file's content skips the work on the next run.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
stamp="$here/build/.host-deps-$(sha256sum "$0" | cut -c1-12)"
[ -e "$stamp" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "host-deps: run as root (apt-get, network namespaces and nft need it)" >&2
	exit 1
fi

# Never let a system-wide tor run: only the tests' private Tor network may.
mkdir -p /etc/systemd/system
for unit in tor.service tor@default.service; do
	[ -e "/etc/systemd/system/$unit" ] || ln -s /dev/null "/etc/systemd/system/$unit"
done

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	tor nftables dnsmasq-base shellcheck tcpdump busybox isc-dhcp-client \
	dropbear-bin openssh-server openssh-client iproute2 curl socat conntrack \
	python3-venv ca-certificates binutils procps psmisc kmod \
	openssl tmux util-linux \
	chromium fonts-dejavu-core faketime \
	debootstrap qemu-user-static qemu-system-mips zstd e2fsprogs \
	git gcc make libc6-dev patch cmake pkg-config meson ninja-build \
	libjson-c-dev zlib1g-dev libssl-dev linux-libc-dev \
	python3-bottle python3-stem libbsd-dev
# MicroPython for the ujson test runs on Node (npm); only install Debian's when none is there
if ! command -v npm >/dev/null; then
	apt-get install -y -q --no-install-recommends nodejs npm
fi
# stop anything a package script started despite the mask (only tor processes owned by init)
for pid in $(pgrep -x tor -P 1 2>/dev/null || true); do
	kill "$pid" || true
done

mkdir -p "$here/build"
touch "$stamp"
