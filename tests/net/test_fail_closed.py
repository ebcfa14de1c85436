"""Design §3.1: fail closed. With Tor stopped, killed mid-download or not yet bootstrapped,
nothing from tor_medium or tor_max reaches the WAN and no request reaches the internet."""

from __future__ import annotations

import concurrent.futures
import re
import signal
import time

import pytest

from tests.net.helpers import (
    anti_leaks,
    assert_no_leaks,
    default_route,
    dns,
    dns_queries_from,
    protections_off,
)
from tests.rig.netns import wait_for
from tests.rig.router import TorboxRouter
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig

SIZE = 200_000_000


def _everything_fails(router: TorboxRouter) -> None:
    """Every way out a tor_medium or tor_max client has, tried in parallel; all must fail."""
    med, mx = router.clients["tor_medium"], router.clients["tor_max"]

    def max_direct() -> int:
        with default_route(mx, "192.168.10.1"):
            return mx.curl(f"http://{WEB_IP}/", timeout=4).returncode

    def med_dns() -> bool:
        reply = dns(med, router.net.dns_ip, "web.test", timeout=3)
        return reply is not None and bool(reply.addresses)

    tries = {
        "medium by address": lambda: med.curl(f"http://{WEB_IP}/", timeout=6).returncode == 0,
        "medium by name": lambda: med.curl("http://web.test/", timeout=6).returncode == 0,
        "medium dns": med_dns,
        "max socks": lambda: mx.curl("http://web.test/", socks="192.168.10.1:9050",
                                     timeout=6).returncode == 0,
        "max direct": lambda: max_direct() == 0,
    }
    with concurrent.futures.ThreadPoolExecutor(len(tries)) as pool:
        futures = {k: pool.submit(fn) for k, fn in tries.items()}
        worked = [k for k, f in futures.items() if f.result()]
    assert not worked, f"worked although Tor is not usable: {worked}"


def test_tor_stopped(router: TorboxRouter) -> None:
    router.stop_tor()
    t0, n = time.time(), len(router.net.dns_queries())
    _everything_fails(router)
    assert router.net.web_requests(since=t0) == []
    assert dns_queries_from(router, n) == []
    assert_no_leaks(router, t0, "Tor stopped")


def test_tor_killed_mid_download(router: TorboxRouter) -> None:
    lab, med, mx = router.lab, router.clients["tor_medium"], router.clients["tor_max"]
    url = f"http://{WEB_IP}/bytes/{SIZE}"
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", r"\nSIZE=%{size_download}\n",
            "--limit-rate", "2M"]
    t0 = time.time()
    downloads = {
        "tor_medium": lab.spawn(med.ns, [*curl, url], name="dl-medium"),
        "tor_max": lab.spawn(mx.ns, [*curl, "--socks5-hostname", "192.168.10.1:9050", url],
                             name="dl-max"),
    }
    wait_for(lambda: len(router.net.web_requests(since=t0)) >= 2, 60, what="both downloads")
    time.sleep(2)  # bytes are flowing
    assert all(p.alive() for p in downloads.values())
    router.stop_tor(sig=signal.SIGKILL)
    t_kill = time.time()
    for name, p in downloads.items():
        try:
            p.popen.wait(30)
        except Exception:
            pytest.fail(f"{name}: download still running 30 s after tor was killed")
        m = re.search(r"SIZE=(\d+)", p.log_text())
        got = int(m.group(1)) if m else -1
        assert p.popen.returncode != 0, f"{name}: download claimed success"
        assert 0 < got < SIZE, f"{name}: {got} bytes"
    # The clients keep trying; nothing may get out while Tor is dead.
    _everything_fails(router)
    assert router.net.web_requests(since=t_kill) == []
    assert_no_leaks(router, t0, "Tor killed during downloads")


def test_before_bootstrap(router: TorboxRouter) -> None:
    """Tor running but unable to bootstrap (the internet drops the router's packets)."""
    router.stop_tor()
    router.net.block_source(router.wan_ip)
    try:
        router.start_tor()
        wait_for(lambda: "Bootstrapped" in router.tor.log_text(), 30, what="tor to start")
        t0, n = time.time(), len(router.net.dns_queries())
        _everything_fails(router)
        assert not router.tor_bootstrapped(), "tor bootstrapped through the block?"
        assert router.net.web_requests(since=t0) == []
        assert dns_queries_from(router, n) == []
        assert_no_leaks(router, t0, "Tor not bootstrapped")
    finally:
        router.net.unblock()


def test_anti_tor_stopped_detected(router: TorboxRouter) -> None:
    """Tor stopped and the protections off: the same attempts show up on the WAN."""
    med, mx = router.clients["tor_medium"], router.clients["tor_max"]
    router.stop_tor()
    with protections_off(router, "Tor stopped, no protection") as w:
        _everything_fails(router)
    assert anti_leaks(router, w, src=med.ip), "tor_medium attempts not detected"
    assert anti_leaks(router, w, src=mx.ip), "tor_max attempts not detected"


def test_anti_tor_killed_mid_download_detected(router: TorboxRouter) -> None:
    lab, med = router.lab, router.clients["tor_medium"]
    t0 = time.time()
    dl = lab.spawn(med.ns, ["curl", "-sS", "-o", "/dev/null", "--limit-rate", "2M",
                            f"http://{WEB_IP}/bytes/{SIZE}"], name="dl-anti")
    wait_for(lambda: router.net.web_requests(since=t0), 60, what="the download")
    time.sleep(1)
    with protections_off(router, "Tor killed, no protection") as w:
        router.stop_tor(sig=signal.SIGKILL)
        try:
            dl.popen.wait(5)
        except Exception:
            lab.stop(dl)
        med.curl(f"http://{WEB_IP}/", timeout=4)
    leaks = anti_leaks(router, w, src=med.ip)
    assert any(f.proto == "tcp" and WEB_IP in (f.a, f.b) for f in leaks), \
        "the dead flow's and the retry's packets were not detected"
