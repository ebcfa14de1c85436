"""Design §3.7 and issue test 6: change a subnet and re-apply while clients keep sending;
the WAN capture across the reload shows no leak and the new config is in force after."""

from __future__ import annotations

import ipaddress
import json
import sys
import time

import pytest

from tests.net.helpers import assert_no_leaks, dns
from tests.rig.router import ENV, TorboxRouter
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig

NEW = {("tor_medium", "subnet"): "192.168.19.0/24", ("tor_medium", "router"): "192.168.19.1"}


def _noise(router: TorboxRouter, network: str):
    c = router.clients[network]
    return router.lab.spawn(
        c.ns, [sys.executable, "-m", "tests.rig.noise", "--web", WEB_IP,
               "--resolver", router.net.dns_ip, "--gateway", str(router.network(network).router)],
        name=f"noise-{network}", env=ENV)


def test_subnet_change_under_load(router: TorboxRouter) -> None:
    lab, med = router.lab, router.clients["tor_medium"]
    original = dict(router.overrides)
    old_ip = med.ip
    noise = [_noise(router, "tor_medium"), _noise(router, "tor_max")]
    t0 = time.time()
    try:
        time.sleep(2)
        applied = router.reconfigure({**original, **NEW})
        assert applied.returncode == 0, applied.stderr
        time.sleep(2)  # old-address traffic against the new rules
        lease = med.dhcp()
        time.sleep(3)  # new-address traffic
    finally:
        counts = []
        for p in noise:
            lab.stop(p)
            counts.append(json.loads(p.log_text().strip().splitlines()[-1]))
    try:
        assert_no_leaks(router, t0, "subnet change under load")
        assert ipaddress.ip_address(lease["ip"]) in ipaddress.ip_network("192.168.19.0/24")
        assert lease["router"] == "192.168.19.1" and lease["dns"] == "192.168.19.1"
        assert old_ip != med.ip
        # The new config is in force: the table, Tor's ports and DNS follow the new subnet.
        table = router.nft("list", "table", "inet", "torbox")
        assert "192.168.19.0/24" in table and "192.168.9.0/24" not in table
        res = med.curl("http://web.test/")
        assert res.returncode == 0 and res.stdout in router.net.exit_ips, res
        reply = dns(med, "192.168.19.1", "web.test")
        assert reply is not None and reply.addresses == [WEB_IP]
        assert counts[0]["tcp_ok"] > 0, counts  # the load was real: fetches went through Tor
    finally:
        router.reconfigure(original)
        med.dhcp()
        assert med.ip.startswith("192.168.9.")


def test_invalid_config_is_refused_and_old_stays(router: TorboxRouter) -> None:
    """Design §3.7: a config that fails validation changes nothing in force."""
    before = router.nft("list", "table", "inet", "torbox")
    original = dict(router.overrides)
    try:
        bad = {**original, ("tor_medium", "subnet"): "192.168.8.0/24"}  # overlaps tor_off
        applied = router.reconfigure(bad)
        assert applied.returncode == 2, applied
        assert applied.stderr.strip(), "no message for the refused config"
        assert router.nft("list", "table", "inet", "torbox") == before
    finally:
        router.overrides = original
        router.write_config()
        router.render()


def test_admin_switch_opens_ssh_and_luci_on_tor_medium(router: TorboxRouter) -> None:
    """Design §2: SSH and LuCI on a Tor network only with `admin 1`."""
    med = router.clients["tor_medium"]
    original = dict(router.overrides)
    assert med.tcp_probe("192.168.9.1", 22) == "filtered"
    try:
        applied = router.reconfigure({**original, ("tor_medium", "admin"): "1"})
        assert applied.returncode == 0, applied.stderr
        assert med.tcp_banner("192.168.9.1", 22).startswith("SSH-")
        assert med.tcp_banner("192.168.9.1", 443).startswith("tbx-svc 443")
        assert med.tcp_banner("192.168.9.1", 80).startswith("tbx-svc 80")  # LuCI, no redirect
        # Still only its own router address: tor_off's is no way in.
        assert med.tcp_probe("192.168.8.1", 22) == "filtered"
    finally:
        router.reconfigure(original)
    assert med.tcp_probe("192.168.9.1", 22) == "filtered"
