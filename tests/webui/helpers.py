"""Building the app in-process for tests (real monitors, real files; no socket)."""

from __future__ import annotations

from pathlib import Path

from torbox import config
from webui import auth, sysinfo, torstate
from webui.app import create_app

from .conftest import call, uci_text


def make(tmp: Path, control_socket: str | None = None, lease_path: str | None = None,
         uci: str | None = None, poll_s: float = 2.0):
    """(app, cfg, tor monitor, auth). The monitors are refreshed once, not started."""
    text = uci or uci_text(control_socket or str(tmp / "no-tor" / "control"))
    cfg = config.loads(text, str(tmp / "torbox.uci"))
    tor = torstate.TorMonitor(cfg.tor.control_socket, cfg.tor.use_bridges, cfg.tor.bridge,
                              poll_s=poll_s)
    tor.poll_once()
    system = sysinfo.SystemMonitor(cfg, lease_path)
    system.refresh()
    a = auth.Auth(str(tmp / "secret" / "webui.secret"))
    app = create_app(cfg, tor, system, a, sysinfo.versions())
    return app, cfg, tor, a


def secret_of(a: auth.Auth) -> str:
    return Path(a.secret_path).read_text().strip()


ORIGIN = {"Origin": "http://192.168.8.1"}


def login(app, a: auth.Auth, remote: str = "192.168.8.50") -> tuple[str, str]:
    """Log in from the admin network; returns (cookie header value, csrf token)."""
    r = call(app, "POST", "/torbox/login", remote=remote, headers=ORIGIN,
             form={"secret": secret_of(a)})
    assert r.status == 303, r.body
    sid = r.set_cookies[0].split(";")[0].split("=", 1)[1]
    sess = a.session(sid)
    assert sess is not None
    return f"torbox_sid={sid}", sess["csrf"]
