"""An OpenWrt router in a namespace: OpenWrt's own userland over the host, real bridges.

`OpenWrtBox` takes one of the rig's network namespaces and runs, inside a new mount and
PID namespace of its own, a root that is an overlay of

  1. a tmpfs copy of the userland built from pinned upstream sources
     (`tests/openwrt/userland.py build`: procd, ubusd, netifd, uci, ucode, fw4, opkg, apk,
     OpenWrt's base files and init scripts), laid out merged-/usr like the host,
  2. the host's `/` (python3, tor, nft, dnsmasq, busybox come from Debian's packages),

with writes going to a tmpfs: nothing is written to the host. Its PID 1 is a small shell
that starts ubusd and procd (not as PID 1: procd then only serves services over ubus),
then boots `/etc/rc.d/S*` like OpenWrt's rcS. Commands enter it with nsenter.

Why the copies sit on a tmpfs: overlayfs refuses layers that overlap another layer's
tree ("overlapping lowerdir path"), and the host's `/` is a layer.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

from tests.rig.netns import Lab, Proc, wait_for

HERE = Path(__file__).resolve().parent
USERLAND = HERE / "userland.py"
BOX_INIT = HERE / "box-init.sh"
INNER_INIT = HERE / "box-pid1.sh"
BOOT = HERE / "box-boot.sh"
# Services a router has enabled before torbox arrives (OpenWrt's own START numbers are read
# from each script).
ENABLED = ("network", "firewall", "dnsmasq", "tor")

# The host is merged-/usr (/bin, /sbin, /lib are symlinks into /usr): the layer must be too,
# or its /sbin directory would hide the host's /usr/sbin behind the symlink.
MERGED_USR = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib"}


class BoxError(RuntimeError):
    pass


def userland_root() -> Path:
    """The built userland (cached); a missing build is an error that says what to run."""
    res = subprocess.run(["python3", str(USERLAND), "path"], capture_output=True, text=True)
    if res.returncode != 0:
        raise BoxError("OpenWrt userland not built: run `make openwrt-userland` "
                       f"(needs OPENWRT_MIRROR or network): {res.stdout}{res.stderr}".strip())
    return Path(res.stdout.strip().splitlines()[-1])


def _copy_merged_usr(src: Path, dst: Path) -> None:
    for entry in sorted(src.iterdir()):
        target = dst / MERGED_USR.get(entry.name, entry.name)
        if entry.is_dir() and not entry.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copytree(entry, target, symlinks=True, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            shutil.copy2(entry, target, follow_symlinks=False)


# Accounts OpenWrt's packages create (their Require-User), which Debian's do not have.
USERS = {"tor": "tor:x:52:52:tor:/var/run/tor:/bin/false",
         "dnsmasq": "dnsmasq:x:453:453:dnsmasq:/var/run/dnsmasq:/bin/false"}
GROUPS = {"tor": "tor:x:52:", "dnsmasq": "dnsmasq:x:453:"}


def _with_accounts(path: Path, rows: dict[str, str]) -> str:
    text = path.read_text()
    have = {row.split(":", 1)[0] for row in text.splitlines()}
    return text + "".join(line + "\n" for name, line in rows.items() if name not in have)


def build_layer(root: Path, dest: Path) -> Path:
    """The box's top layer: the userland laid out merged-/usr plus what a router has."""
    stamp = dest / ".tbx-layer"
    if stamp.exists() and stamp.read_text() == str(root):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _copy_merged_usr(root, dest)
    # OpenWrt: /var is the RAM disk.
    (dest / "var").symlink_to("tmp")
    etc = dest / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "openwrt_release").write_text(
        "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='SNAPSHOT'\n"
        "DISTRIB_DESCRIPTION='torbox test namespace (OpenWrt userland from pinned sources)'\n")
    (etc / "openwrt_version").write_text("SNAPSHOT\n")
    # OpenWrt's tor runs as `tor` (its torrc says `User tor`), dnsmasq as `dnsmasq`.
    (etc / "passwd").write_text(_with_accounts(Path("/etc/passwd"), USERS))
    (etc / "group").write_text(_with_accounts(Path("/etc/group"), GROUPS))
    for d in ("config", "rc.d", "uci-defaults", "tor"):
        (etc / d).mkdir(exist_ok=True)
    # Debian's binaries where OpenWrt's packages put them.
    sbin = dest / "usr" / "sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    # busybox ash is OpenWrt's /bin/sh (fw4 and the init scripts need `set -o pipefail`,
    # `local`, ash's `[`); the host's dash would not do.
    bindir = dest / "usr" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name in ("sh", "ash"):
        link = bindir / name
        if not link.exists():
            link.symlink_to("/usr/bin/busybox")
    for tool in ("logger", "udhcpc"):
        link = sbin / tool
        if not link.exists():
            link.symlink_to("/usr/bin/busybox")
    for src, name in ((INNER_INIT, "tbx-init"), (BOOT, "tbx-boot")):
        shutil.copy2(src, dest / name)
        (dest / name).chmod(0o755)
    _enable(dest, ENABLED)
    stamp.write_text(str(root))
    return dest


def _enable(dest: Path, services: tuple[str, ...]) -> None:
    """/etc/rc.d/S<NN><name> links, as `/etc/init.d/<name> enable` makes them."""
    rcd = dest / "etc" / "rc.d"
    for svc in services:
        script = dest / "etc" / "init.d" / svc
        if not script.exists():
            raise BoxError(f"the userland has no /etc/init.d/{svc}")
        start = next((line.split("=", 1)[1].strip() for line in script.read_text().splitlines()
                      if line.startswith("START=")), None)
        if start is None:
            raise BoxError(f"/etc/init.d/{svc} has no START=")
        link = rcd / f"S{start}{svc}"
        if not link.is_symlink():
            link.symlink_to(f"../init.d/{svc}")


class OpenWrtBox:
    """OpenWrt's userland running in the rig namespace `ns`."""

    def __init__(self, lab: Lab, ns: str, name: str = "owrt") -> None:
        self.lab = lab
        self.ns = ns
        self.name = name
        self.dir = lab.workdir / name
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.proc: Proc | None = None
        self.pid1 = 0
        self.peers: dict[str, str] = {}  # box port -> the namespace at its other end
        self.timings: dict[str, float] = {}

    # ---- life ------------------------------------------------------------------------------
    def start(self, boot: bool = False, timeout: float = 60) -> None:
        """Start PID 1, ubusd and procd; with `boot`, also boot (else call boot())."""
        t0 = time.monotonic()
        root = userland_root()
        layer = build_layer(root, root.parent / "layer")
        (self.dir / "mnt").mkdir(exist_ok=True)
        # unshare's child is PID 1 of the new PID namespace; --kill-child takes every process
        # of the box down with it when the rig stops the unshare process (by its PID).
        self.proc = self.lab.spawn(
            self.ns,
            ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
             "/bin/sh", str(BOX_INIT), str(layer), str(self.dir / "mnt"),
             "boot" if boot else "noboot"],
            name=f"{self.name}-box")
        self.pid1 = wait_for(self._find_pid1, timeout=10, what="the box's PID 1")
        marker = "/tmp/.tbx-booted" if boot else "/tmp/.tbx-up"
        wait_for(lambda: self.sh(f"[ -e {marker} ]", check=False).returncode == 0,
                 timeout=timeout, what="the box to come up", interval=0.2)
        self.timings["up_s"] = round(time.monotonic() - t0, 2)

    def boot(self, timeout: float = 120) -> str:
        """uci-defaults and rcS, as a router does after preinit; returns their output."""
        t0 = time.monotonic()
        res = self.run(["/bin/sh", "/tbx-boot"], timeout=timeout)
        self.timings["boot_s"] = round(time.monotonic() - t0, 2)
        return res.stdout + res.stderr

    def _find_pid1(self) -> int:
        assert self.proc is not None
        if not self.proc.alive():
            raise BoxError(f"box exited: {self.proc.log_text()[-3000:]}")
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return 0
        return int(kids[0]) if kids else 0

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None

    # ---- inside ----------------------------------------------------------------------------
    def argv(self, argv: list[str]) -> list[str]:
        """Run argv inside the box: its mounts, network, PIDs and root."""
        if not self.pid1:
            raise BoxError("box not started")
        return ["nsenter", "-t", str(self.pid1), "-m", "-n", "-p", "-r", "-w",
                "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                *argv]

    def run(self, argv: list[str], check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess:
        res = subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=timeout,
                             input=input)
        if check and res.returncode != 0:
            raise BoxError(f"{shlex.join(argv)} exited {res.returncode}:\n"
                           f"{res.stdout[-3000:]}{res.stderr[-3000:]}")
        return res

    def sh(self, script: str, check: bool = True, timeout: float = 60,
           input: str | None = None) -> subprocess.CompletedProcess:
        return self.run(["/bin/sh", "-c", script], check=check, timeout=timeout, input=input)

    def read(self, path: str) -> bytes:
        res = subprocess.run(self.argv(["cat", path]), capture_output=True, timeout=30)
        if res.returncode != 0:
            raise FileNotFoundError(path)
        return res.stdout

    def write(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        subprocess.run(self.argv(["/bin/sh", "-c", f'cat > "$1" && chmod {mode:o} "$1"', "-",
                                  path]), input=raw, check=True, timeout=30)

    def put(self, host_path: Path, path: str) -> None:
        self.write(path, host_path.read_bytes(), mode=host_path.stat().st_mode & 0o7777)

    def wait(self, script: str, timeout: float = 30, what: str = "", logs: tuple[str, ...] = ()
             ) -> None:
        """Poll a shell condition; on timeout the error carries the tails of `logs`."""
        try:
            wait_for(lambda: self.sh(script, check=False).returncode == 0, timeout=timeout,
                     what=what or script, interval=0.3)
        except TimeoutError as exc:
            tails = "".join(f"\n--- {p}:\n" + self.sh(f"tail -n 30 {p}", check=False).stdout
                            for p in logs)
            raise TimeoutError(f"{exc}{tails}") from None
