"""The real status page on the rig's router: a bootstrapped Tor on a private network.

The rig (tests/rig) runs `python3 -m webui --config ...` in the router namespace exactly as
procd does on OpenWrt (no --listen: one socket per network, bound to its device). These
tests ask it from the client namespaces of each network.
"""

from __future__ import annotations

import glob
import html
import json
import os
import time

import pytest

from tests.rig.netns import wait_for

from .conftest import call
from .helpers import make

pytestmark = pytest.mark.rig


def api(client, router_ip: str, port: int | None = None) -> dict:
    host = router_ip if port is None else f"{router_ip}:{port}"
    res = client.curl(f"http://{host}/torbox/api/status", timeout=10)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _ip(router, name: str) -> str:
    return str(router.network(name).router)


def _wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def test_bootstrapped_tor_on_tor_medium(router):
    c = router.client("tor_medium")
    port = router.cfg.webui.port
    doc = _wait(lambda: (d := api(c, _ip(router, "tor_medium"), port))["tor"]["state"] == "ok"
                and d, 120, "tor state ok on the page")
    assert doc["tor"]["bootstrap"] == 100 and doc["tor"]["circuit_established"] is True
    assert doc["tor"]["phase"] == "Done"
    assert doc["visitor"] == {"network": "tor_medium", "mode": "medium", "admin": False}
    assert doc["wan"]["address"] is None  # not shown on a Tor network
    # port 80 on a non-admin network is redirected to the page by torbox's nft table
    res = c.curl(f"http://{_ip(router, 'tor_medium')}/torbox", timeout=10)
    assert res.returncode == 0 and "Tor is working" in res.stdout
    assert "You are on tor_medium: all your TCP and DNS go through Tor" in res.stdout


def test_traffic_numbers_follow_real_traffic(router):
    c = router.client("tor_medium")
    ip, port = _ip(router, "tor_medium"), router.cfg.webui.port
    _wait(lambda: api(c, ip, port)["tor"]["state"] == "ok", 120, "bootstrap")
    before = api(c, ip, port)["tor"]["traffic"]["read"]
    res = c.curl("http://web.test/bytes/300000", timeout=60, extra=["-o", "/dev/null"])
    assert res.returncode == 0, res.stderr
    after = _wait(lambda: (r := api(c, ip, port)["tor"]["traffic"]["read"]) >= before + 300000
                  and r, 30, "traffic/read to grow by the download")
    assert after >= before + 300000
    # and the graph (10 s steps) holds those bytes too
    seen = []
    graph = _wait(lambda: sum((g := api(c, ip, port)["tor"]["traffic"]["graph"])["read"]) * 10
                  >= 300000 and g or seen.append(g), 40,
                  lambda: f"the graph to show the download; last seen {seen[-1:]}")
    assert graph["step_s"] == 10 and len(graph["read"]) == len(graph["written"]) <= 60


def test_each_network_sees_its_own_page(router):
    port = router.cfg.webui.port
    off = router.client("tor_off")
    doc = api(off, _ip(router, "tor_off"), port)
    assert doc["visitor"]["network"] == "tor_off" and doc["visitor"]["admin"] is True
    assert doc["wan"]["address"] == router.wan_ip
    mx = router.client("tor_max")
    res = mx.curl(f"http://{_ip(router, 'tor_max')}/torbox", timeout=10)
    assert res.returncode == 0 and "You are on tor_max: no direct internet" in res.stdout


def test_newnym_refused_from_tor_medium(router):
    c = router.client("tor_medium")
    ip = _ip(router, "tor_medium")
    res = c.curl(f"http://{ip}/torbox/newnym", timeout=10,
                 extra=["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "-H", f"Origin: http://{ip}", "--data", "csrf=x"])
    assert res.stdout.strip() == "403"


def test_clock_skew_reported_from_real_tor(router, tmp_path):
    """A second tor in the router namespace whose clock runs 3 hours behind (faketime), on
    the private network: Tor's own clock-skew report reaches the monitor and the page."""
    d = tmp_path / "skewed"
    for sub in ("data", "ctl"):  # tor wants both private
        (d / sub).mkdir(parents=True)
        (d / sub).chmod(0o700)
    ctl = d / "ctl" / "control"
    (d / "torrc").write_text("\n".join([
        *router.net.client_torrc_lines(), f"DataDirectory {d / 'data'}",
        f"ControlPort unix:{ctl}", "CookieAuthentication 1", "SocksPort 0",
        f"Log notice file {d / 'tor.log'}"]) + "\n")
    # libfaketime preloaded into tor itself (the faketime wrapper would stay the parent, and
    # stopping it by PID would leave tor running).
    lib = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    assert lib, "libfaketime missing (apt-get install faketime; tests/host-deps.sh does)"
    env = dict(os.environ, LD_PRELOAD=lib[0], FAKETIME="-3h")
    proc = router.lab.spawn(router.ns, ["tor", "--defaults-torrc", "/dev/null",
                                        "-f", str(d / "torrc")], name="tor-skewed", env=env)
    try:
        wait_for(lambda: ctl.exists() or not proc.alive(), 60, what="the skewed tor's socket")
        assert proc.alive(), proc.log_text()
        app, _cfg, mon, _a = make(tmp_path, str(ctl), poll_s=1.0)
        mon.start()
        try:
            clock = wait_for(lambda: (c := mon.snapshot()["clock"])["problem"] and c, 120,
                             what="a clock problem from tor")
            page = call(app, "GET", "/torbox").body
        finally:
            mon.stop()
    finally:
        router.lab.stop(proc)
    log = (d / "tor.log").read_text(errors="replace")
    assert "clock" in log.lower() or "skew" in log.lower(), log[-2000:]
    assert clock["source"] in ("or", "consensus", "dirserv", "bootstrap"), clock
    if clock["skew_s"] is not None:
        assert 2 * 3600 <= abs(clock["skew_s"]) <= 4 * 3600, clock
    assert "Tor reports the router's clock is wrong by " in html.unescape(page)
