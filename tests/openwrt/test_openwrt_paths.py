"""torbox on OpenWrt's own firewall (fw4 with ubusd + netifd) and OpenWrt's tor service.

The leak matrix of tests/net, on the OpenWrt path: clients on each bridge netifd made, fw4's
ruleset and torbox's table together, tor started by OpenWrt's init script with torbox's
fragment, and the rig's WAN capture on the box's `eth0` with its leak detector (every flow
must be relay traffic or fall in a declared window). Then fw4 reload/restart, and the
window `/etc/init.d/firewall stop` opens (fw4 flush deletes every table, torbox's too).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

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
)
from tests.openwrt.box import OpenWrtBox
from tests.openwrt.conftest import make_box
from tests.openwrt.test_lifecycle import BRIDGES, PORTS, ROUTERS, _lease, attach_ports, build_package
from tests.rig.capture import WanCapture
from tests.rig.netns import wait_for
from tests.rig.router import Client
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig


@pytest.fixture(scope="module")
def owr(openwrt_userland, rig_lab, tor_network, tmp_path_factory):
    """A booted box with torbox installed by opkg, clients on all three networks, Tor up."""
    box = make_box(rig_lab, tor_network, boot=False)
    att = tor_network.attachments[-1]
    cap = WanCapture(rig_lab, box.ns, "eth0", {att.router_ip}, {att.gateway_ip},
                     tor_network.relay_endpoints())
    cap.start()
    try:
        box.boot()
        pkg = build_package("opkg", tmp_path_factory.mktemp("ipk"))
        box.put(pkg, "/tmp/torbox.ipk")
        box.sh("opkg install /tmp/torbox.ipk", timeout=180)
        attach_ports(box)
        clients = {}
        for net in ROUTERS:
            c = Client(rig_lab, net, box.peers[PORTS[net]], "eth0")
            wait_for(lambda c=c: _lease(c), timeout=60, what=f"a lease on {net}")
            clients[net] = c
        t0 = time.monotonic()
        box.wait("grep -q 'Bootstrapped 100' /var/log/tor/notices.log", timeout=180,
                 what="the box's tor to bootstrap")
        box.timings["tor_bootstrap_after_install_s"] = round(time.monotonic() - t0, 1)
        yield SimpleNamespace(box=box, capture=cap, net=tor_network, clients=clients,
                              wan_ip=att.router_ip)
        leaks = cap.unasserted_leaks()
        assert not leaks, "WAN capture of the OpenWrt box:\n" + cap.describe(leaks)
    finally:
        cap.stop()
        box.stop()


def test_fw4_sees_torbox_zones_through_ubus(owr):
    """With ubusd + netifd running, fw4's zones have their devices (without them every zone
    is empty and `nft -c` still passes, which proves nothing)."""
    box: OpenWrtBox = owr.box
    printed = box.sh("fw4 print").stdout
    for net in ("tor_medium", "tor_max"):
        assert f'iifname "{BRIDGES[net]}" jump input_{net}' in printed, printed[:3000]
        assert f"chain forward_{net} {{" in printed
    # no forwarding out of a Tor zone: its forward chain ends in reject, never jumps to wan
    fwd = printed.split("chain forward_tor_medium {", 1)[1].split("}", 1)[0]
    assert "accept_to_wan" not in fwd and "reject_to_tor_medium" in fwd or "reject" in fwd
    assert 'include "/usr/share/nftables.d/ruleset-post/30-torbox.nft"' in printed
    assert "Ruleset passes nftables check" in box.sh("fw4 check").stdout


def test_table_survives_fw4_reload_and_restart(owr):
    box: OpenWrtBox = owr.box
    for cmd in ("fw4 reload", "/etc/init.d/firewall restart", "/etc/init.d/firewall reload"):
        box.sh(cmd)
        table = box.sh("nft list table inet torbox", check=False)
        assert table.returncode == 0, f"after {cmd}: {table.stderr}"


def test_tor_medium_tcp_and_dns_through_tor(owr):
    med = owr.clients["tor_medium"]
    since = time.time()
    seen = len(owr.net.dns_queries())
    res = med.curl("http://web.test/", timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout in owr.net.exit_ips  # the web server saw an exit, not the box
    res = med.curl(f"http://{WEB_IP}/", timeout=30)  # by address: TransPort catches it too
    assert res.stdout in owr.net.exit_ips
    reply = dns(med, owr.net.dns_ip, "fresh.web.test", timeout=10)  # redirected to DNSPort
    assert reply is not None and reply.addresses == [WEB_IP]
    assert not dns_queries_from(owr, seen), "a lookup reached the DNS server not via an exit"
    assert_no_leaks(owr, since, "tor_medium over OpenWrt")


def test_tor_max_only_socks(owr):
    mx = owr.clients["tor_max"]
    since = time.time()
    ok = mx.curl("http://web.test/", socks=f"{ROUTERS['tor_max']}:9050", timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout in owr.net.exit_ips
    assert mx.tcp_probe(WEB_IP, 80) == "unreachable"  # the lease gave no route
    with default_route(mx, ROUTERS["tor_max"]):
        assert mx.tcp_probe(WEB_IP, 80) == "filtered"
        assert dns(mx, owr.net.dns_ip, "web.test") is None
    assert_no_leaks(owr, since, "tor_max over OpenWrt")


def test_tor_off_is_nated(owr):
    off = owr.clients["tor_off"]
    with owr.capture.window("tor_off"):
        res = off.curl(f"http://{WEB_IP}/", timeout=10)
    assert res.returncode == 0, res.stderr
    assert res.stdout == owr.wan_ip  # masqueraded by fw4's wan zone


def test_nothing_crosses_between_networks(owr):
    """Each client runs a listener; only the box itself may connect to it."""
    with host_listeners(owr.box.lab, owr.clients):
        since = time.time()
        assert_router_reaches(owr.clients, lambda ip: owr.box.sh(
            f"busybox nc -w 3 {ip} {LISTEN_PORT} </dev/null", check=False).stdout)
        problems = hosts_reached(owr.clients, ROUTERS["tor_max"])
        assert not problems, problems
        assert_no_leaks(owr, since, "crossing between networks")


def _try_out(owr) -> None:
    """What a Tor-network client sends when it thinks it has a way out."""
    med, mx = owr.clients["tor_medium"], owr.clients["tor_max"]
    with default_route(mx, ROUTERS["tor_max"]):
        mx.curl(f"http://{WEB_IP}/", timeout=3)
    med.curl(f"http://{WEB_IP}/", timeout=3)
    dns(med, owr.net.dns_ip, "web.test", timeout=2)


def test_firewall_stop_keeps_tor_networks_closed(owr):
    """`/etc/init.d/firewall stop` runs `fw4 flush`: every table goes, torbox's included.
    netifd's `prohibit` rules for the Tor networks still keep them off the WAN."""
    box: OpenWrtBox = owr.box
    rules = box.sh("ip rule show").stdout
    assert rules.count("prohibit") == 2, rules
    box.sh("/etc/init.d/firewall stop")
    try:
        assert box.sh("nft list tables").stdout.strip() == ""
        since = time.time()
        _try_out(owr)
        assert_no_leaks(owr, since, "Tor networks with the firewall stopped")
        # anti-test: without the rules the same attempts reach the WAN
        with owr.capture.window("firewall-stop-no-rules", expect_leak=True) as w:
            box.sh("ip rule del priority 900; ip rule del priority 900")
            _try_out(owr)
        flows = [f for f in owr.capture.flows(since=w.start, settle=1.0)
                 if f.label == f"anti:{w.label}"]
        assert any(owr.clients["tor_medium"].ip in (f.a, f.b) for f in flows), \
            "the detector saw nothing without the rules: the test proves nothing"
    finally:
        box.sh("/etc/init.d/firewall start; /etc/init.d/network reload", check=False)
        box.wait("[ $(ip rule show | grep -c prohibit) -eq 2 ]", timeout=30,
                 what="netifd's rules back")
        box.wait("nft list table inet torbox >/dev/null", timeout=30, what="torbox's table back")
