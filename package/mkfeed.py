#!/usr/bin/env python3
"""Export a self-contained OpenWrt feed: build/feed/torbox/ (for `src-link torbox <dir>`).

package/torbox/ reaches the repository's files/ and webui/ through the symlinks
./files and ./webui, which an SDK follows when its feed points at this repository
(`src-link torbox <repo>/package`). Copied anywhere else they would dangle, so this
writes a copy with every symlink replaced by what it points to (and no bytecode
caches or developer notes). What goes onto the router is still decided by
Package/torbox/install alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pkgbuild

# developer files beside the sources; Package/torbox/install never reads them
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.mk", "README.md")


def export(dest_root: Path) -> Path:
    dest = dest_root / "torbox"
    if dest.exists():
        shutil.rmtree(dest)
    dest_root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(pkgbuild.PKG_DIR, dest, symlinks=False, ignore=SKIP)
    for path in dest.rglob("*"):
        if path.is_symlink():  # copytree resolved them all; a link here would be a bug
            raise pkgbuild.BuildError(f"{path} is still a symlink")
    return dest


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=pkgbuild.BUILD / "feed")
    args = p.parse_args()
    dest = export(args.out)
    print(f"{dest} (feeds.conf: src-link torbox {dest.parent.resolve()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
