"""The rig's web server on the private internet (run inside the inet namespace).

GET /          -> the caller's source address, as plain text
GET /bytes/N   -> N bytes (streamed; for the benchmark and fail-closed download tests)
Every request is appended to a JSON-lines access log the tests read.

Usage: python -m tests.rig.websrv --listen 198.18.0.80:80 [--listen [2001:db8::80]:80]
       --log FILE [--owner-pid PID]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
MAX_BYTES = 1 << 31
_log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "tbx-web/1"
    log_path = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _log(self, status: int) -> None:
        entry = {
            "t": time.time(),
            "src": self.client_address[0],
            "dst": self.server.server_address[0],
            "port": self.server.server_address[1],
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "status": status,
        }
        with _log_lock, open(self.log_path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path == "/":
            body = self.client_address[0].encode()
            self._send(200, body)
        elif self.path.startswith("/bytes/"):
            try:
                n = int(self.path[len("/bytes/") :])
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_BYTES:
                self._send(400, b"bad size")
                return
            self._log(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"\x00" * CHUNK
            try:
                while n > 0:
                    k = min(n, CHUNK)
                    self.wfile.write(block[:k])
                    n -= k
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self._log(status)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


def parse_listen(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", action="append", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--owner-pid", type=int, default=0)
    args = ap.parse_args(argv)
    Handler.log_path = args.log
    servers = []
    for spec in args.listen:
        host, port = parse_listen(spec)
        cls = Server6 if ":" in host else Server
        srv = cls((host, port), Handler)
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("listening", " ".join(args.listen), flush=True)
    # Exit with the test run that started us, even if it was SIGKILLed.
    while True:
        time.sleep(2)
        if args.owner_pid and not os.path.exists(f"/proc/{args.owner_pid}"):
            return 0


if __name__ == "__main__":
    sys.exit(main())
