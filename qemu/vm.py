"""Boot the emulated MIPS router (QEMU malta, mipsel) and run a job in it.

The guest's PID 1 (qemu/guest/tbx-init) runs ``/job/run`` from a second disk that is
made here from a directory, prints ``TBX-JOB-EXIT <rc>`` and powers off, so QEMU
exits by itself. Everything the guest prints goes to the serial console, which is
captured to a file. Jobs report figures as ``TBX-RESULT <name> <value>`` lines.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("TORBOX_QEMU_CACHE", HERE / "cache"))
JOBS = HERE / "jobs"
QEMU = "qemu-system-mipsel"
# The AR9331 and MT7620 are 24Kc cores (no FPU); the guest kernel emulates floats.
DEFAULT_CPU = "24Kc"
RESULT_RE = re.compile(r"^TBX-RESULT (\S+) (.*?)\r?$", re.M)


class VmError(RuntimeError):
    """The VM failed; the message ends with the tail of the serial console."""


def build_image(timeout: float = 1800) -> Path:
    """Build (or reuse from the cache) the image; return its directory."""
    proc = subprocess.run(
        [str(HERE / "build-image.sh")],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=True,
    )
    return Path(proc.stdout.strip().splitlines()[-1])


def make_job_disk(src: Path, out: Path) -> Path:
    """Pack a job directory (must hold ``run``) into an ext2 image for /dev/sdb."""
    if not (src / "run").is_file():
        raise VmError(f"{src}/run missing")
    size_kb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) // 1024
    size_kb = max(4096, size_kb * 2 + 1024)
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext2", "-L", "tbxjob", "-d", str(src), str(out), f"{size_kb}k"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def job_dir(script: str, workdir: Path, files: dict[str, Path | str] | None = None) -> Path:
    """Assemble a job directory from qemu/jobs/<script> plus qemu/jobs/lib.sh and extra files.

    ``files`` maps a name inside /job to a host path or to literal text.
    """
    d = workdir / "job"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(JOBS / "lib.sh", d / "lib.sh")
    shutil.copy(JOBS / script, d / "run")
    for name, value in (files or {}).items():
        dst = d / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Path):
            if value.is_dir():
                shutil.copytree(value, dst, dirs_exist_ok=True)
            else:
                shutil.copy(value, dst)
        else:
            dst.write_text(value)
    return d


@contextmanager
def single_vm_lock(timeout: float = 1800) -> Iterator[None]:
    """Only one QEMU at a time on this machine (it has 2 cores)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".vm.lock", "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise VmError("another QEMU held qemu/cache/.vm.lock too long") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Vm:
    """One QEMU malta guest. Use as a context manager: it is always killed on exit."""

    def __init__(
        self,
        image: Path,
        job: Path,
        workdir: Path,
        *,
        mem_mb: int = 64,
        cpu: str = DEFAULT_CPU,
        nics: Sequence[str] = (),
        append: str = "",
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.image = image
        self.workdir = workdir
        self.console_path = workdir / "console.log"
        self.job_img = make_job_disk(job, workdir / "job.img")
        self.mem_mb = mem_mb
        self.cpu = cpu
        self.nics = list(nics)
        self.append = append
        self.pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def command(self) -> list[str]:
        img = self.image
        cmdline = f"root=LABEL=tbxroot console=ttyS0 init=/sbin/tbx-init panic=5 {self.append}"
        cmd = [QEMU, "-M", "malta", "-cpu", self.cpu, "-m", str(self.mem_mb)]
        cmd += ["-nographic", "-vga", "none", "-no-reboot", "-monitor", "none"]
        cmd += ["-kernel", str(img / "vmlinux"), "-initrd", str(img / "initrd.img")]
        cmd += ["-append", cmdline.strip()]
        # snapshot=on: writes go to a throw-away overlay, the cached image stays pristine.
        cmd += ["-drive", f"file={img / 'rootfs.ext4'},format=raw,if=ide,index=0,snapshot=on"]
        cmd += ["-drive", f"file={self.job_img},format=raw,if=ide,index=1,snapshot=on"]
        if not self.nics:
            cmd += ["-net", "none"]
        # PCI pcnet NICs in order (eth0, eth1, ...); romfile= because the guest
        # boots from -kernel, not from a network boot ROM.
        for i, spec in enumerate(self.nics):
            cmd += ["-netdev", f"{spec},id=net{i}"]
            cmd += ["-device", f"pcnet,netdev=net{i},romfile=,mac=52:54:00:7b:00:{i:02x}"]
        return cmd

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "qemu.cmd").write_text(" ".join(self.command()) + "\n")
        with open(self.console_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=self.pass_fds,
            )
        self.started = time.monotonic()

    def console(self) -> str:
        try:
            return self.console_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.console().splitlines()[-lines:])

    def fail(self, msg: str) -> VmError:
        return VmError(f"{msg}\n--- serial console ({self.console_path}), last lines ---\n"
                       f"{self.tail()}")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until the console matches ``pattern`` (multiline regex)."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.console())
            if m:
                return m
            if self.proc is not None and self.proc.poll() is not None:
                raise self.fail(f"QEMU exited ({self.proc.returncode}) before /{pattern}/")
            if time.monotonic() > deadline:
                raise self.fail(f"no /{pattern}/ on the console after {timeout:.0f} s")
            time.sleep(0.25)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the guest to power off; return the job's exit status."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise self.fail(f"guest still running after {timeout:.0f} s; killed") from None
        m = re.search(r"^TBX-JOB-EXIT (\d+)", self.console(), re.M)
        if rc != 0 or m is None:
            raise self.fail(f"QEMU exit status {rc}, job status {m and m.group(1)}")
        return int(m.group(1))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def results(self) -> dict[str, str]:
        return {k: v.strip() for k, v in RESULT_RE.findall(self.console())}

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> Vm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def new_workdir(name: str, keep: int = 10) -> Path:
    """A fresh directory under qemu/cache/runs/ for one boot; only the newest ``keep`` stay."""
    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for old in sorted(runs.iterdir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime(f"%Y%m%d-%H%M%S-{name}-"), dir=runs))


def run_job(
    script: str,
    *,
    image: Path | None = None,
    workdir: Path | None = None,
    files: dict[str, Path | str] | None = None,
    timeout: float = 600,
    **vm_args: object,
) -> tuple[Vm, int]:
    """Boot a job to completion (image built or reused); return the VM and the job status."""
    image = image or build_image()
    workdir = workdir or new_workdir(Path(script).stem)
    job = job_dir(script, workdir, files)
    with single_vm_lock(), Vm(image, job, workdir, **vm_args) as vm:  # type: ignore[arg-type]
        rc = vm.wait_exit(timeout)
    return vm, rc
