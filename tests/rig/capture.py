"""Packet capture on the router's WAN link and the leak detector that reads it.

Tails-style: every flow seen on the WAN must be explained. Explanations, in order:
  l2      non-IP frames (ARP)
  ndp     IPv6 neighbour discovery / MLD of the router's or the gateway's own addresses
  tor     TCP between the router's WAN address and a relay/authority ORPort or DirPort
  window  inside a window a test declared (tor_off traffic, NATed to the router's address;
          or an anti-test that expects leaks)
Everything else is a leak. A window never explains a flow whose inside address is not
the router's WAN address, so un-NATed packets from a client are always leaks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig.netns import Lab, Proc, wait_for
from tests.rig.pcap import Packet, read_pcap

NDP_TYPES = {130, 131, 132, 133, 134, 135, 136, 137, 143}
TCPDUMP = "/usr/bin/tcpdump"


@dataclass
class Flow:
    proto: str
    a: str  # initiator (source of the first packet seen)
    aport: int
    b: str
    bport: int
    packets: list[Packet] = field(default_factory=list)
    label: str = ""

    @property
    def first(self) -> float:
        return self.packets[0].ts

    @property
    def last(self) -> float:
        return self.packets[-1].ts

    def __str__(self) -> str:
        ports = f":{self.aport} -> {self.b}:{self.bport}" if self.aport or self.bport else \
            f" -> {self.b}"
        flags = ",".join(sorted({p.flags for p in self.packets if p.flags}))
        extra = f" flags={flags}" if flags else ""
        types = sorted({p.icmp_type for p in self.packets if p.icmp_type >= 0})
        extra += f" icmp_types={types}" if types else ""
        return (f"{self.proto} {self.a}{ports} ({len(self.packets)} pkts{extra}"
                f"{', ' + self.label if self.label else ''})")


@dataclass
class Window:
    label: str
    start: float
    end: float | None = None
    expect_leak: bool = False
    match: Callable[[Flow], bool] | None = None


def flows_of(packets: list[Packet]) -> list[Flow]:
    """Group packets into bidirectional flows (5-tuple, direction-free)."""
    flows: dict[tuple, Flow] = {}
    for p in packets:
        if p.family == 0:
            key: tuple = (p.proto,)
        else:
            ends = sorted([(p.src, p.sport), (p.dst, p.dport)])
            key = (p.proto, *ends[0], *ends[1])
        f = flows.get(key)
        if f is None:
            f = flows[key] = Flow(p.proto, p.src, p.sport, p.dst, p.dport)
        f.packets.append(p)
    return list(flows.values())


class WanCapture:
    """tcpdump on one interface for the whole session, plus the detector."""

    def __init__(self, lab: Lab, ns: str, ifname: str, wan_ips: set[str], peer_ips: set[str],
                 relay_endpoints: set[tuple[str, int]]) -> None:
        self.lab = lab
        self.ns = ns
        self.ifname = ifname
        self.wan_ips = set(wan_ips)  # the router's own WAN addresses (v4 and v6)
        self.peer_ips = set(peer_ips)  # the gateway's addresses on the link
        self.relay_endpoints = set(relay_endpoints)
        self.path = lab.workdir / f"wan-{ifname}.pcap"
        self.proc: Proc | None = None
        self.windows: list[Window] = []
        # Time ranges a test already asserted leak-free; the session check skips them so
        # one problem fails one test, not also the session teardown.
        self.asserted: list[tuple[float, float]] = []

    def start(self) -> None:
        self.proc = self.lab.spawn(
            self.ns,
            [TCPDUMP, "-i", self.ifname, "-n", "-U", "-s", "192", "-Z", "root",
             "-w", str(self.path)],
            name=f"tcpdump-{self.ifname}",
        )
        wait_for(lambda: "listening on" in self.proc.log_text() or not self.proc.alive(), 20,
                 interval=0.1, what="tcpdump to start")
        if not self.proc.alive():
            raise RuntimeError(f"tcpdump failed: {self.proc.log_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)

    # ---- windows ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def window(self, label: str, expect_leak: bool = False,
               match: Callable[[Flow], bool] | None = None, settle: float = 1.0
               ) -> Iterator[Window]:
        """Declare that flows starting in this block are explained by `label`."""
        w = Window(label, time.time(), expect_leak=expect_leak, match=match)
        self.windows.append(w)
        try:
            yield w
        finally:
            time.sleep(settle)  # late packets (retransmissions, FIN) still belong here
            w.end = time.time()

    # ---- reading ---------------------------------------------------------------------------
    def packets(self, since: float = 0.0, until: float | None = None,
                settle: float = 0.5) -> list[Packet]:
        time.sleep(settle)  # let tcpdump write what the kernel already handed it
        if not self.path.exists():
            return []
        end = until if until is not None else float("inf")
        return [p for p in read_pcap(self.path) if since <= p.ts <= end]

    def classify(self, flow: Flow) -> str:
        if flow.packets[0].family == 0:
            return "l2"
        if flow.proto == "icmp6" and all(p.icmp_type in NDP_TYPES for p in flow.packets):
            own = self.wan_ips | self.peer_ips
            if all(p.src.startswith("fe80:") or p.src == "::" or p.src in own
                   for p in flow.packets):
                return "ndp"
        ends = {(flow.a, flow.aport), (flow.b, flow.bport)}
        if flow.proto == "tcp" and ends & self.relay_endpoints and {flow.a, flow.b} & self.wan_ips:
            return "tor"
        for w in self.windows:
            end = w.end if w.end is not None else float("inf")
            if not w.start <= flow.first <= end:
                continue
            if w.expect_leak:
                return f"anti:{w.label}"
            if {flow.a, flow.b} & self.wan_ips and (w.match is None or w.match(flow)):
                return f"window:{w.label}"
        return "leak"

    def flows(self, since: float = 0.0, until: float | None = None,
              settle: float = 0.5) -> list[Flow]:
        flows = flows_of(self.packets(since, until, settle))
        for f in flows:
            f.label = self.classify(f)
        return flows

    def leaks(self, since: float = 0.0, until: float | None = None,
              settle: float = 1.0) -> list[Flow]:
        """Flows since `since` that nothing explains (anti-test windows count as leaks)."""
        return [f for f in self.flows(since, until, settle)
                if f.label == "leak" or f.label.startswith("anti:")]

    def unasserted_leaks(self) -> list[Flow]:
        """Leaks no test has looked at (for the end-of-session check)."""
        return [f for f in self.flows(settle=0) if f.label == "leak"
                and not any(a <= f.first <= b for a, b in self.asserted)]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        packets = self.packets(settle=0)
        for f in flows_of(packets):
            label = self.classify(f).split(":")[0]
            counts[label] = counts.get(label, 0) + 1
        counts["packets"] = len(packets)
        return counts

    def describe(self, flows: list[Flow], limit: int = 20) -> str:
        lines = [str(f) for f in flows[:limit]]
        if len(flows) > limit:
            lines.append(f"... and {len(flows) - limit} more")
        return "\n".join(lines)


def pcap_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
