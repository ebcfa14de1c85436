"""The typed model of /etc/config/torbox: the one place for every option and default.

Each option is declared once, as a field of its section's dataclass carrying its value type
(kinds.py), default and help text (options.py); the README's configuration tables are
generated from these declarations. `load()` reads the file, parses every option, then runs
the cross-field rules (checks.py). All problems are collected and raised together as
ConfigError, each as `file:line: what is wrong; allowed: …`, so a user fixes everything in
one go.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from . import checks, uci
from .kinds import (
    ADDRESS,
    BOOL,
    BRIDGE,
    COUNTRY,
    DEVICE,
    ENCRYPTIONS,
    KEY,
    LEASE,
    NICKNAME,
    NODE,
    ONE_LINE,
    PATH,
    PORT,
    SSID,
    SUBNET,
    UCI_NAME,
    WAN_SUBNET,
    choice,
    int_range,
)
from .kinds import VIRTUAL_NET as VIRTUAL_NET  # render_tor and others read it from here
from .options import Derived, Section, Where, defaults_of, option, read_section, reference_table

DEFAULT_PATH = "/etc/config/torbox"

NETWORK_NAMES = ("tor_off", "tor_medium", "tor_max")
MODES = {"tor_off": "off", "tor_medium": "medium", "tor_max": "max"}
NETWORK_SUBNETS = {"tor_off": "192.168.8.0/24", "tor_medium": "192.168.9.0/24",
                   "tor_max": "192.168.10.0/24"}


class ConfigError(Exception):
    """Every problem found in a configuration, each `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Main(Section):
    enabled: bool = option(BOOL, "1", "`0` stops the service from applying anything")
    wan_interface: str = option(UCI_NAME, "wan", "OpenWrt network of the uplink")
    wan_device: str = option(
        DEVICE, "eth0", "Linux device of the uplink; nftables matches on it (NAT for tor_off, "
        "WAN input on Linux)")
    wan_subnet: ipaddress.IPv4Network | None = option(
        WAN_SUBNET, "", "if set, no network may overlap it")
    radio: str = option(UCI_NAME, "radio0", "the `wifi-device` carrying the three SSIDs")
    country: str = option(COUNTRY, "DE", "regulatory domain for the radio")
    wired: str = option(choice(*NETWORK_NAMES, "none"), "tor_off",
                        "the network the wired LAN port belongs to")
    wired_port: list[str] = option(
        DEVICE, None, "the LAN port(s) moved when `wired` is not `tor_off`", is_list=True,
        type_doc="list of interface names", default_doc="— (shipped file: `eth1`)")


def _first_host(_network: str, subnet: ipaddress.IPv4Network) -> str:
    return str(subnet[1])


@dataclass
class Network(Section):
    name: str
    mode: str  # off | medium | max
    enabled: bool = option(
        BOOL, "1", "`0` takes the SSID, DHCP and Tor ports of this network down")
    ssid: str = option(SSID, Derived(lambda network, _: network, "the section name"),
                       "Wi-Fi network name")
    encryption: str = option(choice(*ENCRYPTIONS), "psk2", "Wi-Fi security")
    key: str = option(
        KEY, "", "Wi-Fi key; empty keys get a random 20-character key on first install "
        "(`torbox genkeys`); 64 hex digits only with psk2/psk-mixed",
        default_doc="empty → generated")
    hidden: bool = option(BOOL, "0", "hide the SSID")
    subnet: ipaddress.IPv4Network = option(
        SUBNET, Derived(lambda network, _: NETWORK_SUBNETS[network],
                        ", ".join(f"`{s}`" for s in NETWORK_SUBNETS.values())),
        "must not overlap each other, the WAN or Tor's 10.192.0.0/10; 100.64.0.0/10 (CGNAT) is "
        "refused (see Decisions)")
    router: ipaddress.IPv4Address = option(
        ADDRESS, Derived(_first_host, "first host of `subnet` (`.1`)", source="subnet"),
        "the router's address on this network")
    interface: str = option(
        UCI_NAME, Derived(lambda network, _: "lan" if network == "tor_off" else network,
                          "`lan`, `tor_medium`, `tor_max`"),
        "OpenWrt network name (tor_off is OpenWrt's own `lan`)")
    device: str = option(
        DEVICE, Derived(lambda _network, interface: f"br-{interface}", "`br-` + `interface`",
                        source="interface"),
        "the bridge every rule matches on (incoming interface)")
    admin: bool = option(
        BOOL, Derived(lambda network, _: "1" if network == "tor_off" else "0",
                      "`1` on tor_off, `0` on the Tor networks"),
        "SSH, LuCI (tcp 22, 80, 443) and status-page actions from this network")
    dhcp_start: int = option(int_range(1, 65533), "100", "first DHCP host offset")
    dhcp_limit: int = option(int_range(1, 65533), "100", "number of DHCP addresses")
    lease_time: str = option(LEASE, "12h", "DHCP lease time")

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
class Tor(Section):
    trans_port: int = option(PORT, "9040", "TransPort on tor_medium's router address")
    dns_port: int = option(PORT, "9053", "DNSPort on tor_medium's router address (UDP)")
    socks_port: int = option(PORT, "9050", "SocksPort on tor_max's router address")
    control_socket: str = option(
        PATH, "/var/lib/tor/control", "ControlPort as a unix socket with cookie authentication "
        "(`<path>.authcookie`); its directory must exist when tor starts (see Decisions)")
    data_dir: str = option(PATH, "/var/lib/tor", "Tor's DataDirectory")
    avoid_disk_writes: bool = option(BOOL, "1", "spare the flash")
    max_mem_in_queues: int = option(
        int_range(4, 1024, "MB, 4–1024"), "16",
        "cap on Tor's queues for 64 MB routers (relays: Tor raises it to 64)")
    use_bridges: bool = option(BOOL, "0", "connect through the bridges below")
    bridge: list[str] = option(
        BRIDGE, None, "torrc `Bridge` lines (no `#`, `\"` or `\\`)", is_list=True,
        type_doc=f"list of {BRIDGE.doc}")
    obfs4_binary: str = option(PATH, "/usr/bin/lyrebird",
                               "pluggable transport for obfs4/webtunnel")
    snowflake_binary: str = option(PATH, "/usr/bin/snowflake-client",
                                   "pluggable transport for snowflake")
    exclude_nodes: list[str] = option(NODE, None, "torrc `ExcludeNodes`", is_list=True,
                                      type_doc=f"list of {NODE.doc}")
    exclude_exit_nodes: list[str] = option(NODE, None, "torrc `ExcludeExitNodes`",
                                           is_list=True, type_doc="same")
    strict_nodes: bool = option(BOOL, "0", "torrc `StrictNodes`")
    relay_mode: str = option(
        choice("off", "bridge", "relay"), "off",
        "donate bandwidth (never as an exit); refused together with `use_bridges`")
    relay_port: int = option(PORT, "9001", "ORPort when relaying")
    relay_rate_kb: int = option(int_range(20, 1_000_000, "KB/s"), "100", "RelayBandwidthRate")
    relay_burst_kb: int = option(int_range(20, 1_000_000, "KB/s"), "200",
                                 "RelayBandwidthBurst")
    relay_nickname: str = option(NICKNAME, "torbox", "relay nickname")
    relay_contact: str = option(ONE_LINE, "", "ContactInfo")


@dataclass
class Webui(Section):
    enabled: bool = option(BOOL, "1", "run the status page")
    port: int = option(PORT, "8480", "its port; on networks with `admin 0`, tcp/80 to the "
                       "router is redirected here")
    refresh_s: int = option(int_range(0, 3600, "seconds"), "5",
                            "live refresh interval of the page (0: off)")


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
        return next((n for n in self.networks.values() if ip in n.subnet), None)


# (UCI type, section name) -> (its dataclass, the label problems use)
SECTIONS: dict[tuple[str, str], tuple[type[Section], str]] = {
    ("torbox", "main"): (Main, "main"),
    **{("network", n): (Network, n) for n in NETWORK_NAMES},
    ("tor", "tor"): (Tor, "tor"),
    ("webui", "webui"): (Webui, "webui"),
}


def _known_sections(doc: uci.UciFile, problems: list[str]) -> dict[str, uci.Section]:
    found: dict[str, uci.Section] = {}
    for sec in doc.sections:
        key = (sec.type, sec.name or "")
        if key not in SECTIONS:
            allowed = ", ".join(f"config {t} '{n}'" for t, n in SECTIONS)
            label = f"config {sec.type}" + (f" '{sec.name}'" if sec.name else "")
            problems.append(f"{doc.path}:{sec.line}: unknown section {label}; allowed: {allowed}")
            continue
        found[SECTIONS[key][1]] = sec
    return found


def from_uci(doc: uci.UciFile) -> Config:
    """Build and validate the model. Raises ConfigError listing every problem."""
    problems: list[str] = []
    found = _known_sections(doc, problems)
    values = {label: read_section(cls, found.get(label), label, doc.path, problems)
              for cls, label in SECTIONS.values()}
    cfg = Config(
        path=doc.path,
        main=Main(**values["main"]),
        networks={n: Network(name=n, mode=MODES[n], **values[n]) for n in NETWORK_NAMES},
        tor=Tor(**values["tor"]),
        webui=Webui(**values["webui"]),
        source=doc,
    )
    problems += checks.run(cfg, Where(doc.path, found))
    if problems:
        raise ConfigError(problems)
    return cfg


def load(path: str = DEFAULT_PATH) -> Config:
    """Read and validate a config file. Raises ConfigError (syntax errors included)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError([f"{path}:0: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); "
                           "allowed: a file in UTF-8"]) from None
    return loads(text, path)


def loads(text: str, path: str = "<memory>") -> Config:
    try:
        doc = uci.parse(text, path)
    except uci.UciSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    return from_uci(doc)


# Views derived from the declarations, for the README and for code that reads defaults
# (deploy/ maps router addresses with NETWORK_DEFAULTS and MAIN_SCHEMA).

def _schema(cls: type[Section], name: str) -> dict[str, tuple[Any, str | None, bool]]:
    texts = defaults_of(cls, name)
    return {k: (opt.kind.parse, texts[k], opt.is_list) for k, opt in cls.options().items()}


SCHEMAS: dict[tuple[str, str], dict[str, tuple[Any, str | None, bool]]] = {
    key: _schema(cls, label) for key, (cls, label) in SECTIONS.items()}
MAIN_SCHEMA = SCHEMAS[("torbox", "main")]
TOR_SCHEMA = SCHEMAS[("tor", "tor")]
WEBUI_SCHEMA = SCHEMAS[("webui", "webui")]
NETWORK_DEFAULTS = {
    n: {k: defaults_of(Network, n)[k] for k in ("subnet", "router", "device", "interface", "admin")}
    for n in NETWORK_NAMES}


def reference_markdown() -> str:
    """The README's configuration tables, one per section."""
    headers = [("### `config torbox 'main'`", Main),
               ("### `config network 'tor_off'`, `'tor_medium'`, `'tor_max'`", Network),
               ("### `config tor 'tor'`", Tor), ("### `config webui 'webui'`", Webui)]
    return "\n\n".join(f"{title}\n\n{reference_table(cls)}" for title, cls in headers) + "\n"
