"""A small threaded WSGI server: one listening socket per network, quiet, bounded.

Each listener knows which network it serves and tells the app (environ
`torbox.network`), so a visitor's network comes from where the packet arrived, not only
from an address the visitor chose. On the router each socket is bound to its network's
device (SO_BINDTODEVICE) and uses IP_FREEBIND, so it can start before the address exists.
No request is logged: a privacy tool keeps no access log.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

log = logging.getLogger("torbox.webui")

MAX_THREADS = 8  # concurrent requests (64 MB routers); more wait in the listen backlog
CLIENT_TIMEOUT_S = 10.0
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


@dataclass
class Listener:
    host: str
    port: int
    network: str | None = None  # the torbox network this socket serves
    device: str | None = None  # bind to this Linux device (router mode)
    trusted: bool = False  # --listen ADDR:PORT=NETWORK: the operator vouches for the network


class _Handler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_S  # a silent client cannot hold a thread for long

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no access log
        pass

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        lst: Listener = self.server.listener  # type: ignore[attr-defined]
        env["torbox.network"] = lst.network
        env["torbox.trusted"] = lst.trusted
        return env

    def handle(self) -> None:
        # wsgiref's handler, minus its stderr traceback/log chatter and Server version header
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                 multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


class _ServerHandler(ServerHandler):
    server_software = "torbox"

    def log_exception(self, exc_info: Any) -> None:
        log.error("request failed", exc_info=exc_info)


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, listener: Listener, app: Any) -> None:
        self.listener = listener
        self._slots = threading.BoundedSemaphore(MAX_THREADS)
        super().__init__((listener.host, listener.port), _Handler, bind_and_activate=True)
        self.set_app(app)

    def server_bind(self) -> None:
        lst = self.listener
        try:
            self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        except OSError:
            pass
        if lst.device:
            try:
                self.socket.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE,
                                       lst.device.encode() + b"\0")
            except OSError as exc:
                log.warning("cannot bind to device %s (%s); relying on the firewall",
                            lst.device, exc.strerror)
        socketserver.TCPServer.server_bind(self)
        # HTTPServer.server_bind would call getfqdn(): a DNS lookup the router cannot do yet
        self.server_name = lst.host
        self.server_port = self.socket.getsockname()[1]
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error", exc_info=True)


def serve(listeners: list[Listener], app: Any) -> list[Server]:
    """Bind every listener and serve each in a daemon thread; returns the servers."""
    servers = []
    for lst in listeners:
        srv = Server(lst, app)
        # poll_interval None: the thread sleeps in poll() until a client connects, instead
        # of waking twice a second per network for nothing (measured: most of the idle
        # page's CPU once the monitors had slowed down). The price is that shutdown() cannot
        # stop it; the service simply exits, which closes the sockets.
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": None},
                         name=f"http-{lst.host}:{lst.port}", daemon=True).start()
        servers.append(srv)
        log.info("listening on %s:%d%s", lst.host, srv.server_port,
                 f" ({lst.network})" if lst.network else "")
    return servers
