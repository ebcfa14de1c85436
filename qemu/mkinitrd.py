#!/usr/bin/env python3
"""Build a tiny initrd (newc cpio, gzip) for the malta guest on the host.

It holds the guest's static busybox, the modules needed to reach the root disk
and the WAN NIC (ext4, ata_piix, pcnet32 and their dependencies) and qemu/initrd-init.
Much faster to boot under emulation than Debian's udev-based initramfs.
"""

from __future__ import annotations

import argparse
import gzip
import io
import stat
from pathlib import Path

HERE = Path(__file__).resolve().parent
# crc32c_generic: ext4/jbd2 ask the crypto API for crc32c at mount time (soft dependency).
WANTED = ["crc32c_generic", "ext4", "ata_piix", "pcnet32"]


def _name(path: str) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def module_order(moddir: Path, wanted: list[str]) -> list[str]:
    """Module paths (relative to moddir) in load order, dependencies first."""
    deps: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        paths[_name(mod)] = mod
        deps[mod] = rest.split()
    builtin = {_name(x) for x in (moddir / "modules.builtin").read_text().split()}
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        # modules.dep lists every (transitive) dependency; load the deepest first.
        for dep in reversed(deps[mod]):
            visit(dep)
        order.append(mod)

    for name in wanted:
        if name in builtin:
            continue
        if name not in paths:
            raise SystemExit(f"mkinitrd: module {name} not found in {moddir}")
        visit(paths[name])
    return order


class Cpio:
    """Minimal writer for the kernel's newc initramfs format."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)):
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self.buf.write(name.encode() + b"\0")
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self) -> None:
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def build(root: Path, kver: str) -> bytes:
    moddir = root / "lib/modules" / kver
    cpio = Cpio()
    for d in ["bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules", "etc"]:
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.file("bin/busybox", (root / "bin/busybox").read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.file("init", (HERE / "initrd-init").read_bytes(), 0o755)
    names = []
    for rel in module_order(moddir, WANTED):
        name = _name(rel)
        cpio.file(f"lib/modules/{name}.ko", (moddir / rel).read_bytes())
        names.append(name)
    cpio.file("etc/modules", ("\n".join(names) + "\n").encode())
    return gzip.compress(cpio.finish(), compresslevel=6, mtime=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", type=Path, required=True, help="guest root filesystem tree")
    ap.add_argument("--kver", required=True, help="kernel version (lib/modules/<kver>)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.write_bytes(build(args.root, args.kver))


if __name__ == "__main__":
    main()
