"""A small, dependency-free reader for tcpdump's pcap files (Ethernet link type).

It decodes just what the leak detector needs (addresses, ports, protocol, TCP flags,
fragments, ICMP types) and tolerates a file that tcpdump is still writing.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
IPPROTO = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp"}
IPV6_EXT = {0, 43, 60, 51}  # hop-by-hop, routing, destination options, AH
TCP_FLAGS = "FSRPAUEC"


@dataclass(frozen=True)
class Packet:
    ts: float
    ethertype: int
    proto: str  # tcp, udp, icmp, icmp6, arp, ... or "ip:<n>"
    src: str = ""
    dst: str = ""
    sport: int = 0
    dport: int = 0
    flags: str = ""  # TCP flags, e.g. "SA" or "FA"
    icmp_type: int = -1
    fragment: bool = False  # a non-first fragment: no transport header
    length: int = 0
    payload: bytes = b""  # first bytes of the transport payload (snaplen-limited)

    @property
    def family(self) -> int:
        return {ETH_IPV4: 4, ETH_IPV6: 6}.get(self.ethertype, 0)

    def __str__(self) -> str:
        ports = f":{self.sport} > {self.dst}:{self.dport}" if self.sport or self.dport else \
            f" > {self.dst}"
        extra = f" [{self.flags}]" if self.flags else ""
        extra += f" type {self.icmp_type}" if self.icmp_type >= 0 else ""
        extra += " frag" if self.fragment else ""
        return f"{self.proto} {self.src}{ports}{extra} len {self.length}"


def read_pcap(path: str | Path) -> Iterator[Packet]:
    with open(path, "rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            return
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise ValueError(f"{path}: not a pcap file")
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        if linktype != 1:
            raise ValueError(f"{path}: link type {linktype}, expected Ethernet")
        rec = struct.Struct(endian + "IIII")
        while True:
            hdr = fh.read(16)
            if len(hdr) < 16:
                return  # end, or tcpdump is mid-write
            sec, frac, incl, orig = rec.unpack(hdr)
            data = fh.read(incl)
            if len(data) < incl:
                return
            ts = sec + frac / (1e9 if nano else 1e6)
            yield decode_ethernet(ts, data, orig)


def decode_ethernet(ts: float, data: bytes, length: int) -> Packet:
    if len(data) < 14:
        return Packet(ts, 0, "short", length=length)
    ethertype = struct.unpack("!H", data[12:14])[0]
    off = 14
    while ethertype == ETH_VLAN and len(data) >= off + 4:
        ethertype = struct.unpack("!H", data[off + 2 : off + 4])[0]
        off += 4
    body = data[off:]
    if ethertype == ETH_IPV4:
        return _ipv4(ts, body, length)
    if ethertype == ETH_IPV6:
        return _ipv6(ts, body, length)
    if ethertype == ETH_ARP:
        return Packet(ts, ethertype, "arp", length=length)
    return Packet(ts, ethertype, f"eth:{ethertype:04x}", length=length)


def _ipv4(ts: float, b: bytes, length: int) -> Packet:
    if len(b) < 20:
        return Packet(ts, ETH_IPV4, "ipv4-short", length=length)
    ihl = (b[0] & 0x0F) * 4
    frag_field = struct.unpack("!H", b[6:8])[0]
    frag_off = frag_field & 0x1FFF
    proto = b[9]
    src = str(ipaddress.IPv4Address(b[12:16]))
    dst = str(ipaddress.IPv4Address(b[16:20]))
    return _transport(ts, ETH_IPV4, proto, src, dst, b[ihl:], frag_off != 0, length)


def _ipv6(ts: float, b: bytes, length: int) -> Packet:
    if len(b) < 40:
        return Packet(ts, ETH_IPV6, "ipv6-short", length=length)
    nxt = b[6]
    src = str(ipaddress.IPv6Address(b[8:24]))
    dst = str(ipaddress.IPv6Address(b[24:40]))
    off = 40
    fragment = False
    while True:
        if nxt in IPV6_EXT and len(b) >= off + 2:
            size = (b[off + 1] + 2) * 4 if nxt == 51 else (b[off + 1] + 1) * 8
            nxt, off = b[off], off + size
        elif nxt == 44 and len(b) >= off + 8:  # fragment header
            frag_off = struct.unpack("!H", b[off + 2 : off + 4])[0] >> 3
            fragment = fragment or frag_off != 0
            nxt, off = b[off], off + 8
        else:
            break
    return _transport(ts, ETH_IPV6, nxt, src, dst, b[off:], fragment, length)


def _transport(
    ts: float, eth: int, proto: int, src: str, dst: str, t: bytes, fragment: bool, length: int
) -> Packet:
    name = IPPROTO.get(proto, f"ip:{proto}")
    if fragment:
        return Packet(ts, eth, name, src, dst, fragment=True, length=length)
    if proto in (6, 17, 132) and len(t) >= 4:
        sport, dport = struct.unpack("!HH", t[:4])
        flags = ""
        payload = t[8:]
        if proto == 6 and len(t) >= 14:
            flags = "".join(c for i, c in enumerate(TCP_FLAGS) if t[13] & (1 << i))
            payload = t[(t[12] >> 4) * 4 :]
        return Packet(ts, eth, name, src, dst, sport, dport, flags, length=length,
                      payload=payload[:64])
    if proto in (1, 58) and t:
        return Packet(ts, eth, name, src, dst, icmp_type=t[0], length=length)
    return Packet(ts, eth, name, src, dst, length=length)
