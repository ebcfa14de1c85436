"""The install lifecycle on OpenWrt's own userland, with the real package managers.

One box per package manager (opkg as on 24.10, apk as on 25.12). In order, as a traveller
does it: install the package → the configuration is in force without any manual reload
(bridges with their addresses, fw4 zones, torbox's table, tor with torbox's torrc, the page
on all three router addresses) → `uci set` + reload applies a change → a network reload
that re-creates the bridges keeps the page answering → removal restores every file byte
for byte and deletes the table.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.openwrt.box import OpenWrtBox
from tests.openwrt.conftest import make_box
from tests.rig.netns import wait_for
from tests.rig.router import Client

pytestmark = pytest.mark.rig

REPO = Path(__file__).resolve().parents[2]
MANAGED = ("network", "wireless", "dhcp", "firewall", "tor")
ROUTERS = {"tor_off": "192.168.8.1", "tor_medium": "192.168.9.1", "tor_max": "192.168.10.1"}
PORTS = {"tor_off": "eth1", "tor_medium": "eth2", "tor_max": "eth3"}
BRIDGES = {"tor_off": "br-lan", "tor_medium": "br-tor_medium", "tor_max": "br-tor_max"}
PAGE_PORT = 8480
TOR_LOG = "/var/log/tor/notices.log"  # tor.init makes /var/log/tor for user tor


def build_package(kind: str, out: Path) -> Path:
    script = {"opkg": "mkipk.py", "apk": "mkapk.py"}[kind]
    res = subprocess.run([sys.executable, str(REPO / "package" / script), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return Path(res.stdout.split()[0])


def install_cmd(kind: str, path: str) -> str:
    if kind == "opkg":
        return f"opkg install {path}"
    return f"apk add --allow-untrusted {path}"


def remove_cmd(kind: str) -> str:
    return "opkg remove torbox" if kind == "opkg" else "apk del torbox"


def attach_ports(box: OpenWrtBox) -> None:
    """Put the spare ports into the Tor bridges, as hostapd does with a station's interface."""
    for net in ("tor_medium", "tor_max"):
        box.wait(f"[ -d /sys/class/net/{BRIDGES[net]} ]", timeout=30, what=BRIDGES[net])
        box.sh(f"ip link set {PORTS[net]} master {BRIDGES[net]} && ip link set {PORTS[net]} up")


def page_status(client: Client, host: str, port: int = PAGE_PORT) -> str:
    res = client.curl(f"http://{host}:{port}/torbox", timeout=5,
                      extra=["-o", "/dev/null", "-w", "%{http_code}"])
    return res.stdout.strip()


@pytest.fixture(scope="module", params=["opkg", "apk"])
def installed(request, openwrt_userland, rig_lab, tor_network, tmp_path_factory):
    """A box, the untouched config files, and the package installed into it."""
    kind = request.param
    pkg = build_package(kind, tmp_path_factory.mktemp(kind))
    box = make_box(rig_lab, tor_network)
    before = {name: box.read(f"/etc/config/{name}") for name in MANAGED}
    box.put(pkg, f"/tmp/{pkg.name}")
    t0 = time.monotonic()
    # Timeout: under apk a blocking service start in a post-install script hangs it.
    res = box.sh(install_cmd(kind, f"/tmp/{pkg.name}"), check=False, timeout=180)
    box.timings[f"{kind}_install_s"] = round(time.monotonic() - t0, 2)
    state = {"kind": kind, "box": box, "before": before, "install": res, "clients": {}}
    try:
        yield state
    finally:
        box.stop()


def client(state: dict, net: str) -> Client:
    """The laptop or phone on `net`, with a DHCP lease from the box's dnsmasq."""
    clients = state["clients"]
    if net not in clients:
        box: OpenWrtBox = state["box"]
        c = Client(box.lab, net, box.peers[PORTS[net]], "eth0")
        wait_for(lambda: _lease(c), timeout=60, what=f"a DHCP lease on {net}")
        clients[net] = c
    return clients[net]


def _lease(c: Client) -> bool:
    try:
        c.dhcp(timeout=20)
    except (subprocess.SubprocessError, OSError):
        return False
    return bool(c.ip)


def test_install_succeeds_once(installed):
    res = installed["install"]
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    # default_postinst ran the uci-defaults script and deleted it; torbox's own scripts do not
    # repeat it (fault 3: "90-torbox: not found" when they did)
    assert "not found" not in out, out
    box: OpenWrtBox = installed["box"]
    assert box.sh("[ ! -e /etc/uci-defaults/90-torbox ]", check=False).returncode == 0
    links = box.sh("cd /etc/rc.d && ls *torbox").stdout.split()
    assert links == ["K10torbox", "S95torbox"], links
    assert box.sh("readlink /etc/rc.d/S95torbox").stdout.strip() == "../init.d/torbox"


def test_config_in_force_without_manual_reload(installed):
    """Fault 2: bridges, addresses, fw4 zones, the table and tor's torrc, right after install."""
    box: OpenWrtBox = installed["box"]
    for net, addr in ROUTERS.items():
        box.wait(f"ip -4 addr show dev {BRIDGES[net]} | grep -q 'inet {addr}/24'", timeout=30,
                 what=f"{addr} on {BRIDGES[net]}")
    box.sh("nft list table inet torbox >/dev/null")
    fw4 = box.sh("nft list table inet fw4").stdout
    for zone in ("tor_medium", "tor_max"):
        assert f"chain input_{zone} " in fw4, fw4[:2000]
    assert box.sh("grep -q torbox.torrc /tmp/torrc", check=False).returncode == 0
    # Fault 5: tor refuses a ControlSocket whose folder its init script never creates
    for addr in ("192.168.9.1:9040", "192.168.10.1:9050"):
        box.wait(f"ss -ltn | grep -q '{addr} '", timeout=60, what=f"tor listening on {addr}",
                 logs=(TOR_LOG, "/tmp/torrc"))


def test_page_answers_on_all_three_networks(installed):
    box: OpenWrtBox = installed["box"]
    attach_ports(box)
    for net, addr in ROUTERS.items():
        c = client(installed, net)
        wait_for(lambda c=c, addr=addr: page_status(c, addr) == "200", timeout=30,
                 what=f"the page on {addr} from {net}")


def test_uci_set_and_reload_applies(installed):
    box: OpenWrtBox = installed["box"]
    box.sh("uci set torbox.tor_max.subnet=192.168.20.0/24 && "
           "uci set torbox.tor_max.router=192.168.20.1 && uci commit torbox && "
           "/etc/init.d/torbox reload")
    box.wait("ip -4 addr show dev br-tor_max | grep -q 'inet 192.168.20.1/24'", timeout=30,
             what="the new tor_max address")
    assert "192.168.20.0/24" in box.sh("nft list table inet torbox").stdout
    # reload_config compares against the checksums of its previous run (boot's, from before
    # torbox was installed): the first run after an install only records /etc/config/torbox.
    box.sh("reload_config")
    box.sh("uci set torbox.tor_max.subnet=192.168.10.0/24 && "
           "uci set torbox.tor_max.router=192.168.10.1 && uci commit torbox && reload_config")
    box.wait("ip -4 addr show dev br-tor_max | grep -q 'inet 192.168.10.1/24'", timeout=30,
             what="tor_max back through reload_config (procd's trigger)")


def test_network_reload_recreating_bridges_keeps_page(installed):
    """Fault 4: netifd re-creates br-lan when lan's address changes (new ifindex)."""
    box: OpenWrtBox = installed["box"]
    old = box.sh("cat /sys/class/net/br-lan/ifindex").stdout.strip()
    box.sh("uci set torbox.tor_off.subnet=192.168.18.0/24 && "
           "uci set torbox.tor_off.router=192.168.18.1 && uci commit torbox && "
           "/etc/init.d/torbox reload")
    box.wait("ip -4 addr show dev br-lan | grep -q 'inet 192.168.18.1/24'", timeout=30,
             what="lan's new address")
    new = box.sh("cat /sys/class/net/br-lan/ifindex").stdout.strip()
    c = client(installed, "tor_off")
    wait_for(lambda: _lease(c) and c.ip.startswith("192.168.18."), timeout=60,
             what="a lease on the new lan subnet")
    wait_for(lambda: page_status(c, "192.168.18.1") == "200", timeout=30,
             what=f"the page on the re-created br-lan (ifindex {old} -> {new})")


def test_remove_restores_byte_for_byte(installed):
    box: OpenWrtBox = installed["box"]
    res = box.sh(remove_cmd(installed["kind"]), check=False, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    for name, before in installed["before"].items():
        assert box.read(f"/etc/config/{name}") == before, f"/etc/config/{name} differs"
    assert box.sh("nft list table inet torbox", check=False).returncode != 0
    assert "torbox" not in box.sh("ls /etc/rc.d/").stdout
    assert box.sh("[ ! -e /usr/share/nftables.d/ruleset-post/30-torbox.nft ]",
                  check=False).returncode == 0


def test_image_build_enables_torbox_on_first_boot(openwrt_userland, rig_lab, tor_network,
                                                  tmp_path):
    """As the Image Builder installs it (offline root: the scripts only enable the service),
    then the first boot: uci-defaults writes the config, rcS starts torbox at S95."""
    box = make_box(rig_lab, tor_network, boot=False)
    try:
        pkg = build_package("opkg", tmp_path)
        box.put(pkg, "/tmp/torbox.ipk")
        # include/rootfs.mk: install without scripts, then each postinst with IPKG_INSTROOT set
        # (here the box's own root stands for the image's), then boot the "flashed" image.
        res = box.sh("IPKG_NO_SCRIPT=1 IPKG_INSTROOT=/ opkg --offline-root / "
                     "--force-postinstall install /tmp/torbox.ipk && "
                     "cd / && IPKG_INSTROOT=/ sh ./usr/lib/opkg/info/torbox.postinst",
                     timeout=120)
        assert box.sh("readlink /etc/rc.d/S95torbox").stdout.strip() == "../init.d/torbox"
        assert box.sh("[ -e /etc/uci-defaults/90-torbox ]", check=False).returncode == 0, \
            res.stdout
        assert box.sh("nft list table inet torbox", check=False).returncode != 0  # not yet
        out = box.boot()
        assert "S95torbox boot" in out
        box.wait("ip -4 addr show dev br-tor_medium | grep -q 'inet 192.168.9.1/24'",
                 timeout=30, what="tor_medium's bridge after the first boot")
        box.sh("nft list table inet torbox >/dev/null")
        assert box.sh("[ ! -e /etc/uci-defaults/90-torbox ]", check=False).returncode == 0
    finally:
        box.stop()
