"""OpenWrt's own tools take the packages: no namespace, an offline root as an image build uses.

- the .ipk is byte for byte what OpenWrt's scripts/ipkg-build makes of the same staged tree
  (under fakeroot, as the SDK runs it);
- opkg-lede installs the .ipk and apk-tools v3 adds the .apk into an offline root, with the
  files, modes, conffiles and (apk) lib/apk/packages metadata OpenWrt expects;
- the image-build step (include/rootfs.mk's prepare_rootfs: install without scripts, then
  each postinst/post-install with IPKG_INSTROOT set) enables torbox: S95torbox exists
  (fault 3: the old postinst left it disabled) and nothing else runs offline.

The install lifecycle on a running OpenWrt userland is tests/openwrt/test_lifecycle.py.
Needs `make openwrt-userland` (and OpenWrt's sources for ipkg-build): fails, never skips.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from package import hostapk, pkgbuild
from tests.core.test_package import tree
from tests.openwrt import userland

pytestmark = pytest.mark.openwrt

ROOT = Path(__file__).resolve().parents[2]
DEPS = ("libc", "tor", "nftables", "firewall4", "python3-light", "python3-bottle", "python3-stem")
# OpenWrt base files the generated scripts use in an offline root (rc.common enable)
BASE = ("etc/rc.common", "lib/functions.sh", "lib/functions", "usr/share/libubox")


@pytest.fixture(scope="module")
def ow() -> Path:
    root = userland.built_root()
    if root is None:
        pytest.fail("OpenWrt userland not built for this lock: run make openwrt-userland")
    return root


def run(ow: Path, argv: list, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": userland.lib_path(ow), **env}
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=full,
                         timeout=120)
    if check:
        assert res.returncode == 0, f"{argv}: {res.stdout}{res.stderr}"
    return res


def build(script: str, out: Path) -> Path:
    res = subprocess.run([sys.executable, str(ROOT / "package" / script), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return Path(res.stdout.split()[0])


@pytest.fixture(scope="module")
def ipk(tmp_path_factory) -> Path:
    return build("mkipk.py", tmp_path_factory.mktemp("ipk"))


@pytest.fixture(scope="module")
def apk(ow, tmp_path_factory) -> Path:
    return build("mkapk.py", tmp_path_factory.mktemp("apk"))


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    return tree(pkgbuild.stage(tmp_path_factory.mktemp("stage") / "b"))


def offline_root(ow: Path, path: Path) -> Path:
    """An image build's root before the packages: OpenWrt's base files the scripts need."""
    for rel in BASE:
        src = ow / rel
        assert src.exists(), f"{src} missing from the userland"
        if src.is_dir():
            shutil.copytree(src, path / rel, symlinks=True)
        else:
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / rel)
    for d in ("etc/rc.d", "tmp", "var/lock"):
        (path / d).mkdir(parents=True)
    return path


def installed_tree(root: Path, staged: dict) -> dict:
    """The staged payload's paths as they are now in root."""
    got = tree(root)
    return {p: got.get(p) for p in staged if p != "/"}


def ipkg_build_script() -> Path:
    """OpenWrt's scripts/ipkg-build at the commit the tests stand for (userland.lock)."""
    entry = userland.load_lock()["openwrt"]
    for src in (userland.SRC / "openwrt" / "scripts" / "ipkg-build",
                userland.CACHE / "openwrt-scripts" / entry["commit"] / "ipkg-build"):
        if src.is_file():
            return src
    dirs = [userland.CACHE / "git" / "openwrt.git"]
    if os.environ.get("OPENWRT_MIRROR"):
        dirs += userland.mirror_candidates(Path(os.environ["OPENWRT_MIRROR"]), "openwrt", entry)
    for gitdir in dirs:
        if (gitdir / "HEAD").exists() and userland.has_commit(gitdir, entry["commit"]):
            out = userland.git(gitdir, "show", f"{entry['commit']}:scripts/ipkg-build",
                               capture_output=True)
            if out.returncode == 0:
                dest = userland.CACHE / "openwrt-scripts" / entry["commit"] / "ipkg-build"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(out.stdout)
                return dest
    pytest.fail(f"OpenWrt's scripts/ipkg-build ({entry['url']} at {entry['commit']}) is not "
                f"available: set OPENWRT_MIRROR or run make openwrt-sources online")


def test_ipk_is_what_openwrts_ipkg_build_writes(ipk, tmp_path):
    script = ipkg_build_script()
    if not shutil.which("fakeroot"):
        pytest.fail("fakeroot is not installed (tests/host-deps.sh)")
    # the same staged tree (Package/torbox/install + CONTROL) the shim hands to its ipkg-build
    build_dir = tmp_path / "b"
    pkgbuild.run_make("compile", build_dir, tmp_path / "ours")
    pkg_root = build_dir / "ipkg-all" / "torbox"
    (tmp_path / "theirs").mkdir()
    # ipkg-build edits CONTROL in place (Installed-Size, resolved conffiles): run it on a copy
    shutil.copytree(pkg_root, tmp_path / "root", symlinks=True)
    res = subprocess.run(["fakeroot", "bash", str(script), "-m", "", str(tmp_path / "root"),
                          str(tmp_path / "theirs")], capture_output=True, text=True,
                         env={**os.environ, "SOURCE_DATE_EPOCH": str(pkgbuild.epoch()),
                              "TOPDIR": str(tmp_path)})
    assert res.returncode == 0, res.stdout + res.stderr
    theirs = next((tmp_path / "theirs").glob("*.ipk"))
    assert theirs.name == ipk.name
    assert theirs.read_bytes() == ipk.read_bytes()


def opkg_install(ow: Path, root: Path, ipk: Path, *opts: str, **env: str
                 ) -> subprocess.CompletedProcess:
    """opkg install into an offline root. The dependencies go in as empty packages: opkg-lede
    refuses a package whose dependencies it cannot find even with --force-depends (it says
    "incompatible with the architectures configured")."""
    stubs = root.parent / f"{root.name}-stubs"
    for dep in DEPS:
        (stubs / dep / "CONTROL").mkdir(parents=True)
        (stubs / dep / "CONTROL" / "control").write_text(
            f"Package: {dep}\nVersion: 1-r1\nArchitecture: all\nInstalled-Size: 0\n")
        subprocess.run([sys.executable, str(pkgbuild.SHIM / "scripts" / "ipkg-build"),
                        str(stubs / dep), str(stubs)], check=True, capture_output=True)
    return run(ow, [ow / "bin/opkg", "--offline-root", root, "--add-arch", "all:100",
                    "--add-dest", "root:/", *opts, "install", *sorted(stubs.glob("*.ipk")), ipk],
               TMPDIR=str(root / "tmp"), **env)


def test_opkg_accepts_the_ipk(ow, ipk, staged, tmp_path):
    root = offline_root(ow, tmp_path / "root")
    res = opkg_install(ow, root, ipk)
    assert "Installing torbox (" in res.stdout and "Malformed" not in res.stdout + res.stderr
    status = run(ow, [ow / "bin/opkg", "--offline-root", root, "status", "torbox"]).stdout
    assert "Status: install " in status and "installed" in status
    assert "Conffiles:\n /etc/config/torbox " in status
    assert installed_tree(root, staged) == {p: v for p, v in staged.items() if p != "/"}
    info = root / "usr/lib/opkg/info"
    assert (info / "torbox.prerm-pkg").is_file() and not (info / "torbox.postinst-pkg").exists()
    # offline and without --force-postinstall opkg runs no script: nothing enabled yet
    assert list((root / "etc/rc.d").iterdir()) == []


def apk_add(ow: Path, root: Path, apk: Path, **env: str) -> subprocess.CompletedProcess:
    """apk add into an offline root without scripts, as OpenWrt's image build does."""
    stubs = root.parent / f"{root.name}-stubs"
    stubs.mkdir()
    for dep in DEPS:  # the dependencies as empty packages: only torbox is under test
        run(ow, [hostapk.host_apk(), "mkpkg", "--info", f"name:{dep}", "--info", "version:1-r1",
                 "--info", "arch:noarch", "--output", stubs / f"{dep}.apk"])
    return run(ow, [ow / "usr/bin/apk", "--root", root, "--initdb", "--allow-untrusted",
                    "--force-no-chroot", "--no-scripts", "--no-network", "--no-cache",
                    "add", *sorted(stubs.iterdir()), apk], **env)


def test_apk_accepts_the_apk(ow, apk, staged, tmp_path):
    root = offline_root(ow, tmp_path / "root")
    res = apk_add(ow, root, apk)
    assert "Installing torbox (" in res.stdout
    assert installed_tree(root, staged) == {p: v for p, v in staged.items() if p != "/"}
    meta = root / "lib/apk/packages"
    listed = (meta / "torbox.list").read_text().split()
    # written before the conffiles move into lib/apk/packages, as package-pack.mk does
    assert listed == sorted(p for p, v in staged.items() if v[0] == "file")
    assert (meta / "torbox.conffiles").read_text() == "/etc/config/torbox\n/etc/torbox/\n"
    csum = hashlib.sha256((root / "etc/config/torbox").read_bytes()).hexdigest()
    assert (meta / "torbox.conffiles_static").read_text() == f"/etc/config/torbox {csum}\n"
    info = run(ow, [ow / "usr/bin/apk", "--root", root, "--no-network", "info", "torbox"])
    assert f"torbox-{pkgbuild.version()}" in info.stdout


def test_image_build_enables_the_service(ow, ipk, apk, tmp_path):
    """prepare_rootfs: install without scripts, then each postinst with IPKG_INSTROOT set."""
    bash = shutil.which("bash")
    for kind in ("opkg", "apk"):
        root = offline_root(ow, tmp_path / kind)
        if kind == "opkg":
            opkg_install(ow, root, ipk, "--force-postinstall", IPKG_NO_SCRIPT="1",
                         IPKG_INSTROOT=str(root))
            scripts = sorted((root / "usr/lib/opkg/info").glob("*.postinst"))
        else:
            apk_add(ow, root, apk, IPKG_INSTROOT=str(root))
            db = root / "lib/apk/db"
            with tarfile.open(db / "scripts.tar.gz") as tf:
                tf.extractall(db, filter="data")
            scripts = sorted(db.glob("*.post-install"))
        assert scripts, kind
        assert list((root / "etc/rc.d").iterdir()) == [], kind
        for script in scripts:
            res = subprocess.run([bash, str(script)], capture_output=True, text=True,
                                 cwd=root, env={"PATH": os.environ["PATH"],
                                                "IPKG_INSTROOT": str(root)})
            assert res.returncode == 0, (kind, res.stdout, res.stderr)
            assert "not found" not in res.stdout + res.stderr, (kind, res.stderr)
        links = {p.name: os.readlink(p) for p in (root / "etc/rc.d").iterdir()}
        assert links == {"S95torbox": "../init.d/torbox", "K10torbox": "../init.d/torbox"}, kind
        # first boot runs uci-defaults; an image build must leave it in place
        assert (root / "etc/uci-defaults/90-torbox").is_file(), kind
