"""Fixtures for the emulated-router tests (marker `qemu`): the cached image, one VM at a time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu import vm
from qemu.router import LAPTOP_IP, RouterVm
from qemu.tap import open_tap
from tests.rig.netns import Lab, cleanup_stale


@pytest.fixture(scope="session")
def qemu_image() -> Path:
    """The Debian mipsel malta image, built on first use (about 5 minutes) then cached."""
    if os.environ.get("OPENWRT_IMAGE"):
        pytest.fail("OPENWRT_IMAGE is set, but booting a user-supplied OpenWrt malta image is "
                    "not implemented yet (qemu/README.md, 'OpenWrt images'); unset it to run "
                    "the Debian stand-in")
    if os.geteuid() != 0:
        pytest.skip("building and booting the router image needs root (chroot, binfmt_misc, tap)")
    missing = [t for t in ("qemu-system-mipsel", "qemu-mipsel-static", "debootstrap", "mke2fs")
               if shutil.which(t) is None]
    if missing:
        pytest.fail("missing " + ", ".join(missing) +
                    ": apt-get install qemu-system-mips qemu-user-static debootstrap e2fsprogs zstd")
    return vm.build_image()


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ipk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torbox's package, built from this tree by the same script as `make ipk`."""
    out = tmp_path_factory.mktemp("ipk")
    subprocess.run([sys.executable, str(REPO / "package/mkipk.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return next(out.glob("torbox_*.ipk"))


def make_uci(path: Path) -> Path:
    """The default /etc/config/torbox with Wi-Fi keys filled in (what a user deploys)."""
    shutil.copy(REPO / "files/etc/config/torbox", path)
    subprocess.run([sys.executable, str(REPO / "files/usr/sbin/torbox"), "genkeys",
                    "--config", str(path)], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO / "files/usr/lib/torbox")})
    return path


def wifi_keys(path: Path) -> dict[str, str]:
    sys.path.insert(0, str(REPO / "files/usr/lib/torbox"))
    from torbox import config  # noqa: PLC0415

    cfg = config.load(str(path))
    return {n.name: n.key for n in cfg.networks.values()}


@pytest.fixture
def vm_workdir(request: pytest.FixtureRequest) -> Path:
    return vm.new_workdir(request.node.name[:40])


def report_console(router: RouterVm) -> str:
    """What a failing test prints: the serial console and the guest's service logs."""
    parts = [f"serial console: {router.vm.console_path if router.vm else '-'}"]
    if router.vm is not None:
        parts.append(router.vm.tail(80))
    return "\n".join(parts)


def add_laptop(lab: Lab) -> tuple[str, int]:
    """The laptop on the router's cable: a namespace holding the tap that is the router's
    LAN port, at 192.168.8.2/24. Returns (namespace, tap fd for QEMU)."""
    ns = lab.add_ns("lap")
    tap = lab.ifname("vl")
    fd = open_tap(ns, tap)
    lab.add_addr(ns, tap, f"{LAPTOP_IP}/24")
    lab.ip(ns, "link", "set", tap, "up")
    return ns, fd


@pytest.fixture
def own_lab() -> Iterator[Lab]:
    """Namespaces of this test alone (tbx-<id>-...), removed whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    cleanup_stale()
    lab = Lab()
    try:
        yield lab
    finally:
        lab.teardown()
