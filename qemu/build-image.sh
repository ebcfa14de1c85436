#!/bin/sh
# Build the Debian mipsel malta router image for QEMU, cached under
# $TORBOX_QEMU_CACHE (default qemu/cache)/<key>/ where <key> hashes every input:
# the base root tree (build-base.sh: debootstrap + qemu/packages.txt) and what this
# script adds (guest init, initrd). Older cached images and bases are removed.
#   qemu/build-image.sh         build (or reuse) and print the image directory
#   qemu/build-image.sh --key   print the cache key only
# Needs root (chroot, binfmt_misc), debootstrap, qemu-user-static, e2fsprogs, zstd.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${TORBOX_QEMU_CACHE:-$here/cache}

log() { printf '%s build-image: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

base_key=$("$here/build-base.sh" --key)
key=$({
	echo "base=$base_key"
	for f in "$here/build-image.sh" "$here/mkinitrd.py" "$here/initrd-init" "$here"/guest/*; do
		printf '== %s\n' "${f#"$here"/}"
		cat "$f"
	done
} | sha256sum | cut -c1-16)
if [ "${1:-}" = "--key" ]; then
	echo "$key"
	exit 0
fi
out=$cache/$key
if [ -f "$out/build.json" ]; then
	log "cached image $out"
	echo "$out"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (the root tree holds root-owned files)"
for tool in mke2fs zstd python3; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install e2fsprogs zstd)"
done

t0=$(date +%s)
base=$("$here/build-base.sh")
t1=$(date +%s)

mkdir -p "$cache"
work=$(mktemp -d "$cache/build-$key.XXXXXX")
root=$work/root
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

log "assemble image $key from $(basename "$base")"
mkdir "$root"
zstd -dc -q "$base" | tar -C "$root" --numeric-owner -xf -
echo torbox-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 torbox-vm\n' >"$root/etc/hosts"
printf 'LABEL=tbxroot / ext4 rw,noatime 0 1\n' >"$root/etc/fstab"
: >"$root/etc/resolv.conf"
install -m 755 "$here/guest/tbx-init" "$root/sbin/tbx-init"

kver=$(basename "$(ls -d "$root"/lib/modules/*)")
# Debian's malta "vmlinuz" is an uncompressed ELF that -kernel loads as is.
cp "$root/boot/vmlinuz-$kver" "$work/vmlinux"
python3 "$here/mkinitrd.py" --root "$root" --kver "$kver" --out "$work/initrd.img"

used_mb=$(du -sm "$root" | cut -f1)
size_mb=$((used_mb * 13 / 10 + 128))
log "rootfs ${used_mb} MB used, ext4 image ${size_mb} MB"
mke2fs -q -t ext4 -L tbxroot -d "$root" -F "$work/rootfs.ext4" "${size_mb}M"
t2=$(date +%s)

base_json=${base%.tar.zst}.json
mkdir -p "$out.new"
mv "$work/vmlinux" "$work/initrd.img" "$work/rootfs.ext4" "$out.new/"
cp "${base%.tar.zst}.lock" "$out.new/packages.lock"
cat >"$out.new/build.json" <<EOF
{
  "key": "$key",
  "base": $(cat "$base_json"),
  "kernel": "$kver",
  "rootfs_used_mb": $used_mb,
  "rootfs_image_mb": $size_mb,
  "rootfs_disk_kb": $(du -sk "$out.new/rootfs.ext4" | cut -f1),
  "initrd_bytes": $(stat -c %s "$out.new/initrd.img"),
  "kernel_bytes": $(stat -c %s "$out.new/vmlinux"),
  "seconds_base": $((t1 - t0)),
  "seconds_assemble": $((t2 - t1)),
  "seconds_total": $((t2 - t0)),
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
rm -rf "$out"
mv "$out.new" "$out"

# Keep the cache to the current image and base (each old one is hundreds of MB).
for old in "$cache"/????????????????; do
	[ -d "$old" ] && [ "$old" != "$out" ] && rm -rf "$old"
done
for old in "$cache"/base-*.json; do
	[ -f "$old" ] || continue
	stem=${old%.json}
	[ "$stem" = "${base%.tar.zst}" ] || rm -f "$stem".*
done
log "image ready in $((t2 - t0)) s: $out"
echo "$out"
