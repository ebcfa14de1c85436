"""`torbox` command: check, render, apply, restore, status.

Exit status: 0 done, 1 failed while applying (the running config stays),
2 invalid configuration or usage (nothing was written).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import secrets
import sys

from . import __version__, apply, config, uci
from .render import TARGETS, render_all, write_all, write_file

EXIT_OK, EXIT_FAIL, EXIT_INVALID = 0, 1, 2


def default_target() -> str:
    return "openwrt" if os.path.exists("/etc/openwrt_release") else "linux"


def _load(path: str) -> config.Config | None:
    try:
        return config.load(path)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"torbox: {count} problem{'s' if count != 1 else ''} in {path}; "
              "nothing was changed", file=sys.stderr)
        return None


def cmd_genkeys(args: argparse.Namespace) -> int:
    """Fill empty Wi-Fi keys with random ones; leaves every other byte of the file alone."""
    try:
        doc = uci.load(args.config)
    except (OSError, uci.UciSyntaxError) as exc:
        print(f"torbox genkeys: {exc}", file=sys.stderr)
        return EXIT_INVALID
    filled = []
    for name in config.NETWORK_NAMES:
        sec = doc.section(name)
        if sec is None or sec.get("encryption", "psk2") == "none" or sec.get("key"):
            continue
        doc.set_option(sec, "key", secrets.token_urlsafe(15))  # 20 characters, 120 bits
        filled.append(name)
    if filled:
        write_file(args.config, doc.dump(), secret=True)
        print("generated Wi-Fi keys for " + ", ".join(filled))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    if cfg is None:
        return EXIT_INVALID
    print(f"{args.config}: valid")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    if cfg is None:
        return EXIT_INVALID
    files = render_all(cfg, args.target, run_dir=args.run_dir)
    for path in write_all(files, args.out):
        print(path)
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    if cfg is None:
        return EXIT_INVALID
    router = apply.Router(args.root, args.target)
    if args.dry_run:
        result = apply.plan(cfg, router)
        for path in result.changed():
            old, new = result.files[path]
            sys.stdout.writelines(difflib.unified_diff(
                (old or "").splitlines(True), new.splitlines(True), path, path + " (torbox)"))
        return EXIT_OK
    try:
        result = apply.apply(cfg, router, load_nft=not args.no_nft)
    except (apply.ApplyError, OSError) as exc:
        print(f"torbox apply: {exc}; the running configuration stays in force", file=sys.stderr)
        return EXIT_FAIL
    changed = result.changed()
    for path in changed:
        print(f"changed {path}")
    if args.target == "openwrt":
        _put_in_force(router, changed, args)
    return EXIT_OK


def _put_in_force(router: apply.Router, changed: list[str], args: argparse.Namespace) -> None:
    """Reload the services whose files changed now or were left pending by a --no-reload run.

    At boot (--boot) the services have just started from the files on flash: only what this
    apply changed needs a reload, and anything pending is already in force.
    """
    if args.no_reload:
        apply.note_pending(router, changed)
        return
    pending = apply.take_pending(router)
    todo = changed if args.boot else sorted(set(changed) | set(pending))
    if args.root == "/":
        for command in apply.reload_services(router, todo):
            print("reloaded: " + " ".join(command))


def cmd_restore(args: argparse.Namespace) -> int:
    router = apply.Router(args.root, args.target)
    try:
        restored = apply.restore(router)
    except apply.ApplyError as exc:
        print(f"torbox restore: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if args.root == "/":
        router.sh("nft", "delete", "table", "inet", "torbox", check=False)
    for path in restored:
        print(f"restored {path}")
    if args.target == "openwrt" and args.root == "/" and not args.no_reload:
        apply.take_pending(router)
        for command in apply.reload_services(router, restored):
            print("reloaded: " + " ".join(command))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    router = apply.Router(args.root, args.target)
    status: dict[str, object] = {"version": __version__, "target": args.target}
    try:
        cfg = config.load(args.config)
        status["config"] = "valid"
        status["networks"] = {
            n.name: {"enabled": n.enabled, "ssid": n.ssid, "subnet": str(n.subnet),
                     "router": str(n.router)} for n in cfg.networks.values()}
        status["tor_control_socket"] = os.path.exists(router.path(cfg.tor.control_socket))
    except config.ConfigError as exc:
        status["config"] = "invalid"
        status["problems"] = exc.problems
    table = router.sh("nft", "list", "table", "inet", "torbox", check=False) \
        if args.root == "/" else None
    status["nft_table_loaded"] = bool(table and table.returncode == 0)
    status["backup"] = os.path.isdir(router.path(apply.BACKUP_DIR))
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return EXIT_OK if status.get("config") == "valid" else EXIT_INVALID


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torbox", description="Tor router configuration tool")
    p.add_argument("--version", action="version", version=f"torbox {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, target: bool = True) -> None:
        sp.add_argument("--config", default=config.DEFAULT_PATH, help="UCI file to read")
        if target:
            sp.add_argument("--target", choices=TARGETS, default=default_target(),
                            help="openwrt (UCI, fw4, procd) or linux (dnsmasq, hostapd)")

    sp = sub.add_parser("check", help="validate the configuration and change nothing")
    common(sp, target=False)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("genkeys", help="give networks without a Wi-Fi key a random one")
    common(sp, target=False)
    sp.set_defaults(func=cmd_genkeys)

    sp = sub.add_parser("render", help="write every generated file into a directory")
    common(sp)
    sp.add_argument("--out", required=True, help="output directory")
    sp.add_argument("--run-dir", default="/var/run/torbox",
                    help="where dnsmasq keeps leases and pid files (linux target)")
    sp.set_defaults(func=cmd_render)

    sp = sub.add_parser("apply", help="validate, back up, write and load the configuration")
    common(sp)
    sp.add_argument("--root", default="/", help="apply below this directory (for tests)")
    sp.add_argument("--dry-run", action="store_true", help="print a diff, change nothing")
    sp.add_argument("--no-nft", action="store_true", help="do not load the nftables table")
    sp.add_argument("--no-reload", action="store_true",
                    help="do not reload OpenWrt services (the next apply does)")
    sp.add_argument("--boot", action="store_true",
                    help="services just started from these files: reload only what changes now")
    sp.set_defaults(func=cmd_apply)

    sp = sub.add_parser("restore", help="put back the files torbox changed, byte for byte")
    common(sp)
    sp.add_argument("--root", default="/")
    sp.add_argument("--no-reload", action="store_true", help="do not reload OpenWrt services")
    sp.set_defaults(func=cmd_restore)

    sp = sub.add_parser("status", help="show what is in force")
    common(sp)
    sp.add_argument("--root", default="/")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
