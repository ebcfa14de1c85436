"""Fixtures for the status page: config, a real standalone tor, in-process WSGI calls and a
real server process.

The standalone tor runs with `DisableNetwork 1` on a control socket in a tmpdir: it makes
no connection at all (bootstrap stays at 0 %), which is exactly the "not bootstrapped" state.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

from torbox import config

REPO = Path(__file__).resolve().parents[2]
DEFAULT_UCI = REPO / "tests" / "configs" / "default.uci"
ARTIFACTS = REPO / "tests" / "artifacts"
TOR = shutil.which("tor") or "/usr/sbin/tor"
PYTHON = sys.executable


def uci_text(control_socket: str | None = None, **replace: str) -> str:
    text = DEFAULT_UCI.read_text()
    if control_socket:
        shipped = config.load(str(DEFAULT_UCI)).tor.control_socket
        assert shipped in text, f"{DEFAULT_UCI} no longer names {shipped}"
        text = text.replace(shipped, control_socket)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest.fixture
def cfg() -> config.Config:
    return config.load(str(DEFAULT_UCI))


def wait_for(pred, timeout: float, what: str, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class TorProc:
    proc: subprocess.Popen
    control_socket: str
    data_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_tor(base: Path) -> TorProc:
    """A real tor with no network at all: DisableNetwork 1, no TCP ports, unix sockets only."""
    data = base / "data"
    ctl_dir = base / "ctl"
    for d in (data, ctl_dir):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    sock = ctl_dir / "control"
    log = base / "tor.log"
    torrc = base / "torrc"
    torrc.write_text(
        f"DataDirectory {data}\n"
        f"ControlSocket {sock}\n"
        "CookieAuthentication 1\n"
        "DisableNetwork 1\n"
        # a unix SocksPort keeps client functionality on (else Tor ignores NEWNYM) without
        # opening any TCP port
        f"SocksPort unix:{ctl_dir / 'socks'}\n"
        "ClientOnly 1\n"
        "AvoidDiskWrites 1\n"
        f"Log notice file {log}\n"
    )
    proc = subprocess.Popen([TOR, "-f", str(torrc), "--defaults-torrc", "/dev/null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, 60, "tor's control socket")
        if proc.poll() is not None:
            raise RuntimeError(f"tor exited: {log.read_text() if log.exists() else ''}")
    except BaseException:
        stop_tor(proc)
        raise
    return TorProc(proc, str(sock), data, log)


def stop_tor(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGCONT)  # in case a test stopped it
            proc.terminate()
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def tor(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("tor")
    t = start_tor(base)
    try:
        yield t
    finally:
        stop_tor(t.proc)


# -- in-process WSGI calls (bottle's way: no socket) -------------------------------------------


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    body: str


def call(app, method: str, path: str, *, remote: str = "192.168.8.50", host: str | None = None,
         headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
         network: str | None = None, trusted: bool = False) -> Resp:
    path, _, query = path.partition("?")
    body = urllib.parse.urlencode(form or {}).encode()
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "torbox",
        "SERVER_PORT": "8480",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "HTTP_HOST": host if host is not None else "192.168.8.1",
        "torbox.network": network,
        "torbox.trusted": trusted,
    }
    for k, v in (headers or {}).items():
        env["HTTP_" + k.upper().replace("-", "_")] = v
    out: dict = {}

    def start_response(status, hdrs, exc_info=None):
        out["status"] = int(status.split()[0])
        out["headers"] = hdrs

    chunks = app(env, start_response)
    data = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return Resp(out["status"], {k: v for k, v in out["headers"]},
                [v for k, v in out["headers"] if k.lower() == "set-cookie"],
                data.decode("utf-8"))


# -- a real server process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    proc: subprocess.Popen
    urls: dict[str, str]  # network label (or "plain") -> base URL
    secret_path: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_webui(tmp: Path, uci: str, labels: list[str | None],
                extra_args: list[str] | None = None) -> Served:
    conf = tmp / "torbox.uci"
    conf.write_text(uci)
    secret = tmp / "secret" / "webui.secret"
    log = tmp / "webui.log"
    urls, args = {}, []
    for label in labels:
        port = free_port()
        args += ["--listen", f"127.0.0.1:{port}" + (f"={label}" if label else "")]
        urls[label or "plain"] = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'files/usr/lib/torbox'}")
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [PYTHON, "-m", "webui", "--config", str(conf), "--secret", str(secret), *args,
             *(extra_args or [])],
            stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=str(tmp))
    served = Served(proc, urls, secret, log)
    try:
        for url in urls.values():
            port = int(url.rsplit(":", 1)[1])
            wait_for(lambda p=port: _connectable(p) or proc.poll() is not None, 60,
                     "the webui to listen")
        if proc.poll() is not None:
            raise RuntimeError("webui exited:\n" + log.read_text())
    except BaseException:
        stop_webui(served)
        raise
    return served


def _connectable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_webui(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.terminate()
        try:
            served.proc.wait(15)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(10)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
