"""The one payload manifest: package/torbox/Makefile's Package/torbox/install.

Every builder executes that block (through package/sdk-shim, as the OpenWrt SDK does):
`make ipk`, `make apk` and the self-contained feed of `make feed`. These tests stage it,
check what lands on the router, and check that each builder ships exactly that tree.
"""

import gzip
import io
import os
import re
import stat
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from package import pkgbuild

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "package" / "torbox" / "Makefile"
# Files beside the sources that are for developers, never for the router's flash.
DEV_ONLY = {"webui/README.md", "webui/webui.mk"}
# Files the build writes or edits: the version stamp.
STAMPED = {"/etc/init.d/torbox", "/usr/lib/torbox/torbox/_version.py"}
# What OpenWrt's package-pack.mk adds to Package/torbox/install's output: the conffiles
# entries that are no packaged file (/etc/torbox/) go to sysupgrade's keep list.
KEEP_D = "/lib/upgrade/keep.d/torbox"


def tree(root: Path) -> dict[str, tuple[str, int, bytes | str | None]]:
    """path -> (kind, mode, content) for everything under root (root itself as '/')."""
    out = {}

    def add(p: Path, rel: str) -> None:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", 0, os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())

    add(root, "/")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            add(p, "/" + p.relative_to(root).as_posix())
    return out


def tar_tree(blob: bytes) -> dict[str, tuple[str, int, bytes | str | None]]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tf:
        for m in tf.getmembers():
            name = "/" + m.name.removeprefix("./").rstrip("/")
            name = "/" if name == "/." else name
            if m.issym():
                out[name] = ("link", 0, m.linkname)
            elif m.isdir():
                out[name] = ("dir", m.mode, None)
            else:
                out[name] = ("file", m.mode, tf.extractfile(m).read())
            assert (m.uid, m.gid) == (0, 0), m.name
    return out


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    return tree(pkgbuild.stage(tmp_path_factory.mktemp("stage") / "b"))


@pytest.fixture(scope="module")
def feed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("feed")
    subprocess.run([sys.executable, str(ROOT / "package" / "mkfeed.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return out / "torbox"


def test_router_files_and_modes(staged):
    files = {p: v for p, v in staged.items() if v[0] == "file"}
    assert staged["/etc/config/torbox"][:2] == ("file", 0o600)  # holds the Wi-Fi keys
    # (the deploy tool's router-side helper is uploaded by the tool, not packaged)
    assert "/usr/libexec/torbox/deploy-helper" not in staged
    for path in ("/usr/sbin/torbox", "/etc/init.d/torbox", "/etc/uci-defaults/90-torbox"):
        assert staged[path][1] == 0o755, path
    for path, (_kind, mode, _data) in files.items():
        if path.endswith((".py", ".html")):
            assert mode == 0o644, path
    assert all(v[1] == 0o755 for v in staged.values() if v[0] == "dir")
    assert not [p for p, v in staged.items() if v[0] == "link"]
    for path in staged:
        name = path.rsplit("/", 1)[-1]
        assert not name.endswith((".md", ".mk", ".pyc")), path
        assert name not in ("__pycache__", ".pytest_cache", "tests"), path
    assert staged[KEEP_D][2] == b"/etc/torbox/\n"


def test_every_source_file_is_shipped_unchanged(staged):
    """Each router file of files/ and webui/ is in the payload byte for byte, and nothing else
    is: a file added to the tree but not to Package/torbox/install fails here."""
    expected = {}
    for src_root, dest in (("files", ""), ("webui", "/usr/lib/torbox/webui")):
        for dirpath, dirnames, filenames in os.walk(ROOT / src_root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                src = Path(dirpath, name)
                rel = str(src.relative_to(ROOT))
                if rel in DEV_ONLY or name.endswith(".pyc"):
                    continue
                expected[dest + "/" + str(src.relative_to(ROOT / src_root))] = src
    shipped = {p for p, v in staged.items() if v[0] == "file"}
    assert shipped - set(expected) == STAMPED - set(expected) | {KEEP_D}
    assert set(expected) - shipped == set(), "add these to Package/torbox/install"
    for path, src in expected.items():
        if path not in STAMPED:
            assert staged[path][2] == src.read_bytes(), path


def test_version_in_one_place(staged, tmp_path):
    """The feed Makefile holds it; the build stamps it; pyproject.toml agrees."""
    version = pkgbuild.version()
    assert re.fullmatch(r"\d+\.\d+\.\d+-r\d+", version)
    assert f"PKG_VERSION='{version}'".encode() in staged["/etc/init.d/torbox"][2]
    assert staged["/usr/lib/torbox/torbox/_version.py"][2] == \
        f'__version__ = "{version}"\n'.encode()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == pkgbuild.variables()["PKG_VERSION"]
    # webui keeps no version of its own that could drift (the page reads torbox's)
    webui_init = (ROOT / "webui" / "__init__.py").read_text()
    for found in re.findall(r"^__version__ = \"(.*)\"", webui_init, flags=re.M):
        assert found == pkgbuild.variables()["PKG_VERSION"]
    # `torbox --version` from the source tree (reads the Makefile) and from the payload
    src = subprocess.run([sys.executable, str(ROOT / "files/usr/sbin/torbox"), "--version"],
                         capture_output=True, text=True, check=True)
    assert src.stdout.strip() == f"torbox {version}"
    root = tmp_path / "router"
    for path, (kind, mode, data) in staged.items():
        if kind == "file" and path.startswith("/usr/"):
            (root / path[1:]).parent.mkdir(parents=True, exist_ok=True)
            (root / path[1:]).write_bytes(data)
            (root / path[1:]).chmod(mode)
    out = subprocess.run([sys.executable, str(root / "usr/sbin/torbox"), "--version"],
                         capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.stdout.strip() == f"torbox {version}"


def test_makefile_details():
    text = MAKEFILE.read_text()
    v = pkgbuild.variables()
    depends = re.search(r"DEPENDS:=((?:.*\\\n)*.*)", text)[1].replace("\\\n", " ").split()
    assert "+firewall4" in depends and "+tor" in depends
    assert (MAKEFILE.parent / v["PKG_LICENSE_FILES"]).is_file()
    assert "GNU GENERAL PUBLIC LICENSE" in (MAKEFILE.parent / "LICENSE").read_text()
    # no real home exists yet: the placeholders are in the reserved .invalid domain
    assert v["PKG_MAINTAINER"].endswith("@example.invalid>")
    assert re.search(r"^\s*URL:=https://example\.invalid/", text, flags=re.M)
    conffiles = re.search(r"define Package/torbox/conffiles\n(.*?)endef", text, re.S)[1]
    assert conffiles.split() == ["/etc/config/torbox", "/etc/torbox/"]
    # nothing reaches out of the package folder but its two symlinks
    assert "../" not in text and "$(CURDIR)" not in text
    for link in ("files", "webui"):
        assert os.readlink(MAKEFILE.parent / link) == f"../../{link}"
    assert not re.search(r"define Package/torbox/postinst\b", text)


def test_feed_is_self_contained(feed, staged, tmp_path):
    for p in [feed, *feed.rglob("*")]:
        assert not p.is_symlink(), p
        assert not p.name.endswith((".pyc", ".mk", ".md")) and p.name != "__pycache__", p
    assert (feed / "Makefile").read_bytes() == MAKEFILE.read_bytes()
    # the SDK runs the copy: it stages the very same tree
    assert tree(pkgbuild.stage(tmp_path / "b", pkg_dir=feed)) == staged


def test_ipk_payload_is_the_staged_tree(staged, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "package" / "mkipk.py"), "--out",
                           str(tmp_path)], check=True, capture_output=True, text=True)
    with tarfile.open(proc.stdout.split()[0], "r:gz") as tf:
        data = tf.extractfile("./data.tar.gz").read()
    assert gzip.decompress(data)[257:265] == b"ustar  \0"
    assert tar_tree(data) == staged
