"""Local, timestamped backup folders: what the router had before a deploy touched it.

A folder holds meta.json (host, router-side folder, state), snapshot.tar.gz (exactly
what the router saved: the files plus the list of paths that did not exist) and
files/ (the same files unpacked, for people to read).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# States: snapshot (nothing changed yet), armed (changes may be on the router),
# done, rolled-back, abandoned (nothing was changed).
UNFINISHED_STATES = ("snapshot", "armed")


def default_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "torbox" / "backups"


@dataclass
class Meta:
    host: str
    port: int
    user: str
    router_dir: str
    created: str
    state: str = "snapshot"
    target: str = ""
    method: str = ""
    version_before: str = ""
    version_new: str = ""
    host_key: str = ""
    new_host: str = ""
    notes: list[str] = field(default_factory=list)


class Backup:
    def __init__(self, path: Path, meta: Meta) -> None:
        self.path = path
        self.meta = meta

    @classmethod
    def create(cls, root: Path, meta: Meta) -> Backup:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in meta.host)
        path = root / f"{safe_host}_{meta.port}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = root / f"{safe_host}_{meta.port}-{stamp}-{n}"
        path.mkdir(mode=0o700, parents=True)
        backup = cls(path, meta)
        backup.save()
        return backup

    @classmethod
    def open(cls, path: Path) -> Backup:
        data = json.loads((path / "meta.json").read_text())
        return cls(path, Meta(**data))

    def save(self) -> None:
        tmp = self.path / "meta.json.tmp"
        tmp.write_text(json.dumps(asdict(self.meta), indent=2) + "\n")
        tmp.replace(self.path / "meta.json")

    def set_state(self, state: str, note: str = "") -> None:
        self.meta.state = state
        if note:
            self.meta.notes.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {note}")
        self.save()

    @property
    def snapshot(self) -> Path:
        return self.path / "snapshot.tar.gz"

    def store_snapshot(self, blob: bytes) -> list[str]:
        """Keep the router's snapshot and unpack its files for reading. Returns saved paths."""
        fd = os.open(self.snapshot, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        files_dir = self.path / "files"
        files_dir.mkdir(mode=0o700, exist_ok=True)
        saved = []
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(("snap/", "./snap/"))]
            for m in members:
                m.name = m.name.split("snap/", 1)[1]
                if m.name and (m.isfile() or m.isdir() or m.issym()):
                    if hasattr(tarfile, "data_filter"):
                        tf.extract(m, files_dir, filter="data")
                    elif ".." not in m.name.split("/") and not m.name.startswith("/"):
                        tf.extract(m, files_dir)
                    if m.isfile():
                        saved.append("/" + m.name)
        return saved

    def entries(self) -> list[tuple[str, str]]:
        """(kind, path) from the snapshot: P saved, A absent, D directory created later."""
        with tarfile.open(self.snapshot, mode="r:gz") as tf:
            for m in tf.getmembers():
                if m.name.lstrip("./") == "entries":
                    f = tf.extractfile(m)
                    text = f.read().decode() if f else ""
                    return [tuple(line.split(" ", 1)) for line in text.splitlines() if " " in line]
        return []


def unfinished(root: Path, host: str, port: int) -> list[Backup]:
    if not root.is_dir():
        return []
    found = []
    for meta in sorted(root.glob("*/meta.json")):
        try:
            b = Backup.open(meta.parent)
        except (OSError, ValueError, TypeError):
            continue
        if (
            host in (b.meta.host, b.meta.new_host)
            and b.meta.port == port
            and b.meta.state in UNFINISHED_STATES
        ):
            found.append(b)
    return found
