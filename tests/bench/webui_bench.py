"""Benchmark of the /torbox page against baselines measured in the same run (loopback only).

    .venv/bin/python -m tests.bench.webui_bench [--requests 300] [--load-s 30] [--clients 50]

Budgets (issue 4): page <= 12 KB; latency of /torbox <= 3x a static file of the same size
served from this machine (busybox httpd, the closest to OpenWrt's uhttpd; Python's
http.server is reported too); server RSS next to a bare sleeping python3; 50 concurrent
clients for 30 s with zero errors and RSS growth <= 1 MB. Prints a table, writes
tests/artifacts/webui-bench.json, exits 1 when a budget is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.webui.conftest import (
    ARTIFACTS,
    free_port,
    start_tor,
    start_webui,
    stop_tor,
    stop_webui,
    uci_text,
    wait_for,
)

PAGE_BUDGET = 12 * 1024
RATIO_BUDGET = 3.0
RSS_GROWTH_BUDGET_KB = 1024


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def latencies(port: int, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _body = get(port, path)
        out.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"{path} on {port}: HTTP {status}")
    return out


def start_static(kind: str, root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "busybox":
        cmd = [shutil.which("busybox") or "busybox", "httpd", "-f", "-p", f"127.0.0.1:{port}",
               "-h", str(root)]
    else:
        cmd = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "-d", str(root),
               str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _up(port), 30, f"{kind} static server")
    return proc, port


def _up(port: int) -> bool:
    try:
        return get(port, "/page.html", timeout=2)[0] == 200
    except OSError:
        return False


def cpu_ms(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, port: int, seconds: float) -> dict[str, float]:
    """CPU the status page burns per minute with nobody looking (its monitors only), then
    with one visitor reloading every 5 s (the page's own refresh): what it costs a router
    that serves it all day."""
    time.sleep(3.0)  # let start-up finish; no request has been made yet
    c0 = cpu_ms(pid)
    time.sleep(seconds)
    idle = (cpu_ms(pid) - c0) * 60 / seconds
    c0, t0 = cpu_ms(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        get(port, "/torbox")
        time.sleep(5.0)
    visited = (cpu_ms(pid) - c0) * 60 / (time.monotonic() - t0)
    return {"no_visitors": round(idle, 1), "one_visitor_every_5s": round(visited, 1),
            "ratio_idle_vs_visited": round(idle / visited, 3) if visited else None,
            "seconds_each": seconds}


def load(port: int, clients: int, seconds: float) -> dict[str, int]:
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        ok = err = 0
        while time.monotonic() < stop_at:  # bounded in time; each request has a timeout
            try:
                status, body = get(port, "/torbox", timeout=15)
                if status == 200 and body.endswith(b"</html>"):
                    ok += 1
                else:
                    err += 1
            except OSError:
                err += 1
        with lock:
            counts["ok"] += ok
            counts["errors"] += err

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300, help="per server, for latency")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--load-s", type=float, default=30.0)
    ap.add_argument("--cpu-s", type=float, default=30.0, help="per CPU-time measurement")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="tbx-webui-bench-"))
    procs: list[subprocess.Popen] = []
    tor = start_tor(tmp / "tor")
    served = None
    try:
        served = start_webui(tmp, uci_text(tor.control_socket), ["tor_medium"])
        port = int(served.urls["tor_medium"].rsplit(":", 1)[1])
        cpu = idle_cpu(served.proc.pid, port, args.cpu_s)
        wait_for(lambda: b"Tor is connecting" in get(port, "/torbox")[1], 30, "tor state")
        _, page = get(port, "/torbox")
        size = len(page)
        root = tmp / "static"
        root.mkdir()
        (root / "page.html").write_bytes(page)  # same bytes, same size

        baselines = {}
        for kind in ("busybox", "python"):
            if kind == "busybox" and not shutil.which("busybox"):
                continue
            proc, sport = start_static(kind, root)
            procs.append(proc)
            baselines[kind] = sport

        # interleave rounds so load from other processes hits every server alike
        lat: dict[str, list[float]] = {"webui": [], **{k: [] for k in baselines}}
        rounds = 5
        latencies(port, "/torbox", 20)  # warm up
        for sport in baselines.values():
            latencies(sport, "/page.html", 20)
        for _ in range(rounds):
            lat["webui"] += latencies(port, "/torbox", args.requests // rounds)
            for kind, sport in baselines.items():
                lat[kind] += latencies(sport, "/page.html", args.requests // rounds)
        med = {k: statistics.median(v) * 1000 for k, v in lat.items()}

        bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        procs.append(bare)
        time.sleep(1.0)
        bare_rss = rss_kb(bare.pid)
        rss_idle = rss_kb(served.proc.pid)
        # anonymous memory is the process's own; file pages are shared libraries
        split = {"webui_anon": rss_kb(served.proc.pid, "RssAnon"),
                 "webui_file": rss_kb(served.proc.pid, "RssFile"),
                 "bare_anon": rss_kb(bare.pid, "RssAnon"), "bare_file": rss_kb(bare.pid, "RssFile")}
        # a short concurrent warm-up first: the first concurrent requests create the
        # server's threads (and their malloc arenas); the budget is about growth after that
        warm = load(port, args.clients, 5.0)
        rss_before = rss_kb(served.proc.pid)
        counts = load(port, args.clients, args.load_s)
        rss_after = rss_kb(served.proc.pid)

        primary = "busybox" if "busybox" in med else "python"
        result = {
            "page_bytes": size,
            "page_budget_bytes": PAGE_BUDGET,
            "median_ms": {k: round(v, 3) for k, v in med.items()},
            "ratio_vs": {k: round(med["webui"] / med[k], 2) for k in baselines},
            "ratio_primary_baseline": primary,
            "ratio_budget": RATIO_BUDGET,
            "cpu_ms_per_min": cpu,
            "rss_kb": {"webui_idle_after_latency_runs": rss_idle,
                       "webui_after_5s_warmup": rss_before, "webui_after_load": rss_after,
                       "bare_python_sleep": bare_rss, **split},
            "warmup": {"seconds": 5.0, **warm},
            "load": {"clients": args.clients, "seconds": args.load_s, **counts,
                     "rss_growth_kb": rss_after - rss_before},
            "python": sys.version.split()[0],
        }
        checks = {
            "page size": size <= PAGE_BUDGET,
            "latency ratio": result["ratio_vs"][primary] <= RATIO_BUDGET,
            "load errors": counts["errors"] == 0 and warm["errors"] == 0 and counts["ok"] > 0,
            "rss growth": rss_after - rss_before <= RSS_GROWTH_BUDGET_KB,
        }
        result["budgets_met"] = checks
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "webui-bench.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"page size            {size} B (budget {PAGE_BUDGET} B)")
        for k, v in med.items():
            print(f"median latency       {k:8s} {v:.3f} ms")
        for k, v in result["ratio_vs"].items():
            print(f"latency ratio        /torbox vs {k} static: {v}x (budget {RATIO_BUDGET}x)")
        print(f"RSS                  webui {rss_idle} kB idle (anon {split['webui_anon']}, "
              f"file {split['webui_file']}), bare python3 sleep {bare_rss} kB "
              f"(anon {split['bare_anon']}, file {split['bare_file']}); "
              f"ratio {rss_idle / bare_rss:.1f}x")
        print(f"warm-up              {args.clients} clients x 5 s: {warm['ok']} ok, "
              f"{warm['errors']} errors; RSS {rss_idle} -> {rss_before} kB")
        print(f"load                 {args.clients} clients x {args.load_s:.0f} s: "
              f"{counts['ok']} ok, {counts['errors']} errors; RSS {rss_before} -> {rss_after} kB"
              f" ({rss_after - rss_before:+d} kB, budget +{RSS_GROWTH_BUDGET_KB} kB)")
        print(f"CPU                  webui {cpu['no_visitors']} ms/min with no visitors, "
              f"{cpu['one_visitor_every_5s']} ms/min with one visitor reloading every 5 s "
              f"(ratio {cpu['ratio_idle_vs_visited']})")
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
        return 0 if all(checks.values()) else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if served is not None:
            stop_webui(served)
        stop_tor(tor.proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
