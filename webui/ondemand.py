"""When the monitors refresh: often while someone is looking at the page, rarely when nobody is.

On a 400 MHz router a Python thread that wakes every 2 s costs CPU all day for a page that is
opened a few times a day (and on OpenWrt each system refresh forks `ubus`). So a monitor
refreshes every `active_s` only for `linger_s` after a visit, otherwise every `idle_s`
(or sooner when its state asks for it, e.g. Tor still bootstrapping). The first visit after
a quiet spell waits a moment for fresh data instead of showing data `idle_s` old, but never
waits on a refresh that is already stuck (a hung Tor must not slow the page).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LINGER_S = 60.0  # a visit keeps the monitors fast this long (the page reloads every 5 s)


class OnDemand:
    def __init__(self, active_s: float, idle_s: float, linger_s: float = LINGER_S,
                 wait_s: float = 0.3) -> None:
        self.active_s = active_s
        self.idle_s = max(idle_s, active_s)
        self.linger_s = linger_s
        self.wait_s = wait_s
        self.last_done: float | None = None
        self.last_wanted = float("-inf")
        self.busy_since: float | None = None
        self.running = False
        self._wake = threading.Event()
        self._done = threading.Condition()

    def interval(self, soonest: float | None = None) -> float:
        """Seconds to the next refresh: active while visited, else idle (or `soonest`)."""
        if time.monotonic() - self.last_wanted < self.linger_s:
            return self.active_s
        return self.idle_s if soonest is None else min(self.idle_s, max(soonest, self.active_s))

    def run(self, work: Callable[[], None], stop: threading.Event,
            soonest: Callable[[], float | None] = lambda: None) -> None:
        """The monitor thread's loop. `stop` must be followed by `wake()` to end it at once."""
        self.running = True
        try:
            self._loop(work, stop, soonest)
        finally:
            self.running = False

    def _loop(self, work: Callable[[], None], stop: threading.Event,
              soonest: Callable[[], float | None]) -> None:
        while not stop.is_set():
            self.busy_since = time.monotonic()
            try:
                work()
            finally:
                with self._done:
                    self.busy_since = None
                    self.last_done = time.monotonic()
                    self._done.notify_all()
            self._wake.wait(self.interval(soonest()))
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def wanted(self) -> None:
        """A visitor is here: refresh now if the data is older than `active_s`."""
        now = time.monotonic()
        self.last_wanted = now
        with self._done:
            if self.busy_since is not None or not self.running:
                return  # a refresh is under way (or stuck): serve what there is
            age = float("inf") if self.last_done is None else now - self.last_done
            if age < self.active_s:
                return
            self._wake.set()
            if age > 2 * self.active_s:  # data from the quiet spell: worth a short wait
                self._done.wait_for(lambda: self.last_done is not None
                                    and time.monotonic() - self.last_done < self.active_s,
                                    timeout=self.wait_s)
