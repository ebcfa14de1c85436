#!/usr/bin/env python3
"""Build torbox's .ipk without the OpenWrt SDK.

An ipk is an `ar` archive of debian-binary, control.tar.gz and data.tar.gz.
Control fields and maintainer scripts are read from package/torbox/Makefile,
so the feed build and this one cannot drift apart. The output is reproducible:
fixed owners, modes and timestamps (SOURCE_DATE_EPOCH, default 0).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAKEFILE = os.path.join(ROOT, "package", "torbox", "Makefile")
SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def read_makefile(path: str = MAKEFILE) -> tuple[dict[str, str], dict[str, str]]:
    """Variables (PKG_*, DEPENDS, ...) and define-blocks of the feed Makefile."""
    text = open(path, encoding="utf-8").read()
    variables = dict(re.findall(r"^\s*([A-Z_]+):=(.*)$", text, flags=re.M))
    blocks = dict(re.findall(r"^define (\S+)\n(.*?)^endef$", text, flags=re.M | re.S))
    return variables, blocks


def depends(raw: str) -> str:
    """`+tor +PACKAGE_x:y` -> `tor` (conditional deps are for the feed build only)."""
    names = [d.lstrip("+") for d in raw.split() if ":" not in d]
    return ", ".join(["libc"] + names)


def payload() -> list[tuple[str, str]]:
    """(source path, path on the router) for every file the package installs."""
    pairs = []
    for src_root, dest_root in ((os.path.join(ROOT, "files"), "/"),
                                (os.path.join(ROOT, "webui"), "/usr/lib/torbox/webui/")):
        for dirpath, dirnames, filenames in os.walk(src_root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                # Build files and developer notes stay off the router's flash.
                if name.endswith((".pyc", ".mk")) or name == "README.md":
                    continue
                src = os.path.join(dirpath, name)
                rel = os.path.relpath(src, src_root)
                pairs.append((src, os.path.join(dest_root, rel)))
    return pairs


def _tar(members: list[tuple[str, bytes, int]], mtime: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=mtime) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            dirs_done: set[str] = set()
            for name, data, mode in members:
                parts = name.strip("./").split("/")[:-1]
                for i in range(len(parts)):
                    d = "./" + "/".join(parts[: i + 1])
                    if d not in dirs_done:
                        dirs_done.add(d)
                        info = tarfile.TarInfo(d)
                        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
                        tar.addfile(info)
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, mtime
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members: list[tuple[str, bytes]], mtime: int) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name + '/':<16}{mtime:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
        out.append(header.encode("ascii"))
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)


def build(out_dir: str, mtime: int) -> str:
    variables, blocks = read_makefile()
    version = f"{variables['PKG_VERSION']}-r{variables['PKG_RELEASE']}"
    files = payload()
    data_members = []
    size = 0
    for src, dest in files:
        data = open(src, "rb").read()
        if dest == "/etc/init.d/torbox":
            # stamp the version, as the feed Makefile's install step does
            data = re.sub(rb"^PKG_VERSION=.*$", f"PKG_VERSION='{version}'".encode(), data,
                          flags=re.M)
        mode = 0o755 if os.access(src, os.X_OK) else 0o644
        if dest == "/etc/config/torbox":
            mode = 0o600  # holds Wi-Fi keys once generated
        data_members.append(("." + dest, data, mode))
        size += len(data)
    control = (
        f"Package: {variables['PKG_NAME']}\n"
        f"Version: {version}\n"
        f"Depends: {depends(variables['DEPENDS'])}\n"
        f"License: {variables['PKG_LICENSE']}\n"
        "Section: net\n"
        "Architecture: all\n"
        f"Maintainer: {variables['PKG_MAINTAINER']}\n"
        f"Installed-Size: {size}\n"
        "Description: " + " ".join(blocks["Package/torbox/description"].split()) + "\n"
    )
    control_members = [("./control", control.encode(), 0o644)]
    conffiles = blocks["Package/torbox/conffiles"].strip() + "\n"
    control_members.append(("./conffiles", conffiles.encode(), 0o644))
    for script in ("postinst", "prerm", "postrm", "preinst"):
        body = blocks.get(f"Package/torbox/{script}")
        if body:
            # undo make's $$ escaping
            control_members.append((f"./{script}", body.replace("$$", "$").encode(), 0o755))
    ipk = _ar([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _tar(control_members, mtime)),
        ("data.tar.gz", _tar(data_members, mtime)),
    ], mtime)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"torbox_{version}_all.ipk")
    with open(path, "wb") as fh:
        fh.write(ipk)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(ROOT, "build"))
    args = p.parse_args()
    path = build(args.out, int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    print(f"{path} {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
