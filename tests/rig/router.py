"""A router namespace running torbox's real output, and client namespaces behind it.

`TorboxRouter` renders a config with the real `torbox render --target linux`, then runs
what it produced: bridges named as the config says, the per-interface sysctls, the
`inet torbox` table (`nft -f`), one dnsmasq per network, tor with the rendered torrc (plus
the private network's DirAuthority lines), the status page, dropbear and stand-in LuCI
ports. Clients join a network's bridge and get their address with busybox udhcpc.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig.capture import WanCapture
from tests.rig.netns import Lab, Proc, wait_for
from tests.rig.tornet import TOR, PrivateTorNetwork

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "files" / "usr" / "lib" / "torbox"
if str(PKG) not in sys.path:  # also usable outside pytest (bench, demo)
    sys.path.insert(0, str(PKG))

from torbox import config as tbconfig  # noqa: E402
from torbox import uci  # noqa: E402

TORBOX_CLI = REPO / "files" / "usr" / "sbin" / "torbox"
DEFAULT_UCI = REPO / "files" / "etc" / "config" / "torbox"
UDHCPC_SCRIPT = Path(__file__).resolve().parent / "udhcpc.sh"
DNSMASQ = "/usr/sbin/dnsmasq"
SHORT = {"tor_off": "off", "tor_medium": "med", "tor_max": "max"}
LUCI_PORTS = (80, 443)
ENV = {**os.environ, "PYTHONPATH": f"{REPO}:{PKG}"}


@dataclass
class Client:
    """A device joined to one of the router's networks."""

    lab: Lab
    network: str
    ns: str
    ifname: str
    lease: dict[str, str] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return self.lease.get("ip", "")

    def exec(self, argv: list[str], check: bool = False, timeout: float = 60,
             input: str | bytes | None = None) -> subprocess.CompletedProcess:
        return self.lab.exec(self.ns, argv, check=check, timeout=timeout, input=input)

    def curl(self, url: str, *, socks: str | None = None, timeout: float = 30,
             extra: list[str] | None = None) -> subprocess.CompletedProcess:
        argv = ["curl", "-sS", "-m", str(timeout)]
        if socks:
            argv += ["--socks5-hostname", socks]
        return self.exec([*argv, *(extra or []), url], timeout=timeout + 10)

    def tcp_probe(self, host: str, port: int, timeout: float = 3) -> str:
        """'open' (connected), 'refused' (RST) or 'filtered' (no answer)."""

        def probe() -> str:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect((host, port))
                return "open"
            except ConnectionRefusedError:
                return "refused"
            except TimeoutError:
                return "filtered"
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                    return "unreachable"
                raise
            finally:
                s.close()

        return self.lab.call_in(self.ns, probe)

    def tcp_banner(self, host: str, port: int, timeout: float = 3) -> str:
        """The first line a service sends, or "" (no connection, or no data: e.g. the
        connection ended at the router's TransPort rather than at the host)."""

        def read() -> str:
            try:
                with socket.create_connection((host, port), timeout=timeout) as s:
                    return s.recv(256).decode(errors="replace").strip()
            except OSError:
                return ""

        return self.lab.call_in(self.ns, read)

    def dhcp(self, timeout: float = 30) -> dict[str, str]:
        """Run busybox udhcpc once (as a phone joining the Wi-Fi) and record the lease."""
        out = self.lab.workdir / f"dhcp-{self.ns}.env"
        out.unlink(missing_ok=True)
        env = {**os.environ, "TBX_DHCP_OUT": str(out)}
        self.lab.exec(self.ns, ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "8", "-T", "2",
                                "-i", self.ifname, "-s", str(UDHCPC_SCRIPT)],
                      timeout=timeout, env=env)
        self.lease = dict(line.split("=", 1) for line in out.read_text().splitlines()
                          if "=" in line)
        resolv = self.lab.etc_dir(self.ns) / "resolv.conf"
        resolv.write_text("".join(f"nameserver {d}\n" for d in self.lease.get("dns", "").split()))
        return self.lease


class TorboxRouter:
    def __init__(self, lab: Lab, net: PrivateTorNetwork,
                 overrides: dict[tuple[str, str], str] | None = None,
                 base_config: Path = DEFAULT_UCI) -> None:
        self.lab = lab
        self.net = net
        self.ns = ""
        self.dir = lab.workdir / "router"
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.run_dir = self.dir / "run"
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self.uci_path = self.dir / "torbox.uci"
        self.gen = self.dir / "gen"
        self.wan_if = lab.ifname("wan")
        self.wan_ip = self.wan_ip6 = self.gateway = ""
        self.overrides = dict(overrides or {})
        self.base_config = base_config
        self.cfg: tbconfig.Config | None = None
        self.capture: WanCapture | None = None
        self.tor: Proc | None = None
        self.dnsmasq: dict[str, Proc] = {}
        self.services: dict[str, Proc] = {}
        self.clients: dict[str, Client] = {}
        self.timings: dict[str, float] = {}

    # ---- configuration ---------------------------------------------------------------------
    def rig_overrides(self) -> dict[tuple[str, str], str]:
        """Device names and paths the rig needs; everything else is the shipped default."""
        o = {
            ("main", "wan_device"): self.wan_if,
            ("tor", "data_dir"): str(self.dir / "tor"),
            ("tor", "control_socket"): str(self.run_dir / "tor" / "control"),
        }
        for name in tbconfig.NETWORK_NAMES:
            o[(name, "device")] = self.lab.ifname(SHORT[name])
            o[(name, "key")] = f"rig-{name}-key"
        o.update(self.overrides)
        return o

    def write_config(self) -> Path:
        doc = uci.load(str(self.base_config))
        for (sec_name, opt), value in self.rig_overrides().items():
            sec = doc.section(sec_name)
            if sec is None:
                raise KeyError(f"no section {sec_name!r} in {self.base_config}")
            doc.set_option(sec, opt, value)
        self.uci_path.write_text(doc.dump())
        self.uci_path.chmod(0o600)
        return self.uci_path

    def render(self) -> tbconfig.Config:
        """`torbox render --target linux` into self.gen; returns the loaded config."""
        if self.gen.exists():
            shutil.rmtree(self.gen)
        res = subprocess.run(
            [sys.executable, str(TORBOX_CLI), "render", "--config", str(self.uci_path),
             "--out", str(self.gen), "--target", "linux", "--run-dir", str(self.run_dir)],
            capture_output=True, text=True, env=ENV, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"torbox render failed: {res.stderr}")
        self.cfg = tbconfig.load(str(self.uci_path))
        return self.cfg

    # ---- start -----------------------------------------------------------------------------
    def start(self, tor: bool = True, clients: bool = True, wait_tor: float = 120) -> None:
        t0 = time.monotonic()
        lab = self.lab
        self.ns = lab.add_ns("rtr")
        self.wan_ip, self.gateway, _ = self.net.attach(self.ns, self.wan_if)
        att = self.net.attachments[-1]
        self.wan_ip6 = att.router_ip6
        (lab.etc_dir(self.ns) / "resolv.conf").write_text(f"nameserver {self.net.dns_ip}\n")
        self.write_config()
        cfg = self.render()
        for n in cfg.enabled_networks:
            lab.add_bridge(self.ns, n.device)
            lab.add_addr(self.ns, n.device, f"{n.router}/{n.subnet.prefixlen}")
        # A router: forwarding on (tor_off NATs, IPv6 as the WAN allows), then torbox's
        # per-interface settings, which must come after (ip_forward resets them all).
        lab.sysctl(self.ns, "net.ipv4.ip_forward", 1)
        lab.sysctl(self.ns, "net.ipv6.conf.all.forwarding", 1)
        self.apply_sysctl()
        self.load_nft()
        self.capture = WanCapture(
            lab, self.ns, self.wan_if, {self.wan_ip, self.wan_ip6},
            {self.gateway, att.gateway_ip6}, self.net.relay_endpoints())
        self.capture.start()
        self.start_dnsmasq()
        self.start_services()
        if tor:
            self.start_tor()
        if clients:
            for n in cfg.enabled_networks:
                self.add_client(n.name)
        self.timings["router_up"] = time.monotonic() - t0
        if tor:
            self.wait_tor(wait_tor)
            self.timings["tor_bootstrapped"] = time.monotonic() - t0

    def restore(self) -> None:
        """Back to exactly the rendered state after a test changed something (anti-tests)."""
        assert self.cfg is not None
        self.load_nft()
        self.apply_sysctl()
        self.lab.sysctl(self.ns, "net.netfilter.nf_conntrack_tcp_loose", 1)
        for n in self.cfg.enabled_networks:
            # Forget only the clients' connections; the router's own must survive.
            self.lab.exec(self.ns, ["conntrack", "-D", "-s", str(n.subnet)], check=False)
        if self.tor is None or not self.tor.alive():
            self.start_tor()
        self.wait_tor()

    def reconfigure(self, overrides: dict[tuple[str, str], str]) -> subprocess.CompletedProcess:
        """Apply a changed config the way a Linux service reload would: the real
        `torbox apply` first (new table live in one `nft -f`), then addresses, sysctls,
        dnsmasq and tor. Returns the apply run."""
        assert self.cfg is not None
        old = self.cfg
        self.overrides = dict(overrides)
        self.write_config()
        applied = self.lab.exec(
            self.ns, [sys.executable, str(TORBOX_CLI), "apply", "--config", str(self.uci_path),
                      "--target", "linux", "--root", str(self.dir / "root")],
            env=ENV, check=False, timeout=60)
        if applied.returncode != 0:
            return applied
        before = {f.name: f.read_text() for f in self.gen.iterdir()}
        cfg = self.render()
        after = {f.name: f.read_text() for f in self.gen.iterdir()}
        for n in cfg.enabled_networks:
            o = old.networks[n.name]
            if (o.router, o.subnet) != (n.router, n.subnet):
                self.lab.ip(self.ns, "addr", "del", f"{o.router}/{o.subnet.prefixlen}",
                            "dev", n.device)
                self.lab.add_addr(self.ns, n.device, f"{n.router}/{n.subnet.prefixlen}")
        self.apply_sysctl()
        # Restart only what changed, as a service manager would.
        if any(before.get(k) != v for k, v in after.items() if k.startswith("dnsmasq-")):
            self.stop_dnsmasq()
            self.start_dnsmasq()
        if before.get("torrc") != after.get("torrc"):
            self.stop_tor()
            self.start_tor()
            self.wait_tor()
        return applied

    def network(self, name: str) -> tbconfig.Network:
        assert self.cfg is not None
        return self.cfg.networks[name]

    def bridge_mac(self, name: str) -> str:
        from tests.rig.frames import mac_of

        return mac_of(self.lab, self.ns, self.network(name).device)

    def apply_sysctl(self, path: Path | None = None) -> None:
        self.lab.exec(self.ns, ["sysctl", "-q", "-p", str(path or self.gen / "sysctl.conf")])

    def load_nft(self, path: Path | None = None) -> None:
        self.lab.exec(self.ns, ["nft", "-f", str(path or self.gen / "torbox.nft")])

    def load_nft_without(self, patterns: tuple[str, ...]) -> Path:
        """Load the rendered table minus every line containing one of `patterns`."""
        lines = (self.gen / "torbox.nft").read_text().splitlines()
        kept = [ln for ln in lines if not any(p in ln for p in patterns)]
        if len(kept) == len(lines):
            raise ValueError(f"none of {patterns} is in the rendered table")
        path = self.dir / "torbox-anti.nft"
        path.write_text("\n".join(kept) + "\n")
        self.load_nft(path)
        return path

    def remove_table(self) -> None:
        self.lab.exec(self.ns, ["nft", "delete", "table", "inet", "torbox"], check=False)

    def nft(self, *args: str, check: bool = True) -> str:
        return self.lab.exec(self.ns, ["nft", *args], check=check).stdout

    def sysctl_get(self, key: str) -> str:
        return self.lab.exec(self.ns, ["sysctl", "-n", key]).stdout.strip()

    def start_dnsmasq(self) -> None:
        assert self.cfg is not None
        for n in self.cfg.enabled_networks:
            conf = self.gen / f"dnsmasq-{n.name}.conf"
            self.dnsmasq[n.name] = self.lab.spawn(
                self.ns,
                [DNSMASQ, "--keep-in-foreground", "-C", str(conf), "--user=root",
                 "--log-dhcp", "--log-queries", f"--log-facility={self.dir}/dnsmasq-{n.name}.log"],
                name=f"dnsmasq-{n.name}")
        time.sleep(0.3)
        for name, p in self.dnsmasq.items():
            if not p.alive():
                raise RuntimeError(f"dnsmasq for {name} exited: {p.log_text()}")

    def stop_dnsmasq(self) -> None:
        for p in self.dnsmasq.values():
            self.lab.stop(p)
        self.dnsmasq.clear()

    def torrc_text(self) -> str:
        rendered = (self.gen / "torrc").read_text()
        rig = [
            "# ---- rig additions: the private test network and process handling",
            *self.net.client_torrc_lines(),
            "RunAsDaemon 0",
            "Log notice stdout",
            f"__OwningControllerProcess {os.getpid()}",
        ]
        return rendered + "\n".join(rig) + "\n"

    def start_tor(self) -> Proc:
        assert self.cfg is not None
        for d, mode in ((Path(self.cfg.tor.data_dir), 0o700),
                        (Path(self.cfg.tor.control_socket).parent, 0o700)):
            d.mkdir(mode=mode, parents=True, exist_ok=True)
        torrc = self.dir / "torrc"
        torrc.write_text(self.torrc_text())
        self.tor = self.lab.spawn(
            self.ns, [TOR, "--defaults-torrc", "/dev/null", "-f", str(torrc)],
            name="tor-router", log=self.dir / f"tor-{len(self.lab.procs)}.log")
        return self.tor

    def stop_tor(self, sig: int = 15) -> None:
        if self.tor is not None:
            self.lab.stop(self.tor, sig=sig)

    def tor_bootstrapped(self) -> bool:
        return self.tor is not None and "Bootstrapped 100%" in self.tor.log_text()

    def wait_tor(self, timeout: float = 120) -> None:
        def ok() -> bool:
            if self.tor is None or not self.tor.alive():
                raise RuntimeError(f"router tor exited: {self.tor.log_text()[-3000:] if self.tor else ''}")
            return self.tor_bootstrapped()

        wait_for(ok, timeout, what="router tor to bootstrap")

    def start_services(self) -> None:
        """Status page (real webui), SSH (real dropbear) and stand-ins for LuCI's ports."""
        key = self.dir / "dropbear_ed25519"
        if not key.exists():
            subprocess.run(["dropbearkey", "-t", "ed25519", "-f", str(key)],
                           capture_output=True, check=True)
        self.services["dropbear"] = self.lab.spawn(
            self.ns, ["dropbear", "-F", "-E", "-s", "-p", "22", "-r", str(key),
                      "-P", str(self.run_dir / "dropbear.pid")], name="dropbear")
        self.services["luci"] = self.lab.spawn(
            self.ns, [sys.executable, "-m", "tests.rig.listener",
                      *[a for p in LUCI_PORTS for a in ("--port", str(p))],
                      "--owner-pid", str(os.getpid())], name="luci-standin", env=ENV)
        self.services["webui"] = self.lab.spawn(
            self.ns, [sys.executable, "-m", "webui", "--config", str(self.uci_path),
                      "--secret", str(self.dir / "webui.secret"),
                      "--leases", str(self.run_dir / "dnsmasq-tor_off.leases")],
            name="webui", env=ENV)

    # ---- clients ---------------------------------------------------------------------------
    def add_client(self, network: str, suffix: str = "") -> Client:
        assert self.cfg is not None
        net = self.cfg.networks[network]
        short = SHORT[network] + suffix
        ns = self.lab.add_ns(f"c-{short}")
        port, cif = self.lab.ifname(f"p-{short}"), self.lab.ifname(f"e-{short}")
        self.lab.add_veth(self.ns, port, ns, cif)
        self.lab.ip(self.ns, "link", "set", port, "master", net.device)
        # Like a phone: IPv6 link-local on, so stray RAs would be picked up if sent.
        self.lab.sysctl(ns, f"net.ipv6.conf.{cif}.accept_ra", 2)
        client = Client(self.lab, network, ns, cif)
        client.dhcp()
        self.clients[network + suffix] = client
        return client

    def client(self, network: str) -> Client:
        return self.clients[network]

