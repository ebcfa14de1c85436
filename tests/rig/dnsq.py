"""Tiny DNS client for the tests: build one query, send it over UDP or TCP, parse the reply.

Runs inside a namespace through `Lab.call_in`, so it needs no resolver configuration.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
from dataclasses import dataclass, field

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
          "SRV": 33, "ANY": 255}


@dataclass
class Reply:
    rcode: int
    answers: list[tuple[int, str]] = field(default_factory=list)  # (type, value)

    @property
    def addresses(self) -> list[str]:
        return [v for t, v in self.answers if t in (1, 28)]


def build_query(name: str, qtype: str = "A", txid: int | None = None) -> bytes:
    txid = secrets.randbelow(65536) if txid is None else txid
    header = struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0)  # RD set
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return header + qname + struct.pack("!HH", QTYPES[qtype], 1)


def _skip_name(msg: bytes, off: int) -> int:
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1


def parse_reply(msg: bytes) -> Reply:
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    reply = Reply(flags & 0x0F)
    for _ in range(an):
        off = _skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off : off + 10])
        off += 10
        rdata = msg[off : off + rdlen]
        off += rdlen
        if rtype == 1 and rdlen == 4:
            reply.answers.append((1, str(ipaddress.IPv4Address(rdata))))
        elif rtype == 28 and rdlen == 16:
            reply.answers.append((28, str(ipaddress.IPv6Address(rdata))))
        else:
            reply.answers.append((rtype, rdata.hex()))
    return reply


def query_udp(server: str, name: str, qtype: str = "A", port: int = 53,
              timeout: float = 3) -> Reply | None:
    """None when nothing answered within `timeout`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(build_query(name, qtype), (server, port))
        data, _ = s.recvfrom(4096)
        return parse_reply(data)
    except (TimeoutError, ConnectionRefusedError):
        return None
    except OSError:
        return None
    finally:
        s.close()


def query_tcp(server: str, name: str, qtype: str = "A", port: int = 53,
              timeout: float = 3) -> Reply | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((server, port))
        q = build_query(name, qtype)
        s.sendall(struct.pack("!H", len(q)) + q)
        size = struct.unpack("!H", s.recv(2))[0]
        data = b""
        while len(data) < size:
            chunk = s.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return parse_reply(data)
    except (OSError, struct.error):
        return None
    finally:
        s.close()
