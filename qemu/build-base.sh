#!/bin/sh
# Stage 1 of the router image: a Debian bookworm mipsel root tree (debootstrap, second
# stage under qemu-user-static) with qemu/packages.txt, packed as
# $TORBOX_QEMU_CACHE/base-<key>.tar.zst; <key> hashes this script, the package list
# and the mirror. Called by build-image.sh; prints the tarball's path.
#   qemu/build-base.sh --key    print the key only
set -eu

here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
arch=mipsel
cache=${TORBOX_QEMU_CACHE:-$here/cache}

log() { printf '%s build-base: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The Debian mirror this machine's apt already uses (no other host is contacted).
detect_mirror() {
	if [ -n "${TORBOX_QEMU_MIRROR:-}" ]; then
		echo "$TORBOX_QEMU_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$suite" '
			/^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
			$1 == "URIs:" { uri = $2 }
			$1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (uri != "" && ok) print uri }
		' "$f"
	done | head -n 1 | grep . && return
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' | grep . ||
		die "no Debian $suite mirror in /etc/apt/sources.list*"
}

mirror=$(detect_mirror)
key=$({
	printf 'suite=%s arch=%s mirror=%s\n' "$suite" "$arch" "$mirror"
	cat "$here/build-base.sh" "$here/packages.txt"
} | sha256sum | cut -c1-16)
if [ "${1:-}" = "--key" ]; then
	echo "$key"
	exit 0
fi
out=$cache/base-$key
if [ -f "$out.json" ] && [ -f "$out.tar.zst" ]; then
	log "cached base $out.tar.zst"
	echo "$out.tar.zst"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (chroot, binfmt_misc)"
for tool in debootstrap qemu-mipsel-static zstd; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install debootstrap qemu-user-static zstd)"
done

# Foreign binaries run through binfmt_misc; the F flag pins the interpreter so the
# chroot needs no copy of it.
ensure_binfmt() {
	bm=/proc/sys/fs/binfmt_misc
	[ -f "$bm/register" ] || mount -t binfmt_misc binfmt_misc "$bm"
	if [ ! -f "$bm/qemu-$arch" ]; then
		conf=/usr/lib/binfmt.d/qemu-$arch.conf
		[ -f "$conf" ] || die "no $conf (qemu-user-static)"
		cat "$conf" >"$bm/register"
	fi
	grep -q '^enabled' "$bm/qemu-$arch" || die "binfmt qemu-$arch disabled"
}

mkdir -p "$cache"
work=$(mktemp -d "$cache/build-base-$key.XXXXXX")
root=$work/root
cleanup() {
	# Never rm -rf through a live mount (proc, sys, dev of the chroot).
	if [ -d "$root" ]; then
		grep -F " $root/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
			umount -l "$m" || true
		done
	fi
	if grep -qF " $root/" /proc/mounts; then
		log "mounts left under $root; not removing $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
ensure_binfmt
include=$(grep -v '^[[:space:]]*#' "$here/packages.txt" | grep . | paste -sd, -)
log "stage 1: debootstrap $suite $arch from $mirror"
debootstrap --foreign --arch="$arch" --variant=minbase --include="$include" \
	"$suite" "$root" "$mirror" >"$work/stage1.log" 2>&1 ||
	{ tail -n 30 "$work/stage1.log" >&2; die "debootstrap stage 1 failed"; }
t1=$(date +%s)

# Before stage 2: no docs/man/locales, no service starts, and no initramfs-tools run
# (INITRD=No; build-image.sh makes a small initrd on the host instead).
mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/usr/sbin"
cat >"$root/etc/dpkg/dpkg.cfg.d/01-torbox-small" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
log "stage 2: second stage under qemu-$arch-static"
INITRD=No chroot "$root" /debootstrap/debootstrap --second-stage >"$work/stage2.log" 2>&1 ||
	{ tail -n 30 "$work/stage2.log" >&2; die "debootstrap stage 2 failed"; }
t2=$(date +%s)

rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/debootstrap" \
	"$root/boot"/initrd.img-* "$root"/initrd.img* "$root/var/log"/*.log
# Package versions, read on the host (no emulated process needed).
awk '/^Package:/{p=$2} /^Version:/{v=$2} /^Status:.*installed/{print p, v}' \
	"$root/var/lib/dpkg/status" | sort >"$out.lock"
used_mb=$(du -sm "$root" | cut -f1)
tar -C "$root" --numeric-owner -cf - . | zstd -3 -T0 -q >"$work/base.tar.zst"
t3=$(date +%s)
mv "$work/stage1.log" "$out.stage1.log"
mv "$work/stage2.log" "$out.stage2.log"
mv "$work/base.tar.zst" "$out.tar.zst"
cat >"$out.json" <<EOF
{
  "key": "$key",
  "suite": "$suite",
  "arch": "$arch",
  "mirror": "$mirror",
  "root_mb": $used_mb,
  "tar_zst_bytes": $(stat -c %s "$out.tar.zst"),
  "seconds_stage1": $((t1 - t0)),
  "seconds_stage2": $((t2 - t1)),
  "seconds_pack": $((t3 - t2)),
  "seconds_total": $((t3 - t0)),
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
log "base ready in $((t3 - t0)) s: $out.tar.zst"
echo "$out.tar.zst"
