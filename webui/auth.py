"""The admin secret, login sessions and CSRF tokens for the status page's actions.

The secret is a random token in a root-only file (mode 0600, created on first start with
O_EXCL so it is never readable by others, even for an instant). It is never passed on a
command line and never logged; the administrator reads it over SSH
(`cat /etc/torbox/webui.secret`) or replaces it with a passphrase of their own.
Sessions live in memory only: a restart logs everybody out.

Wrong secrets back off per client address (1 s, 2 s, 4 s ... 60 s): one visitor's guesses
never make the right secret wait for anyone else. The table is bounded (MAX_TRACKED_CLIENTS;
when full, the record whose back-off ends first goes) and a record is forgotten
FORGET_AFTER_S after its last wrong secret.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import threading
import time
from typing import Any

import bottle

log = logging.getLogger("torbox.webui")

DEFAULT_SECRET_PATH = "/etc/torbox/webui.secret"  # noqa: S105 - a path, not a secret
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 32
BACKOFF_MAX_S = 60
MAX_TRACKED_CLIENTS = 256  # a /24 of guessers; ~100 bytes each
FORGET_AFTER_S = 3600.0


class SecretError(Exception):
    pass


def ensure_secret(path: str) -> str:
    """Read the admin secret, creating a random one (mode 0600) when the file is missing."""
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18) + "\n")
        log.info("created a new admin secret in %s (mode 0600)", path)
    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        os.chmod(path, 0o600)
        log.warning("%s was readable by others; mode set to 0600 (consider a new secret)", path)
    with open(path) as f:
        value = f.read().strip()
    if len(value) < 8:
        raise SecretError(f"{path}: the admin secret must be at least 8 characters")
    return value


class Auth:
    def __init__(self, secret_path: str | None) -> None:
        self.secret_path = secret_path
        self.error: str | None = None
        self._secret: str | None = None
        self._sessions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._fails: dict[str, list[float]] = {}  # address -> [count, blocked until, last]
        if secret_path is None:
            self.error = "Actions are disabled: no admin secret file is configured."
            return
        try:
            self._secret = ensure_secret(secret_path)
        except (OSError, SecretError) as exc:
            self.error = "Actions are disabled: the admin secret cannot be read."
            log.error("admin secret: %s", exc)

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def login(self, password: str, now: float | None = None,
              client: str | None = None) -> tuple[str | None, str]:
        """(session id, message). Wrong secrets back off exponentially per client address,
        up to 60 s. `client` defaults to the current request's REMOTE_ADDR."""
        now = time.time() if now is None else now
        client = _request_address() if client is None else client
        with self._lock:
            if self._secret is None:
                return None, self.error or "Actions are disabled."
            record = self._fails.get(client)
            if record is not None and now < record[1]:
                wait = int(record[1] - now + 0.999)
                return None, f"Too many wrong secrets: try again in {wait} s."
            if not hmac.compare_digest(password.encode(), self._secret.encode()):
                self._failed(client, record, now)
                return None, "Wrong secret."
            self._fails.pop(client, None)
            self._expire(now)
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k]["expires"])
                del self._sessions[oldest]
            sid = secrets.token_urlsafe(24)
            self._sessions[sid] = {"csrf": secrets.token_urlsafe(24),
                                   "expires": now + SESSION_TTL_S, "flash": None}
            return sid, "Logged in."

    def _failed(self, client: str, record: list[float] | None, now: float) -> None:
        for k in [k for k, r in self._fails.items() if now - r[2] > FORGET_AFTER_S]:
            del self._fails[k]
        if record is None or client not in self._fails:
            if len(self._fails) >= MAX_TRACKED_CLIENTS:
                # the one whose back-off ends first: a flood of new addresses cannot free
                # a guesser who is still waiting
                first = min(self._fails, key=lambda k: (self._fails[k][1], self._fails[k][2]))
                del self._fails[first]
            record = [0, 0.0, now]
            self._fails[client] = record
        record[0] += 1
        record[1] = now + min(2 ** (int(record[0]) - 1), BACKOFF_MAX_S)
        record[2] = now

    def blocked_until(self, client: str) -> float:
        """When `client` may try again (0: no record)."""
        with self._lock:
            record = self._fails.get(client)
            return record[1] if record else 0

    def tracked_clients(self) -> int:
        with self._lock:
            return len(self._fails)

    def _expire(self, now: float) -> None:
        for k in [k for k, v in self._sessions.items() if v["expires"] <= now]:
            del self._sessions[k]

    def session(self, sid: str | None, now: float | None = None) -> dict[str, Any] | None:
        if not sid:
            return None
        now = time.time() if now is None else now
        with self._lock:
            s = self._sessions.get(sid)
            if s is None or s["expires"] <= now:
                self._sessions.pop(sid, None)
                return None
            return s

    def logout(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    @staticmethod
    def csrf_ok(session: dict[str, Any] | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(session["csrf"].encode(), token.encode())


def _request_address() -> str:
    """REMOTE_ADDR of the request this thread is serving (never X-Forwarded-For)."""
    try:
        return str(bottle.request.environ.get("REMOTE_ADDR", ""))
    except RuntimeError:  # no request bound to this thread
        return ""
