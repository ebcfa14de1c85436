"""One SSH session to the router: verified host key, auth, exec-channel commands and files.

OpenWrt's dropbear usually has no SFTP, so files travel over `cat > file` and are
checked with sha256sum on the router before anything uses them.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import select
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from . import hostkeys
from .errors import AUTH, CONNECT, DeployError
from .ui import UI

CHUNK = 8 * 1024  # small: progress and the stall watchdog see each step


class ConnectionLost(Exception):
    """The session died or stopped answering in time."""


class RemoteError(Exception):
    def __init__(self, cmd: str, rc: int, out: str, err: str) -> None:
        super().__init__(f"`{cmd}` exited {rc}: {err.strip() or out.strip()}")
        self.rc = rc
        self.out = out
        self.err = err


@dataclass
class Result:
    rc: int
    out: bytes
    err: bytes

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def errtext(self) -> str:
        return self.err.decode("utf-8", "replace")


@dataclass
class Credentials:
    user: str = "root"
    identity: Path | None = None
    password: str | None = None  # from --password-stdin or the environment
    interactive: bool = False  # may prompt with getpass
    default_keys: bool = True  # ~/.ssh/id_* and the agent, as ssh does
    _prompted: bool = field(default=False, repr=False)

    def ask_password(self, host: str, retry: bool) -> str | None:
        if self.password is not None and not retry:
            return self.password
        if not self.interactive:
            return None
        if retry:
            sys.stderr.write("Permission denied, please try again.\n")
        self._prompted = True
        self.password = getpass.getpass(f"{self.user}@{host}'s password: ")
        return self.password


def _load_key(path: Path, interactive: bool) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(str(path))
    except paramiko.PasswordRequiredException:
        if not interactive:
            raise DeployError(
                AUTH, f"key {path} is encrypted and there is no terminal to ask its passphrase",
                "Load it into ssh-agent first.",
            ) from None
        phrase = getpass.getpass(f"Passphrase for {path}: ")
        return paramiko.PKey.from_path(str(path), phrase)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise DeployError(AUTH, f"cannot read key {path}: {exc}") from None


def _answer_with(password: str) -> Callable[[str, str, list], list[str]]:
    """keyboard-interactive handler: the password for every prompt (PAM asks once)."""
    return lambda _title, _instructions, prompts: [password] * len(prompts)


class _Watchdog:
    """Closes the transport when a send makes no progress for `idle` s or `limit` passes."""

    def __init__(self, transport: paramiko.Transport, idle: float, limit: float) -> None:
        self.transport = transport
        self.idle: float | None = idle
        self.limit = limit
        self.last = time.monotonic()
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self.last = time.monotonic()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            stalled = self.idle is not None and now - self.last > self.idle
            if stalled or now > self.limit + 5:
                self.fired = True
                self.transport.close()
                return

    def stop(self) -> None:
        self._stop.set()


class Session:
    def __init__(
        self,
        host: str,
        port: int,
        creds: Credentials,
        known: hostkeys.KnownHosts,
        ui: UI,
        accept_new: bool = False,
        fingerprints: list[str] | None = None,
        trusted_key: paramiko.PKey | None = None,
        io_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.creds = creds
        self.known = known
        self.ui = ui
        self.accept_new = accept_new
        self.fingerprints = fingerprints or []
        self.trusted_key = trusted_key
        self.io_timeout = io_timeout
        self.transport: paramiko.Transport | None = None
        self.host_key: paramiko.PKey | None = None
        self.trust = ""

    # -- connecting ---------------------------------------------------------------------

    def connect(self, timeout: float = 15.0) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise DeployError(
                CONNECT, f"{self.host}:{self.port}: cannot connect: {exc.strerror or exc}",
                "Check the cable or Wi-Fi, that the laptop has an address in the router's"
                " network, and the --host/--port.",
            ) from None
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            # Linux: a connection whose sent data stays unacknowledged this long is dead
            # (cable pulled, address moved); the kernel ends it instead of retrying for ever
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                            int(self.io_timeout * 1000))
        t = paramiko.Transport(sock)
        t.banner_timeout = timeout
        t.auth_timeout = timeout
        opts = t.get_security_options()
        wanted = self.known.preferred_types(
            self.host, self.port, self.trusted_key, list(opts.key_types)
        )
        if wanted:
            opts.key_types = wanted
        try:
            t.start_client(timeout=timeout)
            key = t.get_remote_server_key()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            t.close()
            raise DeployError(
                CONNECT, f"{self.host}:{self.port}: SSH handshake failed: {exc}",
                "Is an SSH server (dropbear) running on the router at this port?",
            ) from None
        try:
            self.trust = hostkeys.verify(
                self.known, self.host, self.port, key, self.accept_new, self.fingerprints,
                self.trusted_key,
            )
        except DeployError:
            t.close()
            raise
        self.host_key = key
        self.transport = t
        try:
            self._authenticate(t)
        except DeployError:
            self.close()
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise DeployError(
                CONNECT, f"{self.host}:{self.port}: connection lost while logging in: {exc}"
            ) from None
        t.set_keepalive(5)

    def _keys(self) -> list[tuple[str, paramiko.PKey]]:
        keys: list[tuple[str, paramiko.PKey]] = []
        if self.creds.identity is not None:
            keys.append((str(self.creds.identity), _load_key(self.creds.identity,
                                                             self.creds.interactive)))
        if self.creds.default_keys:
            if os.environ.get("SSH_AUTH_SOCK"):
                try:
                    agent = paramiko.Agent()
                    keys.extend(("agent", k) for k in agent.get_keys())
                except paramiko.SSHException:
                    pass
            if self.creds.identity is None:
                ssh_dir = Path.home() / ".ssh"
                for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
                    path = ssh_dir / name
                    if path.is_file():
                        try:
                            keys.append((str(path), _load_key(path, self.creds.interactive)))
                        except DeployError as exc:
                            self.ui.warn(exc.message)
        return keys

    def _authenticate(self, t: paramiko.Transport) -> None:
        user = self.creds.user
        try:
            t.auth_none(user)  # a factory-fresh OpenWrt has no root password
            return
        except paramiko.BadAuthenticationType as exc:
            allowed = list(exc.allowed_types)
        except paramiko.AuthenticationException:
            allowed = ["publickey", "password"]
        if "publickey" in allowed:
            for _label, key in self._keys():
                try:
                    t.auth_publickey(user, key)
                    return
                except paramiko.AuthenticationException:
                    continue
        if "password" in allowed or "keyboard-interactive" in allowed:
            tries = 3 if self.creds.interactive else 1
            for attempt in range(tries):
                password = self.creds.ask_password(self.host, retry=attempt > 0)
                if password is None:
                    break
                try:
                    if "password" in allowed:
                        t.auth_password(user, password)
                    else:
                        t.auth_interactive(user, _answer_with(password))
                    return
                except paramiko.AuthenticationException:
                    continue
        how = "key" if "password" not in allowed else "key or password"
        raise DeployError(
            AUTH,
            f"{user}@{self.host}:{self.port}: authentication failed (server allows:"
            f" {', '.join(allowed)}); nothing was changed.",
            f"Give a {how} that works: --identity KEY, or a password at the prompt"
            " (--password-stdin or TORBOX_DEPLOY_PASSWORD when there is no terminal).",
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    @property
    def alive(self) -> bool:
        return self.transport is not None and self.transport.is_active()

    # -- commands -----------------------------------------------------------------------

    def run(
        self,
        cmd: str,
        stdin: bytes | None = None,
        timeout: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Result:
        """Run `cmd` with the login shell. Raises ConnectionLost on any transport trouble."""
        if self.transport is None:
            raise ConnectionLost("not connected")
        limit = time.monotonic() + (timeout if timeout is not None else self.io_timeout + 30)
        # paramiko blocks for ever writing to a dead TCP connection once the server's
        # window is open (OpenSSH's is 2 MB): a watchdog closes the transport instead
        dog = _Watchdog(self.transport, self.io_timeout, limit)
        try:
            return self._run(cmd, stdin, limit, progress, dog)
        finally:
            dog.stop()
            if dog.fired:
                self.close()

    def _run(self, cmd: str, stdin: bytes | None, limit: float,
             progress: Callable[[int], None] | None, dog: _Watchdog) -> Result:
        assert self.transport is not None
        try:
            chan = self.transport.open_session(timeout=self.io_timeout)
            chan.settimeout(self.io_timeout)
            chan.exec_command(cmd)
            if stdin is not None:
                view = memoryview(stdin)
                sent = 0
                while sent < len(stdin):
                    n = chan.send(view[sent : sent + CHUNK])
                    if n <= 0:
                        raise ConnectionLost("channel closed while sending")
                    sent += n
                    dog.kick()
                    if progress:
                        progress(sent)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            dog.idle = None  # waiting for the command's answer: only the overall limit counts
            while True:
                select.select([chan], [], [], 0.5)
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                    break
                if not self.transport.is_active():
                    raise ConnectionLost("connection closed")
                if time.monotonic() > limit:
                    chan.close()
                    raise ConnectionLost(f"no answer within the time limit to: {cmd[:60]}")
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            rc = chan.recv_exit_status()
            chan.close()
        except (TimeoutError, paramiko.SSHException, EOFError, OSError) as exc:
            if dog.fired:
                raise ConnectionLost(f"no progress for {self.io_timeout:.0f} s") from None
            raise ConnectionLost(str(exc) or type(exc).__name__) from None
        if rc == -1:  # closed without an exit status: the session died under the command
            raise ConnectionLost("the session closed before the command finished")
        return Result(rc, bytes(out), bytes(err))

    def check(self, cmd: str, stdin: bytes | None = None, timeout: float | None = None) -> Result:
        res = self.run(cmd, stdin=stdin, timeout=timeout)
        if res.rc != 0:
            raise RemoteError(cmd, res.rc, res.text, res.errtext)
        return res

    def upload(self, data: bytes, path: str, label: str, mode: str = "600",
               guard: str = "") -> None:
        """Write `data` to `path`; the router checks the sha256 before moving it in place.
        `guard`: shell text run first that exits non-zero when the folder is not to be used."""
        digest = hashlib.sha256(data).hexdigest()
        tmp = path + ".part"
        q, qt = shlex.quote(path), shlex.quote(tmp)
        cmd = guard + (
            f"umask 077; cat > {qt} || exit 3; s=$(sha256sum < {qt} | cut -d' ' -f1);"
            f' if [ "$s" = {digest} ]; then chmod {mode} {qt} && mv -f {qt} {q};'
            f' else rm -f {qt}; echo "checksum $s" >&2; exit 4; fi'
        )
        bar = self.ui.progress(label, len(data))
        res = self.run(cmd, stdin=data, progress=bar.update, timeout=self.io_timeout + 60 +
                       len(data) / 10_000)
        if res.rc == 4:
            raise RemoteError(cmd, res.rc, "", f"checksum mismatch on the router for {path}")
        if res.rc != 0:
            raise RemoteError(cmd, res.rc, res.text, res.errtext)
        bar.finish()

    def download(self, path: str, guard: str = "") -> bytes:
        q = shlex.quote(path)
        res = self.run(f"{guard}sha256sum < {q} >&2 && cat {q}")
        if res.rc != 0:
            raise RemoteError(f"cat {path}", res.rc, res.text, res.errtext)
        want = res.errtext.split()[0] if res.errtext.split() else ""
        if hashlib.sha256(res.out).hexdigest() != want:
            raise ConnectionLost(f"checksum mismatch downloading {path}")
        return res.out
