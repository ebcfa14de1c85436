#!/usr/bin/env python3
"""Build torbox's .apk for OpenWrt 25.12 (apk-tools v3): build/torbox-<version>.apk.

The same feed Makefile run as for the .ipk (see pkgbuild.py), down the CONFIG_USE_APK
branch of OpenWrt's package-pack.mk: post-install / post-upgrade / pre-deinstall built
from default_postinst / default_prerm plus torbox's prerm-pkg, lib/apk/packages/torbox.list,
.conffiles and .conffiles_static (sha256) inside the files tree, and `apk mkpkg --info ...
--script ... --files DIR` with the apk-tools v3 of the project's OpenWrt userland
(`make openwrt-userland`). Without that apk this fails; it never falls back to anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pkgbuild

USERLAND = pkgbuild.ROOT / "tests" / "openwrt" / "userland.py"
NOT_BUILT = "apk-tools v3 is not built: run `make openwrt-userland` (or set APK=/path/to/apk)"


def find_apk() -> tuple[Path, dict[str, str]]:
    """The apk binary and the environment it runs in (its libraries may sit beside it)."""
    libs: list[str] = []
    if os.environ.get("APK"):
        apk = Path(os.environ["APK"])
    else:
        if not USERLAND.exists():
            raise pkgbuild.BuildError(f"{NOT_BUILT} ({USERLAND} is missing)")
        proc = subprocess.run([sys.executable, str(USERLAND), "path"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise pkgbuild.BuildError(f"{NOT_BUILT}\n{proc.stdout}{proc.stderr}".rstrip())
        root = Path(proc.stdout.strip().splitlines()[-1])
        apk = root / "usr" / "bin" / "apk"
        libs = [str(root / "usr" / "lib"), str(root / "lib")]
    if not (apk.is_file() and os.access(apk, os.X_OK)):
        raise pkgbuild.BuildError(f"{NOT_BUILT} (no {apk})")
    if os.environ.get("LD_LIBRARY_PATH"):
        libs.append(os.environ["LD_LIBRARY_PATH"])
    env = {"LD_LIBRARY_PATH": ":".join(libs)}
    proc = subprocess.run([str(apk), "--version"], capture_output=True, text=True,
                          env={**os.environ, **env})
    if proc.returncode != 0 or not proc.stdout.startswith("apk-tools 3."):
        raise pkgbuild.BuildError(f"{apk} is not apk-tools v3: {proc.stdout}{proc.stderr}")
    return apk, env


def build(out_dir: Path) -> Path:
    apk, env = find_apk()
    extra = {"CONFIG_USE_APK": "y", "APK": str(apk)}
    if os.geteuid() != 0:  # apk mkpkg records each file's owner by name, as OpenWrt's build does
        fakeroot = shutil.which("fakeroot")
        if not fakeroot:
            raise pkgbuild.BuildError("not root and no fakeroot: files would be owned by you")
        extra["FAKEROOT"] = fakeroot
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="torbox-apk.") as tmp:
        pkgbuild.run_make("compile", Path(tmp), out_dir.resolve(), extra=extra, env_extra=env)
    return pkgbuild.packed(out_dir, f"torbox-{pkgbuild.version()}.apk")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=pkgbuild.BUILD)
    args = p.parse_args()
    try:
        path = build(args.out)
    except pkgbuild.BuildError as exc:
        print(f"mkapk: {exc}", file=sys.stderr)
        return 1
    print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
