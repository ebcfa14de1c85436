"""Headless Chromium renders /torbox at 360 px and 1280 px: what a person sees."""

from __future__ import annotations

import re
import time

import pytest

from .cdp import Browser, chromium_path
from .conftest import start_webui, stop_webui, uci_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium"),
]

NETS = ["tor_off", "tor_medium", "tor_max"]
WIDTHS = {360: True, 1280: False}  # width -> mobile emulation


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from .conftest import start_tor, stop_tor
    base = tmp_path_factory.mktemp("browser")
    tor = start_tor(base / "tor")
    uci = uci_text(tor.control_socket, **{"option refresh_s '5'": "option refresh_s '1'"})
    s = start_webui(base, uci, NETS)
    try:
        yield s
    finally:
        stop_webui(s)
        stop_tor(tor.proc)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    try:
        b.open_page()
        yield b
    finally:
        b.close()


LAYOUT_JS = """JSON.stringify({
  scrollW: document.documentElement.scrollWidth, innerW: window.innerWidth,
  text: document.body.innerText,
  headerBg: getComputedStyle(document.querySelector('header')).backgroundColor,
  svgW: document.querySelector('svg').getBoundingClientRect().width})"""


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("net", NETS)
def test_renders_without_horizontal_scroll(served, browser, artifacts, net, width):
    import json
    browser.viewport(width, 800, WIDTHS[width])
    browser.navigate(served.urls[net] + "/torbox")
    info = json.loads(browser.evaluate(LAYOUT_JS))
    shot = artifacts / f"webui-{net}-{width}.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 5000
    assert info["scrollW"] <= info["innerW"], info  # no horizontal scroll
    assert info["headerBg"] == "rgb(59, 31, 92)"  # the inline CSS passed the CSP
    assert 0 < info["svgW"] <= width
    text = info["text"]
    # the key facts, as text a person reads
    assert f"You are on {net}" in text
    assert "Tor is connecting: 0 %" in text
    assert re.search(r"Bootstrap\s+0 %", text)
    assert "Circuits" in text and "not established" in text
    assert "tor_medium" in text and "tor_max" in text and "Clients" in text


def test_live_refresh_runs_under_csp(served, browser):
    """refresh_s is 1 here: the script swaps <main> and the time stamp moves."""
    browser.viewport(1280, 800, False)
    browser.navigate(served.urls["tor_medium"] + "/torbox")
    first = browser.evaluate("document.getElementById('live').innerText")
    time.sleep(2.5)
    second = browser.evaluate("document.getElementById('live').innerText")
    assert first.startswith("Updated") and second.startswith("Updated") and first != second


def test_login_and_new_identity_in_the_browser(served, browser, artifacts):
    """A person logs in on tor_off and presses New identity; Chromium sends a real Origin."""
    browser.viewport(1280, 800, False)
    base = served.urls["tor_off"]
    browser.navigate(base + "/torbox/login")
    secret = served.secret_path.read_text().strip()
    browser.evaluate(f"document.querySelector('input[name=secret]').value = {secret!r}")
    browser.events.clear()
    browser.evaluate("document.querySelector('form').submit()")
    browser.wait_event("Page.loadEventFired")
    assert "New identity" in browser.evaluate("document.body.innerText")
    browser.events.clear()
    browser.evaluate("document.querySelector('form[action=\"/torbox/newnym\"]').submit()")
    browser.wait_event("Page.loadEventFired")
    text = browser.evaluate("document.body.innerText")
    browser.screenshot(artifacts / "webui-tor_off-newnym.png")
    assert "New identity: new connections now use new circuits." in text
    # the same steps from tor_medium: no login form at all
    browser.navigate(served.urls["tor_medium"] + "/torbox/login")
    assert "Log in from a network that may administer" in browser.evaluate(
        "document.body.innerText")
