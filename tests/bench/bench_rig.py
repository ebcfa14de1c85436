"""Rig benchmark (issue 3): a 20 MB download through the rig, medians of 5, one run.

  TransPort/SOCKS   tor_medium (transparent, TransPort) vs tor_max (SocksPort, remote
                    hostname) to the same web server; ratio of throughputs (target >= 0.9)
  tor_off overhead  tor_off with torbox's table vs with only a plain masquerade rule
                    (target <= 5 %)

Runs are interleaved (A, B, A, B, ...) so drift hits both sides alike. Needs root.
Usage: python tests/bench/bench_rig.py [--runs 5] [--size 20000000] [--off-pairs 21] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.rig.netns import Lab  # noqa: E402
from tests.rig.router import Client, TorboxRouter  # noqa: E402
from tests.rig.tornet import WEB_IP, PrivateTorNetwork  # noqa: E402


def fetch(client: Client, size: int, socks: str | None = None, repeat: int = 1) -> float:
    """Seconds (curl's own total time) for `repeat` downloads of `size` bytes, one curl."""
    url = f"http://{'web.test' if socks else WEB_IP}/bytes/{size}"
    argv = ["curl", "-sS", "-w", r"%{size_download} %{time_total}\n", "-m", "300"]
    if socks:
        argv += ["--socks5-hostname", socks]
    for _ in range(repeat):
        argv += ["-o", "/dev/null", url]
    res = client.exec(argv, timeout=320)
    total = 0.0
    lines = res.stdout.split("\n")[:repeat]
    for line in lines:
        got, seconds = line.split()
        if int(got) != size:
            raise RuntimeError(f"short download ({got} bytes): {res.stderr}")
        total += float(seconds)
    if res.returncode != 0 or len(lines) != repeat:
        raise RuntimeError(f"download failed ({res.returncode}): {res.stderr}")
    return total


def plain_nat(router: TorboxRouter) -> str:
    off = router.network("tor_off")
    return (f"table ip tbx_bench {{\n chain post {{\n  type nat hook postrouting priority 100;"
            f" oifname \"{router.wan_if}\" ip saddr {off.subnet} masquerade\n }}\n}}\n")


def run(runs: int, size: int, off_repeat: int, off_pairs: int) -> dict[str, object]:
    t0 = time.monotonic()
    with Lab() as lab:
        net = PrivateTorNetwork(lab)
        net.start()
        router = TorboxRouter(lab, net)
        router.start()
        setup_s = time.monotonic() - t0
        router.capture.stop()  # measure forwarding, not tcpdump
        off, med, mx = (router.clients[n] for n in ("tor_off", "tor_medium", "tor_max"))
        socks = f"{router.network('tor_max').router}:{router.cfg.tor.socks_port}"
        fetch(med, 1000)  # warm circuits on both paths
        fetch(mx, 1000, socks=socks)
        trans, sock = [], []
        for _ in range(runs):
            trans.append(fetch(med, size))
            sock.append(fetch(mx, size, socks=socks))
        # tor_off: single 20 MB downloads (as the issue asks) and, because one takes only
        # ~25 ms on veth links, also samples of `off_repeat` back-to-back downloads. Those
        # are cheap, so they get `off_pairs` interleaved pairs: with 5 the medians swung
        # from -7 % to +49 % between runs (scheduler noise from the Tor network's processes).
        with_table, without, with_batch, without_batch = [], [], [], []
        for _ in range(off_pairs):
            router.load_nft()
            router.lab.exec(router.ns, ["nft", "delete", "table", "ip", "tbx_bench"], check=False)
            with_table.append(fetch(off, size))
            with_batch.append(fetch(off, size, repeat=off_repeat))
            router.remove_table()
            router.lab.exec(router.ns, ["nft", "-f", "-"], input=plain_nat(router))
            without.append(fetch(off, size))
            without_batch.append(fetch(off, size, repeat=off_repeat))
        router.lab.exec(router.ns, ["nft", "delete", "table", "ip", "tbx_bench"], check=False)
        router.load_nft()
    med_t, med_s = statistics.median(trans), statistics.median(sock)
    med_w, med_wo = statistics.median(with_table), statistics.median(without)
    med_wb, med_wob = statistics.median(with_batch), statistics.median(without_batch)
    mb = size / 1e6
    return {
        "size_bytes": size,
        "runs": runs,
        "rig_setup_s": round(setup_s, 1),
        "seconds": {"transport": trans, "socks": sock, "tor_off_torbox": with_table,
                    "tor_off_plain_nat": without, f"tor_off_torbox_x{off_repeat}": with_batch,
                    f"tor_off_plain_nat_x{off_repeat}": without_batch},
        "median_MBps": {"transport": round(mb / med_t, 2), "socks": round(mb / med_s, 2),
                        "tor_off_torbox": round(mb / med_w, 1),
                        "tor_off_plain_nat": round(mb / med_wo, 1)},
        # throughput ratio = inverse time ratio
        "transport_vs_socks": round(med_s / med_t, 3),
        "tor_off_overhead_pct": round((med_w / med_wo - 1) * 100, 1),
        f"tor_off_overhead_pct_x{off_repeat}": round((med_wb / med_wob - 1) * 100, 1),
        # median of the per-pair ratios: each pair ran back to back, so drift cancels
        f"tor_off_overhead_pct_x{off_repeat}_paired": round((statistics.median(
            w / wo for w, wo in zip(with_batch, without_batch, strict=True)) - 1) * 100, 1),
        "tor_off_pairs": off_pairs,
        "targets": {"transport_vs_socks": ">= 0.9", "tor_off_overhead_pct": "<= 5"},
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size", type=int, default=20_000_000)
    ap.add_argument("--off-repeat", type=int, default=10)
    ap.add_argument("--off-pairs", type=int, default=21)
    ap.add_argument("--json", default=str(REPO / "tests" / "artifacts" / "bench-rig.json"))
    args = ap.parse_args()
    result = run(args.runs, args.size, args.off_repeat, args.off_pairs)
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(text + "\n")
    ok = result["transport_vs_socks"] >= 0.9 and result["tor_off_overhead_pct"] <= 5
    print(f"targets {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
