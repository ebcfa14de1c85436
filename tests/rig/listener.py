"""Stand-in TCP services on the router (LuCI's 80/443 and whatever else a test names).

Each accepted connection gets one line `tbx-svc <port> <client ip>` and is closed, so a test
can tell "reachable" (banner) from "filtered" (timeout) and "closed" (refused).

Usage: python -m tests.rig.listener --port 80 --port 443 [--owner-pid PID]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time


def serve(port: int) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)
    while True:
        conn, addr = srv.accept()
        with conn:
            try:
                conn.sendall(f"tbx-svc {port} {addr[0]}\n".encode())
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, action="append", required=True)
    ap.add_argument("--owner-pid", type=int, default=0)
    args = ap.parse_args(argv)
    for port in args.port:
        threading.Thread(target=serve, args=(port,), daemon=True).start()
    print("listening", args.port, flush=True)
    while True:
        time.sleep(2)
        if args.owner_pid and not os.path.exists(f"/proc/{args.owner_pid}"):
            return 0


if __name__ == "__main__":
    sys.exit(main())
