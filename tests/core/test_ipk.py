"""`make ipk`: the .ipk in OpenWrt's format, as scripts/ipkg-build writes it and opkg-lede reads it.

OpenWrt's ipk is a gzip'd GNU tar of ./debian-binary, ./data.tar.gz and ./control.tar.gz
(not Debian's `ar` layout: opkg-lede calls that "Malformed package file"). The control
archive holds what include/package-pack.mk generates: the control file, the postinst and
prerm wrappers around /lib/functions.sh's default_postinst/default_prerm, and torbox's own
prerm-pkg. The payload itself is tested in test_package.py.
"""

import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from package import pkgbuild

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKIPK = os.path.join(ROOT, "package", "mkipk.py")
MEMBERS = ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]

# Exactly what package-pack.mk writes (OpenWrt main tree 8f8276a5b7).
POSTINST = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""
PRERM = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""


def build(out, epoch=None):
    env = dict(os.environ)
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    proc = subprocess.run([sys.executable, MKIPK, "--out", str(out)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path, size, unit = proc.stdout.split()
    assert unit == "bytes" and int(size) == os.path.getsize(path)
    return path


@pytest.fixture(scope="module")
def ipk(tmp_path_factory):
    return build(tmp_path_factory.mktemp("ipk"))


def members(path):
    with tarfile.open(path, "r:gz") as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}, tf.getmembers()


def control_files(ipk):
    blobs, _ = members(ipk)
    with tarfile.open(fileobj=io.BytesIO(blobs["./control.tar.gz"]), mode="r:gz") as tf:
        return {m.name: (m, tf.extractfile(m).read() if m.isfile() else None)
                for m in tf.getmembers()}


def test_name_and_size(ipk):
    assert os.path.basename(ipk) == f"torbox_{pkgbuild.version()}_all.ipk"
    assert os.path.getsize(ipk) < 150 * 1024


def test_outer_archive_is_what_ipkg_build_writes(ipk):
    raw = open(ipk, "rb").read()
    # gzip -n: no name, mtime 0
    assert raw[:3] == b"\x1f\x8b\x08" and raw[3] & 0x08 == 0 and raw[4:8] == b"\0\0\0\0"
    blobs, infos = members(ipk)
    assert [m.name for m in infos] == MEMBERS
    for m in infos:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime, m.mode) == (0, 0, "", "", 0, 0o644)
    # GNU format ("ustar  \0" magic), as tar --format=gnu writes
    plain = gzip.decompress(raw)
    assert plain[257:265] == b"ustar  \0"
    assert blobs["./debian-binary"] == b"2.0\n"


@pytest.mark.parametrize("tar", ["tar", "busybox"])
def test_tar_extracts_three_members(ipk, tmp_path, tar):
    """opkg-lede unpacks with its own libbb-derived untar; busybox tar is the same code."""
    cmd = ["busybox", "tar"] if tar == "busybox" else ["tar"]
    if not shutil.which(cmd[0]):
        pytest.fail(f"{cmd[0]} is not installed (tests/host-deps.sh installs it)")
    subprocess.run([*cmd, "-xzf", ipk, "-C", str(tmp_path)], check=True)
    assert sorted(os.listdir(tmp_path)) == ["control.tar.gz", "data.tar.gz", "debian-binary"]
    for inner in ("control.tar.gz", "data.tar.gz"):
        listing = subprocess.run([*cmd, "-tzf", str(tmp_path / inner)], check=True,
                                 capture_output=True, text=True).stdout.split()
        assert listing[0] == "./" and listing == sorted(listing)


def test_control_file(ipk):
    ctl = control_files(ipk)
    assert sorted(ctl) == [".", "./conffiles", "./control", "./postinst", "./prerm",
                           "./prerm-pkg"]
    text = ctl["./control"][1].decode()
    head, _, description = text.partition("Description: ")
    fields = dict(line.split(": ", 1) for line in head.strip().splitlines())
    assert list(fields) == ["Package", "Version", "Depends", "Provides", "Source", "SourceName",
                            "License", "LicenseFiles", "Section", "SourceDateEpoch", "URL",
                            "Maintainer", "Architecture", "Installed-Size"]
    assert fields["Package"] == "torbox"
    assert fields["Version"] == pkgbuild.version()
    assert fields["Architecture"] == "all"
    deps = fields["Depends"].split(", ")
    assert deps[0] == "libc"
    for dep in ("tor", "nftables", "firewall4", "python3-light", "python3-bottle",
                "python3-stem"):
        assert dep in deps
    assert not any(":" in d or "+" in d for d in deps)  # conditional deps resolved away
    assert fields["License"] == "GPL-2.0-only" and fields["LicenseFiles"] == "LICENSE"
    blobs, _ = members(ipk)
    assert int(fields["Installed-Size"]) == len(gzip.decompress(blobs["./data.tar.gz"]))
    assert description.startswith(" torbox turns a travel router")
    assert all(line.startswith(" ") for line in description.splitlines()[1:])


def test_maintainer_scripts_are_openwrts(ipk, tmp_path):
    ctl = control_files(ipk)
    assert ctl["./postinst"][1].decode() == POSTINST
    assert ctl["./prerm"][1].decode() == PRERM
    # default_postinst does everything torbox needs at install: no postinst-pkg at all
    assert "./postinst-pkg" not in ctl
    assert ctl["./conffiles"][1] == b"/etc/config/torbox\n"  # /etc/torbox/ went to keep.d
    for name in ("./postinst", "./prerm", "./prerm-pkg"):
        assert ctl[name][0].mode == 0o755, name
    # OpenWrt's wrappers are OpenWrt's (not shellcheck-clean); torbox's own part is
    (tmp_path / "prerm-pkg").write_bytes(ctl["./prerm-pkg"][1])
    subprocess.run(["shellcheck", "-s", "sh", str(tmp_path / "prerm-pkg")], check=True)
    body = ctl["./prerm-pkg"][1].decode()
    assert "/usr/sbin/torbox restore" in body and "IPKG_INSTROOT" in body
    # what default_prerm/default_postinst do is not repeated; nothing waits on a service
    for word in ("/etc/init.d/", "uci-defaults", "enable", "disable", "start", "stop",
                 "restart", "wifi", "sleep", "$$"):
        assert word not in body, word


def test_prerm_pkg_does_nothing_in_an_image_build(ipk, tmp_path):
    body = control_files(ipk)["./prerm-pkg"][1]
    (tmp_path / "prerm-pkg").write_bytes(body)
    res = subprocess.run(["/bin/sh", str(tmp_path / "prerm-pkg")], capture_output=True, text=True,
                         env={"PATH": "/nonexistent", "IPKG_INSTROOT": str(tmp_path)})
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_reproducible(tmp_path):
    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert open(a, "rb").read() == open(b, "rb").read()
    c = build(tmp_path / "c", epoch=1764547200)
    _, infos = members(c)
    assert {m.mtime for m in infos} == {1764547200}
