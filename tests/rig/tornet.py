"""A private Tor "internet" in one network namespace (tbx-<id>-inet).

Three directory authorities, one middle relay and two exits (all real tor, TestingTorNetwork,
chutney-style fast voting), a web server, a logging DNS server the exits use (real dnsmasq)
and an onion service in front of the web server. Addresses come from 198.18.0.0/24 (RFC 2544)
and exist only inside the namespace; routers plug in with `attach()`.

Layout of 198.18.0.0/24 inside the namespace:
  .11-.13 authorities, .21 middle, .31-.32 exits, .53 DNS, .70 onion service tor, .80 web
  .128/25 point-to-point /30 links handed out by attach()
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import ipaddress
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig.netns import Lab, Proc, wait_for
from tests.rig.torctl import TorControl

TOR = "/usr/sbin/tor"
TOR_GENCERT = "/usr/bin/tor-gencert"
DNSMASQ = "/usr/sbin/dnsmasq"
REPO = Path(__file__).resolve().parents[2]

ORPORT = 9001
DIRPORT = 9030
WEB_IP = "198.18.0.80"
WEB6_IP = "2001:db8:18::80"
DNS_IP = "198.18.0.53"
HS_IP = "198.18.0.70"
LINK_BASE = ipaddress.ip_address("198.18.0.128")
LINK6_FMT = "2001:db8:18:{:x}::{}"

# chutney's fast-consensus settings (torrc_templates/common.i, authority.i)
TESTING_LINES = [
    "TestingTorNetwork 1",
    "AssumeReachable 1",
    "PathsNeededToBuildCircuits 0.67",
    "TestingDirAuthVoteExit *",
    "TestingDirAuthVoteHSDir *",
    "TestingDirAuthVoteGuard *",
    "TestingMinExitFlagThreshold 0",
    "V3AuthNIntervalsValid 2",
]
AUTH_LINES = [
    "AuthoritativeDirectory 1",
    "V3AuthoritativeDirectory 1",
    "TestingV3AuthInitialVotingInterval 20",
    "TestingV3AuthInitialVoteDelay 4",
    "TestingV3AuthInitialDistDelay 4",
    "V3AuthVotingInterval 20",
    "V3AuthVoteDelay 4",
    "V3AuthDistDelay 4",
]


@dataclass
class TorNode:
    nick: str
    ip: str
    role: str  # "auth", "middle", "exit", "hs"
    datadir: Path
    fingerprint: str = ""
    v3ident: str = ""
    proc: Proc | None = None

    @property
    def relay(self) -> bool:
        return self.role != "hs"


@dataclass
class Attachment:
    router_ns: str
    ifname: str
    inet_ifname: str
    router_ip: str
    gateway_ip: str
    prefixlen: int
    router_ip6: str
    gateway_ip6: str
    prefixlen6: int = 64


@dataclass
class PrivateTorNetwork:
    lab: Lab
    n_middles: int = 1
    n_exits: int = 2
    nodes: list[TorNode] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    onion_hostname: str = ""
    web_ip: str = WEB_IP
    web_ip6: str = WEB6_IP
    dns_ip: str = DNS_IP
    ns: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    # ---- public facts ---------------------------------------------------------------------
    @property
    def auths(self) -> list[TorNode]:
        return [n for n in self.nodes if n.role == "auth"]

    @property
    def exit_ips(self) -> set[str]:
        return {n.ip for n in self.nodes if n.role == "exit"}

    @property
    def dir_authority_lines(self) -> list[str]:
        return [
            f"DirAuthority {a.nick} orport={ORPORT} no-v2 v3ident={a.v3ident} "
            f"{a.ip}:{DIRPORT} {a.fingerprint}"
            for a in self.auths
        ]

    def client_torrc_lines(self) -> list[str]:
        """What a client tor needs, on top of its own config, to use this network."""
        return [
            "TestingTorNetwork 1",
            *self.dir_authority_lines,
            "PathsNeededToBuildCircuits 0.67",
        ]

    def relay_endpoints(self) -> set[tuple[str, int]]:
        """Every (ip, port) a Tor client may legitimately contact on the WAN."""
        eps: set[tuple[str, int]] = set()
        for n in self.nodes:
            if n.relay:
                eps.add((n.ip, ORPORT))
                eps.add((n.ip, DIRPORT))
        return eps

    @property
    def web_log(self) -> Path:
        return self.lab.workdir / "web-access.jsonl"

    @property
    def dns_log(self) -> Path:
        return self.lab.workdir / "dns-queries.log"

    def dns_queries(self) -> list[str]:
        """dnsmasq's `query[TYPE] name from ip` lines, in order."""
        if not self.dns_log.exists():
            return []
        return [
            m.group(0)
            for m in re.finditer(r"query\[\w+\] \S+ from \S+", self.dns_log.read_text())
        ]

    def web_requests(self, since: float = 0.0) -> list[dict]:
        """Requests the web server logged at or after `since` (time.time())."""
        if not self.web_log.exists():
            return []
        out = []
        for line in self.web_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry["t"] >= since:
                    out.append(entry)
        return out

    def block_source(self, ip: str) -> None:
        """Make the internet drop everything from `ip` (e.g. a router that must not bootstrap)."""
        rules = (f"table inet tbx_block {{\n chain input {{\n"
                 f"  type filter hook input priority 0; ip saddr {ip} drop\n }}\n}}")
        self.lab.exec(self.ns, ["nft", "-f", "-"], input=rules + "\n")

    def unblock(self) -> None:
        self.lab.exec(self.ns, ["nft", "delete", "table", "inet", "tbx_block"], check=False)

    # ---- start / stop ---------------------------------------------------------------------
    def start(self, timeout: float = 150) -> None:
        t0 = time.monotonic()
        lab = self.lab
        self.ns = lab.add_ns("inet")
        self._plan_nodes()
        for ip in [n.ip for n in self.nodes] + [WEB_IP, DNS_IP]:
            lab.add_addr(self.ns, "lo", f"{ip}/32")
        lab.add_addr(self.ns, "lo", f"{WEB6_IP}/128")
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            list(pool.map(self._make_keys, self.auths))
        self.timings["keys"] = time.monotonic() - t0
        self._start_dns()
        self._start_web()
        for node in self.nodes:
            if node.relay:
                self._start_tor(node)
        self._wait_consensus(timeout - (time.monotonic() - t0))
        self.timings["consensus"] = time.monotonic() - t0
        hs = next(n for n in self.nodes if n.role == "hs")
        self._start_tor(hs)
        self._wait_onion(hs, timeout - (time.monotonic() - t0))
        self.timings["onion"] = time.monotonic() - t0

    def _plan_nodes(self) -> None:
        wd = self.lab.workdir
        plan = [("auth", f"auth{i}", f"198.18.0.{11 + i}") for i in range(3)]
        plan += [("middle", f"mid{i}", f"198.18.0.{21 + i}") for i in range(self.n_middles)]
        plan += [("exit", f"exit{i}", f"198.18.0.{31 + i}") for i in range(self.n_exits)]
        plan += [("hs", "onion", HS_IP)]
        for role, nick, ip in plan:
            d = wd / nick
            d.mkdir(mode=0o700)
            self.nodes.append(TorNode(nick=nick, ip=ip, role=role, datadir=d))

    def _make_keys(self, node: TorNode) -> None:
        keys = node.datadir / "keys"
        keys.mkdir(mode=0o700)
        self.lab.exec(
            self.ns,
            [TOR_GENCERT, "--create-identity-key", "-m", "12", "-a", f"{node.ip}:{DIRPORT}",
             "-i", str(keys / "authority_identity_key"),
             "-s", str(keys / "authority_signing_key"),
             "-c", str(keys / "authority_certificate"), "--passphrase-fd", "0"],
            input="\n",
        )
        cert = (keys / "authority_certificate").read_text()
        node.v3ident = re.search(r"^fingerprint (\w+)", cert, re.M).group(1)
        self.lab.exec(
            self.ns,
            [TOR, "--ignore-missing-torrc", "-f", "/dev/null", "--list-fingerprint",
             "--DataDirectory", str(node.datadir), "--ORPort", "1", "--Log", "err stderr"],
        )
        node.fingerprint = (node.datadir / "fingerprint").read_text().split()[1]

    def _torrc(self, node: TorNode) -> str:
        d = node.datadir
        lines = [
            *TESTING_LINES,
            f"DataDirectory {d}",
            "RunAsDaemon 0",
            f"Nickname {node.nick}",
            "ShutdownWaitLength 0",
            "DisableDebuggerAttachment 0",
            f"ControlSocket {d}/control",
            "CookieAuthentication 1",
            "Log notice stdout",
            "SafeLogging 0",
            "SocksPort 0",
            f"OutboundBindAddress {node.ip}",
            # Exit together with the test run even if it is SIGKILLed.
            f"__OwningControllerProcess {os.getpid()}",
            *self.dir_authority_lines,
        ]
        if node.relay:
            lines += [
                f"Address {node.ip}",
                f"ORPort {node.ip}:{ORPORT}",
                f"DirPort {node.ip}:{DIRPORT}",
                f"ContactInfo {node.nick}@rig.test",
            ]
        if node.role == "auth":
            lines += AUTH_LINES
        if node.role == "exit":
            resolv = d / "resolv.conf"
            resolv.write_text(f"nameserver {DNS_IP}\n")
            lines += [
                "ExitRelay 1",
                "ExitPolicyRejectPrivate 0",
                "ExitPolicy accept *:*",
                f"ServerDNSResolvConfFile {resolv}",
                "ServerDNSDetectHijacking 0",
                "ServerDNSAllowBrokenConfig 1",
            ]
        elif node.relay:
            lines += ["ExitRelay 0", "ExitPolicy reject *:*"]
        if node.role == "hs":
            lines += [
                f"HiddenServiceDir {d}/hs",
                f"HiddenServicePort 80 {WEB_IP}:80",
                "VanguardsLiteEnabled 0",
            ]
        return "\n".join(lines) + "\n"

    def _start_tor(self, node: TorNode) -> None:
        torrc = node.datadir / "torrc"
        torrc.write_text(self._torrc(node))
        node.proc = self.lab.spawn(
            self.ns, [TOR, "-f", str(torrc)], name=f"tor-{node.nick}",
            log=node.datadir / "notice.log",
        )

    def _start_dns(self) -> None:
        self.lab.spawn(
            self.ns,
            [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--bind-interfaces", f"--listen-address={DNS_IP}",
             "--port=53", "--user=root", "--pid-file=" + str(self.lab.workdir / "dns.pid"),
             "--log-queries=extra", f"--log-facility={self.dns_log}",
             f"--address=/web.test/{WEB_IP}", f"--address=/web.test/{WEB6_IP}",
             f"--address=/friend.test/{WEB_IP}",
             "--txt-record=web.test,tbx-rig", "--mx-host=web.test,web.test,10",
             "--local=/test/"],
            name="dns-inet",
        )

    def _start_web(self) -> None:
        self.lab.spawn(
            self.ns,
            [sys.executable, "-m", "tests.rig.websrv", "--listen", f"{WEB_IP}:80",
             "--listen", f"{WEB_IP}:443", "--listen", f"[{WEB6_IP}]:80",
             "--log", str(self.web_log), "--owner-pid", str(os.getpid())],
            name="web-inet",
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    # ---- readiness ------------------------------------------------------------------------
    def fetch_consensus(self) -> str:
        def get() -> str:
            conn = http.client.HTTPConnection(self.auths[0].ip, DIRPORT, timeout=5)
            try:
                conn.request("GET", "/tor/status-vote/current/consensus")
                resp = conn.getresponse()
                return resp.read().decode(errors="replace") if resp.status == 200 else ""
            finally:
                conn.close()

        try:
            return self.lab.call_in(self.ns, get)
        except OSError:
            return ""

    def _consensus_ready(self) -> bool:
        text = self.fetch_consensus()
        if not text:
            return False
        flags: dict[str, set[str]] = {}
        nick = None
        for line in text.splitlines():
            if line.startswith("r "):
                nick = line.split()[1]
            elif line.startswith("s ") and nick:
                flags[nick] = set(line.split()[1:])
        for n in self.nodes:
            if not n.relay:
                continue
            f = flags.get(n.nick, set())
            if not {"Running", "Valid"} <= f:
                return False
            if n.role == "exit" and "Exit" not in f:
                return False
        return True

    def _wait_consensus(self, timeout: float) -> None:
        self._check_alive()
        wait_for(lambda: self._check_alive() or self._consensus_ready(), timeout,
                 interval=1, what="a consensus listing every relay")

    def _check_alive(self) -> bool:
        for p in self.lab.procs:
            if not p.alive():
                raise RuntimeError(f"{p} exited early:\n{p.log_text()[-3000:]}")
        return False

    def _wait_onion(self, hs: TorNode, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        hostname = hs.datadir / "hs" / "hostname"
        sock, cookie = hs.datadir / "control", hs.datadir / "control_auth_cookie"
        wait_for(lambda: self._check_alive() or (sock.exists() and cookie.exists()), timeout,
                 what="onion tor control socket")
        with TorControl(sock, cookie) as ctl:
            ctl.command("SETEVENTS HS_DESC")
            while True:
                self._check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("onion service descriptor was not uploaded in time")
                try:
                    ctl.wait_event("HS_DESC UPLOADED", min(left, 2))
                    break
                except TimeoutError:
                    continue
        self.onion_hostname = hostname.read_text().strip()

    # ---- routers --------------------------------------------------------------------------
    def attach(self, router_ns: str, ifname: str, default_route: bool = True) -> tuple[str, str, int]:
        """Link `router_ns` to the internet with a /30; returns (router_ip, gateway_ip, 30)."""
        k = len(self.attachments)
        if k >= 32:
            raise RuntimeError("out of /30 links")
        base = LINK_BASE + 4 * k
        gw, rip = str(base + 1), str(base + 2)
        gw6, rip6 = LINK6_FMT.format(k + 1, 1), LINK6_FMT.format(k + 1, 2)
        inet_if = self.lab.ifname(f"g{k}")
        self.lab.add_veth(self.ns, inet_if, router_ns, ifname)
        self.lab.add_addr(self.ns, inet_if, f"{gw}/30")
        self.lab.add_addr(router_ns, ifname, f"{rip}/30")
        self.lab.add_addr(self.ns, inet_if, f"{gw6}/64")
        self.lab.add_addr(router_ns, ifname, f"{rip6}/64")
        if default_route:
            self.lab.ip(router_ns, "route", "add", "default", "via", gw, "dev", ifname)
            self.lab.ip(router_ns, "-6", "route", "add", "default", "via", gw6, "dev", ifname)
        self.attachments.append(
            Attachment(router_ns, ifname, inet_if, rip, gw, 30, rip6, gw6)
        )
        return rip, gw, 30

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc is not None:
                self.lab.stop(n.proc)


def start_client_tor(
    lab: Lab, net: PrivateTorNetwork, ns: str, name: str, extra: list[str] | None = None
) -> Proc:
    """A plain client tor in `ns` using the private network (SocksPort 127.0.0.1:9050)."""
    d = lab.workdir / name
    d.mkdir(mode=0o700)
    lines = [
        *net.client_torrc_lines(),
        f"DataDirectory {d}",
        "SocksPort 127.0.0.1:9050",
        "Log notice stdout",
        f"__OwningControllerProcess {os.getpid()}",
        *(extra or []),
    ]
    (d / "torrc").write_text("\n".join(lines) + "\n")
    return lab.spawn(ns, [TOR, "-f", str(d / "torrc")], name=name, log=d / "notice.log")


def wait_bootstrapped(proc: Proc, timeout: float = 120) -> float:
    """Seconds until `proc`'s log says Bootstrapped 100%."""
    t0 = time.monotonic()

    def done() -> bool:
        if not proc.alive():
            raise RuntimeError(f"{proc} exited:\n{proc.log_text()[-3000:]}")
        return "Bootstrapped 100%" in proc.log_text()

    wait_for(done, timeout, interval=0.5, what=f"{proc.name} to bootstrap")
    return time.monotonic() - t0
