"""The admin secret, login sessions and CSRF tokens for the status page's actions.

The secret is a random token in a root-only file (mode 0600, created on first start with
O_EXCL so it is never readable by others, even for an instant). It is never passed on a
command line and never logged; the administrator reads it over SSH
(`cat /etc/torbox/webui.secret`) or replaces it with a passphrase of their own.
Sessions live in memory only: a restart logs everybody out.
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

log = logging.getLogger("torbox.webui")

DEFAULT_SECRET_PATH = "/etc/torbox/webui.secret"  # noqa: S105 - a path, not a secret
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 32


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
        self._fails = 0
        self._blocked_until = 0.0
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

    def login(self, password: str, now: float | None = None) -> tuple[str | None, str]:
        """(session id, message). Failed attempts back off exponentially, up to 60 s."""
        now = time.time() if now is None else now
        with self._lock:
            if self._secret is None:
                return None, self.error or "Actions are disabled."
            if now < self._blocked_until:
                wait = int(self._blocked_until - now + 0.999)
                return None, f"Too many wrong secrets: try again in {wait} s."
            if not hmac.compare_digest(password.encode(), self._secret.encode()):
                self._fails += 1
                self._blocked_until = now + min(2 ** (self._fails - 1), 60)
                return None, "Wrong secret."
            self._fails = 0
            self._blocked_until = 0.0
            self._expire(now)
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k]["expires"])
                del self._sessions[oldest]
            sid = secrets.token_urlsafe(24)
            self._sessions[sid] = {"csrf": secrets.token_urlsafe(24),
                                   "expires": now + SESSION_TTL_S, "flash": None}
            return sid, "Logged in."

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
