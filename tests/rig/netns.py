"""Network namespaces, links and processes for the test rig, torn down exactly.

A `Lab` owns one run: every object it makes is named `tbx-<run id>-...`, every process it
starts is tracked by PID, and `teardown()` removes exactly those, however the run ends
(context manager, pytest finalizer, atexit, SIGTERM). A state file under /run/tbx lets
`cleanup_stale()` finish the job for a run whose Python process was SIGKILLed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

PREFIX = "tbx-"
STATE_DIR = Path("/run/tbx")
IFNAME_MAX = 15
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_live_labs: list[Lab] = []
_hooks_installed = False


class LabError(RuntimeError):
    pass


def new_run_id() -> str:
    """Short random hex: two concurrent runs never share a name."""
    return secrets.token_hex(2)


def _proc_start_time(pid: int) -> str | None:
    """Kernel start time of a PID, so a recycled PID is never mistaken for ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_teardown_all)
    # SIGTERM normally kills Python without running atexit; turn it into SystemExit.
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):

            def _on_term(signum: int, frame: Any) -> None:
                raise SystemExit(128 + signum)

            signal.signal(signal.SIGTERM, _on_term)


def _teardown_all() -> None:
    for lab in list(_live_labs):
        lab.teardown()


class Proc:
    """A process the lab started inside a namespace."""

    def __init__(self, name: str, ns: str, popen: subprocess.Popen, log: Path | None) -> None:
        self.name = name
        self.ns = ns
        self.popen = popen
        self.pid = popen.pid
        self.log = log
        self.start_time = _proc_start_time(popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, ns={self.ns!r}, pid={self.pid})"


class Lab:
    """One rig run: namespaces, links, processes and a work directory."""

    def __init__(self, run_id: str | None = None, workdir: Path | None = None) -> None:
        for _ in range(20):
            self.run_id = run_id or new_run_id()
            self.prefix = f"{PREFIX}{self.run_id}"
            self.workdir = workdir or Path(f"/tmp/{self.prefix}")
            taken = any(ns.startswith(self.prefix + "-") for ns in list_namespaces())
            if not taken and not self.workdir.exists():
                break
            if run_id:
                raise LabError(f"run id {run_id} is in use")
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=False)
        self.namespaces: list[str] = []
        self.procs: list[Proc] = []
        self.etc_dirs: list[Path] = []
        self._torn_down = False
        self._lock = threading.Lock()
        _install_hooks()
        _live_labs.append(self)
        self._save_state()

    # ---- naming -------------------------------------------------------------------------
    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def ifname(self, suffix: str) -> str:
        name = self.name(suffix)
        if len(name) > IFNAME_MAX:
            raise LabError(f"interface name {name!r} longer than {IFNAME_MAX} characters")
        return name

    # ---- state file for crashed runs ------------------------------------------------------
    def _save_state(self) -> None:
        STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "owner_pid": os.getpid(),
            "owner_start": _proc_start_time(os.getpid()),
            "namespaces": self.namespaces,
            "procs": [[p.pid, p.start_time] for p in self.procs],
            "etc_dirs": [str(d) for d in self.etc_dirs],
            "workdir": str(self.workdir),
        }
        tmp = STATE_DIR / f"{self.prefix}.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(STATE_DIR / f"{self.prefix}.json")

    # ---- namespaces and links -------------------------------------------------------------
    def add_ns(self, suffix: str) -> str:
        ns = self.name(suffix)
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        self._save_state()
        self.ip(ns, "link", "set", "lo", "up")
        return ns

    def ip(self, ns: str, *args: str) -> str:
        return run(["ip", "-n", ns, *args]).stdout

    def add_veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair made directly inside two of our namespaces (never in the host's)."""
        for ns in (ns_a, ns_b):
            if ns not in self.namespaces:
                raise LabError(f"{ns} is not a namespace of this lab")
        for n in (if_a, if_b):
            if len(n) > IFNAME_MAX:
                raise LabError(f"interface name {n!r} longer than {IFNAME_MAX} characters")
        self.ip(ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        self.ip(ns_a, "link", "set", if_a, "up")
        self.ip(ns_b, "link", "set", if_b, "up")

    def add_bridge(self, ns: str, ifname: str) -> None:
        self.ip(ns, "link", "add", ifname, "type", "bridge")
        self.ip(ns, "link", "set", ifname, "up")

    def add_addr(self, ns: str, ifname: str, cidr: str) -> None:
        extra = ["nodad"] if ":" in cidr else []
        self.ip(ns, "addr", "add", cidr, "dev", ifname, *extra)

    def sysctl(self, ns: str, key: str, value: str | int) -> None:
        self.exec(ns, ["sysctl", "-q", "-w", f"{key}={value}"])

    def etc_dir(self, ns: str) -> Path:
        """/etc/netns/<ns>: `ip netns exec` bind-mounts its files over /etc (resolv.conf)."""
        d = Path("/etc/netns") / ns
        d.mkdir(parents=True, exist_ok=True)
        if d not in self.etc_dirs:
            self.etc_dirs.append(d)
            self._save_state()
        return d

    # ---- commands and processes -----------------------------------------------------------
    def exec(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 60,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a command to completion inside a namespace."""
        return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout,
                   input=input, env=env)

    def spawn(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        name: str,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
    ) -> Proc:
        """Start a background process inside a namespace and track its PID."""
        if self._torn_down:
            raise LabError("lab already torn down")
        log = log or self.workdir / f"{name}.log"
        with open(log, "ab") as fh:
            # `ip netns exec` execs the command, so the PID is the program's own.
            popen = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdin=stdin,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        proc = Proc(name, ns, popen, log)
        self.procs.append(proc)
        self._save_state()
        return proc

    def stop(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        """Stop one of our processes by PID: `sig`, then SIGKILL after `timeout`."""
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(sig)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.kill()
                proc.popen.wait(10)
        return proc.popen.returncode

    def call_in(self, ns: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call fn in a thread that joined `ns`: sockets it opens live in that namespace."""
        return call_in_netns(ns, fn, *args, **kwargs)

    # ---- teardown -------------------------------------------------------------------------
    def teardown(self, keep_workdir: bool = False) -> list[str]:
        """Kill our processes and delete our namespaces. Idempotent; returns problems."""
        with self._lock:
            if self._torn_down:
                return []
            self._torn_down = True
        problems: list[str] = []
        for proc in reversed(self.procs):
            try:
                self.stop(proc, timeout=5)
            except Exception as exc:  # keep going: the rest must still go away
                problems.append(f"stop {proc}: {exc}")
        # Anything still inside our namespaces was started by this run (children of our
        # processes); kill those PIDs too, or the namespace would stay alive.
        for ns in self.namespaces:
            for pid in ns_pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                problems.append(f"killed leftover pid {pid} in {ns}")
        for ns in reversed(self.namespaces):
            res = run(["ip", "netns", "del", ns], check=False)
            if res.returncode != 0 and ns in list_namespaces():
                problems.append(f"ip netns del {ns}: {res.stderr.strip()}")
        for d in self.etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{self.prefix}.json").unlink()
        if self in _live_labs:
            _live_labs.remove(self)
        return problems

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


# ---- module helpers -------------------------------------------------------------------------
def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 60,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    text = not isinstance(input, bytes)
    res = subprocess.run(
        list(argv), capture_output=True, text=text, timeout=timeout, input=input, env=env
    )
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(argv)} -> {res.returncode}: {res.stderr or res.stdout}")
    return res


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ns_pids(ns: str) -> list[int]:
    res = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(ns: str) -> None:
    """Move the calling thread (only) into a named network namespace."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_netns(ns: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn in a short-lived thread that joined `ns` and return its result: sockets and
    taps it opens live in that namespace, whoever uses them later."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            enter_netns(ns)
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{ns}", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def wait_for(
    predicate: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition"
) -> T:
    """Poll `predicate` until it returns something truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def cleanup_stale() -> list[str]:
    """Remove what crashed runs left behind, using their state files (owner gone only)."""
    done: list[str] = []
    if not STATE_DIR.is_dir():
        return done
    for f in sorted(STATE_DIR.glob(f"{PREFIX}*.json")):
        try:
            state = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        owner = state.get("owner_pid")
        if owner and _proc_start_time(owner) == state.get("owner_start"):
            continue  # still running
        for pid, start in state.get("procs", []):
            if start and _proc_start_time(pid) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                done.append(f"killed pid {pid}")
        for ns in state.get("namespaces", []):
            if not ns.startswith(PREFIX):
                continue
            for pid in ns_pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                done.append(f"killed pid {pid} in {ns}")
            if ns in list_namespaces():
                run(["ip", "netns", "del", ns], check=False)
                done.append(f"deleted {ns}")
        for d in state.get("etc_dirs", []):
            if Path(d).name.startswith(PREFIX):
                shutil.rmtree(d, ignore_errors=True)
        wd = state.get("workdir", "")
        if Path(wd).name.startswith(PREFIX):
            shutil.rmtree(wd, ignore_errors=True)
        f.unlink()
    return done


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--cleanup-stale"]:
        for line in cleanup_stale():
            print(line)
    else:
        print("usage: python -m tests.rig.netns --cleanup-stale", file=sys.stderr)
        sys.exit(2)
