"""What Tor is doing, read over the control socket with stem 1.8 (synchronous API).

A background thread keeps one authenticated controller and refreshes a snapshot (every
2 s while the page has visitors, every 30 s when not: see ondemand.py); web requests only
read that snapshot, so a dead, missing or hung Tor never slows the page. The traffic graph
is drawn from Tor's byte counters at each refresh, put on a 10 s grid (so with nobody
looking, 30 s averages). Tor's own per-second record (GETINFO bw-event-cache) would need
no sampling, but tor 0.4.9 left it empty after real traffic in the rig (it seems to fill
it only while a controller subscribes to BW events). Only aggregate facts are read: never
circuit-status, stream-status or anything about a client's destinations.

The monitor talks to Tor over stem's control socket (stem.socket) from its own thread and
reads Tor's status events when it next asks something, instead of using stem.control's
Controller: that keeps two threads per connection, one of which wakes every 50 ms for
events that come a few times a day (measured: most of the page's idle CPU). The rare
NEWNYM action opens a short-lived Controller of its own.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from bisect import bisect_left
from collections import deque
from typing import Any

from .ondemand import OnDemand

log = logging.getLogger("torbox.webui")

try:
    import stem
    import stem.connection
    import stem.control
    import stem.response
    import stem.socket
    from stem import Signal
    from stem.control import EventType
except ImportError:  # pragma: no cover - the package depends on python3-stem
    stem = None

KEYWORD_RE = re.compile(r'([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
NEWNYM_RE = re.compile(r"Rate limiting NEWNYM request: delaying by (\d+) second")
GRAPH_STEP_S = 10
GRAPH_POINTS = 60  # ten minutes of history
CLOCK_PROBLEM_TTL_S = 3600
NEWNYM_INTERVAL_S = 10  # Tor's MAX_SIGNEWNYM_RATE


def parse_keywords(text: str) -> dict[str, str]:
    """KEY=VALUE pairs from a status line such as status/bootstrap-phase."""
    out = {}
    for key, value in KEYWORD_RE.findall(text):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


def parse_bootstrap(text: str) -> dict[str, Any]:
    """`NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY="..." [WARNING=..]`."""
    kw = parse_keywords(text)
    try:
        progress = int(kw.get("PROGRESS", "0"))
    except ValueError:
        progress = 0
    warning = None
    if text.startswith("WARN") and kw.get("WARNING"):
        # HOSTADDR (a relay's address) is deliberately left out.
        warning = kw["WARNING"]
        if kw.get("REASON"):
            warning += f" ({kw['REASON'].lower()})"
    return {
        "progress": progress,
        "tag": kw.get("TAG", ""),
        "summary": kw.get("SUMMARY", ""),
        "warning": warning,
        "clock_warning": kw.get("REASON") == "CLOCK_SKEW",
    }


class TrafficGraph:
    """Tor's byte counters as sampled by the monitor, drawn as mean bytes/second per
    `step_s` on a grid that ends at the newest sample. Samples come every 2 s while the page
    is visited and every 30 s when not; between two samples the counters are taken to grow
    evenly, so a quiet spell shows as its averages, never as gaps or made-up peaks."""

    def __init__(self, step_s: int = GRAPH_STEP_S, points: int = GRAPH_POINTS) -> None:
        self.step_s = step_s
        self.points = points
        self.samples: deque[tuple[float, int, int]] = deque(maxlen=points + 2)
        self._rates: dict[str, list[int]] = {"read": [], "written": []}

    def add(self, now: float, read: int, written: int) -> None:
        s = self.samples
        if s and (read < s[-1][1] or written < s[-1][2]):
            s.clear()  # Tor restarted: counters began again at zero
        if len(s) >= 2 and s[-1][0] - s[-2][0] < self.step_s:
            s.pop()  # the newest sample stays only if it came a step after the one before
        s.append((now, read, written))
        self._rates = self._grid()  # once per sample, not once per page request

    def rates(self) -> dict[str, list[int]]:
        return self._rates

    def _grid(self) -> dict[str, list[int]]:
        s = list(self.samples)
        if len(s) < 2:
            return {"read": [], "written": []}
        times = [x[0] for x in s]
        t_end = times[-1]
        n = min(int((t_end - times[0]) // self.step_s), self.points)
        grid = [t_end - (n - i) * self.step_s for i in range(n + 1)]

        def at(t: float, col: int) -> float:
            """Counter `col` at time `t`, linear between the samples around it."""
            i = min(max(bisect_left(times, t), 1), len(s) - 1)
            (t0, *v0), (t1, *v1) = s[i - 1], s[i]
            return v0[col] + (v1[col] - v0[col]) * (t - t0) / max(t1 - t0, 1e-3)

        out = {}
        for col, name in ((0, "read"), (1, "written")):
            values = [at(t, col) for t in grid]
            out[name] = [int((b - a) / self.step_s) for a, b in zip(values, values[1:],
                                                                    strict=False)]
        return out


def _describe_connect_error(path: str, exc: BaseException) -> str:
    if not os.path.exists(path):
        return f"Tor's control socket {path} does not exist: Tor is not running (or not yet)."
    text = str(exc)
    if "ermission" in text or getattr(exc, "errno", None) == errno.EACCES:
        return f"No permission to use Tor's control socket {path} or its cookie."
    if "refused" in text.lower():
        return f"Tor's control socket {path} refuses connections: Tor is not running."
    return "Cannot talk to Tor over its control socket."


class TorMonitor:
    """Owns the controller connection and the latest snapshot of Tor's state."""

    def __init__(self, socket_path: str, use_bridges: bool = False,
                 bridges: list[str] | None = None, poll_s: float = 2.0,
                 idle_s: float = 30.0) -> None:
        self.socket_path = socket_path
        self.use_bridges = use_bridges
        # Only the transport names: bridge addresses are secrets in censored places.
        self.bridge_transports = sorted({
            "plain" if ":" in b.split()[0] else b.split()[0] for b in (bridges or []) if b.split()
        })
        self.bridge_count = len(bridges or [])
        self.poll_s = poll_s
        self.schedule = OnDemand(poll_s, idle_s)
        self.graph = TrafficGraph()
        self._sock: Any = None  # stem.socket.ControlSocketFile, authenticated
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None  # a call to Tor is under way since then
        self._last_ok: float | None = None
        self._error: str | None = "Not yet connected to Tor."
        self._data: dict[str, Any] = {}
        self._bootstrapped_at: float | None = None
        self._bootstrap_seen_below_100 = False
        self._clock: dict[str, Any] = {"skew_s": None, "source": None, "at": None}
        self._guards_at = 0.0
        self._bridges_up: int | None = None
        self._last_newnym: float | None = None  # monotonic time of the last NEWNYM sent

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tor-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.schedule.wake()
        sock = self._sock
        if sock is not None:
            sock.close()  # a monitor thread blocked on it gets SocketClosed

    def _run(self) -> None:
        self.schedule.run(self._poll_safely, self._stop, self._soonest)

    def _poll_safely(self) -> None:
        try:
            self.poll_once()
        except Exception:  # keep the thread alive whatever Tor does
            log.exception("tor monitor: unexpected error")
            self._drop("Unexpected error while reading Tor's state.")

    def _soonest(self) -> float | None:
        """Without a control connection, try again every 5 s, visitors or not: connecting
        soon after Tor starts is what lets the page see its bootstrap."""
        if self._sock is None:
            return 5.0
        data = self._data
        if not data or data["bootstrap"]["progress"] < 100:
            return 5.0  # status events are read at each refresh: keep "bootstrapped" exact
        return None

    def wanted(self) -> None:
        """Called by each page request (see ondemand.py)."""
        self.schedule.wanted()

    # -- one refresh -------------------------------------------------------------------------

    def _connect(self) -> None:
        if stem is None:
            raise RuntimeError("python3-stem is not installed")
        sock = stem.socket.ControlSocketFile(self.socket_path)
        try:
            stem.connection.authenticate(sock)
            reply = self._call(sock, "SETEVENTS STATUS_GENERAL STATUS_CLIENT")
            stem.response.convert("SINGLELINE", reply)
            if not reply.is_ok():  # the page still works, only without clock-skew reports
                log.warning("tor refused status events: %s %s", reply.code, reply.message)
        except Exception:
            sock.close()
            raise
        self._sock = sock
        self._bootstrap_seen_below_100 = False
        self._bootstrapped_at = None
        log.info("connected to tor at %s", self.socket_path)

    def _call(self, sock: Any, command: str) -> Any:
        """Send one command and return its reply; the status events Tor queued before the
        reply are handled on the way (so they are seen at the next refresh at the latest)."""
        sock.send(command)
        while True:
            msg = sock.recv()
            if msg.content()[-1][0] != "650":
                return msg
            try:
                stem.response.convert("EVENT", msg)  # turns msg itself into the event
            except stem.ProtocolError:
                log.warning("tor: unreadable event ignored")
                continue
            self._on_status(msg)

    def _get_info(self, keys: list[str]) -> dict[str, str]:
        reply = self._call(self._sock, "GETINFO " + " ".join(keys))
        stem.response.convert("GETINFO", reply)  # raises on an error reply
        return {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                for k, v in reply.entries.items()}

    def _drop(self, error: str) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        if error != self._error:
            log.warning("tor: %s", error)
        self._error = error
        self._data = {}

    def poll_once(self) -> None:
        self._busy_since = time.time()
        try:
            if self._sock is None:
                try:
                    self._connect()
                except Exception as exc:
                    self._drop(_describe_connect_error(self.socket_path, exc))
                    return
            try:
                self._read()
            except Exception as exc:  # stem.SocketClosed, ControllerError, ProtocolError
                closed = stem is not None and isinstance(exc, stem.SocketClosed)
                self._drop("Tor closed the control connection." if closed
                           else f"Tor did not answer a status query ({type(exc).__name__}).")
        finally:
            self._busy_since = None

    def _read(self) -> None:
        keys = ["status/bootstrap-phase", "status/circuit-established", "traffic/read",
                "traffic/written", "uptime", "version"]
        info = self._get_info(keys)
        now = time.time()
        boot = parse_bootstrap(info["status/bootstrap-phase"])
        if boot["progress"] < 100:
            self._bootstrap_seen_below_100 = True
            self._bootstrapped_at = None
        elif self._bootstrapped_at is None and self._bootstrap_seen_below_100:
            self._bootstrapped_at = now
        read, written = int(info["traffic/read"]), int(info["traffic/written"])
        self.graph.add(now, read, written)
        if boot["clock_warning"]:
            self._note_clock(None, "bootstrap")
        if self.use_bridges and now - self._guards_at > 30:
            self._guards_at = now
            self._bridges_up = self._count_bridges_up()
        self._data = {
            "bootstrap": boot,
            "circuit_established": info["status/circuit-established"] == "1",
            "traffic_read": read,
            "traffic_written": written,
            "uptime_s": int(info["uptime"]) if info["uptime"].isdigit() else None,
            "version": info["version"].split()[0],
        }
        self._error = None
        self._last_ok = now

    def _count_bridges_up(self) -> int | None:
        try:
            text = self._get_info(["entry-guards"])["entry-guards"]
        except (stem.InvalidArguments, stem.OperationFailed, stem.ProtocolError):
            return None
        return sum(1 for line in text.splitlines() if line.strip().endswith(" up"))

    def _note_clock(self, skew: int | None, source: str | None) -> None:
        with self._lock:
            self._clock = {"skew_s": skew, "source": source, "at": time.time()}

    def _on_status(self, event: Any) -> None:
        """STATUS_GENERAL / STATUS_CLIENT events: clock trouble and bootstrap progress."""
        action = getattr(event, "action", "")
        args = getattr(event, "arguments", {}) or {}
        if action == "CLOCK_SKEW":
            try:
                skew = int(args.get("SKEW", "0"))
            except ValueError:
                skew = None
            # SOURCE may name a relay (OR:ip:port): keep only its kind.
            self._note_clock(skew, (args.get("SOURCE") or "").split(":")[0].lower() or None)
        elif action == "CLOCK_JUMPED":
            self._note_clock(None, "jumped")
        elif action == "BOOTSTRAP" and args.get("PROGRESS") == "100":
            if self._bootstrapped_at is None:
                self._bootstrapped_at = time.time()

    # -- what the page reads -----------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        data = self._data
        busy = self._busy_since
        stale_after = max(3 * self.poll_s, 3.0)
        out: dict[str, Any] = {
            "state": "down",
            "running": False,
            "bootstrap": 0,
            "phase": None,
            "tag": None,
            "warning": None,
            "circuit_established": False,
            "version": None,
            "uptime_s": None,
            "bootstrapped_s": None,
            "error": self._error,
            "age_s": None if self._last_ok is None else round(now - self._last_ok, 1),
        }
        with self._lock:
            clock = dict(self._clock)
        recent = clock["at"] is not None and now - clock["at"] < CLOCK_PROBLEM_TTL_S
        out["clock"] = {"problem": bool(recent), "skew_s": clock["skew_s"] if recent else None,
                        "source": clock["source"] if recent else None}
        out["bridges"] = {"enabled": self.use_bridges, "configured": self.bridge_count,
                          "transports": self.bridge_transports, "up": self._bridges_up}
        out["traffic"] = {"read": None, "written": None,
                          "graph": {"step_s": self.graph.step_s, **self.graph.rates()}}
        if busy is not None and now - busy > stale_after:
            out["state"] = "not_answering"
            out["error"] = (f"Tor has not answered for {int(now - busy)} s "
                            "(overloaded, stopped or hung).")
            if not data:
                return out
        if not data:
            return out
        boot = data["bootstrap"]
        out.update({
            "running": True,
            "bootstrap": boot["progress"],
            "phase": boot["summary"],
            "tag": boot["tag"],
            "warning": boot["warning"],
            "circuit_established": data["circuit_established"],
            "version": data["version"],
            "uptime_s": data["uptime_s"],
        })
        out["traffic"]["read"] = data["traffic_read"]
        out["traffic"]["written"] = data["traffic_written"]
        if self._bootstrapped_at is not None:
            out["bootstrapped_s"] = int(now - self._bootstrapped_at)
        if out["state"] != "not_answering":
            if boot["progress"] >= 100 and data["circuit_established"]:
                out["state"] = "ok"
            else:
                out["state"] = "starting"
        return out

    # -- actions -----------------------------------------------------------------------------

    def newnym(self, timeout: float = 3.0) -> dict[str, Any]:
        """Send NEWNYM on a connection of its own; report Tor's rate-limit delay when it
        gives one (its notice log line, else the 10 s Tor allows between two NEWNYMs)."""
        if self._sock is None:
            return {"ok": False, "delay_s": None,
                    "message": "Tor is not connected: " + (self._error or "unknown reason")}
        result: dict[str, Any] = {}

        def work() -> None:
            seen = threading.Event()
            delays: list[int] = []

            def on_log(event: Any) -> None:
                m = NEWNYM_RE.search(getattr(event, "message", ""))
                if m:
                    delays.append(int(m.group(1)))
                    seen.set()

            try:
                last = self._last_newnym
                with stem.control.Controller.from_socket_file(self.socket_path) as ctl:
                    ctl.authenticate()
                    ctl.add_event_listener(on_log, EventType.NOTICE)
                    ctl.signal(Signal.NEWNYM)
                    seen.wait(0.5)  # Tor logs the delay right after its reply
                now = self._last_newnym = time.monotonic()
                fallback = 0 if last is None else max(0, int(NEWNYM_INTERVAL_S - (now - last)
                                                             + 0.99))
                result["delay_s"] = delays[0] if delays else fallback
                result["ok"] = True
            except Exception as exc:
                result["ok"] = False
                result["error"] = type(exc).__name__

        t = threading.Thread(target=work, name="newnym", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive() or "ok" not in result:
            return {"ok": False, "delay_s": None,
                    "message": "Tor did not answer the new-identity request in time."}
        if not result["ok"]:
            return {"ok": False, "delay_s": None,
                    "message": f"Tor refused the new-identity request ({result['error']})."}
        delay = result["delay_s"]
        if delay:
            return {"ok": True, "delay_s": delay,
                    "message": f"Tor rate-limits new identities: it will switch in {delay} s. "
                               "New connections after that use new circuits."}
        return {"ok": True, "delay_s": 0,
                "message": "New identity: new connections now use new circuits."}
