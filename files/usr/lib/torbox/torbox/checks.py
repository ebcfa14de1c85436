"""Rules that involve more than one option, one small function each.

Each check gets the model as read (a refused value is None there, and every check skips
what it cannot judge) and `at(label, option)`, which gives `path:line: label.option: `.
It yields `… what is wrong; allowed: …` problems; from_uci reports them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .options import Where

Problems = Iterator[str]
RESERVED_PORTS = {22: "SSH", 53: "DNS", 67: "DHCP", 68: "DHCP client", 443: "LuCI HTTPS"}


def router_in_subnet(cfg: Any, at: Where) -> Problems:
    for net in cfg.networks.values():
        subnet = net.subnet
        if subnet is None or net.router is None:
            continue
        if net.router not in subnet or net.router in (subnet.network_address,
                                                      subnet.broadcast_address):
            yield (at(net.name, "router") + f"{net.router} is not a host address in {subnet}; "
                   f"allowed: {subnet[1]} to {subnet[-2]}")


def _dhcp_fits(net: Any) -> bool:
    return net.dhcp_start + net.dhcp_limit - 1 <= net.subnet.num_addresses - 2


def dhcp_range_fits(cfg: Any, at: Where) -> Problems:
    for net in cfg.networks.values():
        if net.subnet is None or not net.dhcp_start or not net.dhcp_limit or _dhcp_fits(net):
            continue
        yield (at(net.name, "dhcp_limit", name_option=False) + f"DHCP range start "
               f"{net.dhcp_start} + limit {net.dhcp_limit} runs past the end of {net.subnet}; "
               f"allowed: start + limit - 1 <= {net.subnet.num_addresses - 2}")


def dhcp_range_leaves_router_out(cfg: Any, at: Where) -> Problems:
    for net in cfg.networks.values():
        if (net.subnet is None or net.router is None or not net.dhcp_start
                or not net.dhcp_limit or net.router not in net.subnet or not _dhcp_fits(net)):
            continue
        offset = int(net.router) - int(net.subnet.network_address)
        if net.dhcp_start <= offset < net.dhcp_start + net.dhcp_limit:
            yield (at(net.name, "dhcp_start", name_option=False) + "DHCP range includes the "
                   f"router address {net.router}; allowed: a range that leaves it out")


def key_fits_encryption(cfg: Any, at: Where) -> Problems:
    for net in cfg.networks.values():
        if net.encryption is None or net.key is None:
            continue
        if net.encryption != "none" and net.key == "":
            yield (at(net.name, "key") + f"empty, but encryption is {net.encryption}; allowed: "
                   "8 to 63 printable ASCII characters (the package's first-boot script "
                   "generates one)")
        elif net.encryption == "none" and net.key:
            yield (at(net.name, "key") + "set, but encryption is none; allowed: no key with "
                   "encryption none")
        elif net.encryption.startswith("sae") and re.fullmatch(r"[0-9A-Fa-f]{64}", net.key):
            # SAE (WPA3) derives its key from a password; hostapd and phones take 64 hex
            # digits as a raw WPA2 key, which SAE cannot use.
            yield (at(net.name, "key") + "64 hex digits are a WPA2 pre-shared key, but "
                   f"encryption is {net.encryption}; allowed: 8 to 63 printable ASCII "
                   "characters (a passphrase) with sae and sae-mixed")


def subnets_apart(cfg: Any, at: Where) -> Problems:
    nets = [n for n in cfg.networks.values() if n.subnet is not None]
    wan = cfg.main.wan_subnet
    for i, a in enumerate(nets):
        if wan is not None and a.subnet.overlaps(wan):
            yield (at(a.name, "subnet") + f"{a.subnet} overlaps the WAN subnet {wan}; "
                   "allowed: a subnet that does not")
        for b in nets[i + 1:]:
            if a.subnet.overlaps(b.subnet):
                yield (at(b.name, "subnet") + f"{b.subnet} overlaps {a.name}.subnet {a.subnet}; "
                       "allowed: subnets that do not overlap")


def one_per_network(cfg: Any, at: Where) -> Problems:
    for option in ("device", "interface", "ssid"):
        owner: dict[str, str] = {}
        for net in cfg.networks.values():
            value = getattr(net, option)
            if value is None:
                continue
            if value in owner:
                yield (at(net.name, option) + f"{value!r} is also {owner[value]}'s; allowed: a "
                       f"different {option} per network")
            owner[value] = net.name


def wan_device_is_its_own(cfg: Any, at: Where) -> Problems:
    wan = cfg.main.wan_device
    if wan is not None and wan in {n.device for n in cfg.networks.values()}:
        yield (at("main", "wan_device") + f"{wan!r} is also a network's device; allowed: the "
               "uplink's own device")


def ports_distinct_and_free(cfg: Any, at: Where) -> Problems:
    tor = cfg.tor
    ports = [("tor", "trans_port", tor.trans_port), ("tor", "dns_port", tor.dns_port),
             ("tor", "socks_port", tor.socks_port), ("webui", "port", cfg.webui.port)]
    if tor.relay_mode not in (None, "off"):
        ports.append(("tor", "relay_port", tor.relay_port))
    by_port: dict[int, str] = {}
    for section, option, port in ports:
        if port is None:
            continue
        label = f"{section}.{option}"
        if port in RESERVED_PORTS:
            yield (at(section, option) + f"port {port} is the router's {RESERVED_PORTS[port]} "
                   "port; allowed: a port no router service uses")
        if port == 80 and label != "webui.port":
            yield (at(section, option) + "port 80 is the web interface's port; allowed: a port "
                   "no router service uses")
        if port in by_port:
            yield (at(section, option) + f"port {port} is also {by_port[port]}; allowed: a "
                   "different port for each service")
        by_port[port] = label


def bridges_listed_when_used(cfg: Any, at: Where) -> Problems:
    if cfg.tor.use_bridges and not cfg.tor.bridge:
        yield (at("tor", "use_bridges") + "1 but no `list bridge` lines; allowed: add bridges "
               "or set 0")


def no_relay_through_bridges(cfg: Any, at: Where) -> Problems:
    if cfg.tor.use_bridges and cfg.tor.relay_mode not in (None, "off"):
        yield (at("tor", "relay_mode") + f"{cfg.tor.relay_mode} while use_bridges is 1; Tor "
               "refuses to relay through bridges; allowed: relay_mode off, or use_bridges 0")


CHECKS: tuple[Callable[[Any, Where], Problems], ...] = (
    router_in_subnet, dhcp_range_fits, dhcp_range_leaves_router_out, key_fits_encryption,
    subnets_apart, one_per_network, wan_device_is_its_own, ports_distinct_and_free,
    bridges_listed_when_used, no_relay_through_bridges,
)


def run(cfg: Any, at: Where) -> list[str]:
    return [problem for check in CHECKS for problem in check(cfg, at)]
