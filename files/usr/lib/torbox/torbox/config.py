"""The typed model of /etc/config/torbox: the one place for every default.

`load()` parses the UCI file and validates every option. All problems are
collected and raised together as ConfigError, each as `file:line: message`
naming what is allowed, so a user fixes everything in one go.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import uci

DEFAULT_PATH = "/etc/config/torbox"

NETWORK_NAMES = ("tor_off", "tor_medium", "tor_max")
MODES = {"tor_off": "off", "tor_medium": "medium", "tor_max": "max"}
# Tor hands out .onion addresses from here (VirtualAddrNetworkIPv4); no subnet may overlap it.
VIRTUAL_NET = ipaddress.IPv4Network("10.192.0.0/10")
ENCRYPTIONS = ("psk2", "sae", "sae-mixed", "psk-mixed", "none")
TRUE = ("1", "yes", "on", "true", "enabled")
FALSE = ("0", "no", "off", "false", "disabled")
DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
NODE_RE = re.compile(r"^(\{[a-z]{2}\}|\$?[0-9A-Fa-f]{40}|[0-9.]+(/[0-9]{1,2})?)$")
FINGERPRINT_RE = re.compile(r"^[0-9A-Fa-f]{40}$")
BRIDGE_TRANSPORTS = ("obfs4", "snowflake", "webtunnel")


class ConfigError(Exception):
    """Every problem found in a configuration, each `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# Parsers: turn a UCI string into a typed value or raise ValueError(what is allowed).


def _bool(value: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean; allowed: 0 or 1")


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"[0-9]+", value) or not lo <= int(value) <= hi:
            raise ValueError(f"{value!r} is not a whole number from {lo} to {hi}")
        return int(value)

    return parse


_port = _int_range(1, 65535)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
        return value

    return parse


def _ssid(value: str) -> str:
    size = len(value.encode("utf-8"))
    if not 1 <= size <= 32:
        raise ValueError(f"SSID is {size} bytes long; allowed: 1 to 32 bytes (UTF-8)")
    return value


def _key(value: str) -> str:
    if value == "":
        return value  # checked against the encryption later
    if re.fullmatch(r"[0-9A-Fa-f]{64}", value):
        return value
    if not 8 <= len(value) <= 63 or not all(32 <= ord(c) <= 126 for c in value):
        raise ValueError(
            f"key is {len(value)} characters; allowed: 8 to 63 printable ASCII characters"
            " (or 64 hex digits)"
        )
    return value


def _subnet(value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 subnet ({exc}); allowed: a network like 192.168.9.0/24"
        ) from None
    if not 16 <= net.prefixlen <= 29:
        raise ValueError(f"prefix /{net.prefixlen} not allowed; allowed: /16 to /29")
    if not net.is_private:
        raise ValueError(f"{value} is not a private range; allowed: RFC 1918 subnets")
    return net


def _address(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address; allowed: e.g. 192.168.9.1") from None


def _device(value: str) -> str:
    if not DEVICE_RE.match(value):
        raise ValueError(
            f"{value!r} is not a Linux interface name; allowed: 1 to 15 of A-Z a-z 0-9 _ . -"
        )
    return value


def _uci_name(value: str) -> str:
    if not uci.NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a UCI name; allowed: letters, digits and _")
    return value


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\n" in value or " " in value:
        raise ValueError(f"{value!r} is not an absolute path without spaces")
    return value


def _lease(value: str) -> str:
    if not re.fullmatch(r"[0-9]+[smhd]?|infinite", value):
        raise ValueError(f"{value!r} is not a lease time; allowed: e.g. 12h, 30m, 3600")
    return value


def _node(value: str) -> str:
    if not NODE_RE.match(value):
        raise ValueError(
            f"{value!r} is not a Tor node spec; allowed: {{cc}} country code, a 40-hex"
            " fingerprint, or an IPv4 address/prefix"
        )
    return value.lower() if value.startswith("{") else value


def _country(value: str) -> str:
    if not COUNTRY_RE.match(value):
        raise ValueError(f"{value!r} is not a country code; allowed: two capital letters, e.g. DE")
    return value


def _bridge(value: str) -> str:
    """`[transport] IP:PORT [FINGERPRINT] [args]` as in torrc's Bridge line."""
    words = value.split()
    if words and words[0] in BRIDGE_TRANSPORTS:
        words = words[1:]
    if not words:
        raise ValueError("empty bridge line; allowed: [obfs4|snowflake|webtunnel] IP:PORT [FP] ...")
    host, _, port = words[0].rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        _port(port)
    except ValueError:
        raise ValueError(
            f"bridge address {words[0]!r} is not IP:PORT; allowed: "
            "[obfs4|snowflake|webtunnel] IP:PORT [FINGERPRINT] [key=value ...]"
        ) from None
    if len(words) > 1 and "=" not in words[1] and not FINGERPRINT_RE.match(words[1]):
        raise ValueError(f"bridge fingerprint {words[1]!r} is not 40 hex digits")
    if "\n" in value:
        raise ValueError("bridge line contains a newline")
    return value


def _nickname(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]{1,19}", value):
        raise ValueError(f"{value!r} is not a relay nickname; allowed: 1 to 19 letters or digits")
    return value


def _one_line(value: str) -> str:
    if "\n" in value or not value.isprintable():
        raise ValueError("contains a newline or control character; allowed: one printable line")
    return value


def _wan_subnet(value: str) -> ipaddress.IPv4Network | None:
    if value == "":
        return None
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 subnet; allowed: e.g. 192.168.1.0/24") from None


def _size_mb(value: str) -> int:
    return _int_range(4, 1024)(value)


# The schema: per section, option -> (parser, default, is_list). One place for every default.
Spec = tuple[Callable[[str], Any], str | None, bool]

MAIN_SCHEMA: dict[str, Spec] = {
    "enabled": (_bool, "1", False),
    "wan_interface": (_uci_name, "wan", False),  # OpenWrt network name of the uplink
    "wan_device": (_device, "eth0", False),  # its Linux device (nftables matches on it)
    "wan_subnet": (_wan_subnet, "", False),  # optional: refuse subnets that overlap it
    "radio": (_uci_name, "radio0", False),
    "country": (_country, "DE", False),
    "wired": (_choice("tor_off", "tor_medium", "tor_max", "none"), "tor_off", False),
    "wired_port": (_device, None, True),
}

NETWORK_DEFAULTS = {
    "tor_off": {"subnet": "192.168.8.0/24", "router": "192.168.8.1", "device": "br-lan",
                "interface": "lan", "admin": "1"},
    "tor_medium": {"subnet": "192.168.9.0/24", "router": "192.168.9.1",
                   "device": "br-tor_medium", "interface": "tor_medium", "admin": "0"},
    "tor_max": {"subnet": "192.168.10.0/24", "router": "192.168.10.1",
                "device": "br-tor_max", "interface": "tor_max", "admin": "0"},
}


def network_schema(name: str) -> dict[str, Spec]:
    d = NETWORK_DEFAULTS[name]
    return {
        "enabled": (_bool, "1", False),
        "ssid": (_ssid, name, False),
        "encryption": (_choice(*ENCRYPTIONS), "psk2", False),
        "key": (_key, "", False),
        "hidden": (_bool, "0", False),
        "subnet": (_subnet, d["subnet"], False),
        "router": (_address, d["router"], False),
        "device": (_device, d["device"], False),
        "interface": (_uci_name, d["interface"], False),
        "admin": (_bool, d["admin"], False),
        "dhcp_start": (_int_range(1, 65533), "100", False),
        "dhcp_limit": (_int_range(1, 65533), "100", False),
        "lease_time": (_lease, "12h", False),
    }


TOR_SCHEMA: dict[str, Spec] = {
    "trans_port": (_port, "9040", False),
    "dns_port": (_port, "9053", False),
    "socks_port": (_port, "9050", False),
    "control_socket": (_abs_path, "/var/run/tor/control", False),
    "data_dir": (_abs_path, "/var/lib/tor", False),
    "avoid_disk_writes": (_bool, "1", False),
    "max_mem_in_queues": (_size_mb, "16", False),  # MB; Tor's default is far above 64 MB RAM
    "use_bridges": (_bool, "0", False),
    "bridge": (_bridge, None, True),
    "obfs4_binary": (_abs_path, "/usr/bin/lyrebird", False),
    "snowflake_binary": (_abs_path, "/usr/bin/snowflake-client", False),
    "exclude_nodes": (_node, None, True),
    "exclude_exit_nodes": (_node, None, True),
    "strict_nodes": (_bool, "0", False),
    "relay_mode": (_choice("off", "bridge", "relay"), "off", False),
    "relay_port": (_port, "9001", False),
    "relay_rate_kb": (_int_range(20, 1_000_000), "100", False),
    "relay_burst_kb": (_int_range(20, 1_000_000), "200", False),
    "relay_nickname": (_nickname, "torbox", False),
    "relay_contact": (_one_line, "", False),
}

WEBUI_SCHEMA: dict[str, Spec] = {
    "enabled": (_bool, "1", False),
    "port": (_port, "8480", False),  # nft redirects port 80 here on non-admin networks
    "refresh_s": (_int_range(0, 3600), "5", False),
}

SCHEMAS: dict[tuple[str, str], dict[str, Spec]] = {
    ("torbox", "main"): MAIN_SCHEMA,
    ("tor", "tor"): TOR_SCHEMA,
    ("webui", "webui"): WEBUI_SCHEMA,
    **{("network", n): network_schema(n) for n in NETWORK_NAMES},
}


@dataclass
class Network:
    name: str
    mode: str  # off | medium | max
    enabled: bool
    ssid: str
    encryption: str
    key: str
    hidden: bool
    subnet: ipaddress.IPv4Network
    router: ipaddress.IPv4Address
    device: str
    interface: str
    admin: bool
    dhcp_start: int
    dhcp_limit: int
    lease_time: str

    @property
    def is_tor(self) -> bool:
        return self.mode != "off"

    @property
    def netmask(self) -> str:
        return str(self.subnet.netmask)

    @property
    def dhcp_range(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        first = self.subnet.network_address + self.dhcp_start
        return first, first + self.dhcp_limit - 1


@dataclass
class Main:
    enabled: bool
    wan_interface: str
    wan_device: str
    wan_subnet: ipaddress.IPv4Network | None
    radio: str
    country: str
    wired: str
    wired_port: list[str]


@dataclass
class Tor:
    trans_port: int
    dns_port: int
    socks_port: int
    control_socket: str
    data_dir: str
    avoid_disk_writes: bool
    max_mem_in_queues: int
    use_bridges: bool
    bridge: list[str]
    obfs4_binary: str
    snowflake_binary: str
    exclude_nodes: list[str]
    exclude_exit_nodes: list[str]
    strict_nodes: bool
    relay_mode: str
    relay_port: int
    relay_rate_kb: int
    relay_burst_kb: int
    relay_nickname: str
    relay_contact: str


@dataclass
class Webui:
    enabled: bool
    port: int
    refresh_s: int


@dataclass
class Config:
    path: str
    main: Main
    networks: dict[str, Network]
    tor: Tor
    webui: Webui
    source: uci.UciFile | None = field(default=None, repr=False)

    @property
    def tor_networks(self) -> list[Network]:
        return [n for n in self.networks.values() if n.is_tor and n.enabled]

    @property
    def enabled_networks(self) -> list[Network]:
        return [n for n in self.networks.values() if n.enabled]

    def network_of(self, address: str) -> Network | None:
        """The network a client address belongs to (for the status page)."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return None
        for net in self.networks.values():
            if ip in net.subnet:
                return net
        return None


def _read_section(
    sec: uci.Section | None, schema: dict[str, Spec], where: str, path: str,
    problems: list[str],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if sec is not None:
        for name in sec.names():
            if name not in schema:
                problems.append(
                    f"{path}:{sec.option_line(name)}: {where}: unknown option {name!r}; "
                    f"allowed: {', '.join(sorted(schema))}"
                )
    for name, (parser, default, is_list) in schema.items():
        line = sec.option_line(name) if sec is not None else 0
        if is_list:
            raw = sec.get_list(name) if sec is not None else []
            out = []
            for item in raw:
                try:
                    out.append(parser(item))
                except ValueError as exc:
                    problems.append(f"{path}:{line}: {where}.{name}: {exc}")
            values[name] = out
            continue
        if sec is not None and len(sec.get_list(name)) > 1:
            problems.append(f"{path}:{line}: {where}.{name}: given as a list; allowed: one value")
        raw_value = sec.get(name) if sec is not None else None
        if raw_value is None:
            raw_value = sec.get_list(name)[0] if sec is not None and sec.get_list(name) else None
        value = default if raw_value is None else raw_value
        try:
            values[name] = parser(value)
        except ValueError as exc:
            problems.append(f"{path}:{line}: {where}.{name}: {exc}")
            values[name] = None
    return values


def from_uci(doc: uci.UciFile) -> Config:
    """Build and validate the model. Raises ConfigError listing every problem."""
    path = doc.path
    problems: list[str] = []
    seen: dict[tuple[str, str], uci.Section] = {}
    for sec in doc.sections:
        key = (sec.type, sec.name or "")
        if key not in SCHEMAS:
            allowed = ", ".join(f"config {t} '{n}'" for t, n in SCHEMAS)
            label = f"config {sec.type}" + (f" '{sec.name}'" if sec.name else "")
            problems.append(f"{path}:{sec.line}: unknown section {label}; allowed: {allowed}")
            continue
        seen[key] = sec

    def section(type_: str, name: str) -> dict[str, Any]:
        where = name if type_ != "torbox" else "main"
        return _read_section(seen.get((type_, name)), SCHEMAS[(type_, name)], where, path, problems)

    main_v = section("torbox", "main")
    tor_v = section("tor", "tor")
    web_v = section("webui", "webui")
    net_v = {n: section("network", n) for n in NETWORK_NAMES}
    lines = {n: seen[("network", n)] for n in NETWORK_NAMES if ("network", n) in seen}

    def line_of(net: str, opt: str) -> int:
        sec = lines.get(net)
        return sec.option_line(opt) if sec else 0

    # Cross-field rules, only where the fields themselves parsed.
    for name, v in net_v.items():
        if v["subnet"] is not None and v["router"] is not None:
            net = v["subnet"]
            if v["router"] not in net or v["router"] in (net.network_address, net.broadcast_address):
                problems.append(
                    f"{path}:{line_of(name, 'router')}: {name}.router: {v['router']} is not a host "
                    f"address in {net}; allowed: {net[1]} to {net[-2]}"
                )
        if v["subnet"] is not None and v["dhcp_start"] and v["dhcp_limit"]:
            hosts = v["subnet"].num_addresses - 2
            if v["dhcp_start"] + v["dhcp_limit"] - 1 > hosts:
                problems.append(
                    f"{path}:{line_of(name, 'dhcp_limit')}: {name}: DHCP range start "
                    f"{v['dhcp_start']} + limit {v['dhcp_limit']} runs past the end of "
                    f"{v['subnet']}; allowed: start + limit - 1 <= {hosts}"
                )
            elif v["router"] is not None and v["router"] in v["subnet"]:
                offset = int(v["router"]) - int(v["subnet"].network_address)
                if v["dhcp_start"] <= offset < v["dhcp_start"] + v["dhcp_limit"]:
                    problems.append(
                        f"{path}:{line_of(name, 'dhcp_start')}: {name}: DHCP range includes the "
                        f"router address {v['router']}; allowed: a range that leaves it out"
                    )
        if v["encryption"] not in (None, "none") and v["key"] == "":
            problems.append(
                f"{path}:{line_of(name, 'key')}: {name}.key: empty, but encryption is "
                f"{v['encryption']}; allowed: 8 to 63 printable ASCII characters "
                "(the package's first-boot script generates one)"
            )
        if v["encryption"] == "none" and v["key"]:
            problems.append(
                f"{path}:{line_of(name, 'key')}: {name}.key: set, but encryption is none; "
                "allowed: no key with encryption none"
            )
    names = list(NETWORK_NAMES)
    for i, a in enumerate(names):
        sa = net_v[a]["subnet"]
        if sa is None:
            continue
        if sa.overlaps(VIRTUAL_NET):
            problems.append(
                f"{path}:{line_of(a, 'subnet')}: {a}.subnet: {sa} overlaps Tor's virtual address "
                f"range {VIRTUAL_NET} (.onion addresses); allowed: a subnet outside it"
            )
        wan = main_v.get("wan_subnet")
        if wan is not None and sa.overlaps(wan):
            problems.append(
                f"{path}:{line_of(a, 'subnet')}: {a}.subnet: {sa} overlaps the WAN subnet {wan}; "
                "allowed: a subnet that does not"
            )
        for b in names[i + 1:]:
            sb = net_v[b]["subnet"]
            if sb is not None and sa.overlaps(sb):
                problems.append(
                    f"{path}:{line_of(b, 'subnet')}: {b}.subnet: {sb} overlaps {a}.subnet {sa}; "
                    "allowed: subnets that do not overlap"
                )
    for field_ in ("device", "interface", "ssid"):
        owner: dict[str, str] = {}
        for name in names:
            value = net_v[name][field_]
            if value is None:
                continue
            if value in owner:
                problems.append(
                    f"{path}:{line_of(name, field_)}: {name}.{field_}: {value!r} is also "
                    f"{owner[value]}'s; allowed: a different {field_} per network"
                )
            owner[value] = name
    if main_v.get("wan_device") is not None and main_v["wan_device"] in {
        net_v[n]["device"] for n in names
    }:
        problems.append(
            f"{path}:0: main.wan_device: {main_v['wan_device']!r} is also a network's device; "
            "allowed: the uplink's own device"
        )
    ports = {
        "tor.trans_port": tor_v["trans_port"],
        "tor.dns_port": tor_v["dns_port"],
        "tor.socks_port": tor_v["socks_port"],
        "webui.port": web_v["port"],
    }
    if tor_v["relay_mode"] not in (None, "off"):
        ports["tor.relay_port"] = tor_v["relay_port"]
    reserved = {22: "SSH", 53: "DNS", 67: "DHCP", 68: "DHCP client", 443: "LuCI HTTPS"}
    by_port: dict[int, str] = {}
    for label, port in ports.items():
        if port is None:
            continue
        sec_name, opt = label.split(".")
        sec = seen.get(("tor", "tor") if sec_name == "tor" else ("webui", "webui"))
        line = sec.option_line(opt) if sec else 0
        if port in reserved:
            problems.append(
                f"{path}:{line}: {label}: port {port} is the router's {reserved[port]} port; "
                "allowed: a port no router service uses"
            )
        if port == 80 and label != "webui.port":
            problems.append(f"{path}:{line}: {label}: port 80 is the web interface's port")
        if port in by_port:
            problems.append(
                f"{path}:{line}: {label}: port {port} is also {by_port[port]}; "
                "allowed: a different port for each service"
            )
        by_port[port] = label
    if tor_v["use_bridges"] and not tor_v["bridge"]:
        problems.append(
            f"{path}:0: tor.use_bridges: 1 but no `list bridge` lines; allowed: add bridges or set 0"
        )
    if tor_v["use_bridges"] and tor_v["relay_mode"] not in (None, "off"):
        sec = seen.get(("tor", "tor"))
        problems.append(
            f"{path}:{sec.option_line('relay_mode') if sec else 0}: tor.relay_mode: "
            f"{tor_v['relay_mode']} while use_bridges is 1; Tor refuses to relay through "
            "bridges; allowed: relay_mode off, or use_bridges 0"
        )
    if problems:
        raise ConfigError(problems)

    networks = {n: Network(name=n, mode=MODES[n], **net_v[n]) for n in NETWORK_NAMES}
    return Config(
        path=path,
        main=Main(**main_v),
        networks=networks,
        tor=Tor(**tor_v),
        webui=Webui(**web_v),
        source=doc,
    )


def load(path: str = DEFAULT_PATH) -> Config:
    """Read and validate a config file. Raises ConfigError (syntax errors included)."""
    try:
        doc = uci.load(path)
    except uci.UciSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    except OSError as exc:
        raise ConfigError([f"{path}:0: cannot read: {exc.strerror}"]) from None
    return from_uci(doc)


def loads(text: str, path: str = "<memory>") -> Config:
    try:
        doc = uci.parse(text, path)
    except uci.UciSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    return from_uci(doc)
