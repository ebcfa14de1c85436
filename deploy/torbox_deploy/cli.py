"""Command line of deploy.py."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from . import backup as backups
from . import ipk, localconfig
from .errors import CONNECT, EXIT_CODES, INTERNAL, USAGE, DeployError
from .flow import Deployer, Options
from .ssh import ConnectionLost, RemoteError
from .ui import UI

PASSWORD_ENV = "TORBOX_DEPLOY_PASSWORD"  # noqa: S105 (a variable name, not a password)

EPILOG = """\
Safety: the tool never connects to a host whose key it cannot verify, saves every file
it may change (locally and on the router) before changing anything, and arms a timer on
the router that restores them unless the tool confirms from the router's new address in
time (LuCI's apply/confirm). Any failure it sees restores at once.

Host key fingerprint: on the router's console run
  dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key   (OpenWrt)
  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub              (OpenSSH)
and pass the SHA256:... value with --fingerprint.

Password: asked with a hidden prompt when no key works (a factory-fresh OpenWrt has no
root password and needs none). Without a terminal, give it on standard input
(--password-stdin) or in the environment variable TORBOX_DEPLOY_PASSWORD; never on the
command line.

Exit codes:
""" + "\n".join(f"  {code:2d}  {text}" for code, text in EXIT_CODES.items())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploy.py",
        description="Install torbox on a router over SSH and apply a configuration, safely.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="router address, e.g. 192.168.8.1 (OpenWrt's default is"
                   " 192.168.1.1)")
    p.add_argument("--port", type=int, default=22, help="SSH port (default 22)")
    p.add_argument("--user", default="root", help="SSH user (default root)")
    p.add_argument("--identity", type=Path, metavar="KEY",
                   help="private key file to log in with (else ssh-agent and ~/.ssh/id_*)")
    p.add_argument("--config", type=Path, metavar="TORBOX_UCI",
                   help="torbox configuration to apply (UCI, like files/etc/config/torbox);"
                   " checked here first. Without it the router keeps its configuration")
    p.add_argument("--package", type=Path, metavar="IPK",
                   help="package to install (default: the newest build/torbox_*.ipk from"
                   " `make ipk`)")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be installed and the configuration diff; change"
                   " nothing")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--accept-new", action="store_true",
                       help="trust an unknown host key on first use and record it (a"
                       " changed key is still refused)")
    trust.add_argument("--fingerprint", action="append", default=[], metavar="SHA256:...",
                       help="trust an unknown host key only if it has this fingerprint")
    p.add_argument("--rollback", type=Path, metavar="BACKUP_DIR",
                   help="restore this local backup on the router (byte for byte) and exit")
    p.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="known_hosts file to check and record keys in (default"
                   " ~/.ssh/known_hosts, plus /etc/ssh/ssh_known_hosts for reading)")
    p.add_argument("--backup-dir", type=Path, metavar="DIR",
                   help=f"where local backups go (default {backups.default_root()})")
    p.add_argument("--confirm-timeout", type=int, default=90, metavar="SECONDS",
                   help="the router restores itself if the tool has not confirmed (or kept"
                   " the timer alive) for this long (default 90)")
    p.add_argument("--status-timeout", type=int, default=60, metavar="SECONDS",
                   help="how long to wait for the status page after applying (default 60)")
    p.add_argument("--io-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a silent connection counts as lost after this long (default 30)")
    p.add_argument("--status-url", default="", metavar="URL",
                   help="status page to check, {host} is replaced (default:"
                   " http://{host}/torbox, then the webui port)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the SSH password from the first line of standard input")
    p.add_argument("--force", action="store_true",
                   help="reinstall and re-apply even when nothing changed")
    p.add_argument("--ignore-unfinished", action="store_true",
                   help="deploy even though an earlier deploy to this router never finished"
                   " (its backup is kept)")
    return p


def options(args: argparse.Namespace) -> Options:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    if args.known_hosts:
        known = [args.known_hosts]
        record = args.known_hosts
    else:
        record = Path.home() / ".ssh" / "known_hosts"
        known = [record, Path("/etc/ssh/ssh_known_hosts")]
    return Options(
        host=args.host or "",
        port=args.port,
        user=args.user,
        identity=args.identity,
        config=args.config,
        package=args.package,
        dry_run=args.dry_run,
        accept_new=args.accept_new,
        fingerprints=args.fingerprint,
        known_hosts=known,
        record_known=record,
        backup_root=args.backup_dir or backups.default_root(),
        confirm_timeout=args.confirm_timeout,
        status_timeout=args.status_timeout,
        io_timeout=args.io_timeout,
        force=args.force,
        ignore_unfinished=args.ignore_unfinished,
        status_url=args.status_url,
        password=password,
        interactive=sys.stdin.isatty() and not args.password_stdin,
    )


def deploy(opts: Options, ui: UI) -> int:
    cfg = cfg_bytes = None
    if opts.config is not None:
        try:
            cfg_bytes = opts.config.read_bytes()
        except OSError as exc:
            raise DeployError(USAGE, f"cannot read --config {opts.config}: {exc.strerror}") from None
        cfg = localconfig.load(opts.config)
    pkg_path = opts.package or ipk.find_default(localconfig.REPO)
    if pkg_path is None:
        raise DeployError(USAGE, "no package: run `make ipk` first or give --package FILE")
    try:
        pkg = ipk.load(pkg_path)
    except (OSError, ipk.IpkError) as exc:
        raise DeployError(USAGE, f"cannot read the package {pkg_path}: {exc}") from None
    return Deployer(opts, ui, pkg).run(cfg, cfg_bytes)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.host and not args.rollback:
        parser().error("--host is required (except with --rollback BACKUP_DIR)")
    if args.rollback and not (args.rollback / "meta.json").is_file():
        parser().error(f"--rollback {args.rollback}: not a backup folder (no meta.json)")
    ui = UI()
    opts = options(args)
    try:
        if args.rollback:
            from .recover import rollback  # noqa: PLC0415

            return rollback(opts, Deployer(opts, ui, None), args.rollback)
        return deploy(opts, ui)
    except DeployError as exc:
        ui.error(exc.message)
        if exc.hint:
            ui.err.write(f"hint: {exc.hint}\n")
        return exc.code
    except ConnectionLost as exc:
        ui.error(f"{opts.host or args.rollback}: connection lost before anything was changed:"
                 f" {exc}")
        return CONNECT
    except RemoteError as exc:
        ui.error(f"{opts.host}: a command on the router failed: {exc}")
        return INTERNAL
    except KeyboardInterrupt:
        ui.error("interrupted before anything was changed")
        return CONNECT
    except Exception:  # noqa: BLE001 (last resort: show the bug, exit 1)
        traceback.print_exc()
        return INTERNAL
