"""Fixtures for the OpenWrt-userland tests: boxes (`make_box`) on the rig's network.

Each box is a rig network namespace running OpenWrt's own userland (see box.py): its WAN
`eth0` is linked to the rig's private internet (a /30, static as netifd configures it), its
LAN port `eth1` to a laptop namespace, and `eth2`/`eth3` are spare ports the tests put into
the Tor networks' bridges the way hostapd puts a Wi-Fi station's interface there. Its tor
(OpenWrt's init script, Debian's binary) uses the private Tor network through a
`head_include` file, as a user would add a torrc fragment.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from package.hostapk import host_apk
from tests.openwrt.box import OpenWrtBox, userland_root
from tests.rig.netns import Lab
from tests.rig.tornet import PrivateTorNetwork

ROUTER_ETC = Path(__file__).resolve().parent / "router-etc"
PRIVATE_TORRC = "/etc/tor/tbx-private-net.torrc"
_boxes = itertools.count()
# What a router's image already has installed when torbox arrives: here Debian's binaries stand
# in for them (tor, nft, python3 with bottle and stem), registered in both package databases
# under OpenWrt's package names, as an image build records them.
BASE_PACKAGES = ("libc", "tor", "nftables", "firewall4", "python3-light", "python3-bottle",
                 "python3-stem")
ARCH = "x86_64"  # the box's architecture; torbox itself is `all`/`noarch`


def register_base_packages(box: OpenWrtBox, tmp: Path) -> None:
    status = "".join(f"Package: {p}\nVersion: 0-host\nStatus: install user installed\n"
                     f"Architecture: {ARCH}\nInstalled-Time: 0\n\n" for p in BASE_PACKAGES)
    box.write("/usr/lib/opkg/status", status)
    box.sh("mkdir -p /usr/lib/opkg/info && cd /usr/lib/opkg/info && touch "
           + " ".join(f"{p}.list {p}.control" for p in BASE_PACKAGES))
    box.sh(f"printf 'arch all 1\\narch noarch 1\\narch {ARCH} 10\\n' >> /etc/opkg.conf")
    apk = host_apk()
    stub_dir = tmp / "stubs"
    (stub_dir / "empty").mkdir(parents=True, exist_ok=True)
    names = []
    for p in BASE_PACKAGES:
        out = stub_dir / f"{p}.apk"
        subprocess.run([str(apk), "mkpkg", "--info", f"name:{p}", "--info", "version:0-r0",
                        "--info", f"arch:{ARCH}", "--info", "description:host stand-in",
                        "--files", str(stub_dir / "empty"), "--output", str(out)],
                       check=True, capture_output=True)
        box.put(out, f"/tmp/base-{p}.apk")
        names.append(f"/tmp/base-{p}.apk")
    box.write("/etc/apk/arch", ARCH + "\n")
    box.sh("apk add --initdb --allow-untrusted --no-network " + " ".join(names))
    box.sh("rm -f /tmp/base-*.apk")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.openwrt)


@pytest.fixture(scope="session")
def openwrt_userland() -> Path:
    """The userland must have been built (make openwrt-userland): fail, never skip."""
    return userland_root()


def make_box(lab: Lab, net: PrivateTorNetwork, boot: bool = True) -> OpenWrtBox:
    """A router before torbox: OpenWrt's defaults, WAN up, tor on the private network."""
    n = next(_boxes)
    ns = lab.add_ns(f"ow{n}")
    wan_ip, gateway, _ = net.attach(ns, "eth0", default_route=False)
    box = OpenWrtBox(lab, ns, name=f"owrt{n}")
    for port in ("eth1", "eth2", "eth3"):
        peer = lab.add_ns(f"ow{n}{port[-1]}")
        lab.add_veth(ns, port, peer, "eth0")
        box.peers[port] = peer
    box.start()
    register_base_packages(box, box.dir)
    for name in ("network", "wireless"):
        box.put(ROUTER_ETC / "config" / name, f"/etc/config/{name}")
    box.put(ROUTER_ETC / "tor" / "torrc", "/etc/tor/torrc")
    box.write(PRIVATE_TORRC, "\n".join([*net.client_torrc_lines(),
                                         "Log notice file /var/log/tor/notices.log", ""]))
    box.sh(f"uci set network.wan.ipaddr={wan_ip} && uci set network.wan.netmask=255.255.255.252"
           f" && uci set network.wan.gateway={gateway} && uci set network.wan.dns={net.dns_ip}"
           f" && uci add_list tor.conf.head_include={PRIVATE_TORRC}"
           # Stand-in: Debian's dnsmasq is built without ubus support (OpenWrt's has it) and
           # exits on --enable-ubus; the ubus part only publishes lease events.
           " && uci set dhcp.@dnsmasq[0].ubus=0 && uci commit")
    if boot:
        box.boot()
        box.wait("ubus call network.interface.wan status | grep -q '\"up\": true'",
                 timeout=30, what="wan up")
    return box
