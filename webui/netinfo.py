"""Interface state and IPv4 addresses: netifaces when installed, else the kernel directly.

The OpenWrt feed dropped python3-netifaces in May 2025, so the fallback reads
/sys/class/net (link state, byte counters) and asks the kernel for addresses with the
same ioctls `ifconfig` uses. Both paths return the same shape.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

try:
    import netifaces  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the router's packages
    netifaces = None

SYS_NET = "/sys/class/net"
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B


def backend() -> str:
    return "netifaces" if netifaces is not None else "kernel"


def interfaces() -> list[str]:
    if netifaces is not None:
        return list(netifaces.interfaces())
    try:
        return sorted(os.listdir(SYS_NET))
    except OSError:
        return []


def _ioctl_addr(name: str, request: int) -> str | None:
    packed = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), request, packed)
        except OSError:
            return None  # no IPv4 address, or no such interface
    return socket.inet_ntoa(res[20:24])


def ipv4(name: str, use_netifaces: bool | None = None) -> list[dict[str, str]]:
    """[{'addr': ..., 'netmask': ...}] for the interface (empty when none or missing)."""
    if use_netifaces is None:
        use_netifaces = netifaces is not None
    if use_netifaces:
        try:
            found = netifaces.ifaddresses(name).get(netifaces.AF_INET, [])
        except ValueError:
            return []
        return [{"addr": a["addr"], "netmask": a.get("netmask", "")} for a in found]
    addr = _ioctl_addr(name, SIOCGIFADDR)
    if addr is None:
        return []
    return [{"addr": addr, "netmask": _ioctl_addr(name, SIOCGIFNETMASK) or ""}]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def link(name: str) -> dict[str, object]:
    """Link state and byte counters from /sys (present on every Linux, with or without netifaces)."""
    base = f"{SYS_NET}/{name}"
    oper = _read(f"{base}/operstate")
    carrier = _read(f"{base}/carrier")
    rx = _read(f"{base}/statistics/rx_bytes")
    tx = _read(f"{base}/statistics/tx_bytes")
    exists = oper is not None
    # Virtual links (veth, bridges, tun) often say "unknown" while passing traffic.
    up = exists and (oper == "up" or (oper == "unknown" and carrier == "1"))
    return {
        "exists": exists,
        "up": bool(up),
        "rx_bytes": int(rx) if rx and rx.isdigit() else None,
        "tx_bytes": int(tx) if tx and tx.isdigit() else None,
    }


def default_route_dev(path: str = "/proc/net/route") -> str | None:
    """The device of the IPv4 default route, if any."""
    try:
        with open(path) as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[1] == "00000000" and int(parts[3], 16) & 1:
                    return parts[0]
    except OSError:
        pass
    return None
