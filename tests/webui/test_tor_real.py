"""Against a real tor (standalone, DisableNetwork 1: no traffic leaves loopback)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

from webui import torstate

from .conftest import TOR, call, start_webui, stop_webui, uci_text, wait_for
from .helpers import ORIGIN, login, make


def tor_version() -> str:
    out = subprocess.run([TOR, "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"Tor version (\S+?)\.?\s", out).group(1)


def test_monitor_reads_real_tor(tor):
    mon = torstate.TorMonitor(tor.control_socket)
    mon.poll_once()
    snap = mon.snapshot()
    assert snap["running"] is True and snap["error"] is None
    assert snap["state"] == "starting"  # DisableNetwork: never bootstraps
    assert snap["bootstrap"] < 100 and snap["circuit_established"] is False
    assert snap["version"] == tor_version()
    assert snap["traffic"]["read"] == 0 and snap["uptime_s"] is not None
    mon.stop()


def test_connected_monitor_keeps_no_stem_threads(tor):
    """stem.control's Controller would add a reader thread and an event thread that wakes
    every 50 ms (most of the page's idle CPU): the monitor reads events itself."""
    before = {t.ident for t in threading.enumerate()}
    mon = torstate.TorMonitor(tor.control_socket)
    mon.start()
    try:
        wait_for(lambda: mon.snapshot()["running"], 30, "the monitor to connect")
        new = [t.name for t in threading.enumerate() if t.ident not in before]
        assert new == ["tor-monitor"], new
    finally:
        mon.stop()


def test_page_shows_not_bootstrapped(tor, tmp_path):
    app, *_ = make(tmp_path, tor.control_socket)
    r = call(app, "GET", "/torbox", remote="192.168.9.50", host="192.168.9.1")
    assert r.status == 200
    assert "Tor is connecting: 0 %" in r.body
    assert tor_version() in r.body
    assert "nothing from this network reaches the internet yet" in r.body
    doc = json.loads(call(app, "GET", "/torbox/api/status").body)
    assert doc["tor"]["state"] == "starting" and doc["tor"]["version"] == tor_version()


def test_newnym_and_rate_limit_reported(tor, tmp_path):
    app, _cfg, mon, a = make(tmp_path, tor.control_socket)
    cookie, csrf = login(app, a)

    def press():
        r = call(app, "POST", "/torbox/newnym", headers={"Cookie": cookie, **ORIGIN},
                 form={"csrf": csrf})
        assert r.status == 303
        return call(app, "GET", "/torbox", headers={"Cookie": cookie}).body

    first = press()
    assert "New identity: new connections now use new circuits." in first
    second = press()
    # Tor delays a NEWNYM within 10 s of the last one: the page says so, with Tor's number
    m = re.search(r"Tor rate-limits new identities: it will switch in (\d+) s", second)
    assert m and 1 <= int(m.group(1)) <= 10
    wait_for(lambda: "Rate limiting NEWNYM" in tor.log_text(), 10, "tor's own log line")
    mon.stop()


def test_stopped_tor_page_within_1s(tor, tmp_path):
    """SIGSTOP: the control socket accepts but never answers. The page must not hang."""
    served = start_webui(tmp_path, uci_text(tor.control_socket), ["tor_off"])
    url = served.urls["tor_off"] + "/torbox"
    try:
        wait_for(lambda: "Tor is connecting" in _get(url)[1], 30, "the monitor to connect")
        os.kill(tor.proc.pid, signal.SIGSTOP)
        try:
            # the monitor's next poll blocks; after ~3 polls the page says Tor does not answer
            wait_for(lambda: "Tor is not answering" in _get(url)[1], 30, "'not answering'")
            t0 = time.monotonic()
            status, body = _get(url)
            elapsed = time.monotonic() - t0
            assert status == 200 and elapsed < 1.0, elapsed
            assert "has not answered for" in body
        finally:
            os.kill(tor.proc.pid, signal.SIGCONT)
        wait_for(lambda: "Tor is connecting" in _get(url)[1], 30, "recovery after SIGCONT")
    finally:
        stop_webui(served)
    assert "Traceback" not in served.log_text()


def test_tor_killed_and_restarted(tmp_path):
    from .conftest import start_tor, stop_tor
    base = tmp_path / "tor"
    t = start_tor(base)
    served = start_webui(tmp_path, uci_text(t.control_socket), ["tor_off"])
    url = served.urls["tor_off"] + "/torbox"
    try:
        wait_for(lambda: "Tor is connecting" in _get(url)[1], 30, "connect")
        t.proc.kill()
        t.proc.wait(10)
        # SIGKILL leaves the socket file behind: connections are refused
        body = wait_for(lambda: (b := _get(url)[1]) and "Tor is not running" in b and b, 30,
                        "'not running'")
        assert "refuses connections" in body or "closed the control connection" in body
        t0 = time.monotonic()
        assert _get(url)[0] == 200 and time.monotonic() - t0 < 1.0
        os.unlink(t.control_socket)
        wait_for(lambda: "does not exist" in _get(url)[1], 30, "'does not exist'")
        t = start_tor(base)
        wait_for(lambda: "Tor is connecting" in _get(url)[1], 60, "reconnect to the new tor")
    finally:
        stop_webui(served)
        stop_tor(t.proc)


def _get(url: str) -> tuple[int, str]:
    req = urllib.request.Request(url)
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback only
        return r.status, r.read().decode()
