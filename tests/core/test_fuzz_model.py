"""Every value of every option is either refused with `file:line: …; allowed: …` or rendered
into files whose every line the consuming program reads back as the model's value.

The readers below follow the consumers' own parsers, not ours:
- hostapd.conf: hostapd/config_file.c `hostapd_config_read` (fgets, `#` only in column 0, cut
  at `\\n`, split at the first `=`; `ssid=` verbatim, `ssid2=` via `wpa_config_parse_string`;
  `sae_password=` cut at `|mac=`, `|vlanid=`, `|pk=`, `|id=`; SAE falls back to
  `wpa_passphrase` when no `sae_password` is set: `sae_get_password` in src/ap/ieee802_11.c);
- torrc: tor's `parse_config_line_from_str_verbose` (src/lib/encoding/confline.c): `#` starts a
  comment anywhere, `\\` before a newline continues the line, a value starting with `"` is a
  C-quoted string, trailing space is dropped; and tor itself (`tor --dump-config short`);
- UCI fragments: torbox's UCI parser (round-trip tested against netjsonconfig elsewhere);
- dnsmasq: `key=value` per line; nft: every quoted string is a known device or a comment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torbox import config, render, uci

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT = open(os.path.join(ROOT, "tests", "configs", "default.uci"), encoding="utf-8").read()
BRIDGES = open(os.path.join(ROOT, "tests", "configs", "bridges.uci"), encoding="utf-8").read()
PATH = "/etc/config/torbox"

# The default config with everything that renders conditionally switched on, so every option
# reaches its file: relaying with a contact, node exclusions, a wired port; and one with bridges.
RELAYING = DEFAULT.replace("option relay_mode 'off'", "\n\t".join([
    "option relay_mode 'bridge'", "option relay_contact 'nobody at example dot invalid'",
    "list exclude_nodes '{ru}'", "list exclude_exit_nodes '198.51.100.0/24'",
    "option strict_nodes '1'"]))
BRIDGED = DEFAULT.replace("option use_bridges '0'", "option use_bridges '1'").replace(
    "\t# list bridge 'obfs4", "\tlist bridge 'snowflake 192.0.2.3:80 "
    "2B280B23E1107BB62ABFC40DDCC8824814F80A72 fingerprint=2B280B23E1107BB62ABFC40DDCC8824814F80A72'"
    "\n\tlist bridge 'obfs4 192.0.2.10:443 0123456789ABCDEF0123456789ABCDEF01234567 cert=AB+/= "
    "iat-mode=0'\n\t# list bridge 'obfs4")
assert RELAYING != DEFAULT and BRIDGED != DEFAULT and "list bridge 'snow" in BRIDGED


def _compact(text: str) -> str:
    """Without comments and blank lines: the same config, parsed faster."""
    return "".join(ln + "\n" for ln in text.splitlines() if ln.strip() and ln.lstrip()[0] != "#")


RELAYING, BRIDGED = _compact(RELAYING), _compact(BRIDGED)
BRIDGE_OPTIONS = {"use_bridges", "bridge", "obfs4_binary", "snowflake_binary"}


# --- the consumers' readers ------------------------------------------------------------------

def hostapd_read(text: str) -> list[dict[str, list[str]]]:
    """hostapd's reading: one dict (key -> values in order) per BSS, the first is the radio's."""
    bsses: list[dict[str, list[str]]] = [{}]
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("#") or line == "":
            continue
        assert "=" in line, f"hostapd.conf line {number} has no '=': {line!r}"
        key, value = line.split("=", 1)
        if key == "bss":
            bsses.append({})
        bsses[-1].setdefault(key, []).append(value)
    return bsses


def wpa_config_parse_string(value: str) -> bytes:
    """`ssid2=`: "quoted", P"printf-escaped" (torbox never writes it) or hex."""
    raw = value.encode("utf-8")
    if raw.startswith(b'"'):
        end = raw.rfind(b'"')
        assert end > 0 and end == len(raw) - 1, value
        return raw[1:end]
    assert not raw.startswith(b'P"'), value
    assert len(raw) % 2 == 0, value
    return bytes.fromhex(value)


def hostapd_ssid(bss: dict[str, list[str]]) -> bytes:
    lines = bss.get("ssid", []) + bss.get("ssid2", [])
    assert len(lines) == 1, f"one SSID line per BSS, got {lines}"
    if "ssid" in bss:
        return bss["ssid"][0].encode("utf-8")
    return wpa_config_parse_string(bss["ssid2"][0])


def sae_password(value: str) -> str:
    """parse_sae_password: the password ends where the first parameter starts."""
    cut = [value.find(p) for p in ("|mac=", "|vlanid=", "|pk=", "|id=") if p in value]
    return value[:min(cut)] if cut else value


def hostapd_secret(bss: dict[str, list[str]], sae: bool) -> str:
    if sae and "sae_password" in bss:
        return sae_password(bss["sae_password"][-1])
    if "wpa_passphrase" in bss:
        (value,) = bss["wpa_passphrase"]
        assert 8 <= len(value) <= 63
        return value
    (value,) = bss["wpa_psk"]
    return value


TOR_SPACE = " \t\r\n\v\f"


def _tor_unescape(text: str, i: int) -> tuple[str, int]:
    """tor's unescape_string on a value starting with `"`: (value, index after). Escapes give
    bytes (tor writes UTF-8 as \\xNN in --dump-config), so the value is decoded at the end."""
    out = bytearray()
    i += 1
    while True:
        if i >= len(text) or text[i] == "\n":
            raise ValueError("unterminated quoted string")
        c = text[i]
        if c == '"':
            return out.decode("utf-8"), i + 1
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in ("n", "r", "t"):
            out += {"n": b"\n", "r": b"\r", "t": b"\t"}[nxt]
            i += 2
        elif nxt in ('"', "\\", "'"):
            out += nxt.encode()
            i += 2
        elif nxt in ("x", "X") and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif re.match(r"[0-7]", nxt):
            digits = re.match(r"[0-7]{1,3}", text[i + 1:]).group(0)
            out.append(int(digits, 8))
            i += 1 + len(digits)
        else:
            raise ValueError(f"invalid escape \\{nxt}")


def torrc_read(text: str) -> list[tuple[str, str]]:
    """(key, value) entries as tor reads them."""
    entries: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while True:
            while i < n and text[i] in TOR_SPACE:
                i += 1
            if i < n and text[i] == "#":
                while i < n and text[i] != "\n":
                    i += 1
            else:
                break
        if i >= n:
            return entries
        start = i
        while i < n and text[i] not in TOR_SPACE and text[i] != "#" and text[i:i + 2] != "\\\n":
            i += 1
        key = text[start:i]
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value, i = _tor_unescape(text, i)
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] not in "#\n":
                raise ValueError("excess data after quoted string")
        else:
            vstart, continued = i, False
            while i < n and text[i] != "\n" and (text[i] != "#" or continued):
                if text[i:i + 2] == "\\\n":
                    continued = True
                    i += 2
                elif text[i] == "#":
                    while i < n and text[i] != "\n":
                        i += 1
                    i += 1 if i < n else 0
                else:
                    i += 1
            end = i
            if i < n and text[i] == "\n":
                i += 1
            while end > vstart and text[end - 1] in TOR_SPACE:
                end -= 1
            value = text[vstart:end]
            if continued:
                value = re.sub(r"#[^\n]*(\n|$)", "", value).replace("\\\n", "")
        if i < n and text[i] == "#":
            while i < n and text[i] != "\n":
                i += 1
        entries.append((key, value))


def torrc_by_line(text: str) -> dict[str, list[str]]:
    """Each line read on its own must give what the whole file gives: no value spans lines."""
    whole = torrc_read(text)
    per_line = [e for line in text.split("\n") for e in torrc_read(line)]
    assert whole == per_line, "a torrc value spans lines"
    out: dict[str, list[str]] = {}
    for key, value in whole:
        out.setdefault(key, []).append(value)
    return out


# --- what the model says each file must contain ---------------------------------------------

def check_torrc(cfg: config.Config, text: str) -> None:
    got = torrc_by_line(text)
    tor = cfg.tor
    medium, maxnet = cfg.networks["tor_medium"], cfg.networks["tor_max"]
    want: dict[str, list[str]] = {
        "DataDirectory": [tor.data_dir],
        "ControlPort": [f"unix:{tor.control_socket} RelaxDirModeCheck"],
        "CookieAuthFile": [f"{tor.control_socket}.authcookie"],
        "MaxMemInQueues": [f"{tor.max_mem_in_queues} MB"],
        "AvoidDiskWrites": [str(int(tor.avoid_disk_writes))],
        "TransPort": [f"{medium.router}:{tor.trans_port}" if medium.enabled else "0"],
        "DNSPort": [f"{medium.router}:{tor.dns_port}" if medium.enabled else "0"],
        "SocksPort": [f"{maxnet.router}:{tor.socks_port}" if maxnet.enabled else "0"],
    }
    if tor.use_bridges:
        want["Bridge"] = list(tor.bridge)
    if tor.exclude_nodes:
        want["ExcludeNodes"] = [",".join(tor.exclude_nodes)]
        assert got["ExcludeNodes"][0].split(",") == tor.exclude_nodes
    if tor.exclude_exit_nodes:
        want["ExcludeExitNodes"] = [",".join(tor.exclude_exit_nodes)]
    if tor.relay_mode != "off":
        want |= {"ORPort": [str(tor.relay_port)], "Nickname": [tor.relay_nickname],
                 "RelayBandwidthRate": [f"{tor.relay_rate_kb} KBytes"],
                 "RelayBandwidthBurst": [f"{tor.relay_burst_kb} KBytes"],
                 "ExitRelay": ["0"], "ExitPolicy": ["reject *:*"]}
        if tor.relay_contact:
            want["ContactInfo"] = [tor.relay_contact]
        if tor.relay_mode == "bridge":
            want["BridgeRelay"] = ["1"]
    for key, values in want.items():
        assert got.get(key) == values, (key, got.get(key), values)
    for words in got.get("ClientTransportPlugin", []):
        assert words.split()[-1] in (tor.obfs4_binary, tor.snowflake_binary)
    # tor's ControlPort/ClientTransportPlugin split on spaces: a path is one word
    assert len(got["ControlPort"][0].split()) == 2
    expected_keys = set(want) | {"VirtualAddrNetworkIPv4", "AutomapHostsOnResolve",
                                 "AutomapHostsSuffixes", "CookieAuthentication", "NumCPUs",
                                 "ClientRejectInternalAddresses", "UseBridges",
                                 "ClientTransportPlugin", "StrictNodes"}
    assert set(got) <= expected_keys, set(got) - expected_keys


def check_hostapd(cfg: config.Config, text: str) -> None:
    radio, *bsses = hostapd_read(text)
    assert radio["country_code"] == [cfg.main.country]
    # the first network's lines follow the radio's lines in the same block
    for net, bss in zip(cfg.enabled_networks, [radio] + bsses, strict=True):
        assert hostapd_ssid(bss) == net.ssid.encode("utf-8")
        assert bss["bridge"] == [net.device]
        assert bss["ignore_broadcast_ssid"] == [str(int(net.hidden))]
        for key, values in bss.items():
            assert len(values) == 1, f"{key} given {len(values)} times in one BSS"
        if net.encryption == "none":
            assert "wpa" not in bss
            continue
        assert hostapd_secret(bss, sae=net.encryption.startswith("sae")) == net.key
        if net.encryption == "sae-mixed":
            assert hostapd_secret(bss, sae=False) == net.key


def check_dnsmasq(cfg: config.Config, files: dict[str, str]) -> None:
    for net in cfg.enabled_networks:
        lines = [ln for ln in files[f"dnsmasq-{net.name}.conf"].split("\n")
                 if ln and not ln.startswith("#")]
        got: dict[str, list[str]] = {}
        for line in lines:
            key, _, value = line.partition("=")
            got.setdefault(key, []).append(value)
        assert got["interface"] == [net.device]
        first, last = net.dhcp_range
        assert got["dhcp-range"] == [f"{first},{last},{net.netmask},{net.lease_time}"]


def check_nft(cfg: config.Config, text: str) -> None:
    devices = {n.device for n in cfg.networks.values()} | {cfg.main.wan_device}
    for line in text.split("\n"):
        strings = re.findall(r'"([^"]*)"', line)
        assert line.count('"') == 2 * len(strings), line
        for s in strings:
            assert s in devices or f'comment "{s}"' in line, line
    for net in cfg.networks.values():
        if net.is_tor:
            assert f'iifname "{net.device}" jump guard_{net.name}' in text
            assert f"ip saddr != {net.subnet} drop" in text
        assert f'iifname "{net.device}" jump input_{net.name}' in text


def check_uci(cfg: config.Config, files: dict[str, str]) -> None:
    docs = {name: uci.parse(files[f"uci/{name}"], name)
            for name in ("network", "wireless", "dhcp", "firewall")}
    assert docs["wireless"].section(cfg.main.radio).get("country") == cfg.main.country
    for net in cfg.networks.values():
        ap = docs["wireless"].section(f"{net.name}_ap")
        assert ap.get("ssid") == net.ssid and ap.get("network") == net.interface
        assert ap.get("encryption") == net.encryption
        assert ap.get("key") == (net.key if net.encryption != "none" else None)
        iface = docs["network"].section(net.interface)
        assert iface.get("ipaddr") == str(net.router) and iface.get("netmask") == net.netmask
        if net.is_tor:
            assert iface.get("device") == net.device
            bridge = docs["network"].section(f"torbox_br_{net.name}")
            assert bridge.get("name") == net.device
            want_ports = cfg.main.wired_port if cfg.main.wired == net.name else []
            assert bridge.get_list("ports") == want_ports
        lease = docs["dhcp"].section(net.interface)
        assert lease.get("leasetime") == net.lease_time


def check_rendered(cfg: config.Config) -> None:
    linux = render.render_all(cfg, "linux")
    openwrt = render.render_all(cfg, "openwrt")
    check_torrc(cfg, linux["torrc"])
    assert openwrt["torrc"] == linux["torrc"]
    check_hostapd(cfg, linux["hostapd.conf"])
    check_dnsmasq(cfg, linux)
    check_nft(cfg, linux["torbox.nft"])
    check_nft(cfg, openwrt["torbox.nft"])
    check_uci(cfg, openwrt)


# --- putting one value into one option --------------------------------------------------------

SECTION_HEADERS = {"main": "config torbox 'main'", "tor": "config tor 'tor'",
                   "webui": "config webui 'webui'",
                   **{n: f"config network '{n}'" for n in config.NETWORK_NAMES}}


def all_options() -> list[tuple[str, str, bool]]:
    """(section label, option, is_list) for every declared option."""
    out = []
    for label, cls in (("main", config.Main), ("tor", config.Tor), ("webui", config.Webui)):
        out += [(label, name, opt.is_list) for name, opt in cls.options().items()]
    for name, opt in config.Network.options().items():
        out += [(n, name, opt.is_list) for n in ("tor_off", "tor_medium", "tor_max")]
    return out


OPTIONS = all_options()


def with_value(label: str, name: str, is_list: bool, value: str) -> str:
    base = BRIDGED if name in BRIDGE_OPTIONS else RELAYING
    header = SECTION_HEADERS[label]
    assert header in base
    head, _, rest = base.partition(header + "\n")
    body, sep, tail = rest.partition("\nconfig ")
    lines = body.split("\n")
    statement = f"\t{'list' if is_list else 'option'} {name} {uci.quote(value)}"
    if not is_list:
        lines = [ln for ln in lines if not ln.startswith(f"\toption {name} ")]
    lines.insert(0, statement)
    return head + header + "\n" + "\n".join(lines) + sep + tail


def refused_or_round_trips(label: str, name: str, is_list: bool, value: str) -> str:
    text = with_value(label, name, is_list, value)
    try:
        doc = uci.parse(text, PATH)
    except uci.UciSyntaxError as err:  # the file's syntax (e.g. a NUL byte), not the model
        assert str(err).startswith(f"{PATH}:")
        return "refused"
    try:
        cfg = config.from_uci(doc)
    except config.ConfigError as err:
        assert err.problems
        for problem in err.problems:
            assert re.match(rf"^{PATH}:\d+: ", problem), problem
            assert "; allowed: " in problem, problem
        return "refused"
    check_rendered(cfg)
    return "rendered"


NASTY = ["", " ", "x", "0", "1", "\n", "a\nb", "1\n", "0\r", "\r\n", "\t", "#", "a#b", "\\",
         "a\\", '"', '"a"', "'", "a'b", "|id=x", "x" * 9 + "|id=y", "\x00", "\x1b[2J", "\x7f",
         "\u2028", "\u2029", "\u0085", "é", "☂", " lead", "trail ", "-1", "65536",
         "99999999999999999999", "0x10", "1e3", "١٢", "eth0", "br-lan", "lan", "tor_off",
         "192.168.9.0/24", "10.0.0.0/8", "192.168.9.1", "{us}", "/tmp/x", "/a b", "/a#b",
         "obfs4 192.0.2.1:443", "192.0.2.1:443 " + "A" * 40 + " cert=x", "ExitRelay 1",
         "x" * 33, "é" * 16, "ab" * 32, "yes", "on", "sae", "none", "allowed:", "x; allowed: y"]


def mutations(valid: str) -> list[str]:
    return [valid + s for s in ("\n", "\r", " ", "\t", "#x", "\\", "\u2028", "\x00", "|id=x",
                                "\nExitRelay 1", "\nbridge=br-lan")] + [" " + valid, valid.upper()]


VALID = {"bridge": "obfs4 192.0.2.1:443 " + "0" * 40 + " cert=abc iat-mode=0",
         "exclude_nodes": "{us}", "exclude_exit_nodes": "$" + "A" * 40, "wired_port": "eth1",
         "key": "test-key-0123", "relay_contact": "me at example", "wan_subnet": "10.0.0.0/24"}


def valid_value(label: str, name: str) -> str:
    if name in VALID:
        return VALID[name]
    cls = {"main": config.Main, "tor": config.Tor, "webui": config.Webui}.get(label, config.Network)
    default = config.defaults_of(cls, label).get(name)
    return default if isinstance(default, str) and default else "x"


def test_nasty_values_in_every_option():
    """Deterministic sweep: every option × a list of hostile values and mutations (network
    options on tor_medium here; the property test below draws all three networks)."""
    for label, name, is_list in OPTIONS:
        if label in ("tor_off", "tor_max"):
            continue
        outcomes = {"refused": 0, "rendered": 0}
        for value in NASTY + mutations(valid_value(label, name)):
            try:
                outcomes[refused_or_round_trips(label, name, is_list, value)] += 1
            except AssertionError as exc:
                raise AssertionError(f"{label}.{name} = {value!r}: {exc}") from exc
        # both paths ran for every option: some values were refused, some rendered and read back
        assert outcomes["refused"] and outcomes["rendered"], (label, name, outcomes)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(OPTIONS), data=st.data())
def test_any_value_is_refused_or_round_trips(where, data):
    label, name, is_list = where
    valid = valid_value(label, name)
    value = data.draw(st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=70),
        st.builds(lambda a, b: a + valid + b, st.text(max_size=3), st.text(max_size=3)),
        st.sampled_from(NASTY),
    ), label="value")
    refused_or_round_trips(label, name, is_list, value)


# --- the injections of issue 11, shown directly ------------------------------------------------

def render_default(old: str, new: str, base: str = DEFAULT) -> dict[str, str]:
    assert old in base, old
    return render.render_all(config.loads(base.replace(old, new, 1), PATH), "linux")


@pytest.mark.parametrize("ssid", [
    "onion ☂ medium", " leading space", "trailing space ", "#hash first", "a=b=c", '"quoted"',
    'P"x"', "é" * 16, "x" * 32, "   ", "tor_medium|id=x", "back\\slash", "ключ", "🧅" * 8,
])
def test_hostapd_reads_back_every_ssid(ssid):
    files = render_default("option ssid 'tor_medium'", f"option ssid {uci.quote(ssid)}")
    bsses = hostapd_read(files["hostapd.conf"])
    assert hostapd_ssid(bsses[1]) == ssid.encode("utf-8")
    non_ascii = not ssid.isascii()
    assert bsses[1].get("utf8_ssid") == (["1"] if non_ascii else None)


def test_plain_ssids_keep_the_readable_form():
    files = render_default("option ssid 'tor_medium'", "option ssid 'Hotel Guest #2'")
    assert "\nssid=Hotel Guest #2\n" in files["hostapd.conf"]


def test_ssid_cannot_inject_hostapd_lines():
    """`ssid 'x⏎bridge=br-lan⏎…'` put an open network on the admin bridge."""
    text = DEFAULT.replace("option ssid 'tor_medium'", "option ssid 'x\nbridge=br-lan\nwpa=0'")
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, PATH)
    assert "tor_medium.ssid: 'x\\nbridge=br-lan\\nwpa=0' contains a control character" in \
        err.value.problems[0]


@pytest.mark.parametrize("encryption", ["sae", "sae-mixed", "psk2", "psk-mixed"])
@pytest.mark.parametrize("key", ["abc|id=evil123", "pass|mac=02:00:00:00:00:01", "p|vlanid=2xx",
                                 "x|pk=abcdefgh", "  spaces  ", "#comment-like", "a=b=c=d=e"])
def test_wifi_key_reaches_hostapd_whole(encryption, key):
    """A WPA3 key with `|id=` was cut there: hostapd kept only `abc` as the SAE password."""
    base = DEFAULT.replace("option encryption 'psk2'\n\toption key 'test-key-2-0123'",
                           f"option encryption '{encryption}'\n\toption key 'test-key-2-0123'")
    files = render_default("option key 'test-key-2-0123'", f"option key {uci.quote(key)}", base)
    bss = hostapd_read(files["hostapd.conf"])[1]
    assert hostapd_secret(bss, sae=encryption.startswith("sae")) == key
    assert hostapd_secret(bss, sae=False) == key


tor = shutil.which("tor")


def tor_dump(text: str) -> dict[str, str]:
    """`tor --dump-config` output: `Key value`, the value C-quoted only when it holds `"` or
    non-ASCII bytes (tor 0.4.9 prints a final backslash, `#` and outer spaces unquoted, so its
    output is not itself a torrc to read back)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        out[key] = _tor_unescape(value, 0)[0] if value.startswith('"') else value
    return out


@pytest.mark.skipif(tor is None, reason="needs tor")
@pytest.mark.parametrize("contact", [
    "me at example\\", "a # b", '"quoted"', "  padded  ", "back\\slash\\", "x\\ny", "ключ",
])
def test_contact_reads_back_through_tor(tmp_path, contact):
    """`relay_contact 'me at example\\'` made tor read the next line (`BridgeRelay 1`) as part of
    ContactInfo: the bridge became a public relay. `#` cut the contact short."""
    text = RELAYING.replace("option relay_contact 'nobody at example dot invalid'",
                            f"option relay_contact {uci.quote(contact)}")
    cfg = config.loads(text, PATH)
    torrc = render.render_all(cfg, "linux")["torrc"]
    entries = dict(torrc_read(torrc))
    assert entries["ContactInfo"] == contact and entries["BridgeRelay"] == "1"
    path = tmp_path / "torrc"
    path.write_text(torrc)
    proc = subprocess.run([tor, "--dump-config", "short", "-f", str(path), "--DataDirectory",
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dumped = tor_dump(proc.stdout)
    assert dumped["ContactInfo"] == contact
    assert dumped["BridgeRelay"] == "1"


@pytest.mark.skipif(tor is None, reason="needs tor")
def test_torrc_reader_agrees_with_tor(tmp_path):
    """The Python reader above is checked against tor itself on the tricky cases."""
    torrc = ("SocksPort 0\nORPort 9001\nContactInfo a # b\nNickname \"q\\x41z\"\n"
             "Address me at example\\\nBridgeRelay 1\n")
    ours = dict(torrc_read(torrc))
    assert ours == {"SocksPort": "0", "ORPort": "9001", "ContactInfo": "a", "Nickname": "qAz",
                    "Address": "me at exampleBridgeRelay 1"}
    torrc = torrc.replace("Address", "ContactInfo")
    path = tmp_path / "torrc"
    path.write_text(torrc)
    proc = subprocess.run([tor, "--dump-config", "short", "-f", str(path), "--DataDirectory",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dumped = tor_dump(proc.stdout)
    assert dumped["ContactInfo"] == "me at exampleBridgeRelay 1"
    assert dumped["Nickname"] == "qAz" and "BridgeRelay" not in dumped
