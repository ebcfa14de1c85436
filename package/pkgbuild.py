"""Run the feed Makefile (package/torbox/Makefile) the way the OpenWrt SDK does.

Every builder goes through here: `make ipk`, `make apk`, `make feed` and the tests. The
feed Makefile's Package/torbox/install block is executed by make, with package/sdk-shim
standing in for OpenWrt's rules.mk and package.mk (same INSTALL_* definitions, same
BuildPackage, same generated maintainer scripts and packing), so there is one payload
manifest and nothing here re-implements the mapping from the repository to the router.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PKG_DIR = HERE / "torbox"
MAKEFILE = PKG_DIR / "Makefile"
SHIM = HERE / "sdk-shim"
BUILD = ROOT / "build"
# what the make run inherits from a calling make must not leak into it
_MAKE_ENV_DROP = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS")


class BuildError(RuntimeError):
    pass


def epoch() -> int:
    """SOURCE_DATE_EPOCH (default 0): every timestamp in the packages."""
    return int(os.environ.get("SOURCE_DATE_EPOCH") or 0)


def run_make(goal: str, build_dir: Path, out_dir: Path, pkg_dir: Path = PKG_DIR,
             extra: dict[str, str] | None = None) -> str:
    """`make -C <pkg_dir> <goal>` with the shim as TOPDIR; returns make's output."""
    env = {k: v for k, v in os.environ.items() if k not in _MAKE_ENV_DROP}
    env["SOURCE_DATE_EPOCH"] = str(epoch())
    args = ["make", "--no-print-directory", "-C", str(pkg_dir), f"TOPDIR={SHIM}",
            f"PKG_BUILD_DIR={build_dir}", f"PACKAGE_DIR={out_dir}", f"PYTHON={sys.executable}"]
    args += [f"{k}={v}" for k, v in (extra or {}).items()]
    # OpenWrt builds under umask 022; the folders make creates take their mode from it
    proc = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *args, goal],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(args)} {goal} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


def stage(dest: Path, pkg_dir: Path = PKG_DIR) -> Path:
    """Run Package/torbox/install (plus OpenWrt's keep.d step) into a fresh root; return it."""
    if dest.exists():
        shutil.rmtree(dest)
    run_make("stage", dest, dest / "out", pkg_dir)
    root = dest / "ipkg-all" / "torbox"
    if not root.is_dir():
        raise BuildError(f"make stage left no {root}")
    return root


def variables(path: Path = MAKEFILE) -> dict[str, str]:
    """The feed Makefile's simple `NAME:=value` assignments (PKG_VERSION, PKG_RELEASE, ...)."""
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"^\s*([A-Z_]+):=(.*)$", text, flags=re.M))


def version(path: Path = MAKEFILE) -> str:
    """PKG_VERSION-rPKG_RELEASE, as OpenWrt's package-defaults.mk forms VERSION."""
    v = variables(path)
    return f"{v['PKG_VERSION']}-r{v['PKG_RELEASE']}"


def packed(out_dir: Path, pattern: str) -> Path:
    found = sorted(out_dir.glob(pattern))
    if len(found) != 1:
        raise BuildError(f"expected one {pattern} in {out_dir}, found {found}")
    return found[0]


def main(tool: str, doc: str, build: Callable[[Path], Path]) -> int:
    """The command line of mkipk/mkapk: `--out DIR`, build, print the package and its size."""
    p = argparse.ArgumentParser(prog=tool, description=doc.splitlines()[0])
    p.add_argument("--out", type=Path, default=BUILD)
    args = p.parse_args()
    try:
        path = build(args.out)
    except BuildError as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return 1
    print(f"{path} {path.stat().st_size} bytes")
    return 0
