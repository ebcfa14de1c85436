"""Boot the emulated router (64 MB) and install torbox with the real deploy tool.

The CI-sized test: no Tor network; the WAN NIC reaches nothing. The laptop is a network
namespace on the router's wired LAN port (a tap), running deploy/deploy.py --host 192.168.8.1.
"""

from __future__ import annotations

import os

import pytest

from qemu import results, vm
from qemu.router import LAN_IP, RouterVm
from tests.qemu.conftest import add_laptop, make_uci, report_console

pytestmark = pytest.mark.qemu

HOSTKEY_REFUSED = 3  # deploy/torbox_deploy/errors.py HOSTKEY


@pytest.mark.timeout(1800)
def test_boot_and_deploy(qemu_image, ipk, own_lab, tmp_path):
    uci = make_uci(tmp_path / "torbox.uci")
    lan_ns, lan_fd = add_laptop(own_lab)
    router = RouterVm(qemu_image, vm.new_workdir("deploy"), lan_ns, lan_fd)
    figures: dict[str, object] = {}
    with vm.single_vm_lock():
        try:
            router.start()

            # Anti-test: a fingerprint that is not the console's is refused before
            # anything is sent, so the detector (host key pinning) can fire.
            bad = router.deploy(uci, ipk, fingerprint="SHA256:" + "A" * 43)
            assert bad.returncode == HOSTKEY_REFUSED, bad.stdout
            assert router.run("ls -d /usr/lib/torbox 2>/dev/null || echo absent").strip() == \
                "absent"

            proc = router.deploy(uci, ipk)
            assert proc.returncode == 0, proc.stdout
            assert "matches --fingerprint" in proc.stdout, proc.stdout

            # The table is live and the status page answers on the laptop's side.
            router.run("nft list table inet torbox >/dev/null")
            page = router.laptop(["curl", "-sS", "-m", "60", "-w", "\\n%{http_code}",
                                  f"http://{LAN_IP}:8480/torbox"], timeout=90)
            assert page.stdout.rstrip().endswith("200"), page.stdout + page.stderr
            router.vm.wait_for(r"^TBX-SVC started", 300)
            figures.update(router.figures())
            assert router.poweroff() == 0, report_console(router)
        except Exception:
            print(report_console(router))
            raise
        finally:
            router.kill()
            os.close(lan_fd)
    results.record("deploy_smoke", {
        **router.timings,
        **figures,
        "mem_mb": router.mem_mb,
        "note": "WAN isolated: tor runs but cannot bootstrap",
        "console": str(router.vm.console_path),
    })
