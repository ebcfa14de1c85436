"""Fixtures for deploy tests: a throw-away router (dropbear or OpenSSH) and a laptop.

The router is `routerns.RouterRig`; the laptop runs deploy/deploy.py in its own
network namespace with a HOME, known_hosts and backup folder in tmp_path, so the
build machine's ~/.ssh is never read or written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from .routerns import DATA, PASSWORD, REPO, ROUTER_IP, RouterRig

TOOLS = ("ip", "unshare", "nsenter", "dropbear", "dropbearkey", "sshd", "ssh-keygen", "nft",
         "tc", "openssl", "busybox", "curl")
# What a rollback must bring back: the rig's original files, and nothing torbox made.
ORIGINAL = {f"/etc/config/{n}": (DATA / n).read_bytes()
            for n in ("network", "wireless", "dhcp", "firewall")}
ABSENT = ("/etc/config/torbox", "/usr/sbin/torbox", "/usr/lib/torbox", "/etc/torbox",
          "/etc/init.d/torbox", "/etc/uci-defaults/90-torbox", "/usr/libexec/torbox")


def _missing() -> str:
    if os.geteuid() != 0:
        return "deploy tests need root (network namespaces, mounts)"
    gone = [t for t in TOOLS if shutil.which(t) is None]
    return f"missing tools: {', '.join(gone)}" if gone else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a router are `deploy` tests; they need root and the tools."""
    reason = _missing()
    for item in items:
        in_here = "tests/deploy/" in str(item.fspath).replace(os.sep, "/")
        if in_here and ("rig" in item.fixturenames or item.get_closest_marker("deploy")):
            item.add_marker(pytest.mark.deploy)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def ipk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built from this tree (package/mkipk.py, as `make ipk` does)."""
    out = tmp_path_factory.mktemp("ipk")
    subprocess.run([sys.executable, str(REPO / "package" / "mkipk.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return next(out.glob("torbox_*.ipk"))


def _replace_scripts(data: bytes, scripts: dict[str, str]) -> bytes:
    """control.tar.gz with some maintainer scripts replaced."""
    old = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as new:
        for m in old.getmembers():
            base = m.name.lstrip("./")
            if base in scripts:
                body = scripts[base].encode()
                m.size = len(body)
                new.addfile(m, io.BytesIO(body))
            else:
                new.addfile(m, old.extractfile(m) if m.isfile() else None)
    return buf.getvalue()


def repack(src: Path, dest: Path, scripts: dict[str, str]) -> Path:
    """A copy of `src` with some maintainer scripts replaced (to make installs fail), in
    the same outer format: an ar archive (Debian layout) or OpenWrt's gzipped tar."""
    blob = src.read_bytes()
    if blob.startswith(b"!<arch>\n"):
        pos, members = 8, []
        while pos + 60 <= len(blob):
            header = blob[pos:pos + 60]
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58])
            members.append((name, blob[pos + 60:pos + 60 + size]))
            pos += 60 + size + size % 2
        parts = [b"!<arch>\n"]
        for name, data in members:
            if name == "control.tar.gz":
                data = _replace_scripts(data, scripts)
            parts.append(f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
                         .encode())
            parts.append(data + (b"\n" if len(data) % 2 else b""))
        dest.write_bytes(b"".join(parts))
        return dest
    outer = tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=outer.format) as new:
        for m in outer.getmembers():
            f = outer.extractfile(m) if m.isfile() else None
            if m.name.lstrip("./") == "control.tar.gz" and f is not None:
                data = _replace_scripts(f.read(), scripts)
                m.size = len(data)
                new.addfile(m, io.BytesIO(data))
            else:
                new.addfile(m, f)
    dest.write_bytes(buf.getvalue())
    return dest


@pytest.fixture(params=["dropbear", "openssh"])
def server(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def rig(tmp_path: Path, server: str):
    r = RouterRig(tmp_path, server).start()
    try:
        yield r
    finally:
        r.close()


class Laptop:
    """deploy.py as a user on the laptop runs it, with its own HOME and known_hosts."""

    def __init__(self, rig: RouterRig, tmp: Path, ipk: Path) -> None:
        self.rig = rig
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        self.known = self.home / "known_hosts"
        self.backups = tmp / "backups"
        self.ipk = ipk
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "TORBOX_DEPLOY_PASSWORD": PASSWORD,
        }

    def args(self, *extra: str, config: str | None = "torbox.uci") -> list[str]:
        a = ["--host", ROUTER_IP, "--known-hosts", str(self.known), "--backup-dir",
             str(self.backups), "--package", str(self.ipk), "--confirm-timeout", "30",
             "--status-timeout", "15", "--io-timeout", "10"]
        if config:
            a += ["--config", str(DATA / config)]
        return a + list(extra)

    def trust(self) -> None:
        self.known.write_text(f"{ROUTER_IP} {self.rig.host_pubkey()}\n")

    def run(self, *extra: str, config: str | None = "torbox.uci", env: dict | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess:
        r = self.rig.laptop(*self.args(*extra, config=config), env=env or self.env, stdin=stdin)
        print(f"--- deploy.py {' '.join(extra)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def popen(self, *extra: str, config: str | None = "torbox.uci") -> subprocess.Popen:
        return self.rig.laptop_popen(*self.args(*extra, config=config), env=self.env)


@pytest.fixture
def laptop(rig: RouterRig, tmp_path: Path, ipk: Path) -> Laptop:
    return Laptop(rig, tmp_path, ipk)


def router_state(rig: RouterRig) -> dict[str, object]:
    """What the byte-identity checks compare: file bytes and modes, and what is absent."""
    out: dict[str, object] = {}
    for path in ORIGINAL:
        p = rig.path(path)
        out[path] = (p.read_bytes(), oct(p.stat().st_mode & 0o7777)) if p.exists() else None
    for path in ABSENT:
        out[path] = "present" if rig.path(path).exists() else None
    return out


def assert_original(rig: RouterRig) -> None:
    state = router_state(rig)
    for path, data in ORIGINAL.items():
        assert state[path] is not None, f"{path} is gone"
        assert state[path][0] == data, f"{path} differs from the original"
    assert state["/etc/config/wireless"][1] == "0o600", "wireless lost its 0600 mode"
    for path in ABSENT:
        assert state[path] is None, f"{path} is still there after the rollback"
    tables = subprocess.run(["ip", "netns", "exec", rig.ns_r, "nft", "list", "tables"],
                            capture_output=True, text=True).stdout
    assert "torbox" not in tables, f"torbox's nft table is still loaded: {tables}"


def deploy_dirs(rig: RouterRig) -> list[Path]:
    """The router-side deploy folders (`mktemp -d /tmp/torbox-deploy.XXXXXX`)."""
    return sorted(p for p in rig.path("/tmp").glob("torbox-deploy.*") if p.is_dir())


def wait_router_state(rig: RouterRig, want: str, timeout: float) -> Path:
    """Wait until the router-side deploy folder reports `want` (e.g. restored)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        for d in deploy_dirs(rig):
            st = d / "state"
            seen = st.read_text().strip() if st.exists() else ""
            if seen == want:
                return d
        time.sleep(0.5)
    raise AssertionError(f"router state never became {want!r} (last: {seen!r})")


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
