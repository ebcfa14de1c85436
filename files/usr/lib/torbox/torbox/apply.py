"""Put a validated config into force on the router, and take it back out.

Order matters for fail-closed reloads: the new nftables table goes live first
(one atomic `nft -f`), then the UCI files, then the services. The table matches
by interface, so during a subnet change clients on the old subnet are dropped,
never let through.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from . import render_openwrt, uci
from .config import Config
from .render import render_all, write_file

BACKUP_DIR = "/etc/torbox/backup"
GENERATED_DIR = "/etc/torbox/generated"
NFT_OPENWRT = "/usr/share/nftables.d/ruleset-post/30-torbox.nft"
MISSING_SUFFIX = ".absent"  # marks a file that did not exist before torbox
# Files written but not yet put in force (`apply --no-reload`, as uci-defaults runs it during
# an online install); the next apply reloads their services. RAM disk: at boot the services
# start from the files anyway.
PENDING = "/var/run/torbox/reload-pending"

# The one list of what puts each file torbox writes in force on OpenWrt, in this order.
# tor's init script builds /tmp/torrc from /etc/config/tor only at start, and its reload is a
# bare SIGHUP, so a changed hook or fragment needs a restart.
RELOADS: dict[str, tuple[str, ...]] = {
    "/etc/config/network": ("/etc/init.d/network", "reload"),
    "/etc/config/wireless": ("/sbin/wifi", "reload"),
    "/etc/config/dhcp": ("/etc/init.d/dnsmasq", "reload"),
    "/etc/config/firewall": ("/etc/init.d/firewall", "reload"),
    "/etc/config/tor": ("/etc/init.d/tor", "restart"),
    "/etc/tor/torbox.torrc": ("/etc/init.d/tor", "restart"),
}


class ApplyError(RuntimeError):
    pass


@dataclass
class Plan:
    """What an apply would change: path -> (old text or None, new text)."""

    files: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    nft: str = ""

    def changed(self) -> list[str]:
        return [p for p, (old, new) in self.files.items() if old != new]


class Router:
    """File paths on the router, prefixed by `root` so tests never touch the host."""

    def __init__(self, root: str = "/", target: str = "openwrt", run=subprocess.run) -> None:
        self.root = root
        self.target = target
        self.run = run

    def path(self, p: str) -> str:
        return os.path.join(self.root, p.lstrip("/"))

    def read(self, p: str) -> str | None:
        try:
            with open(self.path(p), encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(list(argv), check=check, capture_output=True, text=True)


UCI_FILES = {f: f"/etc/config/{f}" for f in render_openwrt.FILES}
SECRET_UCI = {"wireless", "torbox"}
TORBOX_CONFIG = "/etc/config/torbox"


def plan(cfg: Config, router: Router) -> Plan:
    rendered = render_all(cfg, router.target)
    result = Plan(nft=rendered["torbox.nft"])
    if router.target == "openwrt":
        docs = {}
        for name, path in UCI_FILES.items():
            text = router.read(path)
            if text is None and name == "tor":
                continue  # tor not installed: nothing to hook into
            docs[name] = uci.parse(text or "", path)
        render_openwrt.merge(docs, cfg)
        for name, doc in docs.items():
            result.files[UCI_FILES[name]] = (router.read(UCI_FILES[name]), doc.dump())
        result.files[render_openwrt.TORRC_PATH] = (
            router.read(render_openwrt.TORRC_PATH), rendered["torrc"])
        result.files[NFT_OPENWRT] = (router.read(NFT_OPENWRT), rendered["torbox.nft"])
    else:
        for rel, text in rendered.items():
            path = f"{GENERATED_DIR}/{rel}"
            result.files[path] = (router.read(path), text)
    return result


def backup(router: Router, paths: list[str]) -> None:
    """Save each file the first time torbox changes it; never overwrite an earlier backup."""
    bdir = router.path(BACKUP_DIR)
    os.makedirs(bdir, mode=0o700, exist_ok=True)
    os.chmod(bdir, 0o700)
    for p in paths:
        name = p.strip("/").replace("/", "__")
        dest = os.path.join(bdir, name)
        if os.path.exists(dest) or os.path.exists(dest + MISSING_SUFFIX):
            continue
        src = router.path(p)
        if os.path.exists(src):
            shutil.copy2(src, dest)  # keeps mode and times; the 0700 folder keeps it private
        else:
            open(dest + MISSING_SUFFIX, "w").close()


def restore(router: Router) -> list[str]:
    """Put every backed-up file back byte for byte and remove the torbox table."""
    bdir = router.path(BACKUP_DIR)
    if not os.path.isdir(bdir):
        raise ApplyError(f"no backup in {BACKUP_DIR}: torbox has not changed this router")
    restored = []
    for name in sorted(os.listdir(bdir)):
        missing = name.endswith(MISSING_SUFFIX)
        rel = "/" + (name[: -len(MISSING_SUFFIX)] if missing else name).replace("__", "/")
        target = router.path(rel)
        if missing:
            if os.path.exists(target):
                os.unlink(target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".torbox-restore"
            shutil.copyfile(os.path.join(bdir, name), tmp)
            shutil.copymode(os.path.join(bdir, name), tmp)
            os.replace(tmp, target)
        restored.append(rel)
    shutil.rmtree(bdir)
    return restored


def apply(cfg: Config, router: Router, load_nft: bool = True) -> Plan:
    """Write the config and load the table. Raises ApplyError; changes nothing if nft refuses."""
    result = plan(cfg, router)
    changed = result.changed()
    with tempfile.TemporaryDirectory(prefix="torbox-") as tmp:
        nft_path = os.path.join(tmp, "torbox.nft")
        write_file(nft_path, result.nft)
        if load_nft:
            check = router.sh("nft", "-c", "-f", nft_path, check=False)
            if check.returncode != 0:
                raise ApplyError(f"nft refused the generated table: {check.stderr.strip()}")
        backup(router, changed)
        if load_nft:
            # one transaction: the old table stays whole until the new one replaces it
            loaded = router.sh("nft", "-f", nft_path, check=False)
            if loaded.returncode != 0:
                raise ApplyError(f"nft could not load the table: {loaded.stderr.strip()}")
    for path in changed:
        secret = os.path.basename(path) in SECRET_UCI or path.endswith("hostapd.conf")
        write_file(router.path(path), result.files[path][1], secret=secret)
    # The torbox config itself holds Wi-Fi keys.
    own = router.path(TORBOX_CONFIG)
    if os.path.exists(own):
        os.chmod(own, 0o600)
    return result


def note_pending(router: Router, paths: list[str]) -> None:
    """Remember files whose services have not been reloaded yet."""
    if not paths:
        return
    pending = sorted(set(take_pending(router)) | set(paths))
    write_file(router.path(PENDING), "".join(p + "\n" for p in pending))


def take_pending(router: Router) -> list[str]:
    """The files noted as pending, forgetting them."""
    path = router.path(PENDING)
    try:
        with open(path, encoding="utf-8") as fh:
            paths = [line.strip() for line in fh if line.strip()]
    except FileNotFoundError:
        return []
    os.unlink(path)
    return paths


def reload_services(router: Router, paths: list[str]) -> list[tuple[str, ...]]:
    """Put the given files in force: each service once, in RELOADS order."""
    commands: list[tuple[str, ...]] = []
    for path, command in RELOADS.items():
        if path in paths and command not in commands:
            commands.append(command)
    for command in commands:
        if os.path.exists(router.path(command[0])):
            router.sh(*command, check=False)
    return commands
