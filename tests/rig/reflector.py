"""Stand-in for a multicast reflector on the router (avahi's `enable-reflector`, an SSDP/UPnP
proxy): what such a service would do with mDNS/SSDP/broadcast from a Tor network is send it
on over the WAN. torbox must drop those packets before any router service sees them.

Every datagram received is logged as `got <source ip> <group>:<port>` and re-sent from the
router to `--to ADDR:PORT` (an address in the rig's own internet namespace).

Usage: python -m tests.rig.reflector --iface ADDR ... --to ADDR:PORT [--owner-pid PID]
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import sys

GROUPS = (("224.0.0.251", 5353), ("239.255.255.250", 1900))  # mDNS, SSDP
BROADCAST_PORT = 9  # discard; the tests' broadcast goes here


def open_sockets(iface_addrs: list[str]) -> list[tuple[socket.socket, str]]:
    socks = []
    for group, port in GROUPS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        for addr in iface_addrs:  # join the group on each Tor network's bridge
            mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(addr))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        socks.append((s, f"{group}:{port}"))
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    b.bind(("0.0.0.0", BROADCAST_PORT))
    socks.append((b, f"255.255.255.255:{BROADCAST_PORT}"))
    return socks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", action="append", required=True, help="bridge address to join on")
    ap.add_argument("--to", required=True, help="ADDR:PORT the reflected datagrams go to")
    ap.add_argument("--owner-pid", type=int, default=0)
    args = ap.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    socks = open_sockets(args.iface)
    names = {s.fileno(): name for s, name in socks}
    print("reflecting", ", ".join(names.values()), "to", args.to, flush=True)
    while True:
        ready, _, _ = select.select([s for s, _ in socks], [], [], 2.0)
        for s in ready:
            data, (src, _sport) = s.recvfrom(4096)
            print(f"got {src} {names[s.fileno()]}", flush=True)
            out.sendto(b"tbx-reflected " + src.encode() + b" " + data[:64], (host, int(port)))
        if args.owner_pid and not os.path.exists(f"/proc/{args.owner_pid}"):
            return 0


if __name__ == "__main__":
    sys.exit(main())
