"""A small threaded WSGI server: one listening socket per network, quiet, bounded.

Each listener knows which network it serves and tells the app (environ
`torbox.network`), so a visitor's network comes from where the packet arrived, not only
from an address the visitor chose. On the router each socket is bound to its network's
device and uses IP_FREEBIND, so it can start before the address exists. A socket is never
left listening unbound: a device that does not exist (yet) gets no socket until it appears.
No request is logged: a privacy tool keeps no access log.

**Devices that come and go.** The kernel binds a socket to a device's ifindex. OpenWrt's
netifd deletes and re-creates `br-lan` when lan's address changes; the new bridge has a
new ifindex and the old socket refuses every connection from then on. A `LinkWatcher`
thread listens to the kernel's link events (netlink, RTMGRP_LINK) and, on each one,
compares each device's ifindex with the one its socket is bound to; a changed or new device
gets a fresh socket, a vanished one loses its socket. The thread blocks in recv() without a
timeout: no wakeups while links are quiet (no polling of /sys).

**Bounded by client.** Slow clients must not take the page down for a whole network
(slowloris). Per listening socket: at most MAX_PER_CLIENT connections at once from one
address (more are closed at once; loopback, i.e. the router itself, is exempt), at most
MAX_THREADS at once in all; a request must arrive whole (request line, headers and body)
within HEADER_DEADLINE_S of the connection: a total deadline, so a client trickling a
byte now and then gains nothing, and at most MAX_REQUEST_BYTES of it. When every thread
is taken, the connection that has waited longest for its request (and at least
EVICT_AFTER_S) is closed to make room. Idle HTTP threads block in accept() without a
timeout, as before.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import logging
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

log = logging.getLogger("torbox.webui")

MAX_THREADS = 8  # concurrent connections per network (64 MB routers)
MAX_PER_CLIENT = 4  # concurrent connections from one address (a browser uses 1-3 here)
HEADER_DEADLINE_S = 5.0  # the whole request must arrive within this, however it trickles
EVICT_AFTER_S = 1.0  # when full, a connection still without its request after this may go
MAX_REQUEST_BYTES = 64 * 1024  # request line + headers + body (forms here are tiny)
CLIENT_TIMEOUT_S = 10.0  # per send of the response
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_BINDTOIFINDEX = getattr(socket, "SO_BINDTOIFINDEX", 62)  # Linux >= 5.0
RTMGRP_LINK = 1


@dataclass
class Listener:
    host: str
    port: int
    network: str | None = None  # the torbox network this socket serves
    device: str | None = None  # bind to this Linux device (router mode)
    trusted: bool = False  # --listen ADDR:PORT=NETWORK: the operator vouches for the network


class DeviceMissing(OSError):
    """The listener's device does not exist (now); it gets a socket when it appears."""


def ifindex(device: str) -> int | None:
    try:
        return socket.if_nametoindex(device)
    except OSError:
        return None


# -- one connection ----------------------------------------------------------------------------


class RequestTooLarge(Exception):
    pass


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    addr: Any
    accepted: float
    deadline: float
    limited: bool  # counts against MAX_PER_CLIENT
    reading: bool = True  # still waiting for the request line and headers
    running: bool = False  # has its thread (holds a slot)
    budget: int = MAX_REQUEST_BYTES


class _DeadlineReader(io.RawIOBase):
    """The request side of a connection: every recv gets only the time left until the
    connection's deadline, and only so many bytes in all."""

    def __init__(self, conn: _Conn) -> None:
        self.conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        conn = self.conn
        left = conn.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        if conn.budget <= 0:
            raise RequestTooLarge()
        view = memoryview(buf)[:conn.budget]
        conn.sock.settimeout(left)
        try:
            n = conn.sock.recv_into(view)
        finally:
            conn.sock.settimeout(CLIENT_TIMEOUT_S)
        conn.budget -= n
        return n


class _Writer(io.RawIOBase):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sock.sendall(data)
        return len(data)


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        self.conn: _Conn = self.server.conn_of(self.request)  # type: ignore[attr-defined]
        self.connection = self.request
        self.connection.settimeout(CLIENT_TIMEOUT_S)
        self.rfile = io.BufferedReader(_DeadlineReader(self.conn), 8192)
        self.wfile = _Writer(self.connection)

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
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request():
                return
        except (TimeoutError, RequestTooLarge, ConnectionError):
            self.close_connection = True
            return  # slow or oversized: closed without a word
        self.conn.reading = False
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.conn.budget:
            self.send_error(413 if length > 0 else 400)
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                 multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


class _ServerHandler(ServerHandler):
    server_software = "torbox"

    def log_exception(self, exc_info: Any) -> None:
        if exc_info and isinstance(exc_info[1], (TimeoutError, RequestTooLarge, ConnectionError)):
            log.debug("request body did not arrive (in time)")
            return
        log.error("request failed", exc_info=exc_info)


# -- one listening socket ----------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server(WSGIServer):
    """One listening socket (one network), served by `serve()` in its own thread."""

    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, listener: Listener, app: Any) -> None:
        self.listener = listener
        self.ifindex: int | None = None  # the device index the socket is bound to
        self._slots = threading.BoundedSemaphore(MAX_THREADS)
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, _Conn] = {}
        self._per_client: dict[str, int] = {}
        self._closing = False
        super().__init__((listener.host, listener.port), _Handler, bind_and_activate=False)
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.socket.close()
            raise
        self.set_app(app)

    def server_bind(self) -> None:
        lst = self.listener
        try:
            self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        except OSError:
            pass
        if lst.device:
            self.ifindex = self._bind_device(lst.device)
        socketserver.TCPServer.server_bind(self)
        # HTTPServer.server_bind would call getfqdn(): a DNS lookup the router cannot do yet
        self.server_name = lst.host
        self.server_port = self.socket.getsockname()[1]
        self.setup_environ()

    def _bind_device(self, device: str) -> int:
        """Bind to the device's current ifindex and return it; never fall back to unbound."""
        for _ in range(5):
            idx = ifindex(device)
            if idx is None:
                raise DeviceMissing(errno.ENODEV, f"no device {device}")
            try:
                self.socket.setsockopt(socket.SOL_SOCKET, SO_BINDTOIFINDEX, struct.pack("i", idx))
                return idx
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    raise DeviceMissing(errno.ENODEV, f"no device {device}") from None
                if exc.errno != errno.ENOPROTOOPT:
                    raise
            # kernels before 5.0: by name, and the index read before and after must agree
            try:
                self.socket.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, device.encode() + b"\0")
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    raise DeviceMissing(errno.ENODEV, f"no device {device}") from None
                raise
            if ifindex(device) == idx:
                return idx
        raise OSError(errno.EAGAIN, f"{device} keeps changing")

    # -- connections -------------------------------------------------------------------------

    def conn_of(self, sock: socket.socket) -> _Conn:
        with self._lock:
            return self._conns[sock]

    def serve(self) -> None:
        """Accept until close(); blocks in accept() without a timeout while nobody comes."""
        while True:
            try:
                sock, addr = self.socket.accept()
            except OSError as exc:
                if self._closing:
                    break
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.2)  # out of descriptors or memory: do not spin
                continue
            try:
                self._admit(sock, addr)
            except Exception:
                log.exception("accepting a connection")
                sock.close()
        self.socket.close()

    def close(self) -> None:
        """Stop listening (from any thread): accept() in serve() returns and the socket goes.
        Connections being served finish on their own."""
        self._closing = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.socket.close()

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        client = addr[0]
        now = time.monotonic()
        limited = not _is_loopback(client)
        with self._lock:
            if limited and self._per_client.get(client, 0) >= MAX_PER_CLIENT:
                sock.close()  # this address already holds its share
                return
            conn = _Conn(sock, addr, now, now + HEADER_DEADLINE_S, limited)
            self._conns[sock] = conn
            if limited:
                self._per_client[client] = self._per_client.get(client, 0) + 1
        # all threads busy: make room by closing the connection that has waited longest for
        # its request; the wait here only happens while the server is full
        while not self._slots.acquire(timeout=0.25):
            self._evict_one()
        conn.running = True
        try:
            threading.Thread(target=self._run, args=(conn,), daemon=True,
                             name=f"http-{client}").start()
        except BaseException:
            self._forget(conn)
            raise

    def _evict_one(self) -> None:
        now = time.monotonic()
        with self._lock:
            waiting = [c for c in self._conns.values()
                       if c.reading and c.running and now - c.accepted >= EVICT_AFTER_S]
            victim = min(waiting, key=lambda c: c.accepted, default=None)
        if victim is not None:
            try:
                victim.sock.shutdown(socket.SHUT_RDWR)  # its recv returns: the thread ends
            except OSError:
                pass

    def _run(self, conn: _Conn) -> None:
        try:
            self.finish_request(conn.sock, conn.addr)
        except Exception:
            log.debug("connection error", exc_info=True)
        finally:
            self.shutdown_request(conn.sock)
            self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        with self._lock:
            if self._conns.pop(conn.sock, None) is None:
                return
            if conn.limited:
                client = conn.addr[0]
                left = self._per_client.get(client, 1) - 1
                if left > 0:
                    self._per_client[client] = left
                else:
                    self._per_client.pop(client, None)
        self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error", exc_info=True)


# -- every listener, following its device ------------------------------------------------------


class Service:
    """All listeners: serves each, and re-binds device-bound ones when their device changes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.listeners: list[Listener] = []
        self.servers: dict[int, Server] = {}  # index in self.listeners -> serving socket
        self.waiting: set[int] = set()  # device-bound listeners without a socket (device gone)
        self._lock = threading.Lock()
        self._netlink: socket.socket | None = None

    def start(self, listeners: list[Listener]) -> None:
        self.listeners = list(listeners)
        if any(lst.device for lst in self.listeners):
            # subscribe before binding: no change between the two can go unnoticed
            self._netlink = _link_events()
            if self._netlink is None:
                log.warning("no netlink link events: if a bridge is re-created, the page "
                            "answers there again only after a restart")
        for i in range(len(self.listeners)):
            self._check(i)
        if self._netlink is not None:
            threading.Thread(target=self._watch, name="link-watcher", daemon=True).start()

    @property
    def alive(self) -> bool:
        """Something is served, or waits for its device to appear."""
        return bool(self.servers) or (bool(self.waiting) and self._netlink is not None)

    def _watch(self) -> None:
        assert self._netlink is not None
        while True:
            try:
                self._netlink.recv(65536)  # blocks until a link changes; content not needed
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # ENOBUFS: events were lost; check anyway
                    log.error("link events: %s; re-created bridges need a restart now",
                              exc.strerror)
                    return
            for i, lst in enumerate(self.listeners):
                if lst.device:
                    self._check(i)

    def _check(self, i: int) -> None:
        """Make listener i's socket match its device: (re)bind when the ifindex changed."""
        lst = self.listeners[i]
        with self._lock:
            srv = self.servers.get(i)
            now = ifindex(lst.device) if lst.device else None
            if srv is not None and (lst.device is None or srv.ifindex == now):
                return
            if srv is not None:
                log.info("%s changed (ifindex %s -> %s): listening on it again",
                         lst.device, srv.ifindex, now if now is not None else "gone")
                srv.close()
                del self.servers[i]
            if lst.device and now is None:
                if i not in self.waiting:
                    log.info("waiting for device %s to listen on %s:%d%s", lst.device,
                             lst.host, lst.port, f" ({lst.network})" if lst.network else "")
                self.waiting.add(i)
                return
            try:
                srv = Server(lst, self.app)
            except DeviceMissing:
                self.waiting.add(i)
                return
            except OSError as exc:
                log.error("cannot listen on %s:%d%s: %s", lst.host, lst.port,
                          f" ({lst.device})" if lst.device else "", exc.strerror or exc)
                if lst.device:
                    self.waiting.add(i)  # try again when the device next changes
                return
            self.waiting.discard(i)
            self.servers[i] = srv
        threading.Thread(target=srv.serve, name=f"http-{lst.host}:{lst.port}",
                         daemon=True).start()
        log.info("listening on %s:%d%s%s", lst.host, srv.server_port,
                 f" ({lst.network})" if lst.network else "",
                 f" on {lst.device} (ifindex {srv.ifindex})" if lst.device else "")


def _link_events() -> socket.socket | None:
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except (OSError, AttributeError):
        return None
    try:
        nl.bind((0, RTMGRP_LINK))
    except OSError:
        nl.close()
        return None
    return nl


def serve(listeners: list[Listener], app: Any) -> Service:
    """Bind every listener and serve each in a daemon thread.

    The HTTP threads block in accept() without a timeout, instead of waking twice a second
    per network for nothing (socketserver's poll interval; measured: most of the idle page's
    CPU once the monitors had slowed down). The service simply exits on SIGTERM, which
    closes the sockets."""
    svc = Service(app)
    svc.start(listeners)
    return svc
