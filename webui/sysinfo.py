"""Router facts from /proc, /sys, the DHCP lease file and (on OpenWrt) ubus.

Every reader returns None or an empty value instead of raising: the status page
must render whatever is missing on this system.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import platform
import shutil
import subprocess
import threading
import time
from typing import Any

from . import netinfo
from .ondemand import OnDemand

log = logging.getLogger("torbox.webui")

DEFAULT_TARGET = "0.0.0.0"  # noqa: S104 - a route target, not a bind address
LEASE_FILES = ("/tmp/dhcp.leases", "/var/lib/misc/dnsmasq.leases")
OPKG_INFO = "/usr/lib/opkg/info"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def uptime_s() -> int | None:
    text = _read("/proc/uptime")
    try:
        return int(float(text.split()[0])) if text else None
    except (ValueError, IndexError):
        return None


def memory_kb() -> dict[str, int | None]:
    total = avail = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        if key == "MemTotal":
            total = int(rest.split()[0])
        elif key == "MemAvailable":
            avail = int(rest.split()[0])
    return {"total_kb": total, "available_kb": avail}


def load_avg() -> float | None:
    text = _read("/proc/loadavg")
    try:
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def clock_ok(now: float | None = None) -> bool:
    """Routers have no RTC: before NTP the clock sits near the firmware's build date."""
    now = time.time() if now is None else now
    return time.gmtime(now).tm_year >= 2025


def lease_file() -> str | None:
    for path in LEASE_FILES:
        if os.path.exists(path):
            return path
    return None


def leases(path: str | None, now: float | None = None) -> list[ipaddress.IPv4Address]:
    """Addresses of unexpired dnsmasq leases (`expiry mac ip name id`); nothing else is kept."""
    if not path:
        return []
    now = time.time() if now is None else now
    out = []
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            expiry = int(parts[0])
            ip = ipaddress.IPv4Address(parts[2])
        except ValueError:
            continue
        if expiry == 0 or expiry > now:  # 0 = infinite lease
            out.append(ip)
    return out


def neighbours(path: str = "/proc/net/arp") -> list[tuple[ipaddress.IPv4Address, str]]:
    """(address, device) of complete ARP entries: the clients the router talked to lately."""
    out = []
    for line in (_read(path) or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or parts[2] != "0x2":
            continue
        try:
            out.append((ipaddress.IPv4Address(parts[0]), parts[5]))
        except ValueError:
            continue
    return out


def ubus_wan(interface: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """`ubus call network.interface.<wan> status` on OpenWrt; None elsewhere."""
    if not shutil.which("ubus"):
        return None
    try:
        res = subprocess.run(
            ["ubus", "call", f"network.interface.{interface}", "status"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return json.loads(res.stdout) if res.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None


def wan_state(device: str, interface: str) -> dict[str, Any]:
    st = ubus_wan(interface)
    if st is not None:
        addrs = st.get("ipv4-address") or []
        routes = st.get("route") or []
        return {
            "device": st.get("l3_device") or device,
            "up": bool(st.get("up")),
            "address": addrs[0]["address"] if addrs else None,
            "default_route": any(r.get("target") == DEFAULT_TARGET for r in routes),
            "uptime_s": st.get("uptime"),
        }
    lk = netinfo.link(device)
    addrs = netinfo.ipv4(device)
    return {
        "device": device,
        "up": bool(lk["up"]) and bool(addrs),
        "address": addrs[0]["addr"] if addrs else None,
        "default_route": netinfo.default_route_dev() == device,
        "uptime_s": None,
    }


def _opkg_version(pkg: str) -> str | None:
    for line in (_read(f"{OPKG_INFO}/{pkg}.control") or "").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def os_name() -> str:
    for path, key in (("/etc/openwrt_release", "DISTRIB_DESCRIPTION"),
                      ("/etc/os-release", "PRETTY_NAME")):
        for line in (_read(path) or "").splitlines():
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip().strip("'\"")
    return platform.system()


def versions() -> dict[str, str | None]:
    """Versions that do not change while the process runs (read once)."""
    out: dict[str, str | None] = {"torbox": _opkg_version("torbox")}
    if out["torbox"] is None:
        try:
            import torbox

            out["torbox"] = getattr(torbox, "__version__", None)
        except ImportError:
            pass
    import bottle

    out["bottle"] = bottle.__version__
    try:
        import stem

        out["stem"] = stem.__version__
    except ImportError:
        out["stem"] = None
    out["python"] = platform.python_version()
    out["os"] = os_name()
    out["netifaces"] = "yes" if netinfo.netifaces is not None else "no (kernel reader)"
    return out


class SystemMonitor:
    """Refreshes router facts in the background so requests never wait for /proc or ubus:
    every 5 s while the page has visitors, every 60 s when not (ondemand.py)."""

    def __init__(self, cfg: Any, lease_paths: str | list[str] | None = None,
                 poll_s: float = 5.0, idle_s: float = 60.0) -> None:
        self.cfg = cfg
        self.lease_paths = [lease_paths] if isinstance(lease_paths, str) else lease_paths
        self.schedule = OnDemand(poll_s, idle_s)
        self._data: dict[str, Any] = {}
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="sys-monitor", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.schedule.wake()

    def wanted(self) -> None:
        """Called by each page request (see ondemand.py)."""
        self.schedule.wanted()

    def _run(self) -> None:
        self.schedule.run(self._refresh_safely, self._stop)

    def _refresh_safely(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("system monitor: unexpected error")

    def refresh(self) -> None:
        cfg = self.cfg
        lease_ips = [ip for p in (self.lease_paths or [lease_file()]) for ip in leases(p)]
        neigh = neighbours()
        nets = []
        for net in cfg.networks.values():
            lk = netinfo.link(net.device)
            nets.append({
                "name": net.name,
                "mode": net.mode,
                "enabled": net.enabled,
                "ssid": net.ssid,
                "hidden": net.hidden,
                "router": str(net.router),
                "subnet": str(net.subnet),
                "admin": net.admin,
                "up": bool(lk["up"]),
                "clients": len({ip for ip, _dev in neigh if ip in net.subnet and ip != net.router}),
                "leases": sum(1 for ip in lease_ips if ip in net.subnet),
            })
        self._data = {
            "networks": nets,
            "wan": wan_state(cfg.main.wan_device, cfg.main.wan_interface),
            "uptime_s": uptime_s(),
            "memory": memory_kb(),
            "load": load_avg(),
            "clock_ok": clock_ok(),
            "at": time.time(),
        }

    def snapshot(self) -> dict[str, Any]:
        return self._data
