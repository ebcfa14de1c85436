"""Smoke test of the private Tor network: a client in its own namespace bootstraps and
reaches the web server through an exit and the onion service."""

from __future__ import annotations

import pytest

from tests.rig.netns import Lab
from tests.rig.tornet import PrivateTorNetwork, start_client_tor, wait_bootstrapped

pytestmark = pytest.mark.rig


def test_client_bootstraps_and_reaches_web_and_onion(
    rig_lab: Lab, tor_network: PrivateTorNetwork
) -> None:
    lab, net = rig_lab, tor_network
    ns = lab.add_ns("c-smoke")
    net.attach(ns, lab.ifname("smk"))
    proc = start_client_tor(lab, net, ns, "smoke-client")
    wait_bootstrapped(proc, timeout=120)

    def socks_get(url: str) -> str:
        res = lab.exec(ns, ["curl", "-sS", "-m", "60", "--socks5-hostname", "127.0.0.1:9050", url],
                       check=False, timeout=70)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    # The web server sees one of the exits, and the exits asked the rig's DNS for the name.
    assert socks_get("http://web.test/") in net.exit_ips
    assert any("web.test" in q.lower() for q in net.dns_queries())
    # The onion service forwards to the web server from its own tor's address.
    assert socks_get(f"http://{net.onion_hostname}/") == "198.18.0.70"
    lab.stop(proc)
