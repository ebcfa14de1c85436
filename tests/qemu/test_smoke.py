"""Boot the emulated router with the GL-AR150's 64 MB and check its basics."""

from __future__ import annotations

import pytest

from qemu import results, vm

pytestmark = pytest.mark.qemu


@pytest.mark.timeout(1800)  # includes building the image on first use
def test_boot_64mb_python_tor(qemu_image):
    guest, rc = vm.run_job("smoke.sh", image=qemu_image, mem_mb=64, timeout=300)
    r = guest.results()
    results.record("smoke", {**r, "boot_to_poweroff_s": round(guest.elapsed(), 1)})
    assert rc == 0, guest.tail()
    # -m 64 really is 64 MB: the guest kernel keeps ~15 MB of it.
    assert 40_000 < int(r["mem_total_kb"]) < 65_536, r
    assert int(r["mem_available_kb"]) > 30_000, r
    assert r["cpu"].startswith("MIPS_24Kc"), r
    assert r["tor_version"].startswith("Tor_version_0.4"), r
    assert r["python3_version"].startswith("3."), r
    assert float(r["boot_to_init_s"]) < 60, r
