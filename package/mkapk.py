#!/usr/bin/env python3
"""Build torbox's .apk for OpenWrt 25.12 (apk-tools v3): build/torbox-<version>.apk.

The same feed Makefile run as for the .ipk (see pkgbuild.py), down the CONFIG_USE_APK
branch of OpenWrt's package-pack.mk: post-install / post-upgrade / pre-deinstall built
from default_postinst / default_prerm plus torbox's prerm-pkg, lib/apk/packages/torbox.list,
.conffiles and .conffiles_static (sha256) inside the files tree, and `apk mkpkg --info ...
--script ... --files DIR` with OpenWrt's host apk-tools v3, built from the sources that
`make openwrt-userland` pinned and verified (hostapk.py). Without them this fails; it never
falls back to anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import hostapk
import pkgbuild


def find_apk() -> Path:
    """$APK, else OpenWrt's host apk built from the userland's pinned sources (hostapk.py)."""
    if os.environ.get("APK"):
        apk = Path(os.environ["APK"])
    else:
        try:
            apk = hostapk.host_apk()
        except hostapk.HostApkError as exc:
            raise pkgbuild.BuildError(str(exc)) from None
    proc = subprocess.run([str(apk), "--version"], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.startswith("apk-tools 3."):
        raise pkgbuild.BuildError(f"{apk} is not apk-tools v3: {proc.stdout}{proc.stderr}")
    return apk


def build(out_dir: Path) -> Path:
    apk = find_apk()
    extra = {"CONFIG_USE_APK": "y", "APK": str(apk)}
    if os.geteuid() != 0:  # apk mkpkg records each file's owner by name, as OpenWrt's build does
        fakeroot = shutil.which("fakeroot")
        if not fakeroot:
            raise pkgbuild.BuildError("not root and no fakeroot: files would be owned by you")
        extra["FAKEROOT"] = fakeroot
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="torbox-apk.") as tmp:
        pkgbuild.run_make("compile", Path(tmp), out_dir.resolve(), extra=extra)
    return pkgbuild.packed(out_dir, f"torbox-{pkgbuild.version()}.apk")


if __name__ == "__main__":
    sys.exit(pkgbuild.main("mkapk", __doc__, build))
