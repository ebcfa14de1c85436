"""Design §2, row by row, with real clients behind the real rendered router.

Every test checks what the internet saw (web server's view of the source, DNS server's log)
and that the WAN capture holds nothing unexplained while it ran.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
import time

import pytest

from tests.net.helpers import (
    LISTEN_PORT,
    assert_no_leaks,
    assert_router_reaches,
    default_route,
    dns,
    dns_queries_from,
    host_listeners,
    hosts_reached,
    probe_all,
)
from tests.rig.router import TorboxRouter
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig


def test_dhcp_options_per_network(router: TorboxRouter) -> None:
    off, med, mx = (router.clients[n] for n in ("tor_off", "tor_medium", "tor_max"))
    assert off.lease["router"] == "192.168.8.1" and off.lease["dns"] == "192.168.8.1"
    assert med.lease["router"] == "192.168.9.1" and med.lease["dns"] == "192.168.9.1"
    # tor_max: an address, but neither a gateway nor a resolver.
    assert ipaddress.ip_address(mx.ip) in ipaddress.ip_network("192.168.10.0/24")
    assert mx.lease["router"] == "" and mx.lease["dns"] == ""
    assert "router" not in mx.lease["opt_names"].split()
    assert "dns" not in mx.lease["opt_names"].split()
    assert "default" not in mx.exec(["ip", "-4", "route"]).stdout


def test_tor_off_is_normal_nat(router: TorboxRouter) -> None:
    off = router.clients["tor_off"]
    n = len(router.net.dns_queries())
    with router.capture.window("tor_off: NAT fetch"):
        res = off.curl("http://web.test/")
    assert res.returncode == 0, res.stderr
    assert res.stdout == router.wan_ip
    # The name went to the router's resolver, which asked the internet's DNS server.
    assert any(f"from {router.wan_ip}" in q for q in router.net.dns_queries()[n:])


def test_tor_medium_goes_through_an_exit(router: TorboxRouter) -> None:
    med = router.clients["tor_medium"]
    t0, n = time.time(), len(router.net.dns_queries())
    res = med.curl("http://web.test/")
    assert res.returncode == 0, res.stderr
    assert res.stdout in router.net.exit_ips
    # By address too (no DNS involved): TransPort catches every TCP connection.
    res = med.curl(f"http://{WEB_IP}/")
    assert res.stdout in router.net.exit_ips
    assert dns_queries_from(router, n) == [], "a lookup reached the DNS server not via an exit"
    assert_no_leaks(router, t0, "tor_medium web fetch")


def test_tor_medium_resolves_through_tor(router: TorboxRouter) -> None:
    med = router.clients["tor_medium"]
    t0, n = time.time(), len(router.net.dns_queries())
    name = f"q{secrets.token_hex(4)}.web.test"  # fresh: no cache on the way has it
    reply = dns(med, "192.168.9.1", name)
    assert reply is not None and reply.addresses == [WEB_IP]
    # The exits asked: the query arrived from inside the internet namespace, not the router.
    assert any(name in q.lower() for q in router.net.dns_queries()[n:])
    assert dns_queries_from(router, n) == []
    assert_no_leaks(router, t0, "tor_medium DNS")


def test_tor_medium_reaches_onion_service(router: TorboxRouter) -> None:
    med = router.clients["tor_medium"]
    onion = router.net.onion_hostname
    t0 = time.time()
    reply = dns(med, "192.168.9.1", onion)
    assert reply is not None and reply.addresses, "no address for the .onion name"
    assert ipaddress.ip_address(reply.addresses[0]) in ipaddress.ip_network("10.192.0.0/10")
    res = med.curl(f"http://{onion}/", timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "198.18.0.70"  # the onion service's tor fetched it
    assert_no_leaks(router, t0, "tor_medium onion")


def test_tor_max_only_socks(router: TorboxRouter) -> None:
    mx = router.clients["tor_max"]
    t0, n = time.time(), len(router.net.dns_queries())
    # No route at all from the lease.
    assert mx.tcp_probe(WEB_IP, 80) == "unreachable"
    # A device that routes via the router anyway still gets nowhere directly.
    with default_route(mx, "192.168.10.1"):
        assert mx.tcp_probe(WEB_IP, 80) == "filtered"
        assert dns(mx, router.net.dns_ip, "web.test") is None
        assert dns(mx, "192.168.10.1", "web.test") is None
    # The SocksPort with a remote hostname works, through an exit.
    res = mx.curl("http://web.test/", socks="192.168.10.1:9050")
    assert res.returncode == 0, res.stderr
    assert res.stdout in router.net.exit_ips
    res = mx.curl(f"http://{router.net.onion_hostname}/", socks="192.168.10.1:9050", timeout=60)
    assert res.stdout == "198.18.0.70"
    assert dns_queries_from(router, n) == []
    assert_no_leaks(router, t0, "tor_max")


# Which router services each network reaches (design §2, "router services reachable").
# 80 on the Tor networks is redirected to the status page, so it is reachable there too.
OPEN, SHUT = "open", "filtered"
SERVICES = {
    "tor_off": {22: OPEN, 80: OPEN, 443: OPEN, 8480: OPEN, 53: OPEN},
    "tor_medium": {22: SHUT, 80: OPEN, 443: SHUT, 8480: OPEN, 53: SHUT, 9050: SHUT, 9040: OPEN},
    "tor_max": {22: SHUT, 80: OPEN, 443: SHUT, 8480: OPEN, 53: SHUT, 9050: OPEN, 9040: SHUT},
}


def test_router_services_per_network(router: TorboxRouter) -> None:
    t0 = time.time()
    problems = []
    routers = {n: str(router.network(n).router) for n in SERVICES}
    for name, expected in SERVICES.items():
        client = router.clients[name]
        own = routers[name]
        targets = [(own, p) for p in expected]
        # Other networks' router addresses and the WAN address must not be a way in.
        others = [a for n, a in routers.items() if n != name] + [router.wan_ip]
        if name != "tor_off":
            targets += [(a, p) for a in others for p in (22, 80, 443, 8480, 9040, 9050)]
        with default_route(client, own) if name == "tor_max" else contextlib.nullcontext():
            got = probe_all(client, targets)
        for (host, port), state in got.items():
            want = expected.get(port, SHUT) if host == own else SHUT
            if state != want:
                problems.append(f"{name} -> {host}:{port}: {state}, expected {want}")
    assert not problems, "\n".join(problems)
    assert_no_leaks(router, t0, "service probes")


def test_status_page_answers_on_port_80_of_tor_networks(router: TorboxRouter) -> None:
    for name in ("tor_medium", "tor_max"):
        client = router.clients[name]
        res = client.curl(f"http://{router.network(name).router}/torbox", timeout=10)
        assert res.returncode == 0, f"{name}: {res.stderr}"
        assert "torbox" in res.stdout.lower()


def test_no_network_reaches_another(router: TorboxRouter) -> None:
    """Each client runs a listener; only its own router may connect to it."""
    with host_listeners(router.lab, router.clients):
        t0 = time.time()
        assert_router_reaches(router.clients,
                              lambda ip: _banner_from_router(router, ip, LISTEN_PORT))
        problems = hosts_reached(router.clients, str(router.network("tor_max").router))
        assert not problems, problems
        assert_no_leaks(router, t0, "cross-network probes")


def _banner_from_router(router: TorboxRouter, host: str, port: int) -> str:
    def probe() -> str:
        with socket.create_connection((host, port), timeout=3) as s:
            return s.recv(256).decode()

    return router.lab.call_in(router.ns, probe)

