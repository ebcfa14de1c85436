"""Value types of /etc/config/torbox: each turns a UCI string into a typed value or says
what is wrong.

Patterns are whole-string matches (`re.fullmatch`): `re.match("^…$")` let a final newline
through (`$` matches before it), and a device named 'br-tor_medium\\n' matched no real
interface, so the rules for it never applied. Control characters are refused for every
option before any parser runs (options.read_section); no value type needs them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# C0 controls, DEL, C1 controls (U+0085 is a line break to many readers) and the Unicode line
# and paragraph separators: each can end a line in some program that reads a generated file.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Tor hands out .onion addresses from here (VirtualAddrNetworkIPv4); no subnet may overlap it.
VIRTUAL_NET = ipaddress.IPv4Network("10.192.0.0/10")
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# Why a subnet outside RFC 1918 is refused (first match wins; anything else is public).
NOT_PRIVATE = tuple((ipaddress.IPv4Network(n), why) for n, why in (
    ("0.0.0.0/8", '"this network", RFC 1122'),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("100.64.0.0/10", "carrier-grade NAT shared space, RFC 6598: uplinks use it"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, with the broadcast address"),
))
ENCRYPTIONS = ("psk2", "sae", "sae-mixed", "psk-mixed", "none")
BRIDGE_TRANSPORTS = ("obfs4", "snowflake", "webtunnel")
TRUE = ("1", "yes", "on", "true", "enabled")
FALSE = ("0", "no", "off", "false", "disabled")


@dataclass(frozen=True)
class Kind:
    """A value type: `parse(text)` returns the value or raises ValueError(what is wrong), or
    ValueError(what is wrong, what is allowed) when that is narrower than `allowed`."""

    parse: Callable[[str], Any]
    doc: str  # the README's "type" column
    allowed: str  # added to a refusal that does not say itself what is allowed


def _fullmatch(pattern: str, what: str, doc: str, allowed: str) -> Kind:
    compiled = re.compile(pattern)

    def parse(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return Kind(parse, doc, allowed)


def _bool(value: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean")


BOOL = Kind(_bool, "bool", "0 or 1")


def int_range(lo: int, hi: int, doc: str = "number") -> Kind:
    def parse(value: str) -> int:
        if not re.fullmatch(r"[0-9]{1,10}", value) or not lo <= int(value) <= hi:
            raise ValueError(f"{value!r} is not a whole number from {lo} to {hi}")
        return int(value)

    return Kind(parse, doc, f"{lo} to {hi}")


PORT = int_range(1, 65535, "port")


def choice(*allowed: str) -> Kind:
    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not allowed")
        return value

    return Kind(parse, r"\|".join(f"`{a}`" for a in allowed), ", ".join(allowed))


def _ssid(value: str) -> str:
    size = len(value.encode("utf-8"))
    if not 1 <= size <= 32:
        raise ValueError(f"SSID is {size} bytes long")
    return value


# Any UTF-8 but control characters; hostapd.conf gets non-plain ones as hex (render_linux).
SSID = Kind(_ssid, "1–32 bytes UTF-8", "1 to 32 bytes (UTF-8), no control characters")


def _key(value: str) -> str:
    if value == "" or re.fullmatch(r"[0-9A-Fa-f]{64}", value):
        return value  # empty: checked against the encryption (checks.py)
    if not 8 <= len(value) <= 63 or not all(32 <= ord(c) <= 126 for c in value):
        raise ValueError(f"key is {len(value)} characters")
    return value


KEY = Kind(_key, "8–63 printable ASCII or 64 hex",
           "8 to 63 printable ASCII characters (or 64 hex digits with psk2/psk-mixed)")


def _not_private(net: ipaddress.IPv4Network) -> str | None:
    """Why `net` is not an RFC 1918 subnet, or None when it is one."""
    if any(net.subnet_of(r) for r in RFC1918):
        return None
    return next((why for block, why in NOT_PRIVATE if net.overlaps(block)), "public")


def _subnet(value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 subnet ({exc})", "a network like 192.168.9.0/24"
        ) from None
    if not 16 <= net.prefixlen <= 29:
        raise ValueError(f"prefix /{net.prefixlen} not allowed", "/16 to /29")
    why = _not_private(net)
    if why:
        raise ValueError(f"{net} is not a private range ({why})")
    if net.overlaps(VIRTUAL_NET):
        raise ValueError(
            f"{net} overlaps Tor's virtual address range {VIRTUAL_NET} (.onion addresses)",
            "a subnet outside it")
    return net


SUBNET = Kind(_subnet, "RFC 1918 IPv4 subnet, /16–/29",
              "RFC 1918 subnets: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")


def _address(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


ADDRESS = Kind(_address, "IPv4 host address in `subnet`", "e.g. 192.168.9.1")


def _wan_subnet(value: str) -> ipaddress.IPv4Network | None:
    if value == "":
        return None
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 subnet") from None


WAN_SUBNET = Kind(_wan_subnet, "IPv4 subnet", "e.g. 192.168.1.0/24, or empty")

DEVICE = _fullmatch(r"[A-Za-z0-9_.-]{1,15}", "a Linux interface name", "interface name (≤ 15)",
                    "1 to 15 of A-Z a-z 0-9 _ . -")
UCI_NAME = _fullmatch(r"[A-Za-z0-9_]{1,64}", "a UCI name", "UCI name",
                      "1 to 64 letters, digits and _")
COUNTRY = _fullmatch(r"[A-Z]{2}", "a country code", "two capitals",
                     "two capital letters, e.g. DE")
LEASE = _fullmatch(r"[0-9]{1,9}[smhd]?|infinite", "a lease time", "e.g. `12h`",
                   "e.g. 12h, 30m, 3600, infinite")
NICKNAME = _fullmatch(r"[A-Za-z0-9]{1,19}", "a relay nickname", "1–19 letters/digits",
                      "1 to 19 letters or digits")
# Paths go into torrc (DataDirectory, `ControlPort unix:PATH`, `exec PATH`) where a space
# splits words, `#` starts a comment and `"` or `\` start escapes: none of them is allowed.
PATH = _fullmatch(r"/[A-Za-z0-9_.+/-]*", "an absolute path of plain characters",
                  "absolute path (A–Z a–z 0–9 `_ . + - /`)",
                  "an absolute path of A-Z a-z 0-9 _ . + - /")


def _node(value: str) -> str:
    if re.fullmatch(r"\{[A-Za-z]{2}\}", value):
        return value.lower()
    if re.fullmatch(r"\$?[0-9A-Fa-f]{40}", value):
        return value
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a Tor node spec") from None
    return value


NODE = Kind(_node, "`{cc}`, fingerprint, IPv4/prefix",
            "{cc} country code, a 40-hex fingerprint, or an IPv4 address/prefix")


def _bridge_address(word: str) -> None:
    host, _, port = word.rpartition(":")
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
        PORT.parse(port)
    except ValueError:
        raise ValueError(f"bridge address {word!r} is not IP:PORT") from None


def _bridge_arguments(words: list[str], transport: str | None) -> None:
    """`[FINGERPRINT] [key=value ...]` after the address."""
    if words and "=" not in words[0]:
        if not re.fullmatch(r"[0-9A-Fa-f]{40}", words[0]):
            raise ValueError(f"bridge fingerprint {words[0]!r} is not 40 hex digits")
        words = words[1:]
    bad = next((w for w in words if not re.fullmatch(r"[A-Za-z0-9_-]+=\S*", w)), None)
    if bad is not None:
        raise ValueError(f"bridge argument {bad!r} is not key=value")
    if words and transport is None:
        raise ValueError("bridge arguments without a transport")


def _bridge(value: str) -> str:
    """`[transport] IP:PORT [FINGERPRINT] [key=value ...]` as in torrc's Bridge line; returned
    with single spaces, the way tor reads it back."""
    bad = next((c for c in '#"\\' if c in value), None)
    if bad:
        raise ValueError(f"{value!r} contains {bad!r} (torrc reads it as a comment or escape)")
    words = value.split()
    transport = words.pop(0) if words and words[0] in BRIDGE_TRANSPORTS else None
    if not words:
        raise ValueError("empty bridge line")
    _bridge_address(words[0])
    _bridge_arguments(words[1:], transport)
    return " ".join(([transport] if transport else []) + words)


BRIDGE = Kind(_bridge, "`[obfs4\\|snowflake\\|webtunnel] IP:PORT [FINGERPRINT] [k=v …]`",
              "[obfs4|snowflake|webtunnel] IP:PORT [FINGERPRINT 40 hex] [key=value ...]")


def _one_line(value: str) -> str:
    if not value.isprintable():
        raise ValueError(f"{value!r} is not printable")
    return value


ONE_LINE = Kind(_one_line, "one line", "one line of printable characters")
