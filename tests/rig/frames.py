"""Send crafted Ethernet frames from, and sniff frames on, an interface inside a namespace.

Frames are built with scapy in the test process; the AF_PACKET socket is opened in a thread
that joined the client's namespace, so the bytes leave exactly where a client's would and
no route or ARP entry on the client is needed (tor_max clients have no gateway).
"""

from __future__ import annotations

import json
import socket
import time

from tests.rig.netns import Lab
from tests.rig.pcap import Packet, decode_ethernet

ETH_P_ALL = 0x0003


def mac_of(lab: Lab, ns: str, ifname: str) -> str:
    info = json.loads(lab.exec(ns, ["ip", "-j", "link", "show", "dev", ifname]).stdout)
    return info[0]["address"]


def send_frames(lab: Lab, ns: str, ifname: str, frames: list[bytes], gap: float = 0.005) -> int:
    def send() -> int:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((ifname, 0))
            for f in frames:
                s.send(f)
                time.sleep(gap)
        finally:
            s.close()
        return len(frames)

    return lab.call_in(ns, send)


def sniff(lab: Lab, ns: str, ifname: str, seconds: float, start_event=None) -> list[Packet]:
    """Every frame seen on `ifname` (both directions) for `seconds`."""

    def run() -> list[Packet]:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        got: list[Packet] = []
        try:
            s.bind((ifname, 0))
            if start_event is not None:
                start_event.set()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    data = s.recv(65535)
                except TimeoutError:
                    break
                got.append(decode_ethernet(time.time(), data, len(data)))
        finally:
            s.close()
        return got

    return lab.call_in(ns, run)
