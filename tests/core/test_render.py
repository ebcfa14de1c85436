"""Generated output: golden files, and real `nft -c` and `tor --verify-config` on
the default config and three others."""

import os
import shutil
import subprocess
import sys

import pytest

from torbox import config, render, render_openwrt, uci

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = ["default", "bridges", "custom", "minimal"]
GOLDEN = os.path.join(ROOT, "tests", "golden")
TORBOX = os.path.join(ROOT, "files", "usr", "sbin", "torbox")


def load(name: str) -> config.Config:
    return config.load(os.path.join("tests", "configs", f"{name}.uci"))


def rendered(name: str, target: str) -> dict[str, str]:
    cwd = os.getcwd()
    os.chdir(ROOT)  # keeps the path in the generated headers stable
    try:
        return render.render_all(load(name), target)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("target", ["linux", "openwrt"])
def test_golden_default(target):
    """Every change to generated output shows up as a diff of tests/golden/."""
    files = rendered("default", target)
    golden_dir = os.path.join(GOLDEN, target)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden_dir, ignore_errors=True)
        render.write_all(files, golden_dir)
    on_disk = {}
    for dirpath, _, names in os.walk(golden_dir):
        for n in names:
            p = os.path.join(dirpath, n)
            on_disk[os.path.relpath(p, golden_dir)] = open(p, encoding="utf-8").read()
    assert sorted(on_disk) == sorted(files), "run `UPDATE_GOLDEN=1 make test-core` and review"
    for rel, text in files.items():
        assert on_disk[rel] == text, f"{rel} differs from tests/golden/{target}/{rel}"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="nft -c needs root (CAP_NET_ADMIN)")


@needs_root
@pytest.mark.nft
@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("target", ["linux", "openwrt"])
def test_nft_accepts_table(tmp_path, name, target):
    path = tmp_path / "torbox.nft"
    path.write_text(rendered(name, target)["torbox.nft"])
    proc = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@needs_root
@pytest.mark.nft
def test_nft_rejects_broken_table(tmp_path):
    """The check above can fail: a table with a typo is refused."""
    text = rendered("default", "linux")["torbox.nft"].replace("redirect to", "redirekt to", 1)
    path = tmp_path / "bad.nft"
    path.write_text(text)
    proc = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("name", CONFIGS)
def test_tor_verifies_torrc(tmp_path, name):
    torrc = tmp_path / "torrc"
    torrc.write_text(rendered(name, "linux")["torrc"])
    data = tmp_path / "data"
    proc = subprocess.run(
        ["tor", "--verify-config", "-f", str(torrc), "--DataDirectory", str(data)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Configuration was valid" in proc.stdout


def test_tor_verify_can_fail(tmp_path):
    torrc = tmp_path / "torrc"
    torrc.write_text(rendered("default", "linux")["torrc"] + "UseBridges 1\nORPort 9001\n")
    proc = subprocess.run(["tor", "--verify-config", "-f", str(torrc), "--DataDirectory",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0


def test_torrc_content_matches_design():
    cfg = load("default")
    torrc = rendered("default", "linux")["torrc"].splitlines()
    assert "TransPort 192.168.9.1:9040" in torrc
    assert "DNSPort 192.168.9.1:9053" in torrc
    assert "SocksPort 192.168.10.1:9050" in torrc
    assert "VirtualAddrNetworkIPv4 10.192.0.0/10" in torrc
    assert "AutomapHostsOnResolve 1" in torrc
    assert f"ControlPort unix:{cfg.tor.control_socket} RelaxDirModeCheck" in torrc
    assert "CookieAuthentication 1" in torrc
    assert "AvoidDiskWrites 1" in torrc
    assert "MaxMemInQueues 16 MB" in torrc
    # nothing listens on the WAN or on all addresses
    assert not [ln for ln in torrc if ln.endswith("Port 9050") or "0.0.0.0" in ln]


def test_linux_dhcp_options():
    files = rendered("default", "linux")
    tor_max = files["dnsmasq-tor_max.conf"].splitlines()
    assert "dhcp-option=option:router" in tor_max and "dhcp-option=option:dns-server" in tor_max
    assert "port=0" in tor_max
    medium = files["dnsmasq-tor_medium.conf"].splitlines()
    assert "dhcp-option=option:router,192.168.9.1" in medium
    assert "port=0" in medium


def test_disabled_network_gets_no_services():
    files = rendered("minimal", "linux")
    assert "dnsmasq-tor_max.conf" not in files
    assert "tor_max" not in files["hostapd.conf"]
    assert "SocksPort 0" in files["torrc"]


@pytest.mark.parametrize("name", CONFIGS)
def test_secrets_written_0600(tmp_path, name):
    for target in ("linux", "openwrt"):
        out = tmp_path / target
        subprocess.run([sys.executable, TORBOX, "render", "--config",
                        os.path.join(ROOT, "tests", "configs", f"{name}.uci"),
                        "--out", str(out), "--target", target], check=True, capture_output=True)
        for dirpath, _, names in os.walk(out):
            for n in names:
                p = os.path.join(dirpath, n)
                text = open(p).read()
                has_key = any(k.key and k.key in text for k in load(name).networks.values())
                mode = os.stat(p).st_mode & 0o777
                if has_key:
                    assert mode == 0o600, p
                else:
                    assert mode == 0o644, p


def test_netjsonconfig_reads_openwrt_output():
    """An independent UCI implementation finds the same SSIDs, networks and zones."""
    from netjsonconfig import OpenWrt

    cfg = load("default")
    # what ends up on the router: stock OpenWrt files with torbox's sections merged in
    docs = {}
    for f in ("network", "wireless", "dhcp", "firewall", "tor"):
        text = open(os.path.join(ROOT, "tests", "data", "openwrt", f)).read()
        docs[f] = uci.parse(text, f)
    render_openwrt.merge(docs, cfg)
    native = "".join(f"package {f}\n" + docs[f].dump() + "\n"
                     for f in ("network", "wireless", "firewall"))
    parsed = OpenWrt(native=native).config
    ssids = {n.ssid for n in cfg.networks.values()}
    names = {i.get("network", i["name"]) for i in parsed["interfaces"]}
    assert {"tor_medium", "tor_max"} <= names
    ips = {a.get("address") for i in parsed["interfaces"] for a in i.get("addresses", [])}
    assert {str(n.router) for n in cfg.networks.values()} <= ips
    fw = parsed["firewall"]
    zones = {z["name"]: z for z in fw if z["config_name"] == "zone"}
    assert {"tor_medium", "tor_max"} <= set(zones)
    assert zones["tor_medium"]["forward"] == zones["tor_max"]["forward"] == "REJECT"
    forwardings = [(f["src"], f["dest"]) for f in fw if f["config_name"] == "forwarding"]
    assert forwardings == [("lan", "wan")]  # only tor_off (lan) reaches the WAN
    assert [d["drop_invalid"] for d in fw if d["config_name"] == "defaults"] == ["1"]
    # our own parser agrees
    wifaces = [w for w in parsed["interfaces"] if w.get("type") == "wireless"]
    enabled = {w["wireless"]["ssid"] for w in wifaces if not w.get("disabled")}
    assert enabled == ssids  # stock "OpenWrt" SSID is switched off
    ours = docs["wireless"]
    assert {s.get("ssid") for s in ours.sections_of("wifi-iface") if s.get("disabled") == "0"} \
        == ssids
