"""Host key checks: known_hosts first; a new key only with the user's explicit consent.

Semantics are paramiko's RejectPolicy plus two opt-ins: --accept-new (trust on
first use, then recorded) and --fingerprint (the user read it off the router).
A key that differs from a recorded one is always refused; nothing is sent.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import paramiko

from .errors import HOSTKEY, DeployError

RSA_ALGOS = ("rsa-sha2-512", "rsa-sha2-256")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's format: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_label(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def normalize_fingerprint(text: str) -> str:
    text = text.strip()
    if not text.startswith("SHA256:"):
        text = "SHA256:" + text
    return text.rstrip("=")


class KnownHosts:
    """Reads every given known_hosts file; records new keys in `record_path`."""

    def __init__(self, paths: list[Path], record_path: Path) -> None:
        self.paths = paths
        self.record_path = record_path
        self.keys = paramiko.HostKeys()
        for path in paths:
            if path.is_file():
                self.keys.load(str(path))

    def lookup(self, host: str, port: int) -> dict[str, paramiko.PKey]:
        found = self.keys.lookup(host_label(host, port))
        return dict(found) if found else {}

    def record(self, host: str, port: int, key: paramiko.PKey) -> None:
        label = host_label(host, port)
        self.record_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = f"{label} {key.get_name()} {key.get_base64()}\n"
        # append: never rewrite the user's file (paramiko's save() drops markers)
        fd = os.open(self.record_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)
        self.keys.add(label, key.get_name(), key)

    def preferred_types(
        self, host: str, port: int, trusted: paramiko.PKey | None, offered: list[str]
    ) -> list[str] | None:
        """Host key algorithms to ask for: only the recorded types when there are any."""
        names = list(self.lookup(host, port)) or ([trusted.get_name()] if trusted else [])
        if not names:
            return None
        algos: list[str] = []
        for name in names:
            algos.extend(RSA_ALGOS if name == "ssh-rsa" else (name,))
        return [a for a in algos if a in offered] or algos


def verify(
    known: KnownHosts,
    host: str,
    port: int,
    key: paramiko.PKey,
    accept_new: bool = False,
    fingerprints: list[str] | None = None,
    trusted: paramiko.PKey | None = None,
) -> str:
    """Return how the key was trusted, or raise DeployError(HOSTKEY)."""
    fp = fingerprint(key)
    recorded = known.lookup(host, port)
    if recorded:
        if recorded.get(key.get_name()) == key:
            return "known"
        old = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in recorded.values())
        raise DeployError(
            HOSTKEY,
            f"{host}:{port}: the host key CHANGED. The router offered {key.get_name()} {fp};"
            f" {', '.join(str(p) for p in known.paths)} records {old}. Nothing was sent.",
            "If the router was re-flashed or reset, check the new key on its console and remove"
            f" the old line with `ssh-keygen -R {host_label(host, port)!r}`. Otherwise someone"
            " may be intercepting the connection.",
        )
    if trusted is not None:
        if trusted == key:
            known.record(host, port, key)
            return "same key as before the address change"
        raise DeployError(
            HOSTKEY,
            f"{host}:{port}: after the address change the router offered a different host key"
            f" ({fp}) than before ({fingerprint(trusted)}). Nothing was sent.",
            "Another device may answer at that address; check the network.",
        )
    wanted = [normalize_fingerprint(f) for f in fingerprints or []]
    if wanted:
        if fp in wanted:
            known.record(host, port, key)
            return "matches --fingerprint"
        raise DeployError(
            HOSTKEY,
            f"{host}:{port}: host key {key.get_name()} {fp} does not match --fingerprint"
            f" {', '.join(wanted)}. Nothing was sent.",
            "Read the fingerprint on the router again (see --help) and compare.",
        )
    if accept_new:
        known.record(host, port, key)
        return "new key accepted (--accept-new) and recorded"
    raise DeployError(
        HOSTKEY,
        f"{host}:{port}: unknown host key {key.get_name()} {fp}. Nothing was sent.",
        "Compare it with the router's own: on OpenWrt run `dropbearkey -y -f"
        " /etc/dropbear/dropbear_ed25519_host_key` on its console; then re-run with"
        f" --fingerprint {fp} (or --accept-new to trust it on first use).",
    )
