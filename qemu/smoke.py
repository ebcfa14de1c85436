"""`make qemu-smoke`: boot the router image, report memory, Python and tor, power off.

Usage: python3 -m qemu.smoke [--cpu 24Kc] [--mem 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from qemu import results, vm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cpu", default=vm.DEFAULT_CPU)
    ap.add_argument("--mem", type=int, default=64, help="guest RAM in MB")
    args = ap.parse_args()

    t0 = time.monotonic()
    image = vm.build_image()
    t_image = time.monotonic() - t0
    try:
        guest, rc = vm.run_job("smoke.sh", image=image, cpu=args.cpu, mem_mb=args.mem, timeout=300)
    except vm.VmError as e:
        print(e, file=sys.stderr)
        return 1
    figures: dict[str, object] = dict(guest.results())
    figures.update(
        image=str(image),
        image_seconds=round(t_image, 1),
        boot_to_poweroff_s=round(guest.elapsed(), 1),
        mem_mb=args.mem,
        console=str(guest.console_path),
        job_exit=rc,
    )
    section = "smoke" if (args.cpu, args.mem) == (vm.DEFAULT_CPU, 64) else (
        f"smoke-{args.cpu}-{args.mem}m")
    path = results.record(section, figures)
    print(json.dumps(figures, indent=2))
    print(f"recorded in {path} [{section}]")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
