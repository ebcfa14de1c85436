"""Look at the router before changing anything: system, package manager, space, memory."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from . import routerdir
from .errors import UNSUITABLE, DeployError
from .ipk import Package
from .ssh import Session

MARKER = "/usr/lib/torbox/.deploy-package"  # written by installs without a package manager

# POSIX sh, run by the router's login shell (busybox ash on OpenWrt). Prints key=value.
PROBE = r"""
v() { printf '%s=%s\n' "$1" "$2"; }
free_kb() { df -Pk "$1" 2>/dev/null | tail -n 1 | awk '{print $4}'; }
v machine "$(uname -m)"
v kernel "$(uname -r)"
if [ -f /etc/openwrt_release ]; then
	v os openwrt
	v os_version "$(sed -n "s/^DISTRIB_DESCRIPTION=//p" /etc/openwrt_release | tr -d "'\"")"
	if command -v apk >/dev/null 2>&1; then
		v pkgmgr apk
		v archs "$(apk --print-arch 2>/dev/null) all noarch"
	elif command -v opkg >/dev/null 2>&1; then
		v pkgmgr opkg
		v archs "$(opkg print-architecture 2>/dev/null | awk '{printf "%s ", $2}')"
	else
		v pkgmgr none
	fi
else
	v os linux
	v os_version "$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
	v pkgmgr none
fi
v mem_total_kb "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
a=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
[ -n "$a" ] || a=$(sed -n 's/^MemFree: *\([0-9]*\).*/\1/p' /proc/meminfo)
v mem_avail_kb "$a"
if [ -d /usr/lib/torbox ]; then v flash_free_kb "$(free_kb /usr/lib/torbox)"
else v flash_free_kb "$(free_kb /usr/lib)"; fi
mkdir -p /tmp 2>/dev/null
v tmp_free_kb "$(free_kb /tmp)"
if command -v python3 >/dev/null 2>&1; then
	v python3 "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
else
	v python3 none
fi
if command -v opkg >/dev/null 2>&1; then
	v installed_opkg "$(opkg status torbox 2>/dev/null | sed -n 's/^Version: //p')"
fi
if command -v apk >/dev/null 2>&1 && [ -f /etc/openwrt_release ]; then
	apk info -e torbox >/dev/null 2>&1 && v installed_apk "$(apk info -v torbox 2>/dev/null | head -n 1)"
fi
v installed_manual "$(sed -n 's/^Version: //p' MARKER 2>/dev/null)"
v installed_sha256 "$(sed -n 's/^SHA256: //p' MARKER 2>/dev/null)"
missing=""
mgr=none
if [ -f /etc/openwrt_release ]; then
	if command -v apk >/dev/null 2>&1; then mgr=apk
	elif command -v opkg >/dev/null 2>&1; then mgr=opkg; fi
fi
for dep in "$@"; do
	case $mgr in
	opkg) opkg status "$dep" 2>/dev/null | grep -q '^Status:.* installed' || missing="$missing $dep" ;;
	apk) apk info -e "$dep" >/dev/null 2>&1 || missing="$missing $dep" ;;
	esac
done
v missing_deps "$missing"
cmds=""
for c in tor nft dnsmasq; do command -v "$c" >/dev/null 2>&1 || cmds="$cmds $c"; done
v missing_cmds "$cmds"
PENDING
v pending "$pend"
v uptime "$(cut -d. -f1 /proc/uptime)"
""".replace("MARKER", MARKER).replace("PENDING", routerdir.PENDING)

# Rough installed sizes (KiB) of dependencies a fresh OpenWrt lacks, for the flash check.
DEP_KB = {
    "tor": 2600,
    "python3-light": 2400,
    "python3-base": 1500,
    "python3-bottle": 120,
    "python3-stem": 900,
    "nftables": 300,
    "libc": 0,
}
UNKNOWN_DEP_KB = 500
MARGIN_KB = 512  # room for logs, the Tor state file and UCI commits
MIN_MEM_TOTAL_KB = 48 * 1024  # Tor needs a 64 MB router (which reports ~57 MB)
MIN_PYTHON = (3, 9)


@dataclass
class Probe:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def kb(self, key: str) -> int:
        try:
            return int(self.get(key, "0") or 0)
        except ValueError:
            return 0

    @property
    def os(self) -> str:
        return self.get("os")

    @property
    def method(self) -> str:
        """How the package goes on: opkg, apk (deps) + manual unpack, or manual."""
        mgr = self.get("pkgmgr")
        return mgr if mgr in ("opkg", "apk") else "manual"

    @property
    def target(self) -> str:
        return "openwrt" if self.os == "openwrt" else "linux"

    @property
    def installed_version(self) -> str:
        return (
            self.get("installed_opkg") or self.get("installed_apk")
            or self.get("installed_manual")
        )

    @property
    def missing_deps(self) -> list[str]:
        return self.get("missing_deps").split()

    @property
    def pending(self) -> list[str]:
        return self.get("pending").split()

    def describe(self) -> str:
        mgr = {"opkg": "OpenWrt with opkg", "apk": "OpenWrt with apk"}.get(
            self.get("pkgmgr"), "plain Linux" if self.os == "linux" else "OpenWrt"
        )
        return f"{mgr}: {self.get('os_version') or '?'}, {self.get('machine')}"


def run(session: Session, pkg: Package | None) -> Probe:
    deps = [alts[0] for alts in pkg.depends] if pkg else []
    args = " ".join(shlex.quote(d) for d in deps)
    res = session.check(f"sh -s -- {args}", stdin=PROBE.encode())
    values = {}
    for line in res.text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return Probe(values)


def check_suitable(probe: Probe, pkg: Package, host: str) -> list[str]:
    """Raise DeployError(UNSUITABLE) when the router cannot hold torbox; return warnings."""
    problems: list[str] = []
    warnings: list[str] = []
    archs = probe.get("archs").split()
    if probe.method == "opkg" and pkg.architecture not in archs:
        problems.append(
            f"package architecture {pkg.architecture!r} is not one opkg accepts here"
            f" ({' '.join(archs) or 'none reported'})"
        )
    if pkg.architecture not in ("all", "noarch") and probe.method != "opkg":
        problems.append(f"package is built for {pkg.architecture}; this router is"
                        f" {probe.get('machine')}")
    py = probe.get("python3")
    if probe.method == "manual":
        if py in ("", "none"):
            problems.append("python3 is missing (plain Linux: install it with the system's"
                            " package manager first)")
        else:
            try:
                if tuple(int(x) for x in py.split(".")) < MIN_PYTHON:
                    problems.append(f"python3 {py} is too old; torbox needs"
                                    f" {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
            except ValueError:
                warnings.append(f"cannot read the python3 version ({py!r})")
        missing_cmds = probe.get("missing_cmds").split()
        if missing_cmds:
            warnings.append("not installed on the router: " + ", ".join(missing_cmds)
                            + " (torbox needs them to route through Tor)")
    need_flash = pkg.installed_kb + MARGIN_KB
    for dep in probe.missing_deps:
        need_flash += DEP_KB.get(dep, UNKNOWN_DEP_KB)
    free_flash = probe.kb("flash_free_kb")
    if free_flash < need_flash:
        deps = probe.missing_deps
        problems.append(
            f"not enough flash: {free_flash} KiB free, about {need_flash} KiB needed"
            + (f" (torbox plus {', '.join(deps)})" if deps else "")
        )
    need_tmp = len(pkg.path.read_bytes()) // 1024 * 3 + 1024
    if probe.kb("tmp_free_kb") < need_tmp:
        problems.append(f"not enough room in /tmp: {probe.kb('tmp_free_kb')} KiB free,"
                        f" {need_tmp} KiB needed for the upload")
    mem = probe.kb("mem_total_kb")
    if mem and mem < MIN_MEM_TOTAL_KB:
        problems.append(f"only {mem // 1024} MiB RAM; Tor needs a router with 64 MB or more")
    if problems:
        raise DeployError(
            UNSUITABLE,
            f"{host}: this router cannot take torbox ({probe.describe()}):\n  "
            + "\n  ".join(problems) + "\nNothing was changed.",
            "Free space (remove unused packages) or use a router with more flash/RAM.",
        )
    return warnings
