"""Read an .ipk: control fields, maintainer scripts and the payload's file list.

An ipk is an ar archive (or, from some OpenWrt builds, a gzipped tar) holding
debian-binary, control.tar.gz and data.tar.gz.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

# OpenWrt's generated postinst/prerm call default_postinst/default_prerm, which run the
# package's own part from postinst-pkg/prerm-pkg
SCRIPTS = ("preinst", "postinst", "prerm", "postrm", "conffiles", "postinst-pkg", "prerm-pkg")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+@/-]+$")


class IpkError(Exception):
    pass


def _ar_members(blob: bytes) -> dict[str, bytes]:
    if not blob.startswith(b"!<arch>\n"):
        raise IpkError("not an ar archive")
    pos = 8
    out: dict[str, bytes] = {}
    while pos + 60 <= len(blob):
        header = blob[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise IpkError("corrupt ar header") from None
        pos += 60
        out[name] = blob[pos : pos + size]
        pos += size + (size % 2)
    return out


def _tar_members(blob: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tf:
            for m in tf.getmembers():
                if m.isfile():
                    f = tf.extractfile(m)
                    if f is not None:
                        out[m.name.lstrip("./")] = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise IpkError(f"not a package archive: {exc}") from None
    return out


def parse_control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def parse_depends(value: str) -> list[list[str]]:
    """`a, b (>= 1) | c` -> [["a"], ["b", "c"]]: each item lists alternatives."""
    out = []
    for item in value.split(","):
        alts = [re.sub(r"\s*\(.*\)", "", a).strip() for a in item.split("|")]
        alts = [a for a in alts if a]
        if alts:
            out.append(alts)
    return out


@dataclass
class Package:
    path: Path
    sha256: str
    control: dict[str, str]
    scripts: dict[str, bytes]
    data_tgz: bytes
    files: dict[str, int] = field(default_factory=dict)  # path -> size (files and links)
    dirs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.control.get("Package", "torbox")

    @property
    def version(self) -> str:
        return self.control.get("Version", "?")

    @property
    def architecture(self) -> str:
        return self.control.get("Architecture", "all")

    @property
    def depends(self) -> list[list[str]]:
        return parse_depends(self.control.get("Depends", ""))

    @property
    def conffiles(self) -> list[str]:
        return self.scripts.get("conffiles", b"").decode().split()

    @property
    def installed_kb(self) -> int:
        # each file rounded up to a 4 KiB block, as on the overlay
        return sum((size + 4095) // 4096 * 4 for size in self.files.values())


def load(path: Path) -> Package:
    blob = path.read_bytes()
    members = _ar_members(blob) if blob.startswith(b"!<arch>\n") else _tar_members(blob)
    for need in ("control.tar.gz", "data.tar.gz"):
        if need not in members:
            raise IpkError(f"{path}: no {need} inside")
    control_files = _tar_members(members["control.tar.gz"])
    if "control" not in control_files:
        raise IpkError(f"{path}: control.tar.gz has no control file")
    control = parse_control(control_files["control"].decode("utf-8", "replace"))
    scripts = {k: v for k, v in control_files.items() if k in SCRIPTS}
    data = members["data.tar.gz"]
    files: dict[str, int] = {}
    dirs: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            for m in tf.getmembers():
                name = "/" + m.name.lstrip("./").rstrip("/")
                if name == "/":
                    continue
                if not SAFE_PATH.match(name) or "/../" in name + "/":
                    raise IpkError(f"{path}: unsafe path in payload: {m.name!r}")
                if m.isdir():
                    dirs.append(name)
                elif m.isfile() or m.issym():
                    files[name] = m.size
                else:
                    raise IpkError(f"{path}: unsupported entry in payload: {m.name!r}")
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IpkError(f"{path}: cannot read data.tar.gz: {exc}") from None
    return Package(
        path=path,
        sha256=hashlib.sha256(blob).hexdigest(),
        control=control,
        scripts=scripts,
        data_tgz=data,
        files=files,
        dirs=dirs,
    )


def find_default(repo: Path) -> Path | None:
    """The newest build/torbox_*_all.ipk, if `make ipk` has run."""
    found = sorted((repo / "build").glob("torbox_*.ipk"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
