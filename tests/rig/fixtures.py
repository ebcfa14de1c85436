"""pytest fixtures for the network rig (loaded with pytest_plugins from tests/conftest.py).

Session-scoped: one private Tor network (and, in phase 2, one router) per test session,
started on first use and torn down at the end whatever happened. On failure the rig's logs
are copied to tests/artifacts/rig-<run id>/ before teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rig.netns import Lab, cleanup_stale, list_namespaces
from tests.rig.router import TorboxRouter
from tests.rig.tornet import PrivateTorNetwork

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
TOOLS = ("ip", "nft", "tor", "tor-gencert", "dnsmasq", "tcpdump", "busybox", "curl")

# Measurements printed in the terminal summary and saved as JSON (for the note).
RIG_STATS: dict[str, object] = {}


def require_rig() -> None:
    if os.geteuid() != 0:
        pytest.skip("the network rig needs root (network namespaces, nftables)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the network rig needs {', '.join(missing)}")


def _keep_logs(lab: Lab) -> Path:
    dest = ARTIFACTS / f"rig-{lab.run_id}"
    shutil.copytree(
        lab.workdir, dest, dirs_exist_ok=True, symlinks=False,
        ignore=shutil.ignore_patterns("control", "*.sock", "cached-*", "keys", "hs", "*.pid",
                                      "lock", "state", "diff-cache", "*secret*"),
    )
    return dest


@pytest.fixture(scope="session")
def rig_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The run's Lab: every namespace and process of this session, removed at the end."""
    require_rig()
    cleanup_stale()
    lab = Lab()
    RIG_STATS["run_id"] = lab.run_id
    try:
        yield lab
    finally:
        if request.session.testsfailed:
            RIG_STATS["logs"] = str(_keep_logs(lab))
        problems = lab.teardown()
        left = [ns for ns in list_namespaces() if ns.startswith(lab.prefix)]
        RIG_STATS["teardown_problems"] = problems
        RIG_STATS["namespaces_left"] = left


@pytest.fixture(scope="session")
def tor_network(rig_lab: Lab) -> PrivateTorNetwork:
    """A running private Tor network with web, DNS and onion service."""
    net = PrivateTorNetwork(rig_lab)
    t0 = time.monotonic()
    try:
        net.start()
    except Exception:
        RIG_STATS["logs"] = str(_keep_logs(rig_lab))
        raise
    RIG_STATS["tor_network_up_s"] = round(time.monotonic() - t0, 1)
    RIG_STATS["tor_network_timings_s"] = {k: round(v, 1) for k, v in net.timings.items()}
    return net


@pytest.fixture(scope="session")
def torbox_router(rig_lab: Lab, tor_network: PrivateTorNetwork) -> Iterator[TorboxRouter]:
    """The router namespace with torbox's rendered config, three clients, a WAN capture.

    At the end of the session every flow the WAN capture saw must be explained (relay
    traffic, a declared tor_off window or an anti-test window): anything else fails the
    session at teardown, whichever test caused it.
    """
    router = TorboxRouter(rig_lab, tor_network)
    t0 = time.monotonic()
    try:
        router.start()
    except Exception:
        RIG_STATS["logs"] = str(_keep_logs(rig_lab))
        raise
    RIG_STATS["router_up_s"] = round(time.monotonic() - t0, 1)
    RIG_STATS["rig_up_s"] = round(
        float(RIG_STATS.get("tor_network_up_s", 0)) + time.monotonic() - t0, 1)
    RIG_STATS["dhcp_leases"] = {
        n: {k: c.lease.get(k, "") for k in ("ip", "router", "dns", "lease")}
        for n, c in router.clients.items()}
    yield router
    cap = router.capture
    assert cap is not None
    cap.stop()
    RIG_STATS["wan_capture"] = cap.summary()
    RIG_STATS["windows"] = len(cap.windows)
    # leak flows a test asserted on (and failed or xfailed), and ones no test looked at
    RIG_STATS["leak_flows_in_asserting_tests"] = sum(
        1 for f in cap.flows(settle=0) if f.label == "leak")
    leaks = cap.unasserted_leaks()
    RIG_STATS["leak_flows_unasserted"] = len(leaks)
    if leaks:
        pytest.fail("WAN capture: flows outside any window and not to a relay:\n"
                    + cap.describe(leaks, limit=50), pytrace=False)


@pytest.fixture
def router(torbox_router: TorboxRouter) -> Iterator[TorboxRouter]:
    """The session router, put back into its rendered state after each test."""
    yield torbox_router
    torbox_router.restore()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RIG_STATS:
        return
    terminalreporter.section("torbox network rig")
    for key, value in RIG_STATS.items():
        terminalreporter.write_line(f"{key}: {value}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "rig-stats.json").write_text(json.dumps(RIG_STATS, indent=2, default=str))
