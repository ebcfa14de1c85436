"""Design §3.3 and issue test 4: no DNS leak from the Tor networks.

Queries to an outside resolver's own address (UDP and TCP), record types Tor's DNSPort does
not serve (TXT, MX, ANY, SRV), DNS over TLS (853). The internet's DNS server logs every
query it receives: nothing may arrive there except through an exit.
"""

from __future__ import annotations

import concurrent.futures
import re
import secrets
import time
from collections.abc import Callable

import pytest

from tests.net.helpers import (
    anti_leaks,
    assert_no_leaks,
    default_route,
    dns,
    dns_queries_from,
    protections_off,
)
from tests.rig.router import Client, TorboxRouter
from tests.rig.tornet import WEB_IP

pytestmark = pytest.mark.rig

ODD_TYPES = ("TXT", "MX", "ANY", "SRV")


def _fresh() -> str:
    return f"d{secrets.token_hex(4)}.web.test"


def _dns_attempts(router: TorboxRouter, client: Client) -> dict[str, object]:
    """Every way a client might try to resolve around Tor (in parallel); what answered."""
    resolver = router.net.dns_ip
    tries: dict[str, Callable[[], object]] = {
        "udp outside resolver": lambda: dns(client, resolver, _fresh(), timeout=4),
        "udp unknown resolver": lambda: dns(client, "192.0.2.53", _fresh(), timeout=4),
        "tcp outside resolver": lambda: dns(client, resolver, _fresh(), tcp=True, timeout=3),
        "dot 853": lambda: client.tcp_probe(resolver, 853, timeout=3),
    }
    for qtype in ODD_TYPES:
        tries[f"udp {qtype}"] = lambda q=qtype: dns(client, resolver, "web.test", qtype=q,
                                                     timeout=3)
    with concurrent.futures.ThreadPoolExecutor(len(tries)) as pool:
        futures = {k: pool.submit(fn) for k, fn in tries.items()}
        return {k: f.result() for k, f in futures.items()}


def test_tor_medium_dns_only_through_tor(router: TorboxRouter) -> None:
    med = router.clients["tor_medium"]
    t0, n = time.time(), len(router.net.dns_queries())
    got = _dns_attempts(router, med)
    # UDP to any resolver address is answered, by Tor's DNSPort (through an exit).
    for key in ("udp outside resolver", "udp unknown resolver"):
        reply = got[key]
        assert reply is not None and reply.addresses == [WEB_IP], f"{key}: {reply}"
    assert got["tcp outside resolver"] is None
    assert got["dot 853"] == "filtered"
    for qtype in ODD_TYPES:  # DNSPort refuses or answers empty; never passes them on
        reply = got[f"udp {qtype}"]
        assert reply is None or not reply.answers or reply.rcode != 0, f"{qtype}: {reply}"
    assert dns_queries_from(router, n) == []
    log = "\n".join(router.net.dns_queries()[n:])
    assert not re.search(r"query\[(TXT|MX|ANY|SRV)\]", log), log
    assert_no_leaks(router, t0, "tor_medium DNS attempts")


def test_tor_max_has_no_dns(router: TorboxRouter) -> None:
    mx = router.clients["tor_max"]
    t0, n = time.time(), len(router.net.dns_queries())
    assert dns(mx, "192.168.10.1", _fresh(), timeout=2) is None
    with default_route(mx, "192.168.10.1"):
        got = _dns_attempts(router, mx)
    assert all(v in (None, "filtered") for v in got.values()), got
    assert dns_queries_from(router, n) == []
    assert_no_leaks(router, t0, "tor_max DNS attempts")


@pytest.mark.parametrize("network", ["tor_medium", "tor_max"])
def test_anti_dns_leak_detected(router: TorboxRouter, network: str) -> None:
    """Without the table (and with forwarding back on) the same attempts reach the WAN."""
    client = router.clients[network]
    n = len(router.net.dns_queries())
    gw = str(router.network(network).router)
    with protections_off(router, f"DNS {network}") as w, default_route(client, gw):
        _dns_attempts(router, client)
    leaks = anti_leaks(router, w, src=client.ip)
    ports = {(f.proto, f.bport if f.a == client.ip else f.aport) for f in leaks}
    assert ("udp", 53) in ports and ("tcp", 53) in ports and ("tcp", 853) in ports, ports
    # And the internet's resolver really got the client's queries, from its own address.
    assert any(q.endswith(f"from {client.ip}") for q in router.net.dns_queries()[n:])
