"""The emulated router as a long-running VM the host drives over SSH.

Boots qemu/jobs/router.sh: WAN on eth0 (a tap fd, e.g. into the rig's internet, or an
isolated user-mode NIC), the wired LAN port eth1 a tap in a "laptop" network namespace
(192.168.8.2/24) from which the deploy tool and the tests reach the router at 192.168.8.1,
exactly as a laptop on the cable would. The host key is read off the serial console and
pinned: no connection is made to a key that differs from it.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from qemu import vm
from tests.rig.netns import call_in_netns

REPO = Path(__file__).resolve().parent.parent
LAN_IP = "192.168.8.1"
LAPTOP_IP = "192.168.8.2"  # the laptop on the cable (static, in the "laptop" namespace)


def key_fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass
class Wan:
    """How eth0 is connected: a tap fd (e.g. into the rig's internet) or nothing reachable."""

    fd: int | None = None
    addr: str = ""  # guest address in CIDR form; empty: no address
    gateway: str = ""
    dns: str = ""  # the WAN's resolver (what its DHCP would hand out)

    def nic(self) -> str:
        if self.fd is None:
            # An isolated user-mode NIC: the guest reaches nothing through it.
            return "user,restrict=on,ipv6=off,net=10.0.2.0/24"
        return f"tap,fd={self.fd}"


@dataclass
class RouterVm:
    image: Path
    workdir: Path
    lan_ns: str  # the laptop's network namespace
    lan_fd: int  # tap in lan_ns: the router's wired LAN port
    wan: Wan = field(default_factory=Wan)
    mem_mb: int = 64
    wait_max: int = 1800
    radios: int = 4  # phy0: the router's access point; phy1..: phones
    files: dict[str, Path | str] = field(default_factory=dict)
    vm: vm.Vm | None = None
    fingerprint: str = ""
    client_key: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _ssh: paramiko.SSHClient | None = None

    def start(self, timeout: float = 240) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client_key = self.workdir / "id_ed25519"
        if not self.client_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tbx-qemu",
                            "-f", str(self.client_key)], check=True)
        env = (f"WAN_ADDR={shlex.quote(self.wan.addr)}\nWAN_GW={shlex.quote(self.wan.gateway)}\n"
               f"WAN_DNS={shlex.quote(self.wan.dns)}\n"
               f"LAN_ADDR={LAN_IP}/24\nWAIT_MAX={self.wait_max}\nRADIOS={self.radios}\n")
        files = {
            "env": env,
            "authorized_keys": self.client_key.with_suffix(".pub"),
            "svc.sh": vm.JOBS / "svc.sh",
            "station.sh": vm.JOBS / "station.sh",
            "figures.sh": vm.JOBS / "figures.sh",
            "tordefaults.sh": vm.JOBS / "tordefaults.sh",
            # the rig's DHCP client script: phones in the VM configure themselves alike
            "udhcpc.sh": REPO / "tests/rig/udhcpc.sh",
            **self.files,
        }
        job = vm.job_dir("router.sh", self.workdir, files)
        nics = [self.wan.nic(), f"tap,fd={self.lan_fd}"]
        fds = [self.lan_fd] + ([self.wan.fd] if self.wan.fd is not None else [])
        self.vm = vm.Vm(self.image, job, self.workdir, mem_mb=self.mem_mb, nics=nics,
                        pass_fds=fds)
        self.vm.start()
        m = self.vm.wait_for(r"^TBX-HOSTKEY ssh-ed25519 (SHA256:\S+)", timeout)
        self.fingerprint = m.group(1)
        self.vm.wait_for(r"^TBX-READY ", 60)
        self.timings["boot_to_ssh_s"] = round(self.vm.elapsed(), 1)

    # -- SSH --------------------------------------------------------------------------------
    def ssh(self) -> paramiko.SSHClient:
        if self._ssh is not None and self._ssh.get_transport() is not None \
                and self._ssh.get_transport().is_active():
            return self._ssh
        assert self.client_key is not None
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        # Pin the key printed on the console; RejectPolicy refuses anything else.
        # The emulated CPU can be busy for many seconds (tor start-up, a phone joining): allow
        # a slow banner and try again before calling the guest unreachable.
        for attempt in range(3):
            t = paramiko.Transport(self.connect_lan(22))
            t.banner_timeout = 60
            try:
                t.start_client(timeout=60)
                key = t.get_remote_server_key()
                break
            except (paramiko.SSHException, EOFError, OSError):
                if attempt == 2:
                    raise
            finally:
                t.close()
        if key_fingerprint(key) != self.fingerprint:
            raise vm.VmError(f"guest host key {key_fingerprint(key)} != console "
                             f"{self.fingerprint}")
        client.get_host_keys().add(LAN_IP, key.get_name(), key)
        client.connect(LAN_IP, username="root", sock=self.connect_lan(22),
                       key_filename=str(self.client_key), allow_agent=False,
                       look_for_keys=False, timeout=30, banner_timeout=60, auth_timeout=60)
        self._ssh = client
        return client

    def station_up(self, name: str, phy: str, ssid: str, psk: str,
                   freq: int | None = 2437, wait_s: int = 240) -> dict[str, str]:
        """A phone joins ``ssid`` on radio ``phy``; returns its DHCP lease and timings.
        ``freq``: scan only this channel (torbox's hostapd.conf uses channel 6, 2437 MHz);
        None scans every channel like a phone seeing the network first (~1 min here).
        ``wait_s``: how long the phone keeps trying to associate."""
        env = f"WAIT={int(wait_s)} " + (f"FREQ={int(freq)} " if freq else "")
        out = self.run_input(f"{env}sh /job/station.sh up {shlex.quote(name)} {shlex.quote(phy)} "
                             f"{shlex.quote(ssid)}", (psk + "\n").encode(), timeout=400)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def station_down(self, name: str) -> None:
        self.run(f"sh /job/station.sh down {shlex.quote(name)}", timeout=60, check=False)

    def on_station(self, name: str, cmd: str, timeout: float = 120,
                   check: bool = False) -> tuple[int, str]:
        """Run a shell command as the phone ``name``; returns (exit status, stdout+stderr)."""
        full = f"ip netns exec sta-{name} sh -c {shlex.quote(cmd)} 2>&1"
        return self.run_rc(full, timeout=timeout, check=check)

    def run_input(self, cmd: str, data: bytes, timeout: float = 300) -> str:
        chan = self.ssh().get_transport().open_session(timeout=30)
        chan.settimeout(timeout)
        chan.exec_command(cmd)
        chan.sendall(data)
        chan.shutdown_write()
        out = chan.makefile("rb").read().decode(errors="replace")
        err = chan.makefile_stderr("rb").read().decode(errors="replace")
        rc = chan.recv_exit_status()
        if rc != 0:
            raise vm.VmError(f"guest `{cmd}` exited {rc}:\n{out}\n{err}")
        return out

    def run_rc(self, cmd: str, timeout: float = 300, check: bool = False) -> tuple[int, str]:
        _in, out, err = self.ssh().exec_command(cmd, timeout=timeout)
        text = out.read().decode(errors="replace") + err.read().decode(errors="replace")
        rc = out.channel.recv_exit_status()
        if check and rc != 0:
            raise vm.VmError(f"guest `{cmd}` exited {rc}:\n{text}")
        return rc, text

    def connect_lan(self, port: int, timeout: float = 30) -> socket.socket:
        """A TCP connection to the router from the laptop's namespace."""
        return call_in_netns(self.lan_ns, lambda: socket.create_connection((LAN_IP, port), timeout))

    def laptop(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command on the laptop (in its namespace)."""
        return subprocess.run(["ip", "netns", "exec", self.lan_ns, *argv], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def run(self, cmd: str, timeout: float = 300, check: bool = True) -> str:
        """Run ``cmd`` in the guest; return stdout (stderr appended on failure)."""
        _in, out, err = self.ssh().exec_command(cmd, timeout=timeout)
        text = out.read().decode(errors="replace")
        etext = err.read().decode(errors="replace")
        rc = out.channel.recv_exit_status()
        if check and rc != 0:
            raise vm.VmError(f"guest `{cmd}` exited {rc}:\n{text}\n{etext}")
        return text

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write a file in the guest (no SFTP on dropbear: cat over an exec channel)."""
        chan = self.ssh().get_transport().open_session(timeout=30)
        chan.exec_command(f"cat > {shlex.quote(path)} && chmod {mode:o} {shlex.quote(path)}")
        chan.sendall(data)
        chan.shutdown_write()
        if chan.recv_exit_status() != 0:
            raise vm.VmError(f"writing {path} in the guest failed")

    def figures(self, samples: int = 3, interval: float = 5) -> dict[str, str]:
        """Memory figures (meminfo, RSS/PSS of each torbox service): the median of
        ``samples`` readings ``interval`` s apart, since single readings jitter by MBs."""
        runs = []
        for i in range(samples):
            if i:
                time.sleep(interval)
            runs.append(dict(vm.RESULT_RE.findall(self.run("sh /job/figures.sh", timeout=60))))
        merged = dict(runs[-1])
        for key in merged:
            values = [r.get(key, "") for r in runs]
            if all(v.isdigit() for v in values):
                merged[key] = str(int(statistics.median(int(v) for v in values)))
        merged["mem_available_kb_samples"] = " ".join(r.get("mem_available_kb", "") for r in runs)
        return merged

    def tor_bootstrap(self, log: str = "/var/log/torbox/tor.log") -> int:
        """The last 'Bootstrapped N%' in a tor log in the guest (0: none yet)."""
        out = self.run(f"grep -o 'Bootstrapped [0-9]*%' {shlex.quote(log)} 2>/dev/null | tail -n 1",
                       timeout=60, check=False)
        digits = "".join(c for c in out if c.isdigit())
        return int(digits) if digits else 0

    def wait_tor(self, timeout: float, log: str = "/var/log/torbox/tor.log",
                 interval: float = 5) -> float:
        """Wait for Bootstrapped 100%; return the VM's age (s since QEMU started) then."""
        assert self.vm is not None
        deadline = time.monotonic() + timeout
        while True:
            pct = self.tor_bootstrap(log)
            if pct == 100:
                return round(self.vm.elapsed(), 1)
            if time.monotonic() > deadline:
                tail = self.run(f"tail -n 20 {shlex.quote(log)}", check=False)
                raise vm.VmError(f"tor at {pct}% after {timeout:.0f} s:\n{tail}")
            time.sleep(interval)

    def tor_timeline(self, log: str = "/var/log/torbox/tor.log") -> dict[str, float]:
        """When tor started and reached 100 %, in seconds of guest uptime (from its log's
        timestamps, so the figure does not depend on how often the host looks)."""
        q = shlex.quote(log)
        out = self.run(
            "now=$(date +%s); up=$(cut -d. -f1 /proc/uptime); "
            f"t0=$(head -n 1 {q} | cut -c1-15); "
            f"t100=$(grep -m 1 'Bootstrapped 100%' {q} | cut -c1-15); "
            'echo "$now $up $(date -d "$t0" +%s) $(date -d "$t100" +%s)"', timeout=60)
        now, up, t0, t100 = (int(x) for x in out.split())
        boot = now - up
        return {"tor_started_s": t0 - boot, "tor_100_s": t100 - boot,
                "tor_start_to_100_s": t100 - t0}

    def rss_kb(self, pidfile: str, samples: int = 3, interval: float = 5) -> int:
        """Median VmRSS of the process in ``pidfile`` over ``samples`` readings."""
        values = []
        for i in range(samples):
            if i:
                time.sleep(interval)
            out = self.run(f"awk '$1 == \"VmRSS:\" {{ print $2 }}' /proc/$(cat {pidfile})/status",
                           timeout=30)
            values.append(int(out.strip()))
        return int(statistics.median(values))

    # -- deploying --------------------------------------------------------------------------
    def deploy(self, config: Path, package: Path, *extra: str, fingerprint: str = "",
               timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        """Install torbox with the real deploy tool, host key pinned to the console's."""
        argv = [
            "ip", "netns", "exec", self.lan_ns,
            sys.executable, str(REPO / "deploy/deploy.py"), "--host", LAN_IP,
            "--identity", str(self.client_key),
            "--fingerprint", fingerprint or self.fingerprint,
            "--known-hosts", str(self.workdir / "known_hosts"),
            "--backup-dir", str(self.workdir / "deploy-backups"),
            "--config", str(config), "--package", str(package),
            # emulated CPU: installing takes minutes, the status page's Python a minute
            "--confirm-timeout", "600", "--status-timeout", "600", "--io-timeout", "120",
            *extra,
        ]
        t0 = time.monotonic()
        log = self.workdir / "deploy.log"
        with open(log, "w") as fh:  # streamed: a hung deploy still shows how far it got
            fh.write(f"$ {' '.join(argv)}\n")
            fh.flush()
            proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            fh.write(f"\nexit {proc.returncode}\n")
        self.timings["deploy_s"] = round(time.monotonic() - t0, 1)
        proc.stdout = log.read_text()
        proc.stderr = ""
        return proc

    # -- stopping ---------------------------------------------------------------------------
    def poweroff(self, timeout: float = 120) -> int:
        """Ask the job to end; wait for QEMU to exit; return the job status."""
        assert self.vm is not None
        try:
            self.run("echo 'poweroff requested by host' > /run/tbx-poweroff", timeout=30)
        except (OSError, paramiko.SSHException, vm.VmError) as exc:
            # The job's own WAIT_MAX ends it otherwise; wait_exit kills it at the timeout.
            print(f"router: poweroff request failed: {exc}")
        self.close_ssh()
        return self.vm.wait_exit(timeout)

    def close_ssh(self) -> None:
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None

    def kill(self) -> None:
        self.close_ssh()
        if self.vm is not None:
            self.vm.kill()

    def wait_ssh(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ssh()
                return
            except (OSError, paramiko.SSHException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
