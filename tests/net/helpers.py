"""Shared steps for the network tests (plain functions, no fixtures)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from tests.rig import dnsq
from tests.rig.capture import Flow, Window
from tests.rig.fixtures import RIG_STATS
from tests.rig.netns import Lab
from tests.rig.router import ENV, Client, TorboxRouter

LISTEN_PORT = 7777


def dns(client: Client, server: str, name: str, qtype: str = "A", tcp: bool = False,
        port: int = 53, timeout: float = 3) -> dnsq.Reply | None:
    fn = dnsq.query_tcp if tcp else dnsq.query_udp
    return client.lab.call_in(client.ns, fn, server, name, qtype, port, timeout)


def probe_all(client: Client, targets: list[tuple[str, int]], timeout: float = 2.5
              ) -> dict[tuple[str, int], str]:
    """TCP-probe many (host, port) pairs in parallel from one client."""
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = pool.map(lambda t: client.tcp_probe(t[0], t[1], timeout), targets)
        return dict(zip(targets, results, strict=True))


@contextlib.contextmanager
def default_route(client: Client, via: str) -> Iterator[None]:
    """A device that ignores the DHCP offer and routes via the router anyway (no-op when
    the lease gave it a default route already)."""
    if client.exec(["ip", "-4", "route", "show", "default"]).stdout.strip():
        yield
        return
    client.exec(["ip", "route", "add", "default", "via", via], check=True)
    try:
        yield
    finally:
        client.exec(["ip", "route", "del", "default", "via", via])


def assert_no_leaks(router: TorboxRouter, since: float, what: str) -> None:
    cap = router.capture
    assert cap is not None
    leaks = cap.leaks(since=since)
    cap.asserted.append((since, time.time()))
    assert not leaks, f"{what}: leaked to the WAN:\n{cap.describe(leaks)}"


def dns_queries_from(router: TorboxRouter, start_index: int) -> list[str]:
    """Queries the internet's DNS server saw since `start_index` that did not come from an
    exit (exits query from the server's own namespace address)."""
    net = router.net
    return [q for q in net.dns_queries()[start_index:] if not q.endswith(f"from {net.dns_ip}")]


@contextlib.contextmanager
def protections_off(router: TorboxRouter, label: str, *, table: bool = True,
                    drop_rules: tuple[str, ...] = (), forwarding: bool = True,
                    rp_filter: bool = False, ipv6: bool = False) -> Iterator[Window]:
    """Anti-test: turn torbox's protections off inside an expect-leak capture window.

    table       delete the whole `inet torbox` table
    drop_rules  instead, load the rendered table without the lines containing these texts
    forwarding  set the Tor bridges' IPv4 forwarding sysctl back to 1 (the second layer)
    rp_filter   set rp_filter back to 0 on them
    ipv6        re-enable IPv6 (and forwarding) on them
    The `router` fixture restores the rendered state afterwards.
    """
    cap = router.capture
    assert cap is not None and router.cfg is not None
    with cap.window(label, expect_leak=True) as w:
        if table:
            router.remove_table()
        elif drop_rules:
            router.load_nft_without(drop_rules)
        for n in router.cfg.tor_networks:
            if forwarding:
                router.lab.sysctl(router.ns, f"net.ipv4.conf.{n.device}.forwarding", 1)
            if rp_filter:
                router.lab.sysctl(router.ns, f"net.ipv4.conf.{n.device}.rp_filter", 0)
                router.lab.sysctl(router.ns, "net.ipv4.conf.all.rp_filter", 0)
            if ipv6:
                router.lab.sysctl(router.ns, f"net.ipv6.conf.{n.device}.disable_ipv6", 0)
                router.lab.sysctl(router.ns, f"net.ipv6.conf.{n.device}.forwarding", 1)
        yield w


def anti_leaks(router: TorboxRouter, w: Window, src: str | None = None) -> list[Flow]:
    """Flows the detector flagged in an anti-test window (optionally from one address)."""
    cap = router.capture
    assert cap is not None
    flows = [f for f in cap.flows(since=w.start, settle=1.0) if f.label == f"anti:{w.label}"]
    if src is not None:
        flows = [f for f in flows if src in (f.a, f.b)]
    detections = RIG_STATS.setdefault("anti_test_detections", {})
    assert isinstance(detections, dict)
    key = w.label + (f" from {src}" if src else "")
    detections[key] = len(flows)
    return flows


@contextlib.contextmanager
def host_listeners(lab: Lab, clients: dict[str, Client]) -> Iterator[None]:
    """A listener on LISTEN_PORT in each client that answers with `tbx-svc <port>`."""
    procs = [lab.spawn(c.ns, [sys.executable, "-m", "tests.rig.listener", "--port",
                              str(LISTEN_PORT)], name=f"listen-{c.ns}", env=ENV)
             for c in clients.values()]
    try:
        time.sleep(1.0)
        yield
    finally:
        for p in procs:
            lab.stop(p)


def hosts_reached(clients: dict[str, Client], max_router: str) -> list[str]:
    """Which client reached another network's host (tor_max routes via its router anyway).
    On tor_medium the handshake completes with Tor's TransPort (which then refuses private
    addresses); only the host's banner means "reached"."""
    problems = []
    for src_name, src in clients.items():
        ctx = default_route(src, max_router) if src_name == "tor_max" else contextlib.nullcontext()
        with ctx:
            for dst_name, dst in clients.items():
                if dst_name == src_name:
                    continue
                banner = src.tcp_banner(dst.ip, LISTEN_PORT, timeout=3)
                if banner.startswith("tbx-svc"):
                    problems.append(f"{src_name} reached {dst_name}'s host: {banner}")
    return problems


def assert_router_reaches(clients: dict[str, Client], banner_from_router: Callable[[str], str]
                          ) -> None:
    """Positive control: the router itself reaches every client's listener."""
    for c in clients.values():
        banner = banner_from_router(c.ip)
        assert banner.startswith(f"tbx-svc {LISTEN_PORT}"), (c.network, banner)
