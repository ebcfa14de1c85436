"""Render everything the router runs for a config into a directory."""

from __future__ import annotations

import os
import tempfile

from . import render_linux, render_nft, render_openwrt, render_tor
from .config import Config

TARGETS = ("openwrt", "linux")
# Files holding Wi-Fi keys are never world-readable (design §3 rule 8).
SECRET_FILES = {"hostapd.conf", "uci/wireless"}


def render_all(cfg: Config, target: str, run_dir: str = "/var/run/torbox") -> dict[str, str]:
    """Relative path -> content for every generated file."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    files = {
        "torrc": render_tor.render_torrc(cfg),
        "torbox.nft": render_nft.render_nft(cfg, target),
    }
    if target == "linux":
        for net in cfg.enabled_networks:
            files[f"dnsmasq-{net.name}.conf"] = render_linux.render_dnsmasq(cfg, net, run_dir)
        files["hostapd.conf"] = render_linux.render_hostapd(cfg)
        files["sysctl.conf"] = render_linux.render_sysctl(cfg)
    else:
        for name, text in render_openwrt.fragments(cfg).items():
            files[f"uci/{name}"] = text
    return files


def write_file(path: str, text: str, secret: bool = False) -> None:
    """Write atomically (temp file + rename), 0600 for secrets, 0644 otherwise."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".torbox-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600 if secret else 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_all(files: dict[str, str], out_dir: str) -> list[str]:
    written = []
    for rel, text in files.items():
        path = os.path.join(out_dir, rel)
        write_file(path, text, secret=rel in SECRET_FILES)
        written.append(path)
    return written
