"""deploy/deploy.py onto the OpenWrt box, as a laptop on the LAN port does it.

The box runs dropbear (Debian's binary, as OpenWrt's dropbear) with a host key the laptop
knows; the laptop logs in with a key. Two routers: one with opkg only (24.10: the tool runs
`opkg install`), one with apk (25.12: the tool unpacks the .ipk and must then do what
OpenWrt's generated postinst would — it cannot find an unpacked package's file list).
Either way torbox must end up installed, enabled, in force, and answering.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.openwrt.conftest import make_box
from tests.openwrt.test_lifecycle import build_package

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tests" / "configs" / "default.uci"  # the shipped config with test keys
OLD_LAN = "192.168.1.1"


def _start_dropbear(box, tmp: Path) -> str:
    key = tmp / "host_key"
    subprocess.run(["dropbearkey", "-t", "ed25519", "-f", str(key)], check=True,
                   capture_output=True)
    box.sh("mkdir -p /etc/dropbear /root/.ssh && chmod 700 /root/.ssh")
    box.put(key, "/etc/dropbear/dropbear_ed25519_host_key")
    # Debian's root entry is locked ('*'), which dropbear refuses even for keys
    box.sh("sed -i 's/^root:[^:]*:/root:$6$tbx$tbx:/' /etc/shadow")
    # in the foreground, detached from this shell's pipes (a daemon holding them would keep
    # the command from returning)
    box.sh("dropbear -F -E -r /etc/dropbear/dropbear_ed25519_host_key -p 22 "
           "</dev/null >/tmp/dropbear.log 2>&1 &")
    box.wait("ss -ltn | grep -q ':22 '", timeout=10, what="dropbear listening",
             logs=("/tmp/dropbear.log",))
    out = subprocess.run(["dropbearkey", "-y", "-f", str(key)], check=True,
                         capture_output=True, text=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("ssh-"))
    return " ".join(line.split()[:2])


@pytest.mark.parametrize("manager", ["opkg", "apk"])
def test_deploy_onto_openwrt(manager, openwrt_userland, rig_lab, tor_network, tmp_path):
    box = make_box(rig_lab, tor_network)
    try:
        if manager == "opkg":
            box.sh("rm -f /usr/bin/apk")  # a 24.10 router has no apk
        host_key = _start_dropbear(box, tmp_path)
        ident = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ident)],
                       check=True)
        box.write("/root/.ssh/authorized_keys", (tmp_path / "id_ed25519.pub").read_text(),
                  mode=0o600)
        known = tmp_path / "known_hosts"
        known.write_text(f"{OLD_LAN} {host_key}\n")
        laptop = box.peers["eth1"]
        # the laptop keeps its old lease and also gets an address on the new lan subnet,
        # as it would after the router's DHCP moved (the tool confirms from the new address)
        rig_lab.ip(laptop, "addr", "add", "192.168.1.50/24", "dev", "eth0")
        rig_lab.ip(laptop, "addr", "add", "192.168.8.50/24", "dev", "eth0")
        pkg = build_package("opkg", tmp_path / "pkg")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        res = subprocess.run(
            ["ip", "netns", "exec", laptop, sys.executable, str(REPO / "deploy" / "deploy.py"),
             "--host", OLD_LAN, "--identity", str(ident), "--known-hosts", str(known),
             "--config", str(CONFIG), "--package", str(pkg), "--backup-dir",
             str(tmp_path / "backups"), "--confirm-timeout", "60", "--status-timeout", "60"],
            env=env, capture_output=True, text=True, timeout=600)
        out = res.stdout + res.stderr
        assert res.returncode == 0, out
        assert "Confirmed from 192.168.8.1" in out, out
        assert box.sh("readlink /etc/rc.d/S95torbox").stdout.strip() == "../init.d/torbox"
        assert box.sh("[ ! -e /etc/uci-defaults/90-torbox ]", check=False).returncode == 0
        box.wait("ip -4 addr show dev br-tor_medium | grep -q 'inet 192.168.9.1/24'",
                 timeout=30, what="tor_medium in force after the deploy")
        box.sh("nft list table inet torbox >/dev/null")
        box.wait("ubus call service list '{\"name\":\"torbox\"}' | grep -q '\"running\": true'",
                 timeout=30, what="the status page instance")
        if manager == "opkg":  # installed by the package manager, not unpacked
            assert "Status: install" in box.sh("opkg status torbox").stdout
    finally:
        box.stop()
