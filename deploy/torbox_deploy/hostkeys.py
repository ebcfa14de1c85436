"""Host key checks: known_hosts first; a new key only with the user's explicit consent.

Semantics are paramiko's RejectPolicy plus two opt-ins: --accept-new (trust on
first use, then recorded) and --fingerprint (the user read it off the router).
A key that differs from a recorded one is always refused; nothing is sent.

known_hosts is read here, line by line, not by paramiko's HostKeys.load: paramiko (5.x)
knows no markers and raised InvalidHostKey on any `@revoked` or `@cert-authority` line,
killing the tool. Now:
- `@revoked <hosts> <key>`: that key is refused, for every host (a revoked key is
  compromised; OpenSSH applies the marker to the line's hosts only), even with
  --accept-new, --fingerprint, or after an address change;
- `@cert-authority`: ignored, with a note: paramiko's client never asks for host
  certificates, so a CA cannot vouch for a router here; its own key must be known;
- an unreadable line is skipped with a note (OpenSSH skips it silently).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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


def _matches(names: list[str], label: str) -> bool:
    """A known_hosts host field: plain names or OpenSSH-hashed ones (`|1|salt|hash`)."""
    for name in names:
        if name.startswith("|1|"):
            try:
                if hmac.compare_digest(paramiko.HostKeys.hash_host(label, name), name):
                    return True
            except (ValueError, TypeError, binascii.Error):
                continue
        elif name == label:
            return True
    return False


class KnownHosts:
    """Reads every given known_hosts file; records new keys in `record_path`."""

    def __init__(self, paths: list[Path], record_path: Path) -> None:
        self.paths = paths
        self.record_path = record_path
        self.entries: list[tuple[list[str], paramiko.PKey]] = []
        self.revoked: list[tuple[paramiko.PKey, str]] = []  # key, file:line
        self.notes: list[str] = []  # what was ignored, for the user
        for path in paths:
            if path.is_file():
                self._load(path)

    def _load(self, path: Path) -> None:
        for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError,
                    binascii.Error):
                entry = None
            if marker == "@cert-authority":
                self.notes.append(
                    f"{where}: @cert-authority line ignored: paramiko cannot check host"
                    " certificates, so the router's own host key must be known (in"
                    " known_hosts, or given with --fingerprint)")
            elif marker == "@revoked":
                if entry is None:
                    self.notes.append(f"{where}: unreadable @revoked line; it revokes nothing")
                else:
                    self.revoked.append((entry.key, where))
            elif marker:
                self.notes.append(f"{where}: unknown marker {marker}; line ignored")
            elif entry is None:
                self.notes.append(f"{where}: unreadable line skipped")
            else:
                self.entries.append((entry.hostnames, entry.key))

    def lookup(self, host: str, port: int) -> list[paramiko.PKey]:
        label = host_label(host, port)
        return [key for names, key in self.entries if _matches(names, label)]

    def revoked_at(self, key: paramiko.PKey) -> str | None:
        """file:line of an @revoked line for `key`, or None."""
        for revoked, where in self.revoked:
            if revoked == key:
                return where
        return None

    def record(self, host: str, port: int, key: paramiko.PKey) -> None:
        label = host_label(host, port)
        self.record_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = f"{label} {key.get_name()} {key.get_base64()}\n"
        # append: never rewrite the user's file (paramiko's save() drops markers)
        fd = os.open(self.record_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)
        self.entries.append(([label], key))

    def preferred_types(
        self, host: str, port: int, trusted: paramiko.PKey | None, offered: list[str]
    ) -> list[str] | None:
        """Host key algorithms to ask for: only the recorded types when there are any."""
        names = list(dict.fromkeys(k.get_name() for k in self.lookup(host, port)))
        names = names or ([trusted.get_name()] if trusted else [])
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
    where = known.revoked_at(key)
    if where is not None:
        raise DeployError(
            HOSTKEY,
            f"{host}:{port}: the router's host key {key.get_name()} {fp} is REVOKED ({where}:"
            " @revoked). Nothing was sent.",
            "A revoked key is never accepted, whatever the options. If the router was given a"
            " new key, check it on its console and add that one.",
        )
    recorded = known.lookup(host, port)
    if recorded:
        if key in recorded:
            return "known"
        old = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in recorded)
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
