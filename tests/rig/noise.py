"""Keep a client busy: TCP fetches, UDP, DNS to the router and to an outside resolver.

Runs inside a client namespace until SIGTERM, then prints one JSON line of counters.
Used while the router reloads its configuration, to catch any window in which traffic
would get out around Tor.

Usage: python -m tests.rig.noise --web 198.18.0.80 --resolver 198.18.0.53 [--gateway IP]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time

from tests.rig.dnsq import build_query


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--web", required=True)
    ap.add_argument("--resolver", required=True)
    ap.add_argument("--gateway", default="")
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args(argv)
    counts = {"tcp_ok": 0, "tcp_fail": 0, "udp_sent": 0, "dns_answered": 0, "loops": 0}
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setblocking(False)
    while running:
        counts["loops"] += 1
        try:
            with socket.create_connection((args.web, 80), timeout=0.5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                s.settimeout(1.0)
                counts["tcp_ok" if s.recv(512) else "tcp_fail"] += 1
        except OSError:
            counts["tcp_fail"] += 1
        for dst in [(args.web, 443), (args.web, 5000), (args.resolver, 53)] + (
                [(args.gateway, 53)] if args.gateway else []):
            try:
                payload = build_query("noise.web.test") if dst[1] == 53 else b"tbx-noise"
                u.sendto(payload, dst)
                counts["udp_sent"] += 1
            except OSError:
                pass
        try:
            while True:
                u.recvfrom(4096)
                counts["dns_answered"] += 1
        except OSError:
            pass
        time.sleep(args.interval)
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
