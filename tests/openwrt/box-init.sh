#!/bin/sh
# Runs as PID 1 of a new mount+PID namespace inside a rig network namespace (see box.py):
# builds the box's root as an overlay of the userland layer over the host, on a tmpfs, and
# hands over to the box's own PID 1. Nothing here writes to the host's filesystems.
set -eu
layer=$1 mnt=$2 mode=$3

mount -t tmpfs -o mode=0755 tbx-owrt "$mnt"
mkdir -p "$mnt/layer" "$mnt/upper" "$mnt/work" "$mnt/root"
# overlayfs refuses a layer inside another layer's tree: copy the layer onto the tmpfs.
cp -a "$layer/." "$mnt/layer/"
mount -t overlay overlay \
	-o "lowerdir=$mnt/layer:/,upperdir=$mnt/upper,workdir=$mnt/work" "$mnt/root"
r=$mnt/root
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$r/run"
# /etc/netns/<ns> files that `ip netns exec` bound over /etc would be invisible in the
# overlay: the box gets its own resolv.conf from netifd/dnsmasq like a router.
exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	TBX_MODE="$mode" /bin/sh /tbx-init
