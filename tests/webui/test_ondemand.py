"""The monitors' schedule (webui/ondemand.py) and the traffic graph built from Tor's own
per-second record (torstate.graph_from_bw_cache)."""

from __future__ import annotations

import threading
import time

from webui.ondemand import OnDemand
from webui.torstate import graph_from_bw_cache


def test_graph_means_per_step_newest_last():
    # 305 seconds: the oldest 5 do not fill a step and are left out; Tor keeps 300 at most
    entries = [(i, 2 * i) for i in range(305)]
    g = graph_from_bw_cache(" ".join(f"{r},{w}" for r, w in entries))
    assert g["step_s"] == 10 and len(g["read"]) == len(g["written"]) == 30
    assert g["read"][0] == sum(range(5, 15)) // 10 and g["read"][-1] == sum(range(295, 305)) // 10
    assert g["written"][-1] == sum(2 * i for i in range(295, 305)) // 10


def test_graph_short_empty_and_junk():
    assert graph_from_bw_cache("") == {"step_s": 10, "read": [], "written": []}
    assert graph_from_bw_cache("1,2 " * 9)["read"] == []  # not one full step yet
    g = graph_from_bw_cache("10,20 " * 10 + "junk ,5 7, 3,x")
    assert g["read"] == [10] and g["written"] == [20]


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.block = threading.Event()
        self.block.set()

    def __call__(self) -> None:
        self.block.wait()
        self.n += 1


def _run(sched: OnDemand, work: Counter) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=sched.run, args=(work, stop), daemon=True).start()
    deadline = time.monotonic() + 10
    while work.n == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return stop


def _stop(sched: OnDemand, stop: threading.Event, work: Counter) -> None:
    work.block.set()
    stop.set()
    sched.wake()


def test_quiet_without_visitors_busy_while_visited():
    sched, work = OnDemand(active_s=0.05, idle_s=30, linger_s=1.0), Counter()
    stop = _run(sched, work)
    try:
        time.sleep(1.0)
        assert work.n == 1, "refreshed with nobody looking"
        t0 = time.monotonic()
        sched.wanted()  # data is ~1 s old: refreshed at once, and the visitor waits for it
        assert work.n >= 2 and time.monotonic() - t0 < sched.wait_s + 0.2
        for _ in range(5):  # a visitor keeps the refreshes going
            time.sleep(0.1)
            sched.wanted()
        assert work.n >= 4
        time.sleep(sched.linger_s + 0.3)  # the visitor left: back to idle
        n = work.n
        time.sleep(1.0)
        assert work.n - n <= 1
    finally:
        _stop(sched, stop, work)


def test_state_can_ask_for_sooner_refreshes():
    sched, work = OnDemand(active_s=0.05, idle_s=30, linger_s=1.0), Counter()
    stop = threading.Event()
    threading.Thread(target=sched.run, args=(work, stop, lambda: 0.1), daemon=True).start()
    try:
        time.sleep(1.0)
        assert work.n >= 4, "the monitor's own 'soonest' was ignored"
    finally:
        _stop(sched, stop, work)


def test_visitor_never_waits_on_a_stuck_refresh():
    sched, work = OnDemand(active_s=0.05, idle_s=30, linger_s=1.0, wait_s=5.0), Counter()
    stop = _run(sched, work)
    try:
        work.block.clear()  # the next refresh hangs, like a Tor stopped with SIGSTOP
        time.sleep(0.2)
        sched.wake()
        time.sleep(0.2)
        assert sched.busy_since is not None
        t0 = time.monotonic()
        sched.wanted()
        assert time.monotonic() - t0 < 0.5
    finally:
        _stop(sched, stop, work)


def test_not_started_means_no_waiting():
    sched = OnDemand(active_s=0.05, idle_s=30, wait_s=5.0)
    t0 = time.monotonic()
    sched.wanted()
    assert time.monotonic() - t0 < 0.5
