"""OpenWrt's *host* apk (apk-tools v3 with `mkpkg`), built from the userland's pinned sources.

OpenWrt packs .apk files with the host build of package/system/apk (`$(STAGING_DIR_HOST)/
bin/apk mkpkg`); the router's apk is built with -Dminimal=true and has no mkpkg. So `make apk`
builds the host variant here: the same apk-tools commit and OpenWrt patches that
`make openwrt-userland` verified against tests/openwrt/userland.lock, with OpenWrt's host
meson options (MESON_COMMON_ARGS + crypto openssl; help and LTO off: the packages are the
same). Cached under ~/.cache/torbox/openwrt/host-apk/<hash of sources and options>/apk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USERLAND = ROOT / "tests" / "openwrt" / "userland.py"
NOT_BUILT = "OpenWrt's userland is not built: run `make openwrt-userland`"
# package/system/apk/Makefile: MESON_COMMON_ARGS + MESON_HOST_ARGS (no -Dminimal), minus
# -Db_lto=true and -Dhelp=enabled (the help text needs a Lua interpreter at build time)
MESON_OPTS = ["-Ddocs=disabled", "-Dhelp=disabled", "-Dlua=disabled", "-Ddefault_library=static",
              "-Durl_backend=wget", "-Dzstd=disabled", "-Dpython=disabled", "-Dtests=disabled",
              "-Dcrypto_backend=openssl"]


class HostApkError(RuntimeError):
    pass


def userland_cache() -> Path:
    """~/.cache/torbox/openwrt, from the built userland's root (<cache>/<key>/root)."""
    if not USERLAND.exists():
        raise HostApkError(f"{NOT_BUILT} ({USERLAND} is missing)")
    proc = subprocess.run([sys.executable, str(USERLAND), "path"], capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise HostApkError(f"{NOT_BUILT}\n{proc.stdout}{proc.stderr}".rstrip())
    return Path(proc.stdout.strip().splitlines()[-1]).parent.parent


def host_apk() -> Path:
    cache = userland_cache()
    src, ow = cache / "src" / "apk-tools", cache / "src" / "openwrt"
    patches = sorted((ow / "package" / "system" / "apk" / "patches").glob("*.patch"))
    stamps = [src / ".torbox-source", ow / ".torbox-source"]
    for need in stamps:
        if not need.is_file():
            raise HostApkError(f"{NOT_BUILT} (no {need})")
    h = hashlib.sha256()
    for p in [*stamps, *patches]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(" ".join(MESON_OPTS).encode())
    out = cache / "host-apk" / h.hexdigest()[:16]
    apk = out / "apk"
    if apk.is_file():
        return apk
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    with tempfile.TemporaryDirectory(prefix="apk-tools.", dir=out) as tmp, \
            log.open("w") as fh:
        work = Path(tmp) / "apk-tools"
        shutil.copytree(src, work, symlinks=True)
        env = dict(os.environ, VERSION=(work / "VERSION").read_text().strip())
        steps = [["patch", "-p1", "-N", "--no-backup-if-mismatch", "-i", str(p)] for p in patches]
        steps += [["meson", "setup", "_build", "--buildtype=release", *MESON_OPTS],
                  ["ninja", "-C", "_build", "src/apk"]]
        for step in steps:
            fh.write(f"$ {' '.join(step)}\n")
            fh.flush()
            r = subprocess.run(step, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise HostApkError(f"building the host apk failed at `{' '.join(step)}`: see {log}")
        shutil.copy2(work / "_build" / "src" / "apk", apk.with_suffix(".tmp"))
        apk.with_suffix(".tmp").rename(apk)
    return apk


if __name__ == "__main__":
    try:
        print(host_apk())
    except HostApkError as exc:
        print(f"hostapk: {exc}", file=sys.stderr)
        sys.exit(1)
