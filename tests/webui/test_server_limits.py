"""The HTTP server's bounds on loopback (a real `python3 -m webui` process, --listen).

The per-address bound and the bridge handling are tested in namespaces
(test_server_netns.py); here: the total request deadline and size bound, and that the
router itself (loopback: the demo, the benchmark's 50 clients) is not limited per address.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from webui import server

from .conftest import start_webui, stop_webui, uci_text


@pytest.fixture
def served(tmp_path):
    s = start_webui(tmp_path, uci_text(str(tmp_path / "no-tor" / "control")), ["tor_medium"])
    try:
        yield s
    finally:
        stop_webui(s)


def _port(served) -> int:
    return int(served.urls["tor_medium"].rsplit(":", 1)[1])


def _get(port: int, raw: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_trickling_headers_are_cut_at_the_deadline(served):
    port = _port(served)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"GET /torbox HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    closed_after = None
    try:
        while time.monotonic() - t0 < server.HEADER_DEADLINE_S + 5:
            try:
                s.sendall(b"a")
            except OSError:
                closed_after = time.monotonic() - t0
                break
            try:
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed_after = time.monotonic() - t0
                break
            time.sleep(0.3)
    finally:
        s.close()
    assert closed_after is not None, "a trickling client kept its connection"
    assert server.HEADER_DEADLINE_S - 0.5 < closed_after < server.HEADER_DEADLINE_S + 1.5


def test_oversized_request_is_refused(served):
    port = _port(served)
    body = b"x" * (server.MAX_REQUEST_BYTES + 1)
    resp = _get(port, b"POST /torbox/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n")
    assert resp.startswith(b"HTTP/1.0 413") or resp.startswith(b"HTTP/1.1 413"), resp[:80]
    # endless headers: the server stops reading once the request passes the size bound
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /torbox HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent, answer = 0, b""
        try:
            while sent < 4 * server.MAX_REQUEST_BYTES:
                s.sendall(b"X-Pad: " + b"p" * 1000 + b"\r\n")
                sent += 1009
            s.sendall(b"\r\n")
            while chunk := s.recv(65536):
                answer += chunk
        except OSError:
            pass  # reset: the server closed it
        assert not answer.startswith(b"HTTP/1.0 200"), "a request over the size bound was served"
    # the page still answers
    assert _get(port, b"GET /torbox HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").split()[1] == b"200"


def test_loopback_is_not_limited_per_address(served):
    port = _port(served)
    n = 3 * server.MAX_PER_CLIENT
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]
    results: list[bytes] = []
    lock = threading.Lock()

    def finish(s: socket.socket) -> None:
        s.sendall(b"GET /torbox/api/status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        with lock:
            results.append(data.split()[1])

    threads = [threading.Thread(target=finish, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [b"200"] * n
