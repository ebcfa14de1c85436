"""Every bad configuration is refused with file:line, what is wrong and what is
allowed; exit status 2; nothing written."""

import ipaddress
import os
import re
import subprocess
import sys

import pytest

from torbox import config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = open(os.path.join(ROOT, "tests", "configs", "default.uci"), encoding="utf-8").read()
TORBOX = os.path.join(ROOT, "files", "usr", "sbin", "torbox")


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def add(section_header: str, line: str) -> str:
    return edit(section_header, section_header + "\n\t" + line)


def medium_subnet(subnet: str) -> str:
    """tor_medium on another subnet, its router on that subnet's first host."""
    first = str(ipaddress.IPv4Network(subnet)[1])
    return edit("option subnet '192.168.9.0/24'", f"option subnet '{subnet}'").replace(
        "option router '192.168.9.1'", f"option router '{first}'")


MED = "config network 'tor_medium'"
MAX = "config network 'tor_max'"
OFF = "config network 'tor_off'"
TOR = "config tor 'tor'"
MAIN = "config torbox 'main'"

# (id, config text, expected message fragment, expected "allowed" fragment)
CASES = [
    ("ssid-too-long", edit("option ssid 'tor_medium'", "option ssid '" + "x" * 33 + "'"),
     "tor_medium.ssid: SSID is 33 bytes long", "1 to 32 bytes"),
    ("ssid-utf8-too-long", edit("option ssid 'tor_max'", "option ssid '" + "é" * 17 + "'"),
     "SSID is 34 bytes long", "1 to 32 bytes"),
    # `option ssid ''` sets nothing in libuci (the default applies); a list item can be empty
    ("ssid-empty", edit("option ssid 'tor_off'", "list ssid ''"), "SSID is 0 bytes", "1 to 32"),
    ("key-short", edit("option key 'test-key-2-0123'", "option key 'short'"),
     "tor_medium.key: key is 5 characters", "8 to 63"),
    ("key-long", edit("option key 'test-key-2-0123'", "option key '" + "k" * 64 + "'"),
     "key is 64 characters", "8 to 63"),
    ("key-control-char", edit("option key 'test-key-2-0123'", 'option key "abc\tdefgh"'),
     "tor_medium.key: 'abc\\tdefgh' contains a control character (U+0009)", "printable ASCII"),
    ("key-empty", edit("option key 'test-key-3-0123'", "option key ''"),
     "tor_max.key: empty, but encryption is psk2", "8 to 63"),
    ("key-with-none", edit("option encryption 'psk2'", "option encryption 'none'"),
     "tor_off.key: set, but encryption is none", "no key with encryption none"),
    ("encryption-unknown", edit("option encryption 'psk2'", "option encryption 'wep'"),
     "tor_off.encryption: 'wep' is not allowed", "psk2, sae"),
    ("subnet-overlap", edit("option subnet '192.168.10.0/24'", "option subnet '192.168.9.128/25'"),
     "tor_max.subnet: 192.168.9.128/25 overlaps tor_medium.subnet", "do not overlap"),
    ("subnet-overlap-wan", add(MAIN, "option wan_subnet '192.168.8.0/22'"),
     "overlaps the WAN subnet 192.168.8.0/22", "a subnet that does not"),
    ("subnet-overlap-onion", edit("option subnet '192.168.9.0/24'", "option subnet '10.200.0.0/16'"),
     "overlaps Tor's virtual address range 10.192.0.0/10", "outside it"),
    ("subnet-not-network", edit("option subnet '192.168.9.0/24'", "option subnet '192.168.9.1/24'"),
     "tor_medium.subnet: '192.168.9.1/24' is not an IPv4 subnet", "192.168.9.0/24"),
    ("subnet-garbage", edit("option subnet '192.168.9.0/24'", "option subnet 'lan'"),
     "is not an IPv4 subnet", "allowed"),
    ("subnet-public", edit("option subnet '192.168.9.0/24'", "option subnet '8.8.8.0/24'"),
     "is not a private range", "RFC 1918"),
    ("subnet-prefix", edit("option subnet '192.168.9.0/24'", "option subnet '192.168.9.0/30'"),
     "prefix /30 not allowed", "/16 to /29"),
    ("router-outside", edit("option router '192.168.9.1'", "option router '192.168.99.1'"),
     "tor_medium.router: 192.168.99.1 is not a host address in 192.168.9.0/24",
     "192.168.9.1 to 192.168.9.254"),
    ("router-broadcast", edit("option router '192.168.9.1'", "option router '192.168.9.255'"),
     "is not a host address", "allowed"),
    ("router-garbage", edit("option router '192.168.9.1'", "option router 'router'"),
     "tor_medium.router: 'router' is not an IPv4 address", "192.168.9.1"),
    ("dhcp-range-past-end", add(MED, "option dhcp_limit '200'"),
     "DHCP range start 100 + limit 200 runs past the end", "<= 254"),
    ("dhcp-range-router", add(MED, "option dhcp_start '1'"),
     "DHCP range includes the router address", "leaves it out"),
    ("dhcp-start-text", add(MAX, "option dhcp_start 'ten'"),
     "tor_max.dhcp_start: 'ten' is not a whole number", "from 1 to 65533"),
    ("duplicate-ports", edit("option dns_port '9053'", "option dns_port '9040'"),
     "tor.dns_port: port 9040 is also tor.trans_port", "different port"),
    ("port-reserved", edit("option socks_port '9050'", "option socks_port '53'"),
     "port 53 is the router's DNS port", "no router service uses"),
    ("port-range", edit("option trans_port '9040'", "option trans_port '70000'"),
     "tor.trans_port: '70000' is not a whole number from 1 to 65535", "1 to 65535"),
    ("webui-port-clash", edit("option port '8480'", "option port '9050'"),
     "webui.port: port 9050 is also", "different port"),
    ("unknown-option", add(MED, "option sid 'typo'"),
     "tor_medium: unknown option 'sid'", "ssid"),
    ("unknown-section", GOOD + "\nconfig network 'tor_extra'\n\toption ssid 'x'\n",
     "unknown section config network 'tor_extra'", "config network 'tor_medium'"),
    ("bool", edit("option admin '0'", "option admin 'maybe'"),
     "tor_medium.admin: 'maybe' is not a boolean", "0 or 1"),
    ("device-too-long", edit("option device 'br-tor_medium'", "option device 'br-much-too-long-name'"),
     "is not a Linux interface name", "1 to 15"),
    ("device-duplicate", edit("option device 'br-tor_max'", "option device 'br-tor_medium'"),
     "tor_max.device: 'br-tor_medium' is also tor_medium's", "different device"),
    ("ssid-duplicate", edit("option ssid 'tor_max'", "option ssid 'tor_medium'"),
     "tor_max.ssid: 'tor_medium' is also tor_medium's", "different ssid"),
    ("wired-unknown", edit("option wired 'tor_off'", "option wired 'wan'"),
     "main.wired: 'wan' is not allowed", "tor_off, tor_medium, tor_max, none"),
    ("country", edit("option country 'DE'", "option country 'germany'"),
     "main.country: 'germany' is not a country code", "two capital letters"),
    ("bridges-without-lines", edit("option use_bridges '0'", "option use_bridges '1'"),
     "tor.use_bridges: 1 but no `list bridge` lines", "add bridges"),
    ("bridge-bad-address", add(TOR, "list bridge 'obfs4 nowhere 0123'"),
     "tor.bridge: bridge address 'nowhere' is not IP:PORT", "[obfs4|snowflake|webtunnel]"),
    ("bridge-bad-fingerprint", add(TOR, "list bridge 'obfs4 192.0.2.1:443 XYZ cert=a'"),
     "bridge fingerprint 'XYZ' is not 40 hex digits", "40 hex"),
    ("exclude-bad", add(TOR, "list exclude_exit_nodes 'usa'"),
     "tor.exclude_exit_nodes: 'usa' is not a Tor node spec", "{cc} country code"),
    ("relay-through-bridges", edit("option relay_mode 'off'", "option relay_mode 'relay'").replace(
        "option use_bridges '0'", "option use_bridges '1'\n\tlist bridge '192.0.2.1:443'"),
     "tor.relay_mode: relay while use_bridges is 1", "relay_mode off, or use_bridges 0"),
    ("relay-mode", edit("option relay_mode 'off'", "option relay_mode 'exit'"),
     "tor.relay_mode: 'exit' is not allowed", "off, bridge, relay"),
    ("control-socket-relative", edit("option control_socket '/var/lib/tor/control'",
                                          "option control_socket 'run/control'"),
     "tor.control_socket: 'run/control' is not an absolute path", "absolute path"),
    ("option-as-list", edit("option ssid 'tor_medium'",
                                  "option ssid 'tor_medium'\n\tlist ssid 'second'"),
     "tor_medium.ssid: given as a list", "one value"),
    ("syntax-error", edit("option ssid 'tor_max'", "option ssid 'tor_max"),
     "unterminated single quote", ""),
    ("wan-device-is-lan", edit("option wan_device 'eth0'", "option wan_device 'br-lan'"),
     "main.wan_device: 'br-lan' is also a network's device", "uplink's own device"),
    # Issue 11 item 3: `$` matched before a final newline, so these were "valid" and failed open
    # (a device that never exists is matched; WAN rules on 'eth0\n'; a torrc line injected).
    ("device-trailing-newline", edit("option device 'br-tor_medium'",
                                     "option device 'br-tor_medium\n'"),
     "tor_medium.device: 'br-tor_medium\\n' contains a control character", "1 to 15"),
    ("device-trailing-cr", edit("option device 'br-tor_medium'", "option device 'br-tor_medium\r'"),
     "tor_medium.device: 'br-tor_medium\\r' contains a control character", "1 to 15"),
    ("wan-device-trailing-newline", edit("option wan_device 'eth0'", "option wan_device 'eth0\n'"),
     "main.wan_device: 'eth0\\n' contains a control character", "1 to 15"),
    ("exclude-trailing-newline", add(TOR, "list exclude_nodes '{us}\n'"),
     "tor.exclude_nodes: '{us}\\n' contains a control character", "{cc} country code"),
    ("interface-trailing-newline", edit("option interface 'tor_max'", "option interface 'tor_max\n'"),
     "tor_max.interface: 'tor_max\\n' contains a control character", "letters, digits and _"),
    ("radio-trailing-newline", edit("option radio 'radio0'", "option radio 'radio0\n'"),
     "main.radio: 'radio0\\n' contains a control character", "letters, digits and _"),
    ("country-trailing-newline", edit("option country 'DE'", "option country 'DE\n'"),
     "main.country: 'DE\\n' contains a control character", "two capital letters"),
    ("wired-port-trailing-newline", edit("list wired_port 'eth1'", "list wired_port 'eth1\n'"),
     "main.wired_port: 'eth1\\n' contains a control character", "1 to 15"),
    ("data-dir-newline", edit("option data_dir '/var/lib/tor'",
                              "option data_dir '/var/lib/tor\nExitRelay 1'"),
     "tor.data_dir: '/var/lib/tor\\nExitRelay 1' contains a control character", "absolute path"),
    ("contact-line-separator", add(TOR, "option relay_contact 'me\u2028ExitRelay 1'"),
     "tor.relay_contact: 'me\\u2028ExitRelay 1' contains a control character", "one line"),
    ("contact-escape", add(TOR, "option relay_contact 'me\x1b[2J'"),
     "tor.relay_contact: 'me\\x1b[2J' contains a control character", "one line"),
    ("bridge-newline", add(TOR, "list bridge '192.0.2.1:443\nExitRelay 1'"),
     "tor.bridge: '192.0.2.1:443\\nExitRelay 1' contains a control character", "IP:PORT"),
    ("bridge-comment", add(TOR, "list bridge 'obfs4 192.0.2.1:443 cert=ab#cd'"),
     "tor.bridge: 'obfs4 192.0.2.1:443 cert=ab#cd' contains '#'", "IP:PORT"),
    ("lease-trailing-newline", add(MED, "option lease_time '12h\n'"),
     "tor_medium.lease_time: '12h\\n' contains a control character", "12h"),
    # Issue 11 item 4: an SSID with a newline wrote `bridge=br-lan` into hostapd.conf.
    ("ssid-injects-hostapd-line", edit("option ssid 'tor_medium'",
                                       "option ssid 'x\nbridge=br-lan\nwpa=0'"),
     "tor_medium.ssid: 'x\\nbridge=br-lan\\nwpa=0' contains a control character", "1 to 32 bytes"),
    ("ssid-tab", edit("option ssid 'tor_max'", "option ssid 'tor\tmax'"),
     "tor_max.ssid: 'tor\\tmax' contains a control character", "1 to 32 bytes"),
    ("sae-hex-key", edit("option key 'test-key-2-0123'", "option key '" + "ab" * 32 + "'").replace(
        "option encryption 'psk2'\n\toption key '" + "ab" * 32,
        "option encryption 'sae'\n\toption key '" + "ab" * 32),
     "tor_medium.key: 64 hex digits are a WPA2 pre-shared key, but encryption is sae",
     "8 to 63 printable ASCII"),
    # Issue 11 item 10: only RFC 1918 subnets; these were accepted as "private".
    ("subnet-loopback", medium_subnet("127.5.0.0/16"),
     "127.5.0.0/16 is not a private range (loopback", "RFC 1918"),
    ("subnet-this-network", medium_subnet("0.0.0.0/16"),
     "0.0.0.0/16 is not a private range", "RFC 1918"),
    ("subnet-reserved", medium_subnet("240.0.0.0/16"),
     "240.0.0.0/16 is not a private range (reserved", "RFC 1918"),
    ("subnet-broadcast-block", medium_subnet("255.255.0.0/16"),
     "255.255.0.0/16 is not a private range (reserved", "RFC 1918"),
    ("subnet-multicast", medium_subnet("224.1.0.0/16"),
     "224.1.0.0/16 is not a private range (multicast", "RFC 1918"),
    ("subnet-link-local", medium_subnet("169.254.0.0/16"),
     "169.254.0.0/16 is not a private range (link-local", "RFC 1918"),
    ("subnet-cgnat", medium_subnet("100.64.0.0/16"),
     "100.64.0.0/16 is not a private range (carrier-grade NAT", "RFC 1918"),
    ("subnet-documentation", medium_subnet("192.0.2.0/24"),
     "192.0.2.0/24 is not a private range (documentation", "RFC 1918"),
    ("subnet-benchmark", medium_subnet("198.18.0.0/16"),
     "198.18.0.0/16 is not a private range (benchmarking", "RFC 1918"),
    ("subnet-next-to-rfc1918", medium_subnet("172.32.0.0/16"),
     "172.32.0.0/16 is not a private range (public", "RFC 1918"),
]


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("text, fragment, allowed", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_model_reports_problem(text, fragment, allowed):
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, "/etc/config/torbox")
    joined = "\n".join(err.value.problems)
    assert fragment in joined
    assert allowed in joined
    for problem in err.value.problems:
        assert re.match(r"^/etc/config/torbox:\d+: ", problem), problem


@pytest.mark.parametrize("text, fragment, allowed", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_cli_exits_2_and_writes_nothing(tmp_path, text, fragment, allowed):
    cfg = tmp_path / "torbox"
    cfg.write_text(text)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, TORBOX, "render", "--config", str(cfg), "--out", str(out),
         "--target", "linux"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert not out.exists()
    assert proc.stdout == ""


def test_all_problems_reported_at_once():
    text = edit("option ssid 'tor_medium'", "option ssid '" + "x" * 40 + "'")
    text = text.replace("option key 'test-key-3-0123'", "option key 'short'")
    text = text.replace("option dns_port '9053'", "option dns_port '9040'")
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, "t")
    assert len(err.value.problems) == 3


def test_line_numbers_point_at_the_option():
    text = edit("option router '192.168.9.1'", "option router '192.168.99.1'")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "192.168.99.1" in ln)
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, "t")
    assert err.value.problems[0].startswith(f"t:{line}: ")


def test_default_config_is_valid_and_defaults_apply():
    cfg = config.loads(GOOD, "t")
    assert str(cfg.networks["tor_medium"].subnet) == "192.168.9.0/24"
    assert cfg.networks["tor_max"].admin is False
    assert cfg.networks["tor_off"].admin is True
    assert cfg.tor.trans_port == 9040
    # a minimal file takes every default from the model
    minimal = "".join(
        f"config network '{n}'\n\toption key 'k-{n}-12345'\n" for n in config.NETWORK_NAMES)
    cfg = config.loads(minimal, "m")
    assert str(cfg.networks["tor_off"].router) == "192.168.8.1"
    assert cfg.network_of("192.168.10.77").name == "tor_max"


def test_shipped_config_needs_keys_generated(tmp_path):
    shipped = os.path.join(ROOT, "files", "etc", "config", "torbox")
    with pytest.raises(config.ConfigError) as err:
        config.load(shipped)
    assert len(err.value.problems) == 3
    assert all("key: empty" in p for p in err.value.problems)
    copy = tmp_path / "torbox"
    copy.write_text(open(shipped).read())
    proc = subprocess.run([sys.executable, TORBOX, "genkeys", "--config", str(copy)],
                          capture_output=True, text=True, check=True)
    assert "tor_off, tor_medium, tor_max" in proc.stdout
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    cfg = config.load(str(copy))
    keys = {n.key for n in cfg.networks.values()}
    assert len(keys) == 3 and all(len(k) == 20 for k in keys)
    # everything else is byte-identical
    orig = open(shipped).read().splitlines()
    new = copy.read_text().splitlines()
    assert [a for a, b in zip(orig, new, strict=True) if a != b] == ["\toption key ''"] * 3
    # running it twice changes nothing
    before = copy.read_bytes()
    subprocess.run([sys.executable, TORBOX, "genkeys", "--config", str(copy)], check=True,
                   capture_output=True)
    assert copy.read_bytes() == before
