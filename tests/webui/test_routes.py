"""Every route in-process (bottle's way, no socket), with the real monitors and files."""

from __future__ import annotations

import json
import os
import stat

import pytest

from webui import app as webapp
from webui import page

from .conftest import call
from .helpers import ORIGIN, login, make

NETS = {"tor_off": "192.168.8.50", "tor_medium": "192.168.9.50", "tor_max": "192.168.10.50"}
HOSTS = {"tor_off": "192.168.8.1", "tor_medium": "192.168.9.1", "tor_max": "192.168.10.1"}
PAGE_BUDGET = 12 * 1024


@pytest.fixture
def env(tmp_path):
    return make(tmp_path)


@pytest.mark.parametrize("net", list(NETS))
def test_page_from_each_network(env, net):
    app, *_ = env
    r = call(app, "GET", "/torbox", remote=NETS[net], host=HOSTS[net])
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert f"You are on {net}" in r.body
    assert len(r.body.encode()) <= PAGE_BUDGET
    # no external assets: nothing is loaded from anywhere (only links to our own pages)
    assert "src=" not in r.body and "@import" not in r.body and "url(" not in r.body


def test_visitor_explanations(env):
    app, *_ = env
    off = call(app, "GET", "/torbox", remote=NETS["tor_off"]).body
    assert "does NOT go through Tor" in off
    med = call(app, "GET", "/torbox", remote=NETS["tor_medium"], host=HOSTS["tor_medium"]).body
    assert "all your TCP and DNS go through Tor" in med
    assert "no fallback" in med  # tor is not running here: the page says the network is closed
    mx = call(app, "GET", "/torbox", remote=NETS["tor_max"], host=HOSTS["tor_max"]).body
    assert "no direct internet" in mx and "192.168.10.1:9050" in mx


def test_tor_missing_is_explained_with_200(env):
    app, *_ = env
    r = call(app, "GET", "/torbox")
    assert r.status == 200
    assert "Tor is not running" in r.body and "does not exist" in r.body
    assert "Traceback" not in r.body


def test_root_and_slash(env):
    app, *_ = env
    r = call(app, "GET", "/")
    assert r.status == 303 and r.headers["Location"].endswith("/torbox")
    assert call(app, "GET", "/torbox/").status == 200


def test_security_headers(env):
    app, *_ = env
    r = call(app, "GET", "/torbox")
    assert r.headers["Content-Security-Policy"] == page.CSP
    assert "default-src 'none'" in page.CSP and "unsafe-inline" not in page.CSP
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in r.headers


def test_api_status_fields(env):
    app, *_ = env
    r = call(app, "GET", "/torbox/api/status", remote=NETS["tor_medium"], host=HOSTS["tor_medium"])
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    doc = json.loads(r.body)
    assert set(doc) == {"api", "time", "visitor", "tor", "networks", "wan", "system", "versions"}
    assert doc["visitor"] == {"network": "tor_medium", "mode": "medium", "admin": False}
    assert set(doc["tor"]) == {"state", "running", "bootstrap", "phase", "tag", "warning",
                               "circuit_established", "version", "uptime_s", "bootstrapped_s",
                               "error", "age_s", "clock", "bridges", "traffic"}
    assert doc["tor"]["state"] == "down" and doc["tor"]["running"] is False
    assert set(doc["tor"]["traffic"]) == {"read", "written", "graph"}
    assert [n["name"] for n in doc["networks"]] == ["tor_off", "tor_medium", "tor_max"]
    assert set(doc["networks"][0]) == {"name", "mode", "enabled", "router", "subnet", "admin",
                                       "up", "clients", "leases", "ssid"}
    assert set(doc["wan"]) == {"device", "up", "address", "default_route", "uptime_s"}
    assert set(doc["system"]) == {"uptime_s", "mem_total_kb", "mem_available_kb", "load",
                                  "clock_ok"}
    # a Tor network's visitor never learns the uplink's address
    assert doc["wan"]["address"] is None and doc["wan"]["device"] is None


def test_api_never_carries_secrets_or_streams(env):
    app, cfg, *_ = env
    for net in NETS:
        body = call(app, "GET", "/torbox/api/status", remote=NETS[net], host=HOSTS[net]).body
        page_body = call(app, "GET", "/torbox", remote=NETS[net], host=HOSTS[net]).body
        for text in (body, page_body):
            for n in cfg.networks.values():
                assert n.key not in text  # Wi-Fi keys
            for word in ("circuit-status", "stream-status", "CIRC ", "STREAM "):
                assert word not in text


def test_wan_address_only_for_admins(env):
    app, *_ = env
    doc = json.loads(call(app, "GET", "/torbox/api/status").body)
    assert doc["visitor"]["admin"] is True
    assert doc["wan"]["device"] == "eth0"


def test_bad_host_refused(env):
    app, *_ = env
    for path in ("/torbox", "/torbox/api/status", "/"):
        r = call(app, "GET", path, host="rebind.example")
        assert r.status == 400 and "Unknown Host" in r.body
    assert call(app, "GET", "/torbox", host="192.168.8.1:8480").status == 200


def test_404_is_small_and_plain(env):
    app, *_ = env
    r = call(app, "GET", "/torbox/nope")
    assert r.status == 404 and "Traceback" not in r.body and "<html" in r.body


def test_page_survives_a_broken_reader(env):
    app, cfg, tor, _a = env

    def broken(*_args, **_kw):
        raise RuntimeError("boom")

    tor.snapshot = broken  # a reader that breaks: the page still answers
    r = call(app, "GET", "/torbox")
    assert r.status == 200 and "cannot be shown" in r.body
    assert "boom" not in r.body and "Traceback" not in r.body
    r = call(app, "GET", "/torbox/api/status")
    assert r.status == 500 and json.loads(r.body)["error"] == "status unavailable"


# -- authentication ---------------------------------------------------------------------------


def test_secret_file_is_private(env, tmp_path):
    *_, a = env
    mode = stat.S_IMODE(os.stat(a.secret_path).st_mode)
    assert mode == 0o600
    assert len(open(a.secret_path).read().strip()) >= 16


def test_world_readable_secret_is_fixed(tmp_path):
    p = tmp_path / "secret" / "webui.secret"
    p.parent.mkdir()
    p.write_text("correct horse battery\n")
    os.chmod(p, 0o644)
    app, *_rest, a = make(tmp_path)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert a.enabled


def test_login_form_only_on_admin_network(env):
    app, *_ = env
    r = call(app, "GET", "/torbox/login")
    assert r.status == 200 and 'type="password"' in r.body
    r = call(app, "GET", "/torbox/login", remote=NETS["tor_medium"], host=HOSTS["tor_medium"])
    assert r.status == 403 and "password" not in r.body


def test_login_cookie_flags(env):
    app, _cfg, _tor, a = env
    from .helpers import secret_of
    r = call(app, "POST", "/torbox/login", headers=ORIGIN, form={"secret": secret_of(a)})
    assert r.status == 303
    cookie = r.set_cookies[0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/torbox" in cookie


def test_wrong_secret_backs_off(env):
    app, _cfg, _tor, a = env
    from .helpers import secret_of
    r = call(app, "POST", "/torbox/login", headers=ORIGIN, form={"secret": "wrong-guess"})
    assert r.status == 403 and "Wrong secret" in r.body and not r.set_cookies
    # even the right secret is refused during the back-off
    r = call(app, "POST", "/torbox/login", headers=ORIGIN, form={"secret": secret_of(a)})
    assert r.status == 403 and "try again in" in r.body


def test_login_refused_from_tor_network_even_with_secret(env):
    app, _cfg, _tor, a = env
    from .helpers import secret_of
    r = call(app, "POST", "/torbox/login", remote=NETS["tor_medium"], host=HOSTS["tor_medium"],
             headers={"Origin": "http://192.168.9.1"}, form={"secret": secret_of(a)})
    assert r.status == 403 and not r.set_cookies


def test_login_needs_same_origin(env):
    app, _cfg, _tor, a = env
    from .helpers import secret_of
    r = call(app, "POST", "/torbox/login", headers={"Origin": "http://evil.example"},
             form={"secret": secret_of(a)})
    assert r.status == 403 and not r.set_cookies


def test_logged_in_page_shows_actions(env):
    app, _cfg, _tor, a = env
    cookie, csrf = login(app, a)
    body = call(app, "GET", "/torbox", headers={"Cookie": cookie}).body
    assert 'action="/torbox/newnym"' in body and f'value="{csrf}"' in body
    assert "\\" not in body  # no template syntax leaks into the page
    # the same cookie from a Tor network shows no actions
    body = call(app, "GET", "/torbox", remote=NETS["tor_medium"], host=HOSTS["tor_medium"],
                headers={"Cookie": cookie}).body
    assert "/torbox/newnym" not in body and csrf not in body


# -- the NEWNYM action: method, CSRF, Origin, network (tor is absent here) ------------------------


def test_newnym_get_is_405(env):
    app, *_ = env
    r = call(app, "GET", "/torbox/newnym")
    assert r.status == 405 and "POST" in r.headers.get("Allow", "")


@pytest.mark.parametrize("case", ["no-session", "no-csrf", "bad-csrf", "no-origin",
                                  "bad-origin", "bad-referer", "tor_medium", "tor_max",
                                  "spoofed-listener", "bad-host"])
def test_newnym_refused(env, case):
    app, _cfg, tor, a = env
    cookie, csrf = login(app, a)
    kw = {"headers": {"Cookie": cookie, **ORIGIN}, "form": {"csrf": csrf}}
    if case == "no-session":
        kw["headers"] = dict(ORIGIN)
    elif case == "no-csrf":
        kw["form"] = {}
    elif case == "bad-csrf":
        kw["form"] = {"csrf": csrf[:-2] + "xx"}
    elif case == "no-origin":
        kw["headers"] = {"Cookie": cookie}
    elif case == "bad-origin":
        kw["headers"] = {"Cookie": cookie, "Origin": "http://192.168.8.1.evil.example"}
    elif case == "bad-referer":
        kw["headers"] = {"Cookie": cookie, "Referer": "http://evil.example/torbox"}
    elif case in ("tor_medium", "tor_max"):
        kw["remote"], kw["host"] = NETS[case], HOSTS[case]
        kw["headers"] = {"Cookie": cookie, "Origin": f"http://{HOSTS[case]}"}
    elif case == "spoofed-listener":
        # a client using a tor_off address on the tor_medium listener is not an admin
        kw["network"] = "tor_medium"
    elif case == "bad-host":
        kw["host"] = "evil.example"
        kw["headers"] = {"Cookie": cookie, "Origin": "http://evil.example"}
    sent = []
    tor.newnym = lambda: sent.append(1) or {"ok": True, "delay_s": 0, "message": "x"}
    r = call(app, "POST", "/torbox/newnym", **kw)
    assert r.status in (400, 403), (case, r.status)
    assert sent == []  # Tor was never asked


def test_newnym_accepts_same_origin_referer(env):
    app, _cfg, tor, a = env
    cookie, csrf = login(app, a)
    r = call(app, "POST", "/torbox/newnym", headers={"Cookie": cookie,
             "Referer": "http://192.168.8.1/torbox"}, form={"csrf": csrf})
    assert r.status == 303
    # tor is not running: the user is told so instead of a fake success
    body = call(app, "GET", "/torbox", headers={"Cookie": cookie}).body
    assert "Tor is not connected" in body


def test_logout_needs_csrf(env):
    app, _cfg, _tor, a = env
    cookie, csrf = login(app, a)
    assert call(app, "POST", "/torbox/logout", headers={"Cookie": cookie, **ORIGIN}).status == 403
    r = call(app, "POST", "/torbox/logout", headers={"Cookie": cookie, **ORIGIN},
             form={"csrf": csrf})
    assert r.status == 303 and "Max-Age=0" in r.set_cookies[0]
    assert a.session(cookie.split("=", 1)[1]) is None


def test_human_formatting():
    assert webapp.human_bytes(512) == "512 B"
    assert webapp.human_bytes(2048) == "2.0 KB"
    assert webapp.human_duration(59) == "59 s"
    assert webapp.human_duration(3 * 3600 + 120) == "3 h 2 min"
    assert webapp.human_duration(None) == "unknown"


BRIDGES = ("option use_bridges '1'\n"
           "\tlist bridge 'obfs4 192.0.2.3:443 0123456789ABCDEF0123456789ABCDEF01234567 "
           "cert=AAAAbbbbCCCC iat-mode=0'\n"
           "\tlist bridge 'snowflake 192.0.2.4:80 2B280B23E1107BB62ABFC40DDCC8824814F80A72'")


def test_worst_case_page_fits_budget_and_hides_bridges(tmp_path):
    """Full graph, bridges, logged in with a message: still <= 12 KB; no bridge address shown."""
    from .conftest import uci_text
    uci = uci_text(str(tmp_path / "c"), **{"option use_bridges '0'": BRIDGES})
    app, _cfg, tor, a = make(tmp_path, uci=uci)
    for i in range(62):
        tor.graph.add(1000.0 + 10 * i, 123_456_789 * i, 98_765_432 * i)
    cookie, csrf = login(app, a)
    a.session(cookie.split("=", 1)[1])["flash"] = ("x" * 200, "warn")
    r = call(app, "GET", "/torbox", headers={"Cookie": cookie})
    assert r.status == 200
    assert r.body.count("<polyline") == 2 and "last 10 min" in r.body
    print("worst-case page bytes:", len(r.body.encode()))
    assert len(r.body.encode()) <= PAGE_BUDGET, len(r.body.encode())
    assert "obfs4, snowflake (2 configured" in r.body
    doc = call(app, "GET", "/torbox/api/status").body
    for text in (r.body, doc):
        assert "192.0.2.3" not in text and "0123456789ABCDEF" not in text and "cert=" not in text
