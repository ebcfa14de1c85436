#!/usr/bin/env python3
"""Build OpenWrt's userland (procd, ubus, uci, netifd, ucode, fw4, opkg, apk, ...) for the tests.

Sources are pinned in userland.lock (URL, commit, sha256 of `git archive`). Nothing third-party
lives in this repository: `sources` takes each commit from a directory of git mirrors
($OPENWRT_MIRROR) or clones it from its upstream URL, `build` compiles everything natively and
stages an OpenWrt-shaped root under ~/.cache/torbox/openwrt/<key>/root, where <key> hashes the
lock file and this script.

    python3 tests/openwrt/userland.py sources   # fetch + verify into ~/.cache/torbox/openwrt/src
    python3 tests/openwrt/userland.py build     # build (cached by key); prints the root last
    python3 tests/openwrt/userland.py path      # the root, or exit 1
    python3 tests/openwrt/userland.py env       # LD_LIBRARY_PATH=... to run binaries outside
    python3 tests/openwrt/userland.py run CMD.. # run a staged binary outside a namespace

Stdlib only (Python 3.11); needs git, tar, patch, cmake, make, meson, ninja, pkg-config, gcc.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "userland.lock"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torbox" / "openwrt"
SRC = CACHE / "src"
JOBS = "2"
STAMP = ".torbox-source"  # in each src/NAME: "commit sha256 yyyymmdd"


class Failure(Exception):
    pass


def load_lock() -> dict[str, dict]:
    with LOCK.open("rb") as f:
        return tomllib.load(f)["source"]


def build_key() -> str:
    h = hashlib.sha256()
    for p in (LOCK, Path(__file__).resolve()):
        h.update(str(p.relative_to(HERE)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def glibc_older_than(major: int, minor: int) -> bool:
    ver = (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[-1]
    return tuple(int(x) for x in ver.split(".")[:2]) < (major, minor)


def pkg_config(*args: str) -> str:
    r = subprocess.run(["pkg-config", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise Failure(f"pkg-config {' '.join(args)} failed (Debian: libbsd-dev): {r.stderr.strip()}")
    return r.stdout.strip()


def lib_path(root: Path) -> str:
    return f"{root}/lib:{root}/usr/lib"


# ---------------------------------------------------------------------------------------- sources


def git(gitdir: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], **kw)


def has_commit(gitdir: Path, commit: str) -> bool:
    r = git(gitdir, "cat-file", "-e", f"{commit}^{{commit}}", capture_output=True)
    return r.returncode == 0


def mirror_candidates(mirror: Path, name: str, entry: dict) -> list[Path]:
    owner, repo = entry["mirror"].split("/", 1)
    return [
        mirror / f"{owner}+{repo}" / "repo",
        mirror / f"{owner}+{repo}" / "repo" / ".git",
        mirror / f"{repo}.git",
        mirror / f"{name}.git",
    ]


def clone_online(name: str, entry: dict) -> Path:
    """A bare repository under the cache holding the locked commit, fetched from `url`."""
    gitdir = CACHE / "git" / f"{name}.git"
    if not (gitdir / "HEAD").exists():
        gitdir.mkdir(parents=True, exist_ok=True)
        git(gitdir, "init", "--bare", "-q", check=True)
    commit, url = entry["commit"], entry["url"]
    if has_commit(gitdir, commit):
        return gitdir
    # Fetching one commit by id works on GitHub and most servers; otherwise take the branches.
    r = git(gitdir, "fetch", "-q", "--depth=1", url, commit, capture_output=True, text=True)
    if r.returncode != 0 or not has_commit(gitdir, commit):
        git(gitdir, "fetch", "-q", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
            capture_output=True, text=True)
    return gitdir


def read_stamp(name: str) -> list[str]:
    try:
        return (SRC / name / STAMP).read_text().split()
    except OSError:
        return []


def fetch_source(name: str, entry: dict, mirror: str | None) -> str | None:
    """Put the locked commit into src/NAME; return an error line or None."""
    commit, want = entry["commit"], entry["sha256"]
    stamp = read_stamp(name)
    if stamp[:2] == [commit, want]:
        return None
    owner_repo = entry["mirror"].replace("/", "+")
    if mirror:
        gitdir = next((p for p in mirror_candidates(Path(mirror), name, entry)
                       if (p / "HEAD").exists() and has_commit(p, commit)), None)
        if gitdir is None:
            return (f"missing source {name}: need commit {commit} of {entry['url']}; put a mirror at "
                    f"{mirror}/{owner_repo}/repo (or {mirror}/{name}.git) or go online "
                    f"(unset OPENWRT_MIRROR)")
    else:
        gitdir = clone_online(name, entry)
        if not has_commit(gitdir, commit):
            return (f"missing source {name}: could not fetch commit {commit} from {entry['url']}; "
                    f"go online or set OPENWRT_MIRROR to a directory holding {owner_repo}/repo")
    paths = entry.get("paths", [])
    arch = git(gitdir, "archive", "--format=tar", f"--prefix={name}/", commit, *paths,
               capture_output=True)
    if arch.returncode != 0:
        return f"missing source {name}: git archive of {commit} in {gitdir} failed: {arch.stderr[-300:]!r}"
    got = hashlib.sha256(arch.stdout).hexdigest()
    if got != want:
        return (f"checksum mismatch for {name}: git archive of {commit} ({gitdir}) has sha256 {got}, "
                f"the lock says {want}")
    date = git(gitdir, "log", "-1", "--format=%cd", "--date=format:%Y%m%d", commit,
               capture_output=True, text=True, check=True).stdout.strip()
    tmp = SRC / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch.stdout, check=True)
    (tmp / name / STAMP).write_text(f"{commit} {want} {date}\n")
    shutil.rmtree(SRC / name, ignore_errors=True)
    (tmp / name).rename(SRC / name)
    tmp.rmdir()
    print(f"source {name}: {commit[:12]} ok (from {gitdir})", flush=True)
    return None


def cmd_sources() -> int:
    mirror = os.environ.get("OPENWRT_MIRROR") or None
    SRC.mkdir(parents=True, exist_ok=True)
    errors = [e for name, entry in load_lock().items() if (e := fetch_source(name, entry, mirror))]
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"userland: {len(errors)} source(s) missing or wrong; nothing was built", file=sys.stderr)
        return 1
    print(f"sources verified in {SRC}")
    return 0


# ------------------------------------------------------------------------------------------ build


class Build:
    def __init__(self, key_dir: Path, lock: dict[str, dict]):
        self.dir = key_dir
        self.root = key_dir / "root"
        self.stage = key_dir / "staging"  # DESTDIR of every `make install`: headers, libs, .pc
        self.work = key_dir / "build"
        self.logs = key_dir / "logs"
        self.lock = lock
        self.manifest: list[str] = []
        self.log: Path | None = None
        for d in (self.root, self.stage, self.work, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        inc, lib = self.stage / "usr/include", self.stage / "usr/lib"
        self.cflags = f"-O2 -I{inc}"
        self.ldflags = f"-L{lib} -Wl,-rpath-link,{lib}"
        self.env = dict(os.environ, PKG_CONFIG_PATH=f"{lib}/pkgconfig", LC_ALL="C")

    # --- helpers
    def run(self, args: list[str], cwd: Path, env: dict | None = None) -> None:
        assert self.log is not None
        with self.log.open("a") as f:
            f.write(f"\n$ (cd {cwd} && {shlex.join(args)})\n")
            f.flush()
            r = subprocess.run(args, cwd=cwd, env=env or self.env, stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise Failure(f"{shlex.join(args)} exited {r.returncode}")

    def date(self, name: str) -> str:
        return read_stamp(name)[2]

    def origin(self, name: str) -> str:
        return f"{name}@{self.lock[name]['commit'][:12]}"

    def prepare(self, name: str) -> Path:
        """A private copy of src/NAME to build in (patches and in-tree builds touch it)."""
        dst = self.work / name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(SRC / name, dst, symlinks=True)
        return dst

    def patch(self, src: Path, owpkg: str) -> None:
        """Apply the patches OpenWrt applies (package/<owpkg>/patches/*.patch of the main tree)."""
        pdir = SRC / "openwrt" / "package" / owpkg / "patches"
        for p in sorted(pdir.glob("*.patch")) if pdir.is_dir() else []:
            self.run(["patch", "-p1", "-N", "--no-backup-if-mismatch", "-i", str(p)], cwd=src)
            self.manifest.append(f"# patched {src.name} with openwrt:package/{owpkg}/patches/{p.name}")

    def cmake(self, name: str, src: Path, opts: list[str], cflags: str = "", ldflags: str = "",
              in_tree: bool = False, libs: str = "") -> None:
        bdir = src if in_tree else src / "_build"
        bdir.mkdir(exist_ok=True)
        args = [
            "cmake", "-S", str(src), "-B", str(bdir), "-Wno-dev",
            "-DCMAKE_INSTALL_PREFIX=/usr", "-DCMAKE_INSTALL_LIBDIR=lib",
            "-DCMAKE_INSTALL_SBINDIR=sbin", "-DCMAKE_INSTALL_BINDIR=bin",
            f"-DCMAKE_PREFIX_PATH={self.stage}/usr", "-DCMAKE_BUILD_TYPE=None",
            f"-DCMAKE_C_FLAGS={self.cflags} {cflags}",
            f"-DCMAKE_EXE_LINKER_FLAGS={self.ldflags} {ldflags}",
            f"-DCMAKE_SHARED_LINKER_FLAGS={self.ldflags} {ldflags}",
            f"-DCMAKE_MODULE_LINKER_FLAGS={self.ldflags} {ldflags}",
        ]
        if libs:
            args.append(f"-DCMAKE_C_STANDARD_LIBRARIES={libs}")
        self.run(args + opts, cwd=src)
        self.run(["cmake", "--build", str(bdir), "-j", JOBS], cwd=src)
        self.run(["cmake", "--install", str(bdir)], cwd=src,
                 env=dict(self.env, DESTDIR=str(self.stage)))

    def put(self, src: Path, dest: str, origin: str, mode: int | None = None) -> None:
        """Copy a file, symlink or directory tree to root/<dest> and note it in the manifest."""
        target = self.root / dest.lstrip("/")
        if src.is_dir() and not src.is_symlink():
            for p in sorted(src.rglob("*")):
                if p.is_dir() and not p.is_symlink():
                    continue
                rel = p.relative_to(src)
                self.put(p, f"{dest.rstrip('/')}/{rel}", f"{origin.rstrip('/')}/{rel}")
            if not any(src.iterdir()):
                target.mkdir(parents=True, exist_ok=True)
            return
        if not src.exists() and not src.is_symlink():
            raise Failure(f"expected {src} ({origin}) does not exist")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)
            if mode is not None:
                target.chmod(mode)
        self.manifest.append(f"/{dest.lstrip('/')}\t{origin}")

    def put_libs(self, pattern: str, dest: str, origin: str) -> None:
        found = sorted((self.stage / "usr/lib").glob(pattern))
        if not found:
            raise Failure(f"no staged library matches usr/lib/{pattern} ({origin})")
        for p in found:
            self.put(p, f"{dest}/{p.name}", f"{origin} usr/lib/{p.name}")

    def put_staged(self, rel: str, dest: str, origin: str, mode: int | None = None) -> None:
        self.put(self.stage / rel, dest, f"{origin} {rel}", mode)

    def ow(self, rel: str) -> Path:
        return SRC / "openwrt" / rel

    def ow_make_var(self, owpkg: str, var: str) -> str:
        text = self.ow(f"package/{owpkg}/Makefile").read_text()
        m = re.search(rf"^{var}\s*:?=\s*(\S+)\s*$", text, re.M)
        if not m:
            raise Failure(f"{var} not found in openwrt package/{owpkg}/Makefile")
        return m.group(1)

    def put_ow(self, rel: str, dest: str, mode: int | None = None) -> None:
        self.put(self.ow(rel), dest, f"{self.origin('openwrt')}:{rel}", mode)

    def mkdir(self, dest: str) -> None:
        (self.root / dest.lstrip("/")).mkdir(parents=True, exist_ok=True)

    # --- components, in build order
    def libnl_tiny(self) -> None:
        src = self.prepare("libnl-tiny")
        self.cmake("libnl-tiny", src, [])
        self.put_libs("libnl-tiny.so.*", "/usr/lib", self.origin("libnl-tiny"))

    def libubox(self) -> None:
        src = self.prepare("libubox")
        self.cmake("libubox", src, ["-DBUILD_LUA=OFF", "-DBUILD_EXAMPLES=OFF",
                                    f"-DABIVERSION={self.date('libubox')}"])
        o = self.origin("libubox")
        for lib in ("libubox", "libblobmsg_json", "libjson_script"):
            self.put_libs(f"{lib}.so.*", "/lib", o)
        self.put_staged("usr/bin/jshn", "/usr/bin/jshn", o)
        self.put_staged("usr/share/libubox/jshn.sh", "/usr/share/libubox/jshn.sh", o)

    def uci(self) -> None:
        src = self.prepare("uci")
        self.cmake("uci", src, ["-DBUILD_LUA=OFF", f"-DABIVERSION={self.date('uci')}"])
        o = self.origin("uci")
        self.put_libs("libuci.so.*", "/lib", o)
        self.put_staged("usr/bin/uci", "/sbin/uci", o)
        self.put_ow("package/system/uci/files/lib/config/uci.sh", "/lib/config/uci.sh")
        self.mkdir("/etc/uci-defaults")
        self.mkdir("/etc/config")

    def ubus(self) -> None:
        src = self.prepare("ubus")
        self.cmake("ubus", src, ["-DBUILD_LUA=OFF", "-DBUILD_EXAMPLES=OFF",
                                 f"-DABIVERSION={self.date('ubus')}"])
        o = self.origin("ubus")
        self.put_libs("libubus.so.*", "/lib", o)
        self.put_staged("usr/bin/ubus", "/bin/ubus", o)
        self.put_staged("usr/sbin/ubusd", "/sbin/ubusd", o)

    UCODE_MODULES = ("DEBUG", "FS", "IO", "LOG", "MATH", "NL80211", "RESOLV", "RTNL", "SOCKET",
                     "STRUCT", "UBUS", "UCI", "ULOOP", "ZLIB")

    def ucode(self) -> None:
        src = self.prepare("ucode")
        self.patch(src, "utils/ucode")
        opts = [f"-D{m}_SUPPORT=ON" for m in self.UCODE_MODULES] + [
            "-DDIGEST_SUPPORT=OFF",  # needs libmd; not among the modules the tests use
            # OpenWrt's search path (the CMake default would be the same for prefix /usr)
            "-DLIB_SEARCH_PATH=/usr/lib/ucode/*.so:/usr/share/ucode/*.uc:./*.so:./*.uc",
            # OpenWrt fixes libucode's soname (PKG_ABI_VERSION), not the source date
            "-DSOVERSION=" + self.ow_make_var("utils/ucode", "PKG_ABI_VERSION"),
        ]
        self.cmake("ucode", src, opts, cflags=f"-I{self.stage}/usr/include/libnl-tiny")
        o = self.origin("ucode")
        self.put_libs("libucode.so.*", "/usr/lib", o)
        for p in sorted((self.stage / "usr/bin").glob("u*")):
            if p.name in ("ucode", "utpl", "ucc"):
                self.put(p, f"/usr/bin/{p.name}", f"{o} usr/bin/{p.name}")
        mods = sorted((self.stage / "usr/lib/ucode").glob("*.so"))
        have = {p.stem for p in mods}
        for need in ("uci", "ubus", "uloop", "rtnl", "nl80211", "fs", "math", "struct", "log"):
            if need not in have:
                raise Failure(f"ucode module {need}.so was not built")
        for p in mods:
            self.put(p, f"/usr/lib/ucode/{p.name}", f"{o} usr/lib/ucode/{p.name}")

    def udebug(self) -> None:
        src = self.prepare("udebug")
        self.cmake("udebug", src, [f"-DABIVERSION={self.date('udebug')}"])
        o = self.origin("udebug")
        self.put_libs("libudebug.so*", "/usr/lib", o)
        self.put_staged("usr/lib/ucode/udebug.so", "/usr/lib/ucode/udebug.so", o)
        self.put_staged("usr/sbin/udebugd", "/usr/sbin/udebugd", o)
        if (self.stage / "usr/sbin/udebug").exists():
            self.put_staged("usr/sbin/udebug", "/usr/sbin/udebug", o)

    def procd(self) -> None:
        src = self.prepare("procd")
        # GCC 12 reports a false -Werror=format-overflow in procd; glibc < 2.38 lacks strlcpy.
        cflags, libs = "-Wno-error=format-overflow", ""
        if glibc_older_than(2, 38):
            # Debian's libbsd overlay: its <string.h> adds strlcpy and includes glibc's
            cflags += " " + pkg_config("--cflags", "libbsd-overlay")
            libs = pkg_config("--libs", "libbsd-overlay")
        self.cmake("procd", src, ["-DJAIL_SUPPORT=OFF", "-DSECCOMP_SUPPORT=0", "-DUTRACE_SUPPORT=0"],
                   cflags=cflags, libs=libs)
        o = self.origin("procd")
        for b in ("init", "procd", "askfirst", "udevtrigger", "upgraded"):
            if (self.stage / f"usr/sbin/{b}").exists():
                self.put_staged(f"usr/sbin/{b}", f"/sbin/{b}", o)
            elif b in ("procd", "init"):
                raise Failure(f"procd did not build {b}")
        self.put_staged("usr/lib/libsetlbf.so", "/lib/libsetlbf.so", o)
        f = "package/system/procd/files"
        self.put_ow(f"{f}/reload_config", "/sbin/reload_config", mode=0o755)  # INSTALL_BIN
        self.put_ow(f"{f}/hotplug.json", "/etc/hotplug.json")
        self.put_ow(f"{f}/hotplug-preinit.json", "/etc/hotplug-preinit.json")
        self.put_ow(f"{f}/procd.sh", "/lib/functions/procd.sh")
        self.put_ow(f"{f}/service", "/sbin/service", mode=0o755)  # INSTALL_BIN

    def netifd(self) -> None:
        src = self.prepare("netifd")
        self.bridge_without_vlan_attr(src)
        # In-tree: its CMake runs ./make_ethtool_modes_h.sh relative to the source directory.
        self.cmake("netifd", src, ["-DLIBNL_LIBS=-lnl-tiny", "-DDEBUG=1"], in_tree=True,
                   cflags=f"-D_GNU_SOURCE= -I{self.stage}/usr/include/libnl-tiny")
        o = self.origin("netifd")
        self.put(src / "netifd", "/sbin/netifd", f"{o} netifd")
        self.put_ow("package/network/config/netifd/files", "/")
        self.mkdir("/etc/udhcpc.user.d")
        for s in ("utils.sh", "netifd-proto.sh"):
            self.put(src / "scripts" / s, f"/lib/netifd/{s}", f"{o} scripts/{s}")

    def bridge_without_vlan_attr(self, src: Path) -> None:
        """Test-build change: send IFLA_BR_VLAN_FILTERING only when VLAN filtering is on.

        netifd always sends the attribute; a kernel without CONFIG_BRIDGE_VLAN_FILTERING (as
        on this CI host) refuses the whole bridge with EOPNOTSUPP, so no bridge would exist.
        Leaving out a 0 changes nothing on a router's kernel (0 is the kernel's default).
        """
        path = src / "system-linux.c"
        text = path.read_text()
        old = "\tnla_put_u8(msg, IFLA_BR_VLAN_FILTERING, !!cfg->vlan_filtering);"
        if old not in text:
            raise Failure("netifd: IFLA_BR_VLAN_FILTERING line not found; review the test-build"
                             " change in userland.py:bridge_without_vlan_attr for this commit")
        path.write_text(text.replace(old, "\tif (cfg->vlan_filtering)\n\t" + old.lstrip("\t")))
        self.manifest.append("# changed netifd system-linux.c: IFLA_BR_VLAN_FILTERING only when on"
                             " (host kernel without bridge VLAN filtering)")

    def jsonfilter(self) -> None:
        src = self.prepare("jsonfilter")
        # In-tree: its CMake compiles contrib/lemon.c relative to the build directory.
        self.cmake("jsonfilter", src, [], in_tree=True)
        self.put_staged("usr/bin/jsonpath", "/usr/bin/jsonfilter", self.origin("jsonfilter"))

    def firewall4(self) -> None:
        src = SRC / "firewall4"
        self.put(src / "root", "/", f"{self.origin('firewall4')} root")

    def opkg(self) -> None:
        src = self.prepare("opkg-lede")
        lock = self.lock["opkg-lede"]
        self.cmake("opkg-lede", src, [
            "-DBUILD_TESTS=OFF", f"-DHOST_CPU={platform.machine()}",
            "-DPATH_SPEC=/usr/sbin:/usr/bin:/sbin:/bin",
            f"-DVERSION={lock['commit'][:12]} ({self.date('opkg-lede')})",
        ])
        o = self.origin("opkg-lede")
        self.put_staged("usr/bin/opkg-cl", "/bin/opkg", o)
        f = "package/system/opkg/files"
        self.mkdir("/usr/lib/opkg")
        self.put_ow(f"{f}/customfeeds.conf", "/etc/opkg/customfeeds.conf")
        self.put_ow(f"{f}/opkg.conf", "/etc/opkg.conf")
        self.put_ow(f"{f}/20_migrate-feeds", "/etc/uci-defaults/20_migrate-feeds")
        self.put_ow(f"{f}/opkg-key", "/usr/sbin/opkg-key")

    def apk(self) -> None:
        src = self.prepare("apk-tools")
        self.patch(src, "system/apk")
        version = (src / "VERSION").read_text().strip()
        env = dict(self.env, VERSION=version, CFLAGS=self.cflags, LDFLAGS=self.ldflags)
        bdir = src / "_build"
        # OpenWrt's target options (package/system/apk/Makefile), without LTO, with the
        # help text off (it needs a Lua interpreter at build time).
        self.run(["meson", "setup", str(bdir), "--prefix=/usr", "--libdir=lib", "--buildtype=plain",
                  "-Ddocs=disabled", "-Dhelp=disabled", "-Dlua=disabled", "-Ddefault_library=static",
                  "-Durl_backend=wget", "-Dzstd=disabled", "-Dpython=disabled", "-Dtests=disabled",
                  "-Dcrypto_backend=openssl", "-Dminimal=true"], cwd=src, env=env)
        self.run(["ninja", "-C", str(bdir), "-j", JOBS], cwd=src, env=env)
        self.run(["meson", "install", "-C", str(bdir), "--destdir", str(self.stage)], cwd=src, env=env)
        o = self.origin("apk-tools")
        self.put_staged("usr/bin/apk", "/usr/bin/apk", o)
        self.mkdir("/lib/apk/db")
        self.put_ow("package/system/apk/files/customfeeds.list", "/etc/apk/repositories.d/customfeeds.list")

    def base_files(self) -> None:
        """The OpenWrt tree's own scripts and configs that the tests run against."""
        bf = "package/base-files/files"
        for rel in ("etc/rc.common", "lib/functions.sh", "bin/ipcalc.sh", "bin/config_generate",
                    "bin/board_detect", "sbin/hotplug-call", "etc/openwrt_release",
                    "etc/openwrt_version", "etc/device_info", "etc/board.d/99-default_network",
                    "etc/sysctl.d/10-default.conf", "etc/sysctl.conf"):
            self.put_ow(f"{bf}/{rel}", f"/{rel}")
        self.put_ow(f"{bf}/lib/functions", "/lib/functions")
        # base-files' Makefile fills in %PATH% (TARGET_INIT_PATH); left as is, every hotplug
        # script (fw4's reload on ifup among them) runs without a PATH.
        hp = self.root / "sbin" / "hotplug-call"
        hp.write_text(hp.read_text().replace("%PATH%", "/usr/sbin:/usr/bin:/sbin:/bin"))
        self.manifest.append("# filled in %PATH% of sbin/hotplug-call as base-files' Makefile does")
        # base-files ships no /etc/config/network, system or wireless: config_generate writes
        # them on first boot from board.json. The tests write their own.
        self.manifest.append("# note: base-files has no etc/config/network|system|wireless "
                             "(bin/config_generate makes them on first boot)")
        dn = "package/network/services/dnsmasq/files"
        self.put_ow(f"{dn}/dnsmasq.init", "/etc/init.d/dnsmasq", 0o755)
        self.put_ow(f"{dn}/dhcp.conf", "/etc/config/dhcp", 0o644)
        self.put_ow(f"{dn}/dnsmasq.conf", "/etc/dnsmasq.conf", 0o644)
        self.put_ow(f"{dn}/dhcp-script.sh", "/usr/lib/dnsmasq/dhcp-script.sh", 0o755)
        self.put_ow(f"{dn}/dhcpbogushostname.conf", "/usr/share/dnsmasq/dhcpbogushostname.conf")
        self.put_ow(f"{dn}/rfc6761.conf", "/usr/share/dnsmasq/rfc6761.conf")
        self.put_ow(f"{dn}/dnsmasq_acl.json", "/usr/share/acl.d/dnsmasq_acl.json")
        self.put_ow(f"{dn}/dnsmasqsec.hotplug", "/etc/hotplug.d/ntp/25-dnsmasqsec")
        for d in ("dhcp", "neigh", "ntp", "tftp"):
            self.mkdir(f"/etc/hotplug.d/{d}")
        ws = self.ow("package/network/config/wifi-scripts")
        if ws.is_dir():
            for part in ("files", "files-ucode"):
                if (ws / part).is_dir():
                    self.put_ow(f"package/network/config/wifi-scripts/{part}", "/")
        tor = SRC / "packages" / "net/tor/files"
        o = self.origin("packages")
        self.put(tor / "tor.init", "/etc/init.d/tor", f"{o}:net/tor/files/tor.init", 0o755)
        self.put(tor / "tor.conf", "/etc/config/tor", f"{o}:net/tor/files/tor.conf", 0o644)

    STEPS: tuple[tuple[str, str], ...] = (
        ("libnl-tiny", "libnl_tiny"), ("libubox", "libubox"), ("uci", "uci"), ("ubus", "ubus"),
        ("ucode", "ucode"), ("udebug", "udebug"), ("procd", "procd"), ("netifd", "netifd"),
        ("jsonfilter", "jsonfilter"), ("firewall4", "firewall4"), ("opkg-lede", "opkg"),
        ("apk-tools", "apk"), ("base-files", "base_files"),
    )

    def all(self) -> None:
        for name, method in self.STEPS:
            self.log = self.logs / f"{name}.log"
            self.log.write_text(f"# {name}\n")
            step: Callable[[], None] = getattr(self, method)
            print(f"build {name} ...", flush=True)
            try:
                step()
            except (Failure, OSError, subprocess.CalledProcessError) as e:
                raise Failure(f"{name}: {e}") from e

    def write_manifest(self, key: str) -> None:
        head = [f"# OpenWrt userland for torbox's tests, key {key}",
                "# path-in-root<TAB>source (NAME@commit path; openwrt@... = the main tree)"]
        for name, e in self.lock.items():
            head.append(f"# source {name} {e['commit']} {e['url']} ({e['pinned_by']})")
        (self.dir / "MANIFEST").write_text("\n".join(head + self.manifest) + "\n")


def smoke(root: Path) -> None:
    """The staged binaries start (outside any namespace, with LD_LIBRARY_PATH)."""
    env = dict(os.environ, LD_LIBRARY_PATH=lib_path(root))
    checks = [
        [f"{root}/usr/bin/ucode", "-e", "print(1)"],
        [f"{root}/sbin/uci", "-c", str(root / "etc/config"), "show", "dhcp"],
        [f"{root}/bin/opkg", "--version"],
        [f"{root}/usr/bin/apk", "--version"],
    ]
    for c in checks:
        r = subprocess.run(c, env=env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Failure(f"smoke test {shlex.join(c)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    r = subprocess.run([f"{root}/usr/bin/jsonfilter", "-e", "@.a"], input='{"a": 1}', env=env,
                       capture_output=True, text=True, timeout=30)
    if r.stdout.strip() != "1":
        raise Failure(f"smoke test: jsonfilter does not read stdin (got {r.stdout!r} {r.stderr!r})")


def cmd_build() -> int:
    key = build_key()
    key_dir = CACHE / key
    root = key_dir / "root"
    if (key_dir / ".done").exists():
        print(f"cached (key {key})")
        print(root)
        return 0
    if cmd_sources() != 0:
        return 1
    for tool in ("cmake", "make", "meson", "ninja", "pkg-config", "gcc", "patch", "tar", "git"):
        if shutil.which(tool) is None:
            print(f"userland: {tool} is missing; run tests/host-deps.sh", file=sys.stderr)
            return 1
    shutil.rmtree(key_dir, ignore_errors=True)
    b = Build(key_dir, load_lock())
    try:
        b.all()
        smoke(root)
    except Failure as e:
        print(f"userland build failed: {e}", file=sys.stderr)
        if b.log and b.log.exists():
            tail = b.log.read_text(errors="replace").splitlines()[-40:]
            print("\n".join(tail), file=sys.stderr)
            print(f"full log: {b.log}", file=sys.stderr)
        return 1
    b.write_manifest(key)
    shutil.rmtree(b.work, ignore_errors=True)
    (key_dir / ".done").write_text(key + "\n")
    print(f"built OpenWrt userland (key {key}); manifest {key_dir / 'MANIFEST'}")
    print(root)
    return 0


def built_root() -> Path | None:
    key_dir = CACHE / build_key()
    return key_dir / "root" if (key_dir / ".done").exists() else None


def cmd_path() -> int:
    root = built_root()
    if root is None:
        print("OpenWrt userland not built for this lock: run make openwrt-userland", file=sys.stderr)
        return 1
    print(root)
    return 0


def cmd_env() -> int:
    root = built_root()
    if root is None:
        return cmd_path()
    print(f"LD_LIBRARY_PATH={lib_path(root)}")
    return 0


def cmd_run(argv: list[str]) -> int:
    root = built_root()
    if root is None or not argv:
        return cmd_path() if root is None else 2
    exe = argv[0]
    if "/" not in exe:
        for d in ("usr/bin", "usr/sbin", "bin", "sbin"):
            if (root / d / exe).exists():
                exe = str(root / d / exe)
                break
    os.environ["LD_LIBRARY_PATH"] = lib_path(root)
    os.execv(exe, [exe, *argv[1:]])


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "sources":
        return cmd_sources()
    if cmd == "build":
        return cmd_build()
    if cmd == "path":
        return cmd_path()
    if cmd == "env":
        return cmd_env()
    if cmd == "run":
        return cmd_run(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
