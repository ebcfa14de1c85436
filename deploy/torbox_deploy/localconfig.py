"""The user's torbox.uci, read with the same model the router uses (one place for every fact)."""

from __future__ import annotations

import difflib
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from .errors import CONFIG, DeployError

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "files" / "usr" / "lib" / "torbox"
# Wi-Fi keys never reach a terminal or a log, not even in a diff.
SECRET_RES = (
    (re.compile(r"^([-+ ]\s*option\s+(?:key|password|sae_password)\s+).*$", re.M),
     r"\1'********'"),
    (re.compile(r"^([-+ ]\s*(?:wpa_passphrase|wpa_psk|sae_password|HashedControlPassword)"
                r"\s*[= ]\s*).*$", re.M), r"\1********"),
)


def mask(lines: list[str], secrets: list[str] | None = None) -> list[str]:
    """Hide Wi-Fi keys: by the options that hold them, and by value wherever else."""
    values = sorted((v for v in secrets or [] if len(v) >= 4), key=len, reverse=True)
    out = []
    for line in lines:
        for pattern, repl in SECRET_RES:
            line = pattern.sub(repl, line)
        for value in values:
            line = line.replace(value, "********")
        out.append(line)
    return out


def secrets_of(cfg) -> list[str]:
    return [n.key for n in cfg.networks.values() if n.key]


def core() -> ModuleType:
    """The torbox package from this source tree (files/usr/lib/torbox)."""
    if str(CORE) not in sys.path:
        sys.path.insert(0, str(CORE))
    import torbox  # noqa: PLC0415

    return torbox


def load(path: Path):  # -> torbox.config.Config
    core()
    from torbox import config  # noqa: PLC0415

    try:
        return config.load(str(path))
    except config.ConfigError as exc:
        raise DeployError(
            CONFIG,
            f"{path}: {len(exc.problems)} problem(s); nothing was sent to the router:\n  "
            + "\n  ".join(exc.problems),
            "Fix the lines named above and run again.",
        ) from None


def router_address(cfg) -> str:
    """Where the admin network's router answers after the apply."""
    return str(cfg.networks["tor_off"].router)


def map_address(host: str, old_cfg, new_cfg) -> str:
    """The new address of the router interface the laptop talks to now.

    If `host` was a network's router address in the old configuration: that
    network's new one. Otherwise (a factory-fresh router at 192.168.1.1): the
    address of the network the wired port joins, else the admin network's.
    """
    if old_cfg is not None:
        for name, net in old_cfg.networks.items():
            if str(net.router) == host:
                return str(new_cfg.networks[name].router)
    if host in (str(n.router) for n in new_cfg.networks.values()):
        return host
    wired = new_cfg.main.wired
    if wired in new_cfg.networks:
        return str(new_cfg.networks[wired].router)
    return router_address(new_cfg)


def default_address(host: str) -> str:
    """Where a fresh install with the package's default configuration puts the router."""
    core()
    from torbox import config  # noqa: PLC0415

    defaults = config.NETWORK_DEFAULTS
    if host in (d["router"] for d in defaults.values()):
        return host
    wired = config.MAIN_SCHEMA["wired"][1] or "tor_off"
    return defaults.get(wired, defaults["tor_off"])["router"]


def loads_or_none(text: str | None, name: str):
    if text is None:
        return None
    core()
    from torbox import config  # noqa: PLC0415

    try:
        return config.loads(text, name)
    except config.ConfigError:
        return None


def plan_diff(cfg, router_files: dict[str, bytes | None], target: str) -> list[str]:
    """Unified diffs of what `torbox apply` would write, computed here from the router's files."""
    core()
    from torbox import apply  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="torbox-dryrun-") as root:
        for path, data in router_files.items():
            if data is None:
                continue
            dest = Path(root) / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        result = apply.plan(cfg, apply.Router(root, target))
    out: list[str] = []
    for path in result.changed():
        old, new = result.files[path]
        out.extend(
            difflib.unified_diff(
                (old or "").splitlines(True), new.splitlines(True),
                f"{path} (router now)", f"{path} (after deploy)",
            )
        )
    return out


def text_diff(old: bytes | None, new: bytes, path: str) -> list[str]:
    return list(
        difflib.unified_diff(
            (old or b"").decode("utf-8", "replace").splitlines(True),
            new.decode("utf-8", "replace").splitlines(True),
            f"{path} (router now)", f"{path} (after deploy)",
        )
    )
