#!/usr/bin/env python3
"""Build torbox's .ipk without the OpenWrt SDK: build/torbox_<version>_all.ipk.

Runs the feed Makefile through package/sdk-shim (see pkgbuild.py): Package/torbox/install
stages the payload, OpenWrt's package-pack.mk steps write the control file and the
generated postinst/prerm (plus torbox's prerm-pkg), and sdk-shim/scripts/ipkg-build packs
it as OpenWrt's ipkg-build does: a gzip'd GNU tar of ./debian-binary, ./data.tar.gz and
./control.tar.gz, reproducible (names sorted, owner 0, mtime SOURCE_DATE_EPOCH, gzip -n).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pkgbuild


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="torbox-ipk.") as tmp:
        pkgbuild.run_make("compile", Path(tmp), out_dir.resolve())
    return pkgbuild.packed(out_dir, f"torbox_{pkgbuild.version()}_all.ipk")


if __name__ == "__main__":
    sys.exit(pkgbuild.main("mkipk", __doc__, build))
