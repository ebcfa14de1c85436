"""Design §3.4 and issue test 5: no UDP, ICMP, IPv6, multicast, broadcast, spoofed or
fragmented path around Tor from tor_medium and tor_max.

Packets are crafted with scapy and sent as raw frames to the router's MAC from the client's
interface, so they arrive exactly as a hostile or buggy device would send them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_RS, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from tests.net.helpers import anti_leaks, assert_no_leaks, default_route, protections_off
from tests.rig.frames import mac_of, send_frames, sniff
from tests.rig.netns import Proc, wait_for
from tests.rig.router import ENV, Client, TorboxRouter
from tests.rig.tornet import WEB6_IP, WEB_IP

pytestmark = pytest.mark.rig

UDP_PORTS = (443, 3478, 123, 5000, 40000)  # QUIC, STUN, NTP, random
SPOOFED = ("192.168.8.77", "10.1.2.3", "198.18.0.31")  # tor_off host, elsewhere, an exit
CLIENT6 = "2001:db8:9::10"  # an address a device might give itself
MCAST = (("224.0.0.251", 5353), ("239.255.255.250", 1900), ("255.255.255.255", 9))
REFLECT_PORT = 5454  # where the stand-in reflector sends what it hears (the rig's web server)


def _frames(router: TorboxRouter, client: Client) -> list[bytes]:
    cmac = mac_of(client.lab, client.ns, client.ifname)
    eth = Ether(src=cmac, dst=router.bridge_mac(client.network))
    out = [eth / IP(src=client.ip, dst=WEB_IP) / ICMP(id=7, seq=1) / Raw(b"tbx-ping")]
    # IPv6, to the web server and to the router's own WAN address
    for dst in (WEB6_IP, router.wan_ip6):
        out += [eth / IPv6(src=CLIENT6, dst=dst) / ICMPv6EchoRequest(),
                eth / IPv6(src=CLIENT6, dst=dst) / TCP(sport=40001, dport=80, flags="S"),
                eth / IPv6(src=CLIENT6, dst=dst) / UDP(sport=40002, dport=443) / Raw(b"q" * 40)]
    # spoofed sources
    for src in SPOOFED:
        out += [eth / IP(src=src, dst=WEB_IP) / TCP(sport=40003, dport=80, flags="S"),
                eth / IP(src=src, dst=WEB_IP) / UDP(sport=40004, dport=5000) / Raw(b"spoof"),
                eth / IP(src=src, dst=WEB_IP) / ICMP()]
    # fragments: UDP, ICMP and a TCP SYN split in tiny pieces
    out += fragment(eth / IP(src=client.ip, dst=WEB_IP) / UDP(sport=40005, dport=5000)
                    / Raw(b"f" * 3000), fragsize=1000)
    out += fragment(eth / IP(src=client.ip, dst=WEB_IP) / ICMP() / Raw(b"g" * 3000),
                    fragsize=1000)
    out += fragment(eth / IP(src=client.ip, dst=WEB_IP)
                    / TCP(sport=40006, dport=80, flags="S") / Raw(b"h" * 64), fragsize=16)
    # multicast and broadcast as raw frames too
    out += [Ether(src=cmac, dst="01:00:5e:00:00:fb") / IP(src=client.ip, dst="224.0.0.251", ttl=8)
            / UDP(sport=5353, dport=5353) / Raw(b"m"),
            Ether(src=cmac, dst="33:33:00:00:00:fb") / IPv6(src=CLIENT6, dst="ff02::fb")
            / UDP(sport=5353, dport=5353) / Raw(b"m6")]
    return [bytes(f) for f in out]


def _socket_traffic(client: Client) -> None:
    """What ordinary programs send: UDP to the usual ports, multicast, broadcast."""

    def run() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
        try:
            for _ in range(3):
                for port in UDP_PORTS:
                    s.sendto(b"tbx-udp", (WEB_IP, port))
                for addr in MCAST:
                    s.sendto(b"tbx-mcast", addr)
                time.sleep(0.2)
        finally:
            s.close()

    client.lab.call_in(client.ns, run)


def _send_everything(router: TorboxRouter, client: Client) -> None:
    _socket_traffic(client)
    send_frames(client.lab, client.ns, client.ifname, _frames(router, client))


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_no_path_around_tor(router: TorboxRouter, network: str) -> None:
    client = router.clients[network]
    t0 = time.time()
    with default_route(client, str(router.network(network).router)):
        _send_everything(router, client)
    assert_no_leaks(router, t0, f"{network}: UDP/ICMP/IPv6/multicast/spoofed/fragments")


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_anti_path_around_tor_detected(router: TorboxRouter, network: str) -> None:
    client = router.clients[network]
    with protections_off(router, f"protocols {network}", rp_filter=True, ipv6=True) as w, \
            default_route(client, str(router.network(network).router)):
        time.sleep(0.5)  # IPv6 on the bridge needs a moment to come up
        _send_everything(router, client)
    leaks = anti_leaks(router, w)
    seen = {(f.proto, f.bport) for f in leaks if f.a == client.ip}
    missing = [p for p in UDP_PORTS if ("udp", p) not in seen]
    assert not missing, f"UDP ports not detected: {missing}; saw {seen}"
    assert any(f.proto == "icmp" and f.a == client.ip for f in leaks), "ICMP not detected"
    assert any(f.a == CLIENT6 for f in leaks), "IPv6 not detected"
    for src in SPOOFED:
        assert any(f.a == src for f in leaks), f"spoofed source {src} not detected"
    assert any(p.fragment or p.length > 1400 for f in leaks for p in f.packets), \
        "fragments not detected"


@contextlib.contextmanager
def reflector(router: TorboxRouter) -> Iterator[Proc]:
    """A multicast reflector on the router (tests/rig/reflector.py), joined on both Tor
    bridges, that re-sends what it hears to the rig's web server over the WAN."""
    assert router.cfg is not None
    addrs = [str(router.network(n.name).router) for n in router.cfg.tor_networks]
    proc = router.lab.spawn(
        router.ns, [sys.executable, "-m", "tests.rig.reflector",
                    *[a for addr in addrs for a in ("--iface", addr)],
                    "--to", f"{WEB_IP}:{REFLECT_PORT}", "--owner-pid", str(os.getpid())],
        name="reflector", env=ENV)
    try:
        wait_for(lambda: "reflecting" in proc.log_text() or not proc.alive(), 20,
                 what="the reflector to start")
        assert proc.alive(), proc.log_text()
        yield proc
    finally:
        router.lab.stop(proc)


def _heard_from(proc: Proc, ip: str) -> list[str]:
    return [line for line in proc.log_text().splitlines() if line.startswith(f"got {ip} ")]


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_multicast_never_reaches_router_services(router: TorboxRouter, network: str) -> None:
    """mDNS, SSDP and broadcast from a Tor network are dropped before any router service
    (here a reflector that would send them on over the WAN) can hear them."""
    client = router.clients[network]
    with reflector(router) as proc:
        t0 = time.time()
        with default_route(client, str(router.network(network).router)):
            _socket_traffic(client)
        time.sleep(1.0)
        heard = _heard_from(proc, client.ip)
    assert_no_leaks(router, t0, f"{network}: multicast/broadcast through a router reflector")
    assert not heard, f"a router service heard {network}'s multicast: {heard}"


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_anti_multicast_reflected_detected(router: TorboxRouter, network: str) -> None:
    client = router.clients[network]
    with reflector(router) as proc, \
            protections_off(router, f"multicast {network}", forwarding=False) as w, \
            default_route(client, str(router.network(network).router)):
        _socket_traffic(client)
        time.sleep(1.0)
    heard = _heard_from(proc, client.ip)
    leaks = anti_leaks(router, w)
    assert heard, "the reflector heard nothing even without torbox: the test proves nothing"
    assert any(f.proto == "udp" and REFLECT_PORT in (f.aport, f.bport) for f in leaks), \
        f"reflected multicast not detected on the WAN: {router.capture.describe(leaks)}"


def test_no_ipv6_offered_to_tor_networks(router: TorboxRouter) -> None:
    """No RA, no DHCPv6, no IPv6 at all from the router on the Tor networks."""
    for network in ("tor_medium", "tor_max"):
        client = router.clients[network]
        seen = _ipv6_from_router(router, client)
        assert not seen, f"{network}: the router sent IPv6: {[str(p) for p in seen]}"
        addrs = client.exec(["ip", "-6", "addr", "show", "scope", "global"]).stdout
        assert "inet6" not in addrs
        assert client.exec(["ip", "-6", "route", "show", "default"]).stdout.strip() == ""


def test_anti_ipv6_from_router_detected(router: TorboxRouter) -> None:
    """With the table gone and IPv6 back on the bridge, the same sniffer sees the router."""
    client = router.clients["tor_medium"]
    with protections_off(router, "router IPv6 on tor_medium", forwarding=False, ipv6=True):
        time.sleep(1.0)
        seen = _ipv6_from_router(router, client)
    assert seen, "router IPv6 not detected: the sniffer proves nothing"


def _ipv6_from_router(router: TorboxRouter, client: Client) -> list:
    """Solicit a router (RS), ask for DHCPv6 and ping all-nodes; return IPv6 the router sent."""
    cmac = mac_of(client.lab, client.ns, client.ifname)
    lladdr = str(ipaddress.IPv6Address("fe80::" + cmac.replace(":", "")[-4:]))
    probes = [
        Ether(src=cmac, dst="33:33:00:00:00:02") / IPv6(src=lladdr, dst="ff02::2")
        / ICMPv6ND_RS(),
        Ether(src=cmac, dst="33:33:00:01:00:02") / IPv6(src=lladdr, dst="ff02::1:2")
        / UDP(sport=546, dport=547) / Raw(b"\x01\x00\x00\x01"),
        Ether(src=cmac, dst="33:33:00:00:00:01") / IPv6(src=lladdr, dst="ff02::1")
        / ICMPv6EchoRequest(),
    ]
    started = threading.Event()
    result: list = []
    t = threading.Thread(target=lambda: result.extend(
        sniff(client.lab, client.ns, client.ifname, 3.0, started)))
    t.start()
    started.wait(5)
    for _ in range(2):
        send_frames(client.lab, client.ns, client.ifname, [bytes(p) for p in probes])
        time.sleep(0.5)
    t.join()
    own = {lladdr, CLIENT6, _own_lladdr(client)}
    return [p for p in result if p.family == 6 and p.src not in own]


def _own_lladdr(client: Client) -> str:
    """The client's own kernel-made link-local address (its own IPv6 chatter is not the
    router's)."""
    out = client.exec(["ip", "-6", "-o", "addr", "show", "dev", client.ifname]).stdout
    for word in out.split():
        if word.startswith("fe80::"):
            return word.split("/")[0]
    return "fe80::ffff:ffff"


def _guard_probe_frames(router: TorboxRouter, client: Client, dhcp_shaped: bool) -> list[bytes]:
    cmac = mac_of(client.lab, client.ns, client.ifname)
    eth = Ether(src=cmac, dst=router.bridge_mac(client.network))
    if dhcp_shaped:  # DHCP ports, but to the internet rather than the router or broadcast
        out = [eth / IP(src=client.ip, dst=WEB_IP) / UDP(sport=68, dport=67) / Raw(b"d" * 300),
               eth / IP(src="192.168.8.77", dst=WEB_IP) / UDP(sport=68, dport=67)
               / Raw(b"d" * 300)]
    else:
        out = [eth / IP(src=client.ip, dst=WEB_IP) / UDP(sport=40010, dport=5000) / Raw(b"u"),
               eth / IP(src=client.ip, dst=WEB_IP) / ICMP(),
               eth / IP(src="192.168.8.77", dst=WEB_IP) / UDP(sport=40012, dport=5000)]
        if client.network == "tor_max":
            out.append(eth / IP(src=client.ip, dst=WEB_IP) / TCP(sport=40011, dport=80,
                                                                  flags="S"))
    return [bytes(f) for f in out]


def _only_guard_left(router: TorboxRouter) -> None:
    """Forward-chain drop removed, forwarding and rp_filter back on: only the guard is left."""
    assert router.cfg is not None
    router.load_nft_without(("Tor networks have no route",))
    for n in router.cfg.tor_networks:
        router.lab.sysctl(router.ns, f"net.ipv4.conf.{n.device}.forwarding", 1)
        router.lab.sysctl(router.ns, f"net.ipv4.conf.{n.device}.rp_filter", 0)
    router.lab.sysctl(router.ns, "net.ipv4.conf.all.rp_filter", 0)


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_guard_chain_alone_holds(router: TorboxRouter, network: str) -> None:
    """Defence in depth: the prerouting guard stops UDP, ICMP, spoofed sources (and on
    tor_max TCP) by itself."""
    client = router.clients[network]
    _only_guard_left(router)
    t0 = time.time()
    send_frames(client.lab, client.ns, client.ifname, _guard_probe_frames(router, client, False))
    assert_no_leaks(router, t0, f"{network} with only the guard chain")


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_guard_chain_alone_stops_dhcp_shaped_udp(router: TorboxRouter, network: str) -> None:
    client = router.clients[network]
    _only_guard_left(router)
    t0 = time.time()
    send_frames(client.lab, client.ns, client.ifname, _guard_probe_frames(router, client, True))
    assert_no_leaks(router, t0, f"{network}: DHCP-shaped UDP with only the guard chain")
