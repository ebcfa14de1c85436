"""Design §3.2 and issue test 3: the 2014 transparent-proxy leak.

A redirect (DNAT/REDIRECT) only rewrites packets conntrack can place; a FIN/ACK, RST/ACK or
bare ACK of a dead or unknown flow is `ct state invalid`, skips NAT and, if the forward path
lets it, leaves with the client's real addresses. Crafted with scapy, sent from the
tor_medium client, with nf_conntrack_tcp_loose at 0 and at 1.
"""

from __future__ import annotations

import random
import socket
import time

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from tests.net.helpers import anti_leaks, assert_no_leaks, protections_off
from tests.rig.frames import mac_of, send_frames
from tests.rig.router import Client, TorboxRouter
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig

STRAY = ("FA", "RA", "A", "R", "PA")


def _dead_flow(client: Client) -> int:
    """A real HTTP connection through TransPort, closed: returns its client port."""

    def run() -> int:
        with socket.create_connection((WEB_IP, 80), timeout=20) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: web.test\r\n\r\n")
            while s.recv(4096):
                pass
            return s.getsockname()[1]

    return client.lab.call_in(client.ns, run)


def _stray_frames(router: TorboxRouter, client: Client, ports: list[int]) -> list[bytes]:
    cmac = mac_of(client.lab, client.ns, client.ifname)
    rmac = router.bridge_mac(client.network)
    frames = []
    for sport in ports:
        for flags in STRAY:
            pkt = (Ether(src=cmac, dst=rmac) / IP(src=client.ip, dst=WEB_IP)
                   / TCP(sport=sport, dport=80, flags=flags, seq=random.getrandbits(32),
                         ack=random.getrandbits(32)))
            frames.append(bytes(pkt))
    return frames


def _send_strays(router: TorboxRouter, client: Client) -> list[int]:
    dead = [_dead_flow(client) for _ in range(2)]
    unknown = [random.randint(20000, 60000) for _ in range(2)]
    frames = _stray_frames(router, client, dead + unknown)
    # Twice: once right after the close (TIME_WAIT entries), once after a pause.
    send_frames(client.lab, client.ns, client.ifname, frames)
    time.sleep(1)
    send_frames(client.lab, client.ns, client.ifname, frames)
    return dead + unknown


@pytest.mark.parametrize("loose", [0, 1])
def test_stray_tcp_never_leaves(router: TorboxRouter, loose: int) -> None:
    router.lab.sysctl(router.ns, "net.netfilter.nf_conntrack_tcp_loose", loose)
    med = router.clients["tor_medium"]
    t0 = time.time()
    _send_strays(router, med)
    assert_no_leaks(router, t0, f"stray FIN/RST/ACK, tcp_loose={loose}")


@pytest.mark.parametrize("loose", [0, 1])
def test_anti_stray_tcp_leaks_without_protection(router: TorboxRouter, loose: int) -> None:
    """The 2014 setup: redirect rules in place, but no invalid-drop and forwarding on."""
    router.lab.sysctl(router.ns, "net.netfilter.nf_conntrack_tcp_loose", loose)
    med = router.clients["tor_medium"]
    with protections_off(router, f"2014 leak, tcp_loose={loose}", table=False,
                         drop_rules=("ct state invalid drop comment", "Tor networks have no route")
                         ) as w:
        _send_strays(router, med)
    leaks = anti_leaks(router, w, src=med.ip)
    flags = {p.flags for f in leaks for p in f.packets}
    assert leaks, "the detector saw nothing: the anti-test proves nothing"
    # RST of an unknown flow is invalid whatever tcp_loose says; with loose 0 every stray is.
    assert "R" in flags or "RA" in flags, flags
    if loose == 0:
        assert {"A", "FA"} <= flags, flags
    assert all(f.b == WEB_IP or f.a == WEB_IP for f in leaks)


@pytest.mark.parametrize("layer", ["guard invalid-drop", "forward drop", "forwarding sysctl"])
def test_each_layer_alone_holds(router: TorboxRouter, layer: str) -> None:
    """Defence in depth: with any one of the three layers disabled the strays still stop."""
    router.lab.sysctl(router.ns, "net.netfilter.nf_conntrack_tcp_loose", 0)
    med = router.clients["tor_medium"]
    t0 = time.time()
    if layer == "guard invalid-drop":
        router.load_nft_without(("ct state invalid drop comment",))
    elif layer == "forward drop":
        router.load_nft_without(("Tor networks have no route",))
    else:
        router.lab.sysctl(router.ns, f"net.ipv4.conf.{router.network('tor_medium').device}"
                          ".forwarding", 1)
    _send_strays(router, med)
    assert_no_leaks(router, t0, f"strays with {layer} disabled")
