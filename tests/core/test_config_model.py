"""The model's declarations: one per option, defaults derived where the README says so,
the README's configuration tables generated from them, and the subnet rules."""

import dataclasses
import ipaddress
import os
import re

import pytest

from torbox import config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = open(os.path.join(ROOT, "tests", "configs", "default.uci"), encoding="utf-8").read()
SHIPPED = os.path.join(ROOT, "files", "etc", "config", "torbox")
README = os.path.join(ROOT, "README.md")


def keys(text: str = "") -> str:
    """The smallest valid file: keys only, plus `text`."""
    return "".join(f"config network '{n}'\n\toption key 'k-{n}-12345'\n"
                   for n in config.NETWORK_NAMES) + text


def without(text: str, *lines: str) -> str:
    for line in lines:
        assert f"\t{line}\n" in text, line
        text = text.replace(f"\t{line}\n", "", 1)
    return text


# Issue 10 item 4: defaults derived from the subnet and the network name.

def test_changing_only_the_subnet_moves_the_router_to_its_first_host():
    """README: the router address defaults to the first host (.1) of the subnet. It was a
    fixed literal, so a file that changed only `subnet` was refused."""
    text = without(GOOD, "option router '192.168.9.1'").replace(
        "option subnet '192.168.9.0/24'", "option subnet '10.20.0.0/16'")
    cfg = config.loads(text, "t")
    assert str(cfg.networks["tor_medium"].router) == "10.20.0.1"
    cfg = config.loads(keys("config network 'tor_max'\n\toption subnet '172.16.4.0/22'\n"), "t")
    assert str(cfg.networks["tor_max"].router) == "172.16.4.1"


def test_device_defaults_to_the_bridge_of_the_interface():
    cfg = config.loads(keys(), "t")
    assert [(n.interface, n.device) for n in cfg.networks.values()] == [
        ("lan", "br-lan"), ("tor_medium", "br-tor_medium"), ("tor_max", "br-tor_max")]
    cfg = config.loads(keys("config network 'tor_max'\n\toption interface 'guest'\n"), "t")
    assert cfg.networks["tor_max"].device == "br-guest"


def test_a_derived_default_that_does_not_fit_is_reported_at_its_source():
    text = keys("config network 'tor_max'\n\toption interface 'a_long_network'\n")
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, "t")
    (problem,) = err.value.problems
    line = text.splitlines().index("\toption interface 'a_long_network'") + 1
    assert problem.startswith(f"t:{line}: tor_max.device: 'br-a_long_network' (the default, ")
    assert "allowed: 1 to 15" in problem


def test_admin_defaults_by_network():
    cfg = config.loads(keys(), "t")
    assert [n.admin for n in cfg.networks.values()] == [True, False, False]


def test_network_defaults_view_is_derived():
    """deploy/ reads NETWORK_DEFAULTS and MAIN_SCHEMA; both come from the declarations."""
    assert config.NETWORK_DEFAULTS["tor_off"]["router"] == "192.168.8.1"
    assert config.NETWORK_DEFAULTS["tor_max"]["device"] == "br-tor_max"
    assert config.MAIN_SCHEMA["wired"][1] == "tor_off"


def test_each_option_is_declared_once_with_parser_default_and_help():
    seen = 0
    for cls in (config.Main, config.Network, config.Tor, config.Webui):
        for f in dataclasses.fields(cls):
            if f.name in ("name", "mode"):
                continue
            opt = f.metadata["option"]
            assert callable(opt.kind.parse) and opt.help and opt.kind.allowed, f.name
            seen += 1
    assert seen == sum(len(c.options()) for c in (config.Main, config.Network, config.Tor,
                                                   config.Webui))
    # the compatibility view (section -> option -> (parser, default, is_list)) is derived
    assert set(config.SCHEMAS[("network", "tor_max")]) == set(config.Network.options())
    assert set(config.SCHEMAS[("tor", "tor")]) == set(config.Tor.options())


def test_every_literal_default_parses():
    """Defaults go through the same parser as the file's values (a typo would fail here)."""
    cfg = config.loads(keys(), "t")
    assert cfg.tor.trans_port == 9040 and cfg.webui.port == 8480 and cfg.main.wired == "tor_off"


# Issue 10 item 4: the README's configuration tables are generated from the declarations.

def test_readme_tables_equal_the_generated_ones():
    readme = open(README, encoding="utf-8").read()
    generated = config.reference_markdown()
    assert generated in readme, (
        "README's configuration tables differ from the declarations in config.py; paste the "
        "output of `python3 -c 'from torbox import config; print(config.reference_markdown())'`"
        " (run from files/usr/lib/torbox) into README.md")


def test_generated_tables_name_every_option_once():
    text = config.reference_markdown()
    for cls in (config.Main, config.Network, config.Tor, config.Webui):
        for name in cls.options():
            assert re.search(rf"^\| `{name}` \|", text, flags=re.M), name


# Item 5: the control socket lives where OpenWrt's tor init script creates a directory.

def test_control_socket_default_is_in_tors_own_directory():
    """OpenWrt's /etc/init.d/tor creates /var/lib/tor (0700 tor:tor) at every start and never
    /var/run/tor; tor refuses a ControlSocket whose directory is missing."""
    cfg = config.loads(keys(), "t")
    assert cfg.tor.control_socket == "/var/lib/tor/control"
    assert os.path.dirname(cfg.tor.control_socket) == cfg.tor.data_dir
    shipped = open(SHIPPED, encoding="utf-8").read()
    assert "\toption control_socket '/var/lib/tor/control'\n" in shipped


# Issue 11 item 10: network subnets are RFC 1918 only.

@pytest.mark.parametrize("subnet", ["10.0.0.0/16", "10.191.255.0/24", "172.16.0.0/16",
                                    "172.31.255.0/24", "192.168.0.0/16", "192.168.77.0/24"])
def test_rfc1918_subnets_are_accepted(subnet):
    text = keys(f"config network 'tor_medium'\n\toption subnet '{subnet}'\n")
    if ipaddress.IPv4Network(subnet).overlaps(ipaddress.IPv4Network("192.168.8.0/22")):
        text = text.replace("config network 'tor_off'\n",
                            "config network 'tor_off'\n\toption subnet '10.99.0.0/24'\n")
        text = text.replace("config network 'tor_max'\n",
                            "config network 'tor_max'\n\toption subnet '10.98.0.0/24'\n")
    cfg = config.loads(text, "t")
    assert str(cfg.networks["tor_medium"].subnet) == subnet


@pytest.mark.parametrize("subnet, why", [
    ("127.5.0.0/16", "loopback"), ("0.0.0.0/16", "this network"), ("240.0.0.0/16", "reserved"),
    ("255.255.0.0/16", "reserved"), ("224.0.0.0/16", "multicast"), ("239.1.0.0/16", "multicast"),
    ("169.254.0.0/16", "link-local"), ("100.64.0.0/16", "carrier-grade NAT"),
    ("100.127.0.0/16", "carrier-grade NAT"), ("192.0.0.0/24", "IETF protocol"),
    ("192.0.2.0/24", "documentation"), ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"), ("198.18.0.0/16", "benchmarking"),
    ("8.8.8.0/24", "public"), ("172.32.0.0/16", "public"), ("11.0.0.0/16", "public"),
    ("10.192.0.0/16", "overlaps Tor's virtual address range"),
    ("10.0.0.0/8", "prefix /8 not allowed"),
])
def test_other_subnets_are_refused(subnet, why):
    net = ipaddress.IPv4Network(subnet)
    text = keys(f"config network 'tor_max'\n\toption subnet '{subnet}'\n"
                f"\toption router '{net[1]}'\n")
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, "t")
    joined = "\n".join(err.value.problems)
    assert "tor_max.subnet: " in joined and why in joined
    assert "allowed: " in joined


def test_wan_subnet_may_be_public():
    cfg = config.loads(keys("config torbox 'main'\n\toption wan_subnet '203.0.113.0/24'\n"), "t")
    assert str(cfg.main.wan_subnet) == "203.0.113.0/24"


# Reading the file: bytes that are not UTF-8 are a problem with a line, not a traceback.

def test_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "torbox"
    path.write_bytes(keys().encode() + b"config tor 'tor'\n\toption relay_contact 'caf\xe9'\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(str(path))
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:8: not UTF-8 text")
    assert "allowed: " in problem
