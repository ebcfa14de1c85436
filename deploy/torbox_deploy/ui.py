"""What the user sees: steps, progress bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


class Progress:
    """A bar that redraws in place on a terminal; every 25 % a line otherwise."""

    def __init__(self, ui: UI, label: str, total: int) -> None:
        self.ui = ui
        self.label = label
        self.total = max(total, 1)
        self.done_bytes = 0
        self.next_mark = 25
        self.started_line = False
        self.started = time.monotonic()
        self.update(0)

    def update(self, done: int) -> None:
        self.done_bytes = done
        pct = min(100, done * 100 // self.total)
        if self.ui.tty:
            width = 30
            fill = width * pct // 100
            bar = "#" * fill + "." * (width - fill)
            self.ui.out.write(
                f"\r    {self.label} [{bar}] {pct:3d}% {human(done)}/{human(self.total)}"
            )
            self.ui.out.flush()
        elif pct >= self.next_mark or (done == 0 and not self.started_line):
            self.started_line = True
            self.ui.out.write(f"    {self.label}: {pct}% ({human(done)}/{human(self.total)})\n")
            self.ui.out.flush()
            while self.next_mark <= pct:
                self.next_mark += 25

    def finish(self) -> None:
        if self.done_bytes < self.total:
            self.update(self.total)
        if self.ui.tty:
            secs = time.monotonic() - self.started
            self.ui.out.write(f"  ({secs:.1f} s)\n")
            self.ui.out.flush()


class UI:
    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, tty: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self._last_tick = 0.0

    def step(self, text: str) -> None:
        self.out.write(f"==> {text}\n")
        self.out.flush()

    def info(self, text: str) -> None:
        self.out.write(f"    {text}\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(f"warning: {text}\n")
        self.err.flush()

    def error(self, text: str) -> None:
        self.err.write(f"error: {text}\n")
        self.err.flush()

    def progress(self, label: str, total: int) -> Progress:
        return Progress(self, label, total)

    def tick(self, text: str, every: float = 5.0) -> None:
        """A waiting message: redrawn on a terminal, a line every few seconds otherwise."""
        if self.tty:
            self.out.write(f"\r    {text}\x1b[K")
            self.out.flush()
            return
        now = time.monotonic()
        if now - self._last_tick >= every:
            self._last_tick = now
            self.out.write(f"    {text}\n")
            self.out.flush()

    def end_tick(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
        self._last_tick = 0.0
