"""The monitors' schedule (webui/ondemand.py) and the traffic graph drawn from the samples
it takes (torstate.TrafficGraph)."""

from __future__ import annotations

import threading
import time

from webui.ondemand import OnDemand
from webui.torstate import TrafficGraph


def test_graph_steps_and_quiet_spells():
    g = TrafficGraph(step_s=10, points=60)
    for i in range(7):  # watched: a sample every 10 s, 1000 B/s read, 500 B/s written
        g.add(1000.0 + 10 * i, 10_000 * i, 5_000 * i)
    assert g.rates() == {"read": [1000] * 6, "written": [500] * 6}
    # nobody looking: one sample 30 s later that covers 60 kB, i.e. 2000 B/s on average
    g.add(1090.0, 120_000, 60_000)
    r = g.rates()
    assert r["read"] == [1000] * 6 + [2000] * 3 and r["written"] == [500] * 6 + [1000] * 3


def test_graph_keeps_the_newest_sample_and_a_step_between_the_rest():
    g = TrafficGraph(step_s=10, points=60)
    for t in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0):  # polled every 2 s
        g.add(t, int(100 * t), 0)
    assert [x[0] for x in g.samples] == [0.0, 10.0, 12.0]
    assert g.rates()["read"] == [100]


def test_graph_at_most_ten_minutes_and_restarts_cleanly():
    g = TrafficGraph(step_s=10, points=60)
    for i in range(200):
        g.add(10.0 * i, 1000 * i, 0)
    assert len(g.rates()["read"]) == 60 and set(g.rates()["read"]) == {100}
    g.add(2000.0, 5, 0)  # Tor restarted: counters back at zero
    assert g.rates() == {"read": [], "written": []}


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
