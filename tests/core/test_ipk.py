"""`make ipk`: an opkg-installable ar archive whose payload is files/ plus webui/."""

import io
import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def ipk(tmp_path_factory):
    out = tmp_path_factory.mktemp("ipk")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "package", "mkipk.py"),
                           "--out", str(out)], capture_output=True, text=True, check=True)
    path = proc.stdout.split()[0]
    return path


def ar_members(path):
    data = open(path, "rb").read()
    assert data[:8] == b"!<arch>\n"
    pos, members = 8, {}
    while pos < len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        assert header[58:60] == b"`\n"
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    return members


def test_structure_and_size(ipk):
    assert os.path.getsize(ipk) < 150 * 1024
    members = ar_members(ipk)
    assert list(members) == ["debian-binary", "control.tar.gz", "data.tar.gz"]
    assert members["debian-binary"] == b"2.0\n"
    # binutils' ar agrees with our reading
    listing = subprocess.run(["ar", "t", ipk], capture_output=True, text=True, check=True)
    assert listing.stdout.split() == ["debian-binary", "control.tar.gz", "data.tar.gz"]


def test_control_fields_and_scripts(ipk, tmp_path):
    ctl = tarfile.open(fileobj=io.BytesIO(ar_members(ipk)["control.tar.gz"]))
    names = set(ctl.getnames())
    assert {"./control", "./conffiles", "./postinst", "./prerm"} <= names
    control = ctl.extractfile("./control").read().decode()
    fields = dict(line.split(": ", 1) for line in control.strip().splitlines())
    assert fields["Package"] == "torbox"
    assert fields["Architecture"] == "all"
    for dep in ("tor", "nftables", "python3-light", "python3-bottle", "python3-stem"):
        assert dep in fields["Depends"].split(", ")
    assert ctl.extractfile("./conffiles").read() == b"/etc/config/torbox\n"
    for script in ("postinst", "prerm"):
        member = ctl.getmember(f"./{script}")
        assert member.mode & 0o111
        body = ctl.extractfile(member).read()
        assert body.startswith(b"#!/bin/sh\n") and b"IPKG_INSTROOT" in body
        assert b"$$" not in body
        path = tmp_path / script
        path.write_bytes(body)
        subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True)


def test_payload_matches_source_tree(ipk):
    data = tarfile.open(fileobj=io.BytesIO(ar_members(ipk)["data.tar.gz"]))
    files = {m.name[1:]: m for m in data.getmembers() if m.isfile()}
    expected = {}
    for src_root, dest in (("files", "/"), ("webui", "/usr/lib/torbox/webui/")):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, src_root)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for n in filenames:
                if n.endswith((".pyc", ".mk")) or n == "README.md":
                    continue
                src = os.path.join(dirpath, n)
                expected[os.path.join(dest, os.path.relpath(src, os.path.join(ROOT, src_root)))] \
                    = src
    assert set(files) == set(expected)
    for path, src in expected.items():
        got = data.extractfile(files[path]).read()
        want = open(src, "rb").read()
        if path == "/etc/init.d/torbox":
            assert b"PKG_VERSION='0.1.0-r1'" in got
            continue
        assert got == want, path
        assert bool(files[path].mode & 0o100) == os.access(src, os.X_OK), path
    assert files["/etc/config/torbox"].mode == 0o600
    assert files["/usr/sbin/torbox"].mode == 0o755


def test_reproducible(tmp_path):
    paths = []
    for i in range(2):
        out = tmp_path / str(i)
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "package", "mkipk.py"),
                               "--out", str(out)], capture_output=True, text=True, check=True)
        paths.append(proc.stdout.split()[0])
    assert open(paths[0], "rb").read() == open(paths[1], "rb").read()
