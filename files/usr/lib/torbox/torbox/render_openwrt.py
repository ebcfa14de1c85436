"""The OpenWrt UCI sections torbox creates or edits (network, wireless, dhcp, firewall).

Sections torbox owns have fixed names (`tor_medium`, `torbox_*`) and are
replaced whole, so applying twice changes nothing. Sections that belong to the
user or to OpenWrt (`lan`, `radio0`, the fw4 defaults) are only patched: the
listed options are set and everything else in them is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import uci
from .config import Config

FILES = ("network", "wireless", "dhcp", "firewall", "tor")
TORRC_PATH = "/etc/tor/torbox.torrc"
NOROUTE_PRIORITY = 900  # before pbr's rules (~30000) and the main table (32766)


@dataclass
class Change:
    file: str
    type: str
    name: str | None
    options: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, value)
    own: bool = True  # True: replace the whole section; False: patch options
    match: dict[str, str] | None = None  # for anonymous sections: option values to find it by
    optional: bool = False  # patch only: skip when the section does not exist
    del_list: list[tuple[str, str]] = field(default_factory=list)  # patch: list items to remove
    add_list: list[tuple[str, str]] = field(default_factory=list)  # patch: list items to ensure

    def opt(self, name: str, value: object) -> Change:
        self.options.append(("option", name, str(value)))
        return self

    def lst(self, name: str, values: list[str]) -> Change:
        self.options += [("list", name, v) for v in values]
        return self


def _network(cfg: Config) -> list[Change]:
    changes: list[Change] = []
    wired = cfg.main.wired
    off = cfg.networks["tor_off"]
    for net in cfg.networks.values():
        ports = cfg.main.wired_port if wired == net.name else []
        if net.name == "tor_off":
            # The admin network is OpenWrt's own `lan`: only its address changes.
            patch = Change("network", "interface", net.interface, own=False)
            patch.opt("ipaddr", net.router).opt("netmask", net.netmask)
            changes.append(patch)
            if wired != "tor_off" and cfg.main.wired_port:
                moved = Change("network", "device", None, own=False, optional=True,
                               match={"name": off.device})
                moved.del_list = [("ports", p) for p in cfg.main.wired_port]
                changes.append(moved)
            continue
        dev = Change("network", "device", f"torbox_br_{net.name}")
        dev.opt("name", net.device).opt("type", "bridge")
        # the bridge must exist before any Wi-Fi joins it, so nftables matches it from boot
        dev.opt("bridge_empty", "1")
        dev.lst("ports", ports)
        changes.append(dev)
        iface = Change("network", "interface", net.interface)
        iface.opt("device", net.device).opt("proto", "static")
        iface.opt("ipaddr", net.router).opt("netmask", net.netmask)
        iface.opt("ipv6", "0").opt("delegate", "0")
        if not net.enabled:
            iface.opt("disabled", "1")
        changes.append(iface)
        # Fail closed below the firewall: `/etc/init.d/firewall stop` (fw4 flush) deletes every
        # nftables table, torbox's included, and the kernel would then route a Tor network to
        # the WAN. A policy rule, kept by netifd and untouched by any firewall, refuses to
        # route what arrives from it; the router's own addresses (local table, priority 0) and
        # TransPort/DNSPort redirects (DNAT before routing) still work.
        rule = Change("network", "rule", f"torbox_{net.name}_noroute")
        rule.opt("in", net.interface).opt("action", "prohibit").opt("priority", NOROUTE_PRIORITY)
        changes.append(rule)
    return changes


def _wireless(cfg: Config) -> list[Change]:
    changes = [
        Change("wireless", "wifi-device", cfg.main.radio, own=False, optional=True)
        .opt("disabled", "0").opt("country", cfg.main.country),
        # OpenWrt's stock open "OpenWrt" SSID on lan would be a fourth, unencrypted network.
        Change("wireless", "wifi-iface", f"default_{cfg.main.radio}", own=False, optional=True)
        .opt("disabled", "1"),
    ]
    for net in cfg.networks.values():
        ch = Change("wireless", "wifi-iface", f"{net.name}_ap")
        ch.opt("device", cfg.main.radio).opt("mode", "ap").opt("network", net.interface)
        ch.opt("ssid", net.ssid).opt("encryption", net.encryption)
        if net.encryption != "none":
            ch.opt("key", net.key)
        ch.opt("hidden", int(net.hidden)).opt("disabled", "0" if net.enabled else "1")
        changes.append(ch)
    return changes


def _dhcp(cfg: Config) -> list[Change]:
    changes: list[Change] = []
    for net in cfg.networks.values():
        ch = Change("dhcp", "dhcp", net.interface, own=net.is_tor)
        ch.opt("interface", net.interface).opt("start", net.dhcp_start)
        ch.opt("limit", net.dhcp_limit).opt("leasetime", net.lease_time)
        if net.is_tor:
            # IPv4 only on Tor networks: no RA, no DHCPv6, no NDP proxy (odhcpd).
            ch.opt("ra", "disabled").opt("dhcpv6", "disabled").opt("ndp", "disabled")
            if net.mode == "medium":
                ch.lst("dhcp_option", [f"3,{net.router}", f"6,{net.router}"])
            else:
                # empty values: dnsmasq sends no router and no DNS server on tor_max
                ch.lst("dhcp_option", ["3", "6"])
        changes.append(ch)
    return changes


def _rule(name: str, src: str, proto: str, port: int | str) -> Change:
    ch = Change("firewall", "rule", name)
    ch.opt("name", name.replace("_", "-")).opt("src", src).opt("proto", proto)
    ch.opt("dest_port", port).opt("family", "ipv4").opt("target", "ACCEPT")
    return ch


def _firewall(cfg: Config) -> list[Change]:
    tor = cfg.tor
    changes = [
        Change("firewall", "defaults", None, own=False, optional=True, match={})
        .opt("drop_invalid", "1"),
    ]
    for net in cfg.networks.values():
        if not net.is_tor:
            continue
        zone = Change("firewall", "zone", f"torbox_{net.name}")
        zone.opt("name", net.name).lst("network", [net.interface])
        zone.opt("input", "REJECT").opt("output", "ACCEPT").opt("forward", "REJECT")
        changes.append(zone)
        pre = f"torbox_{net.name}"
        changes.append(_rule(f"{pre}_dhcp", net.name, "udp", 67))
        changes.append(_rule(f"{pre}_status", net.name, "tcp", cfg.webui.port))
        if net.mode == "medium":
            changes.append(_rule(f"{pre}_dns", net.name, "udp", tor.dns_port))
            changes.append(_rule(f"{pre}_trans", net.name, "tcp", tor.trans_port))
        else:
            changes.append(_rule(f"{pre}_socks", net.name, "tcp", tor.socks_port))
        if net.admin:
            changes.append(_rule(f"{pre}_admin", net.name, "tcp", "22 80 443"))
    # No `forwarding` sections for the Tor zones: they reach nothing but the router.
    return changes


def _tor(cfg: Config) -> list[Change]:
    # Plug into OpenWrt's tor service (it builds /tmp/torrc from these lists) instead of owning it.
    hook = Change("tor", "tor", "conf", own=False)
    hook.add_list = [("tail_include", TORRC_PATH)]
    return [hook]


def changes(cfg: Config) -> list[Change]:
    return _network(cfg) + _wireless(cfg) + _dhcp(cfg) + _firewall(cfg) + _tor(cfg)


def owned_names(cfg: Config) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {f: set() for f in FILES}
    for ch in changes(cfg):
        if ch.own and ch.name:
            out[ch.file].add(ch.name)
    return out


def fragments(cfg: Config) -> dict[str, str]:
    """Each file's torbox sections as UCI text (what `torbox render --target openwrt` writes)."""
    docs = {f: uci.parse(f"package {f}\n", f) for f in FILES}
    for ch in changes(cfg):
        doc = docs[ch.file]
        sec = doc.add_section(ch.type, ch.name)
        if not ch.own:
            sec.raw = None
        for kind, name, value in ch.options:
            if kind == "option":
                doc.set_option(sec, name, value)
            else:
                doc.set_list(sec, name, sec.get_list(name) + [value])
        for name, value in ch.add_list:
            doc.set_list(sec, name, sec.get_list(name) + [value])
    out = {}
    for f, doc in docs.items():
        out[f] = doc.dump()
    return out


def _find(doc: uci.UciFile, ch: Change) -> uci.Section | None:
    if ch.name is not None:
        sec = doc.section(ch.name)
        return sec if sec is not None and sec.type == ch.type else None
    for sec in doc.sections_of(ch.type):
        if all(sec.get(k) == v for k, v in (ch.match or {}).items()):
            return sec
    return None


def merge(docs: dict[str, uci.UciFile], cfg: Config) -> None:
    """Apply torbox's changes to the router's own UCI files, in place."""
    for ch in changes(cfg):
        doc = docs.get(ch.file)
        if doc is None:
            continue  # e.g. tor not installed: nothing to hook into
        sec = _find(doc, ch)
        if sec is None:
            if ch.optional:
                continue
            sec = doc.add_section(ch.type, ch.name)
        if ch.own:
            # Replace the section's options, keeping its place in the file.
            for name in sec.names():
                if name not in {o[1] for o in ch.options}:
                    doc.delete_option(sec, name)
        grouped: dict[str, list[str]] = {}
        for kind, name, value in ch.options:
            if kind == "option":
                doc.set_option(sec, name, value)
            else:
                grouped.setdefault(name, []).append(value)
        for name, values in grouped.items():
            doc.set_list(sec, name, values)
        for name, value in ch.add_list:
            if value not in sec.get_list(name):
                doc.set_list(sec, name, sec.get_list(name) + [value])
        for name, value in ch.del_list:
            remaining = [v for v in sec.get_list(name) if v != value]
            if remaining != sec.get_list(name):
                doc.set_list(sec, name, remaining)
