"""Rollback by hand (--rollback DIR) and what the next run does about an unfinished deploy."""

from __future__ import annotations

import time

from . import backup as backups
from . import routerdir
from .errors import CONNECT, OK, ROLLBACK_PENDING, UNFINISHED, DeployError
from .flow import HELPER, Deployer, Options, RouterLost, q
from .ssh import ConnectionLost


def router_state(d: Deployer, rdir: str) -> str:
    """The router-side state of an earlier deploy; "gone" when its folder is missing or is
    not one root made (re-created by someone else after a reboot, or the fixed-name folder
    of tools before 2026-12): nothing in such a folder is believed or run."""
    if not rdir or not routerdir.NAME.match(rdir):
        return "gone"
    res = d.s.run(routerdir.guard(rdir, f"cat {q(rdir + '/state')} 2>/dev/null"))
    if res.rc == routerdir.UNSAFE_RC and d.s.run(f"[ -e {q(rdir)} ]").rc == 0:
        d.ui.warn(f"{rdir} on the router is not the folder this tool made (owner or mode):"
                  " ignored")
    return res.text.strip() if res.rc == 0 else "gone"


def restore_backup(d: Deployer, b: backups.Backup) -> None:
    """Put the backup's files back on the router and check them byte for byte."""
    rdir = b.meta.router_dir
    state = router_state(d, rdir)
    if state == "restored":
        ok = d.s.run(routerdir.guard(rdir, f"cd {q(rdir)} && sha256sum -c sums >/dev/null 2>&1")
                     ).rc == 0
        if ok:
            d.ui.info("the router had already restored this backup (its timer ran out);"
                      " every file checks out")
            b.set_state("rolled-back", "found restored by the router's timer")
            return
        state = "changed since"
    if state in ("snapshot", "armed"):
        d.ui.info(f"the router still holds this deploy's snapshot ({rdir}); restoring it")
        d.deadline = time.monotonic() + 120
        result = d.restore_dir(rdir, "rollback-by-hand")
    else:
        # the router lost it (reboot, /tmp cleared) or it was confirmed: upload ours
        d.rdir = rdir = routerdir.create(d.s)
        d.ui.info(f"uploading the backup to {rdir}")
        d.put(HELPER.read_bytes(), "deploy-helper", "deploy-helper", "700")
        d.put(b.snapshot.read_bytes(), "snapshot.tar.gz", "backup")
        d.rcheck(f"cd {q(rdir)} && tar -xzf snapshot.tar.gz && echo snapshot > state")
        d.deadline = time.monotonic() + 120
        result = d.restore_dir(rdir, "rollback-by-hand")
    if result != "restored":
        raise DeployError(
            ROLLBACK_PENDING,
            f"{d.current}: restoring {b.path} ended in state {result or 'unknown'}.",
            f"Look at {rdir}/log on the router; the files are also in {b.path}/files.",
        )
    d.s.run(routerdir.guard(rdir, f"rm -f {q(rdir)}/snapshot.tar.gz"))
    b.set_state("rolled-back", "restored by hand (--rollback)")
    d.ui.info("every saved file is back, byte for byte; services reloaded")


def rollback(opts: Options, d: Deployer, path) -> int:
    b = backups.Backup.open(path)
    host = opts.host or b.meta.new_host or b.meta.host
    d.ui.step(f"Restoring {b.path} ({b.meta.created}) on {opts.user}@{host}:{opts.port}")
    hosts = list(dict.fromkeys([host, b.meta.host]))
    last: DeployError | None = None
    for h in hosts:
        try:
            d.session = d.connect(h)
            break
        except DeployError as exc:
            last = exc
            if exc.code != CONNECT:
                raise
    else:
        assert last is not None
        raise last
    try:
        restore_backup(d, b)
    except (ConnectionLost, RouterLost):
        raise DeployError(
            ROLLBACK_PENDING, f"{d.current}: lost the connection while restoring {b.path}",
            "Run the same --rollback again when the router answers.",
        ) from None
    return OK


def resolve_unfinished(d: Deployer, opts: Options) -> None:
    """Before a new deploy: settle earlier ones that never reported back."""
    for b in backups.unfinished(opts.backup_root, opts.host, opts.port):
        if b.meta.state == "snapshot":
            b.set_state("abandoned", "stopped before any change")
            continue
        state = router_state(d, b.meta.router_dir)
        if state == "restored":
            b.set_state("rolled-back", "the router's timer restored it")
            d.ui.info(f"earlier deploy {b.path.name}: the router restored itself; fine")
            continue
        if state == "confirmed":
            b.set_state("done", "confirmed (found later)")
            continue
        if state in ("armed", "restoring"):
            raise DeployError(
                UNFINISHED,
                f"{opts.host}: the deploy of {b.meta.created} is still waiting for confirmation"
                " on the router; it restores itself when its timer runs out.",
                f"Wait {opts.confirm_timeout} s and run again, or restore now with"
                f" `deploy.py --rollback {b.path}`.",
            )
        msg = (
            f"an earlier deploy to {opts.host} ({b.meta.created}) did not finish, and the router"
            f" no longer knows about it (state: {state}; rebooted?). Its backup: {b.path}"
        )
        if opts.ignore_unfinished:
            d.ui.warn(msg + " — continuing (--ignore-unfinished)")
            b.set_state("abandoned", "ignored with --ignore-unfinished")
            continue
        if opts.interactive:
            d.ui.warn(msg)
            answer = input("Restore that backup on the router before deploying? [y/N] ")
            if answer.strip().lower() in ("y", "yes"):
                restore_backup(d, b)
            else:
                b.set_state("abandoned", "the user chose not to restore it")
            continue
        raise DeployError(
            UNFINISHED, msg,
            f"Restore it with `deploy.py --rollback {b.path}`, or deploy anyway with"
            " --ignore-unfinished.",
        )
