#!/usr/bin/env python3
"""Benchmark: `torbox render` wall time, as a ratio to `python3 -c pass` measured in the same run.

Run with `make bench-core`. Prints medians of N runs and the ratio; exits 0
(a benchmark reports, it does not pass or fail).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = int(os.environ.get("BENCH_RUNS", "10"))


def median_time(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        base = median_time([sys.executable, "-c", "pass"])
        results = {}
        for target in ("linux", "openwrt"):
            results[target] = median_time([
                sys.executable, os.path.join(ROOT, "files/usr/sbin/torbox"), "render",
                "--config", os.path.join(ROOT, "tests/configs/default.uci"),
                "--out", os.path.join(out, target), "--target", target])
    print(f"python3 -c pass           median of {RUNS}: {base * 1000:7.1f} ms (baseline)")
    for target, t in results.items():
        print(f"torbox render --target {target:7} median of {RUNS}: {t * 1000:7.1f} ms "
              f"= {t / base:.2f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
