"""The deploy: probe, back up, arm the router's rollback timer, install, apply, check, confirm.

Safety model (LuCI's apply/confirm, done on the router so it works without us):
every change happens after the router holds a snapshot and a timer that restores
it. While connected, the tool keeps pushing the deadline forward; if the tool
dies or the network change cuts it off, the router restores itself when the
timer runs out. Any failure the tool sees restores at once.
"""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import paramiko

from . import hostkeys, localconfig, probe, routerdir
from .backup import Backup, Meta
from .errors import (
    HOSTKEY,
    OK,
    ROLLBACK_PENDING,
    ROLLED_BACK,
    UNFINISHED,
    DeployError,
)
from .ipk import Package
from .ssh import ConnectionLost, Credentials, RemoteError, Result, Session
from .ui import UI

REPO = localconfig.REPO
# The router-side helper: only the tool has it (uploaded with each deploy, never packaged),
# so the router always runs the copy that matches this tool.
HELPER = REPO / "deploy" / "deploy-helper.sh"
# Everything `torbox apply` and the package's scripts may write (besides the payload).
TOUCHED = [
    "/etc/config/network",
    "/etc/config/wireless",
    "/etc/config/dhcp",
    "/etc/config/firewall",
    "/etc/config/tor",
    "/etc/config/torbox",
    "/etc/tor/torbox.torrc",
    "/usr/share/nftables.d/ruleset-post/30-torbox.nft",
    "/etc/torbox",
    "/etc/uci-defaults/90-torbox",
    "/etc/rc.d/S95torbox",
    "/etc/rc.d/K10torbox",
]
DRY_RUN_FILES = TOUCHED[:8]
# change.sh exit codes
RC_INSTALL, RC_INVALID, RC_APPLY, RC_SERVICE = 10, 11, 12, 13
T = TypeVar("T")
RC_TEXT = {
    RC_INSTALL: "installing the package failed",
    RC_INVALID: "the router refused the configuration as invalid",
    RC_APPLY: "applying the configuration failed",
    RC_SERVICE: "the torbox service did not start",
}


@dataclass
class Options:
    host: str
    port: int = 22
    user: str = "root"
    identity: Path | None = None
    config: Path | None = None
    package: Path | None = None
    dry_run: bool = False
    accept_new: bool = False
    fingerprints: list[str] = field(default_factory=list)
    known_hosts: list[Path] = field(default_factory=list)
    record_known: Path = Path.home() / ".ssh" / "known_hosts"
    backup_root: Path = Path(".")
    confirm_timeout: int = 90
    status_timeout: int = 60
    io_timeout: float = 30.0
    force: bool = False
    ignore_unfinished: bool = False
    status_url: str = ""  # e.g. http://{host}/torbox; empty: try port 80 then webui.port
    password: str | None = None
    interactive: bool = False


class StepFailed(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class RouterLost(Exception):
    pass


def q(text: str) -> str:
    return shlex.quote(text)


class Deployer:
    def __init__(self, opts: Options, ui: UI, pkg: Package | None) -> None:
        self.o = opts
        self.ui = ui
        self.pkg = pkg
        self.known = hostkeys.KnownHosts(opts.known_hosts, opts.record_known)
        for note in self.known.notes:
            ui.warn(note)
        self.creds = Credentials(
            user=opts.user, identity=opts.identity, password=opts.password,
            interactive=opts.interactive,
        )
        self.session: Session | None = None
        self.host_key: paramiko.PKey | None = None
        self.current = opts.host
        self.new_host = opts.host
        self.backup: Backup | None = None
        self.rdir = ""
        self.deadline = 0.0
        self.step_name = "connecting"
        self.status_url = ""

    # -- sessions ---------------------------------------------------------------------------

    def connect(self, host: str, timeout: float = 15.0) -> Session:
        s = Session(
            host, self.o.port, self.creds, self.known, self.ui,
            accept_new=self.o.accept_new, fingerprints=self.o.fingerprints,
            trusted_key=self.host_key, io_timeout=self.o.io_timeout,
        )
        s.connect(timeout=timeout)
        if self.host_key is None:
            self.host_key = s.host_key
        self.current = host
        return s

    @property
    def s(self) -> Session:
        assert self.session is not None
        return self.session

    def helper(self, *args: str) -> str:
        return " ".join(["sh", q(f"{self.rdir}/deploy-helper"), args[0], q(self.rdir),
                         *(q(a) for a in args[1:])])

    # Every command that uses the router-side folder checks first that root made it
    # (routerdir.guard): after a reboot someone else may have re-created the path.
    def rrun(self, cmd: str, timeout: float | None = None) -> Result:
        return self.s.run(routerdir.guard(self.rdir, cmd), timeout=timeout)

    def rcheck(self, cmd: str, timeout: float | None = None) -> Result:
        return self.s.check(routerdir.guard(self.rdir, cmd), timeout=timeout)

    def put(self, data: bytes, name: str, label: str, mode: str = "600") -> None:
        self.s.upload(data, f"{self.rdir}/{name}", label, mode,
                      guard=routerdir.guard_prefix(self.rdir))

    def left(self) -> int:
        return max(0, int(self.deadline - time.monotonic()))

    def reconnect(self) -> None:
        """After a lost session: reach the router at its new or old address before the timer."""
        if self.session is not None:
            self.session.close()
        hosts = list(dict.fromkeys([self.new_host, self.current, self.o.host]))
        self.ui.warn(
            f"lost the connection to {self.current} during {self.step_name}; trying"
            f" {', '.join(hosts)} (the router restores itself in about {self.left()} s)"
        )
        while time.monotonic() < self.deadline - 3:
            for host in hosts:
                try:
                    self.session = self.connect(host, timeout=min(5.0, max(1.0, self.left())))
                    self.ui.info(f"reconnected to {host}")
                    return
                except DeployError as exc:
                    if exc.code == HOSTKEY:
                        raise
            time.sleep(1)
        raise RouterLost()

    def retry(self, fn: Callable[[], T]) -> T:
        """Run an idempotent router call; after a lost session, reconnect and run it again."""
        while True:
            try:
                return fn()
            except ConnectionLost:
                self.reconnect()

    def extend(self) -> str:
        """Push the router's deadline; returns the router-side state."""
        res = self.rrun(
            self.helper("extend", str(self.o.confirm_timeout)) + " >/dev/null && echo armed"
            f" || cat {q(self.rdir + '/state')}"
        )
        state = res.text.strip() or "unknown"
        if state == "armed":
            self.deadline = time.monotonic() + self.o.confirm_timeout
        return state

    # -- the deploy -------------------------------------------------------------------------

    def run(self, cfg, cfg_bytes: bytes | None) -> int:
        started = time.monotonic()
        o = self.o
        self.ui.step(f"Connecting to {o.user}@{o.host}:{o.port}")
        self.session = self.connect(o.host)
        assert self.host_key is not None
        self.ui.info(
            f"host key {self.host_key.get_name()} {hostkeys.fingerprint(self.host_key)}"
            f" ({self.s.trust})"
        )
        self.check_unfinished()

        self.step_name = "probing the router"
        self.ui.step("Looking at the router")
        pr = probe.run(self.s, self.pkg)
        installed = pr.installed_version
        self.ui.info(pr.describe())
        self.ui.info(
            f"torbox installed: {installed or 'no'}; package: {self.pkg.version};"
            f" flash free {pr.kb('flash_free_kb')} KiB; RAM {pr.kb('mem_total_kb') // 1024} MiB"
        )
        if pr.pending:
            raise DeployError(
                UNFINISHED,
                f"{o.host}: another deploy is still waiting for confirmation on the router"
                f" ({', '.join(pr.pending)}); it restores itself when its timer runs out.",
                f"Wait up to {o.confirm_timeout} s and run again.",
            )
        same_build = installed == self.pkg.version and (
            pr.method == "opkg" or pr.get("installed_sha256") in ("", self.pkg.sha256)
        )
        need_install = o.force or not same_build
        current_conf = self.read_optional("/etc/config/torbox")
        need_apply = cfg is not None and (o.force or need_install or current_conf != cfg_bytes)
        old_cfg = localconfig.loads_or_none(
            current_conf.decode("utf-8", "replace") if current_conf else None, "/etc/config/torbox"
        )
        if cfg is not None:
            self.new_host = localconfig.map_address(o.host, old_cfg, cfg)
        elif need_install and not installed:
            # the package's first apply uses its default configuration
            self.new_host = localconfig.default_address(o.host)
        if need_install:
            for warning in probe.check_suitable(pr, self.pkg, o.host):
                self.ui.warn(warning)

        if o.dry_run:
            return self.dry_run(pr, cfg, cfg_bytes, need_install)
        if not need_install and not need_apply:
            self.ui.step("Nothing to change")
            self.ui.info(f"torbox {installed} is installed and the configuration is identical")
            self.summary(pr, cfg, started, installed)
            return OK

        self.prepare(pr, need_install)
        try:
            self.upload_payload(pr, cfg_bytes, need_install)
            self.run_change(pr, need_install, cfg is not None)
            self.check_status(cfg)
            self.confirm()
        except StepFailed as exc:
            self.rollback_now(exc.reason, exc.detail)
        except ConnectionLost:
            try:
                self.reconnect()
            except RouterLost:
                self.lost()
            self.rollback_now(f"the connection broke during {self.step_name}")
        except RouterLost:
            self.lost()
        except KeyboardInterrupt:
            self.ui.warn("interrupted")
            self.rollback_now("interrupted by the user")
        except DeployError:
            raise  # e.g. a different host key at the new address: never talk to it
        except RemoteError as exc:
            self.rollback_now(f"a command on the router failed: {exc}")
        except Exception as exc:  # noqa: BLE001 (a bug must not leave the router half-done)
            self.rollback_now(f"unexpected error in the tool: {exc!r}")
        assert self.backup is not None
        self.backup.meta.new_host = self.current
        self.backup.set_state("done", f"deployed torbox {self.pkg.version}")
        self.cleanup()
        self.summary(pr, cfg, started, installed)
        return OK

    def read_optional(self, path: str) -> bytes | None:
        res = self.s.run(f"[ -f {q(path)} ] || exit 3; cat {q(path)}")
        if res.rc == 3:
            return None
        if res.rc != 0:
            raise RemoteError(f"cat {path}", res.rc, res.text, res.errtext)
        return res.out

    # -- steps ------------------------------------------------------------------------------

    def dry_run(self, pr: probe.Probe, cfg, cfg_bytes: bytes | None, need_install: bool) -> int:
        self.ui.step("Dry run: nothing on the router is changed")
        if need_install:
            how = {"opkg": "opkg install", "apk": "apk (dependencies) + unpack"}.get(
                pr.method, "unpack and maintainer scripts")
            self.ui.info(
                f"would install torbox {self.pkg.version} with {how}"
                f" (installed now: {pr.installed_version or 'nothing'})"
            )
            if pr.missing_deps:
                self.ui.info("would also install: " + ", ".join(pr.missing_deps))
        else:
            self.ui.info(f"torbox {pr.installed_version} is already installed")
        if cfg is None or cfg_bytes is None:
            self.ui.info("no --config given: the configuration would stay as it is")
            return OK
        files = {p: self.read_optional(p) for p in DRY_RUN_FILES}
        diff = localconfig.text_diff(files["/etc/config/torbox"], cfg_bytes, "/etc/config/torbox")
        diff += localconfig.plan_diff(cfg, files, pr.target)
        if diff:
            self.ui.info("changes (Wi-Fi keys masked):")
            for line in localconfig.mask(diff, localconfig.secrets_of(cfg)):
                self.ui.out.write(line if line.endswith("\n") else line + "\n")
        else:
            self.ui.info("no configuration changes")
        if self.new_host != self.o.host:
            self.ui.info(f"the router would move from {self.o.host} to {self.new_host}")
        self.ui.out.flush()
        return OK

    def prepare(self, pr: probe.Probe, need_install: bool) -> None:
        """Snapshot on the router, copy it here, arm the timer. Nothing is changed before."""
        o = self.o
        self.step_name = "backing up"
        self.ui.step("Backing up the router's configuration")
        # a fresh folder root makes atomically (never a fixed name another account could
        # make first), checked before each use
        self.rdir = routerdir.create(self.s)
        self.put(HELPER.read_bytes(), "deploy-helper", "deploy-helper", "700")
        was_installed = "1" if pr.installed_version else "0"
        self.put(
            f"method={pr.method}\nwas_installed={was_installed}\nname={self.pkg.name}\n"
            f"added=\n".encode(), "pkg", "package info",
        )
        paths = list(TOUCHED)
        if pr.method != "opkg" and need_install:
            paths += sorted(set(self.pkg.files) - set(paths)) + [probe.MARKER]
            self.rcheck(f"mkdir -p {q(self.rdir + '/ctl')}")
            for name, data in sorted(self.pkg.scripts.items()):
                self.put(data, f"ctl/{name}", f"{name} script")
        self.rcheck(self.helper("snapshot", *paths), timeout=120)
        self.rcheck(
            f"cd {q(self.rdir)} && tar -czf snapshot.tar.gz entries sums pkg snap"
            + (" ctl" if pr.method != "opkg" and need_install else ""),
            timeout=120,
        )
        blob = self.s.download(f"{self.rdir}/snapshot.tar.gz",
                               guard=routerdir.guard_prefix(self.rdir))
        self.backup = Backup.create(
            o.backup_root,
            Meta(
                host=o.host, port=o.port, user=o.user, router_dir=self.rdir,
                created=time.strftime("%Y-%m-%d %H:%M:%S %Z"), target=pr.target,
                method=pr.method, version_before=pr.installed_version,
                version_new=self.pkg.version,
                host_key=hostkeys.fingerprint(self.host_key) if self.host_key else "",
                new_host=self.new_host,
            ),
        )
        saved = self.backup.store_snapshot(blob)
        self.ui.info(f"{len(saved)} files saved to {self.backup.path}")
        self.step_name = "arming the rollback timer"
        self.ui.step(f"Arming the router's rollback timer ({o.confirm_timeout} s)")
        self.rcheck(self.helper("arm", str(o.confirm_timeout)))
        self.deadline = time.monotonic() + o.confirm_timeout
        self.backup.set_state("armed", f"timer armed in {self.rdir}")

    def upload_payload(self, pr: probe.Probe, cfg_bytes: bytes | None, need_install: bool) -> None:
        self.step_name = "uploading"
        self.ui.step("Uploading")
        if need_install:
            self.extend()
            if pr.method == "opkg":
                self.put(self.pkg.path.read_bytes(), self.pkg.path.name, self.pkg.path.name)
            else:
                self.put(self.pkg.data_tgz, "data.tar.gz", f"{self.pkg.path.name} (payload)")
        if cfg_bytes is not None:
            self.extend()
            self.put(cfg_bytes, "torbox.uci", "configuration")
        script = self.change_script(pr, need_install, cfg_bytes is not None)
        self.put(script.encode(), "change.sh", "change script", "700")

    def change_script(self, pr: probe.Probe, install: bool, apply: bool) -> str:
        """The one detached step that changes the router (a lost session cannot cut it in half)."""
        lines = [
            "#!/bin/sh",
            "# written by deploy.py: install torbox and apply the configuration",
            f"D={q(self.rdir)}",
            'say() { echo "deploy: $*"; }',
        ]
        if install and pr.method != "opkg":
            lines.append('H="$D/deploy-helper"')
        if install:
            deps = " ".join(q(d) for d in pr.missing_deps)
            if pr.method == "opkg":
                if pr.missing_deps:
                    lines += ['say "opkg update"',
                              f"opkg update || {{ say 'opkg update failed'; exit {RC_INSTALL}; }}"]
                lines += [f'say "opkg install {self.pkg.path.name}"',
                          f'opkg install "$D"/{q(self.pkg.path.name)} || exit {RC_INSTALL}']
            else:
                if pr.method == "apk" and pr.missing_deps:
                    lines += [
                        f"sed -i 's/^added=.*/added={' '.join(pr.missing_deps)}/' \"$D/pkg\"",
                        f'say "apk add {deps}"',
                        f"apk update && apk add {deps} || exit {RC_INSTALL}",
                    ]
                lines += [
                    'say "unpacking the package"',
                    f'sh "$H" install "$D" || exit {RC_INSTALL}',
                    f"printf 'Package: %s\\nVersion: %s\\nSHA256: %s\\n' {q(self.pkg.name)}"
                    f" {q(self.pkg.version)} {self.pkg.sha256} > {probe.MARKER}"
                    f" || exit {RC_INSTALL}",
                ]
        if apply:
            lines += [
                "T=/usr/sbin/torbox",
                'say "torbox check"',
                f'"$T" check --config "$D/torbox.uci" || exit {RC_INVALID}',
                'say "torbox apply"',
                f'"$T" apply --target {pr.target} --config "$D/torbox.uci"; rc=$?',
                f"[ $rc -eq 2 ] && exit {RC_INVALID}",
                f"[ $rc -eq 0 ] || exit {RC_APPLY}",
                "umask 077",
                'cp "$D/torbox.uci" /etc/config/torbox.tbx-new &&'
                " mv -f /etc/config/torbox.tbx-new /etc/config/torbox || exit " + str(RC_APPLY),
            ]
            if pr.target == "openwrt":
                lines += ["/etc/init.d/torbox enable",
                          f"/etc/init.d/torbox restart || exit {RC_SERVICE}"]
        lines += ['say "done"', "exit 0", ""]
        return "\n".join(lines)

    def run_change(self, pr: probe.Probe, install: bool, apply: bool) -> None:
        self.step_name = "installing and applying" if install else "applying"
        what = ("Installing torbox " + self.pkg.version) if install else "Applying"
        if install and apply:
            what += " and applying the configuration"
        self.ui.step(what)
        log = q(self.rdir + "/change.log")
        # idempotent, so it can be repeated after a reconnect: starts the step only once
        start = (f"[ -e {log} ] || " + self.helper("start", "change", "sh",
                                                     f"{self.rdir}/change.sh"))
        self.retry(lambda: (self.extend(), self.rcheck(start)))
        t0 = time.monotonic()
        limit = t0 + 1800  # opkg may fetch megabytes of dependencies over a slow uplink
        rc = None
        while rc is None:
            if time.monotonic() > limit:
                raise StepFailed(f"{self.step_name} did not finish within 30 minutes")
            try:
                state = self.extend()
                if state != "armed":
                    raise StepFailed(f"the router's timer already decided: {state}")
                res = self.rrun(self.helper("wait", "change", "2"), timeout=self.o.io_timeout)
            except ConnectionLost:
                self.reconnect()
                continue
            out = res.text.strip()
            if out.startswith("rc="):
                rc = int(out[3:] or "1")
            else:
                self.ui.tick(f"{self.step_name} on the router… {time.monotonic() - t0:.0f} s")
        self.ui.end_tick()
        tail = self.retry(lambda: self.rrun(f"tail -n 30 {log}").text)
        if rc != 0:
            raise StepFailed(RC_TEXT.get(rc, f"the change script exited {rc}"), tail)
        self.ui.info(f"done in {time.monotonic() - t0:.1f} s")

    def status_urls(self, cfg) -> list[str]:
        host = self.current
        if self.o.status_url:
            return [self.o.status_url.format(host=host)]
        urls = [f"http://{host}/torbox"]
        if cfg is not None:
            urls.append(f"http://{host}:{cfg.webui.port}/torbox")
        return urls

    def check_status(self, cfg) -> None:
        self.step_name = "checking the status page"
        urls = self.status_urls(cfg)
        self.ui.step(f"Waiting for the status page ({urls[0]})")
        until = time.monotonic() + self.o.status_timeout
        last_err = ""
        next_beat = 0.0
        while True:
            for url in urls:
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (http to the router)
                        if 200 <= resp.status < 400:
                            self.ui.end_tick()
                            self.ui.info(f"{url} answers ({resp.status})")
                            self.status_url = url
                            return
                except urllib.error.HTTPError as exc:
                    last_err = f"{url}: HTTP {exc.code}"
                except (urllib.error.URLError, OSError) as exc:
                    last_err = f"{url}: {getattr(exc, 'reason', exc)}"
            now = time.monotonic()
            if now > until or now > self.deadline - 5:
                self.ui.end_tick()
                raise StepFailed(f"the status page did not answer within {self.o.status_timeout} s",
                                 last_err)
            if now >= next_beat:
                try:
                    state = self.extend()
                except ConnectionLost:
                    self.reconnect()
                    continue
                if state != "armed":
                    raise StepFailed(f"the router's timer already decided: {state}")
                next_beat = now + 5
            self.ui.tick(f"no answer yet ({last_err}); {int(until - now)} s left")
            time.sleep(1)

    def confirm(self) -> None:
        self.step_name = "confirming"
        # a second confirm prints the state, "confirmed": safe to repeat after a reconnect
        res = self.retry(lambda: self.rrun(self.helper("confirm")))
        if res.text.strip() != "confirmed":
            raise StepFailed(f"the router did not take the confirmation (state:"
                             f" {res.text.strip() or res.errtext.strip()})")
        self.ui.step(f"Confirmed from {self.current}: the router keeps the new configuration")

    def cleanup(self) -> None:
        try:
            self.rrun(f"rm -rf {q(self.rdir)}")
        except ConnectionLost:
            pass

    # -- failure ----------------------------------------------------------------------------

    def rollback_now(self, reason: str, detail: str = "") -> None:
        """Restore the snapshot at once and wait until the router reports it verified."""
        assert self.backup is not None
        failed_step = self.step_name
        self.step_name = "rolling back"
        self.ui.step(f"Rolling back: {reason}")
        if detail:
            for line in detail.strip().splitlines()[-15:]:
                self.ui.info(f"| {line}")
        self.new_host = self.o.host  # the old configuration brings the old address back
        state = ""
        try:
            state = self.restore_dir(self.rdir, "deploy-failed")
        except (ConnectionLost, RouterLost):
            self.lost()
        if state != "restored":
            self.backup.set_state("armed", f"rollback ended in state {state!r}")
            raise DeployError(
                ROLLBACK_PENDING,
                f"{self.o.host}: {failed_step} failed ({reason}) and the rollback ended in state"
                f" {state or 'unknown'}.",
                f"Run `deploy.py --rollback {self.backup.path}` to restore the backup by hand.",
            )
        self.backup.set_state("rolled-back", f"{failed_step}: {reason}")
        raise DeployError(
            ROLLED_BACK,
            f"{self.o.host}: {failed_step} failed: {reason}. The router is back to its previous"
            " configuration (checked byte for byte).",
            f"Backup of that configuration: {self.backup.path}",
        )

    def restore_dir(self, rdir: str, why: str) -> str:
        """Run the helper's restore in `rdir` detached; wait for its verdict (reconnecting)."""
        helper = f"sh {q(rdir + '/deploy-helper')} restore {q(rdir)} {q(why)}"
        # detached: restoring the network may cut this very session
        res = self.s.run(routerdir.guard(
            rdir, f"( trap '' HUP PIPE; {helper} > {q(rdir + '/restore.out')} 2>&1 )"
            " </dev/null >/dev/null 2>&1 &"))
        if res.rc == routerdir.UNSAFE_RC:
            self.ui.warn(res.errtext.strip())
            return "not root's"
        until = time.monotonic() + 900
        state = ""
        while time.monotonic() < until:
            try:
                res = self.s.run(routerdir.guard(rdir, f"cat {q(rdir + '/state')}"))
                if res.rc == routerdir.UNSAFE_RC:
                    self.ui.warn(res.errtext.strip())
                    return "not root's"
                state = res.text.strip()
            except ConnectionLost:
                self.deadline = max(self.deadline, time.monotonic() + 60)
                self.reconnect()
                continue
            if state in ("restored", "failed", "confirmed"):
                break
            self.ui.tick(f"restoring… ({state})")
            time.sleep(1)
        self.ui.end_tick()
        return state

    def lost(self) -> None:
        where = f" Backup: {self.backup.path}." if self.backup else ""
        raise DeployError(
            ROLLBACK_PENDING,
            f"{self.o.host}: lost the router during {self.step_name}. It restores its previous"
            f" configuration by itself within about {self.left() + 2} s.{where}",
            "When the laptop reaches the router again, run"
            + (f" `deploy.py --rollback {self.backup.path}`" if self.backup else " the deploy again")
            + " to make sure.",
        )

    def check_unfinished(self) -> None:
        from .recover import resolve_unfinished  # noqa: PLC0415

        resolve_unfinished(self, self.o)

    # -- the end ----------------------------------------------------------------------------

    def summary(self, pr: probe.Probe, cfg, started: float, before: str) -> None:
        self.ui.step(f"Summary ({time.monotonic() - started:.1f} s)")
        self.ui.info(f"router: {self.current} ({pr.describe()})")
        now = self.pkg.version if not self.o.dry_run else before
        self.ui.info(f"torbox: {now}" + (f" (was {before})" if before and before != now else
                                          " (newly installed)" if not before else ""))
        if cfg is not None:
            ssids = ", ".join(
                f"{n.name}: \"{n.ssid}\"" for n in cfg.networks.values() if n.enabled
            )
            self.ui.info(f"Wi-Fi: {ssids}")
        urls = self.status_urls(cfg)
        self.ui.info(f"status page: {self.status_url or urls[0]}")
        self.ui.info(f"Tor: {self.tor_state(urls)}")
        if self.backup is not None:
            self.ui.info(f"backup of the previous configuration: {self.backup.path}")

    def tor_state(self, urls: list[str]) -> str:
        for url in urls:
            try:
                with urllib.request.urlopen(url.rstrip("/") + "/api/status", timeout=5) as r:  # noqa: S310
                    tor = json.load(r).get("tor", {})
                    text = f"{tor.get('state', '?')}, bootstrap {tor.get('bootstrap', '?')} %"
                    if tor.get("phase"):
                        text += f" ({tor['phase']})"
                    return text
            except (urllib.error.URLError, OSError, ValueError, AttributeError):
                continue
        return "unknown (the status API did not answer)"
