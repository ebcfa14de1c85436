"""A throw-away "router" for deploy tests: a real SSH server in its own namespaces.

Layout of one rig (names tbx-<id>-...):
- netns tbx-<id>-r: the router, 192.168.8.1/24 on veth tbx-<id>-ra;
- netns tbx-<id>-l: the laptop, 192.168.8.2/24 on tbx-<id>-la; deploy.py runs here;
- inside the router netns, new mount and PID namespaces whose root is an overlayfs
  over / with its upper layer on a tmpfs: every write lands in RAM and vanishes
  with the rig; /etc/passwd, /etc/shadow, host keys, /root, /home, /tmp, /run and
  /work are replaced or hidden, so the build machine's own /etc is never served;
- PID 1 there is a small reaper; killing it ends every process the router ran.

The host's default namespace gets nothing: no address, no route, no interface.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
ROUTER_IP = "192.168.8.1"
LAPTOP_IP = "192.168.8.2"
PASSWORD = "tbx-router-pw"  # the throw-away router's root password

# pid 1 of the router's PID namespace: reaps orphans (detached helpers) so that
# `kill -0` on a finished step's PID fails as it would under OpenWrt's procd.
REAPER = """
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM})
while True:
    sig = signal.sigwait({signal.SIGCHLD, signal.SIGTERM})
    if sig == signal.SIGTERM:
        os._exit(0)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
"""

SETUP = """set -e
T="$1"; SIZE="$2"
mount -t tmpfs -o size="$SIZE",mode=755 tbx-router "$T/ov"
mkdir "$T/ov/u" "$T/ov/w" "$T/ov/m"
M="$T/ov/m"
mount -t overlay tbx-router -o lowerdir=/,upperdir="$T/ov/u",workdir="$T/ov/w" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
mount -t sysfs sysfs "$M/sys"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$M/tmp"
for d in run root home work; do mount -t tmpfs -o mode=755,size=16m tmpfs "$M/$d"; done
touch "$T/ready"
exec chroot "$M" /usr/bin/python3 -c "$3"
"""

# Applets OpenWrt's busybox has; the dropbear router uses them instead of coreutils,
# so router-side scripts meet busybox ash and busybox tools as on a real router.
BUSYBOX_APPLETS = (
    "sh ash cat cp cut df dirname basename find grep gzip head kill ln ls mkdir mktemp mv"
    " rm rmdir sed sha256sum sleep sort tail tar touch tr uname wc xargs awk"
).split()
NOT_ON_OPENWRT = ("nohup", "setsid", "stat", "timeout")

_live: list[RouterRig] = []
# One file per live rig, so a run that was SIGKILLed is cleaned up by the next one.
STATE_DIR = Path("/run/tbx-deploy")


def _teardown_all() -> None:
    for rig in list(_live):
        rig.close()


atexit.register(_teardown_all)


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def cleanup_stale() -> None:
    """Remove rigs whose test process died without tearing down (by recorded PID only)."""
    if not STATE_DIR.is_dir():
        return
    for f in STATE_DIR.glob("*.json"):
        try:
            st = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _start_time(st["owner"]) == st["owner_start"]:
            continue  # its test process is alive
        if st.get("holder") and _start_time(st["holder"]) == st.get("holder_start"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(st["holder"], signal.SIGKILL)
        for ns in st["netns"]:
            run(["ip", "netns", "del", ns], check=False)
        f.unlink(missing_ok=True)


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                out += [int(x) for x in text.split()]
    return out


class RouterRig:
    def __init__(self, tmp: Path, server: str = "dropbear", upper_size: str = "512m",
                 blank_password: bool = False) -> None:
        self.id = secrets.token_hex(3)
        self.tmp = tmp / f"rig-{self.id}"
        self.tmp.mkdir(parents=True)
        self.server = server
        self.upper_size = upper_size
        self.blank_password = blank_password
        self.ns_r = f"tbx-{self.id}-r"
        self.ns_l = f"tbx-{self.id}-l"
        self.veth_r = f"tbx-{self.id}-ra"
        self.veth_l = f"tbx-{self.id}-la"
        self.holder: subprocess.Popen | None = None
        self.pid1 = 0
        self.ssh_proc: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.closed = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> RouterRig:
        cleanup_stale()
        _live.append(self)
        try:
            self._network()
            self._root()
            self._record()
            self._populate()
            self.start_ssh()
        except BaseException:
            self.close()
            raise
        return self

    def _network(self) -> None:
        run(["ip", "netns", "add", self.ns_r])
        run(["ip", "netns", "add", self.ns_l])
        run(["ip", "link", "add", self.veth_r, "netns", self.ns_r, "type", "veth",
             "peer", "name", self.veth_l, "netns", self.ns_l])
        for ns, dev, ip in ((self.ns_r, self.veth_r, ROUTER_IP), (self.ns_l, self.veth_l,
                                                                   LAPTOP_IP)):
            run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _root(self) -> None:
        (self.tmp / "ov").mkdir()
        log = open(self.tmp / "holder.log", "w")  # noqa: SIM115 (kept for the process)
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_r, "unshare", "--mount", "--pid", "--fork",
             "--kill-child", "--propagation", "private", "sh", "-c", SETUP, "setup",
             str(self.tmp), self.upper_size, REAPER],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (self.tmp / "ready").exists():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("router root did not come up: "
                                   + (self.tmp / "holder.log").read_text())
            time.sleep(0.05)
        while not self.pid1:
            kids = children(self.holder.pid)
            if kids:
                self.pid1 = kids[0]
            elif time.monotonic() > deadline:
                raise RuntimeError("no pid 1 in the router namespace")
            else:
                time.sleep(0.05)
        # wait until pid 1 runs chroot'ed python (exec done)
        while not os.readlink(f"/proc/{self.pid1}/exe").endswith(("python3", "python3.11")):
            time.sleep(0.05)
            if time.monotonic() > deadline:
                raise RuntimeError("router pid 1 did not start")

    def _record(self) -> None:
        assert self.holder is not None
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        (STATE_DIR / f"{self.id}.json").write_text(json.dumps({
            "owner": os.getpid(), "owner_start": _start_time(os.getpid()),
            "holder": self.holder.pid, "holder_start": _start_time(self.holder.pid),
            "netns": [self.ns_l, self.ns_r],
        }))

    def path(self, p: str) -> Path:
        """A path inside the router's root, seen from the host."""
        return Path(f"/proc/{self.pid1}/root") / p.lstrip("/")

    def sh(self, script: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a shell command inside the router (its root, netns, PID namespace)."""
        return run(["nsenter", "-t", str(self.pid1), "-m", "-n", "-p", "-r", "-w",
                    "/bin/sh", "-c", script], check=check, timeout=timeout)

    def _populate(self) -> None:
        shell = "/bin/ash" if self.server == "dropbear" else "/bin/sh"
        if self.blank_password:
            pw_hash = ""
        else:
            pw_hash = run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD).stdout.strip()
        etc = self.path("/etc")
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/root:{shell}\n"
            "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (etc / "shadow").write_text(
            f"root:{pw_hash}:19000:0:99999:7:::\nsshd:*:19000::::::\nnobody:*:19000::::::\n"
        )
        os.chmod(etc / "shadow", 0o640)
        (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        (etc / "shells").write_text("/bin/sh\n/bin/ash\n/bin/bash\n")
        (etc / "hostname").write_text("torbox-test-router\n")
        # never the build machine's own host keys
        self.sh("rm -f /etc/ssh/ssh_host_* /etc/ssh/sshd_config.d/* ; mkdir -p /etc/dropbear"
                " /etc/config /run/sshd /root/.ssh && chmod 700 /root/.ssh")
        for name in ("network", "wireless", "dhcp", "firewall"):
            shutil.copyfile(DATA / name, etc / "config" / name)
        os.chmod(etc / "config" / "wireless", 0o600)
        if self.server == "dropbear":
            # an OpenWrt-like userland: busybox ash and applets, none that OpenWrt lacks
            links = " ".join(f"ln -sf /usr/bin/busybox /usr/bin/{a};" for a in BUSYBOX_APPLETS)
            self.sh(f"{links} rm -f " + " ".join(f"/usr/bin/{a}" for a in NOT_ON_OPENWRT))
            self.sh("dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key")
        else:
            self.sh("ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/tbx_host_ed25519_key")
            (etc / "ssh" / "tbx_sshd_config").write_text(
                "ListenAddress 0.0.0.0:22\n"
                "HostKey /etc/ssh/tbx_host_ed25519_key\n"
                "PermitRootLogin yes\n"
                "PasswordAuthentication yes\n"
                "KbdInteractiveAuthentication no\n"
                "UsePAM no\n"
                "PubkeyAuthentication yes\n"
                "AuthorizedKeysFile /root/.ssh/authorized_keys\n"
                "StrictModes no\n"
                "PidFile /run/tbx-sshd.pid\n"
                "LogLevel VERBOSE\n"
                f"PermitEmptyPasswords {'yes' if self.blank_password else 'no'}\n"
            )

    def start_ssh(self) -> None:
        log = self.tmp / f"{self.server}.log"
        self.logs.append(log)
        if self.server == "dropbear":
            # all addresses, as OpenWrt's dropbear: the router keeps answering after a move
            cmd = ["/usr/sbin/dropbear", "-F", "-E", "-p", "22",
                   "-r", "/etc/dropbear/dropbear_ed25519_host_key", "-P", "/run/dropbear.pid"]
            if self.blank_password:
                cmd.append("-B")
        else:
            cmd = ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/tbx_sshd_config"]
        self.ssh_proc = subprocess.Popen(
            ["nsenter", "-t", str(self.pid1), "-m", "-n", "-p", "-r", "-w", *cmd],
            stdout=open(log, "a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: SIM115
        )
        self.procs.append(self.ssh_proc)
        deadline = time.monotonic() + 20
        while True:
            r = run(["ip", "netns", "exec", self.ns_l, sys.executable, "-c",
                     f"import socket; socket.create_connection(('{ROUTER_IP}', 22), 1).close()"],
                    check=False)
            if r.returncode == 0:
                return
            if self.ssh_proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.server} did not start: " + log.read_text())
            time.sleep(0.1)

    def server_pid(self) -> int:
        """The SSH server's own PID (host view): nsenter forks it as its only child."""
        assert self.ssh_proc is not None
        kids = children(self.ssh_proc.pid)
        return kids[0] if kids else self.ssh_proc.pid

    def kill_sessions(self) -> list[int]:
        """SIGKILL the server processes serving connections (the listener stays)."""
        killed = []
        for pid in children(self.server_pid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return killed

    def host_pubkey(self) -> str:
        """`type base64` of the server's host key."""
        if self.server == "dropbear":
            out = self.sh("dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key").stdout
            line = next(ln for ln in out.splitlines() if ln.startswith("ssh-"))
        else:
            line = self.path("/etc/ssh/tbx_host_ed25519_key.pub").read_text()
        kind, b64 = line.split()[:2]
        return f"{kind} {b64}"

    def authorize(self, pubkey_line: str) -> None:
        (self.path("/root/.ssh") / "authorized_keys").write_text(pubkey_line + "\n")

    # -- the laptop side --------------------------------------------------------------------

    def laptop_cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns_l, sys.executable, str(REPO / "deploy" /
                                                                      "deploy.py"), *args]

    def laptop(self, *args: str, env: dict | None = None, stdin: str | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(self.laptop_cmd(*args), env=env, input=stdin, text=True,
                              capture_output=True, timeout=timeout)

    def laptop_popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        p = subprocess.Popen(self.laptop_cmd(*args), env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, bufsize=1)
        self.procs.append(p)
        return p

    # -- faults and services ----------------------------------------------------------------

    def nft(self, ruleset: str) -> None:
        run(["ip", "netns", "exec", self.ns_r, "nft", "-f", "-"], input=ruleset)

    def shape_laptop(self, rate: str = "32kbit") -> None:
        """Slow the laptop->router direction (tbf: delays, no drops) so transfers take time."""
        run(["tc", "-n", self.ns_l, "qdisc", "add", "dev", self.veth_l, "root", "tbf",
             "rate", rate, "burst", "1600", "latency", "1s"])

    def cut(self) -> None:
        """Drop every packet between laptop and router, inside the router's netns."""
        self.nft("table inet tbxcut {\n chain in { type filter hook input priority -300;"
                 " iifname \"" + self.veth_r + "\" drop; }\n"
                 " chain out { type filter hook output priority -300; oifname \""
                 + self.veth_r + "\" drop; }\n}\n")

    def move_router(self, new_ip: str, laptop_ip: str) -> None:
        """What netifd does when the LAN subnet changes, and the laptop's DHCP renew after."""
        run(["ip", "-n", self.ns_r, "addr", "flush", "dev", self.veth_r])
        run(["ip", "-n", self.ns_r, "addr", "add", f"{new_ip}/24", "dev", self.veth_r])
        run(["ip", "-n", self.ns_l, "addr", "flush", "dev", self.veth_l])
        run(["ip", "-n", self.ns_l, "addr", "add", f"{laptop_ip}/24", "dev", self.veth_l])

    def uncut(self) -> None:
        run(["ip", "netns", "exec", self.ns_r, "nft", "delete", "table", "inet", "tbxcut"],
            check=False)

    def start_status_page(self, port: int = 80, bind: str = ROUTER_IP) -> subprocess.Popen:
        """A stand-in for the router's /torbox page (the webui is its own issue's)."""
        script = (
            "import http.server, json\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        if self.path.startswith('/torbox/api/status'):\n"
            "            body = json.dumps({'tor': {'state': 'starting', 'bootstrap': 0,"
            " 'phase': 'test rig: no Tor'}}).encode(); ctype = 'application/json'\n"
            "        elif self.path.startswith('/torbox'):\n"
            "            body = b'<h1>torbox</h1>'; ctype = 'text/html'\n"
            "        else:\n"
            "            self.send_error(404); return\n"
            "        self.send_response(200); self.send_header('Content-Type', ctype)\n"
            "        self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
            "        self.wfile.write(body)\n"
            "    def log_message(self, *a): pass\n"
            f"http.server.HTTPServer(('{bind}', {port}), H).serve_forever()\n"
        )
        p = subprocess.Popen(["ip", "netns", "exec", self.ns_r, sys.executable, "-c", script],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + 10
        while run(["ip", "netns", "exec", self.ns_l, "curl", "-sf", "-o", "/dev/null",
                   f"http://{ROUTER_IP}:{port}/torbox"], check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("status page stand-in did not start")
            time.sleep(0.1)
        return p

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=10)
        if self.holder is not None and self.holder.poll() is None:
            # --kill-child: pid 1 dies with unshare, and with it every router process
            self.holder.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.holder.wait(timeout=10)
        for ns in (self.ns_l, self.ns_r):
            run(["ip", "netns", "del", ns], check=False)
        (STATE_DIR / f"{self.id}.json").unlink(missing_ok=True)
        if self in _live:
            _live.remove(self)
