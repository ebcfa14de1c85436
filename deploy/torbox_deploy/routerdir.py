"""The deploy's working folder on the router: made fresh by root, checked before every use.

Each deploy (and each upload of a backup by --rollback) gets its own folder from
`mktemp -d /tmp/torbox-deploy.XXXXXX`, run as root: a new name, created atomically with
mode 0700. Before: a fixed `/tmp/torbox-deploy` that any account on the router (the `tor`
user, say) could create first, or point elsewhere with a symlink, and then swap the helper
after its checksum was checked: code run as root (issue 11 item 5; tests/deploy/
test_router_dir.py shows it happening with a real unprivileged attacker process).

A folder is trusted only if it is a real directory (not a symlink), owned by uid 0, mode
exactly 0700 (no ACL), directly in a /tmp that is root's and sticky (or not writable by
others), so no other account can rename it, replace it or write into it. Every command the
tool sends that reads, writes or runs anything in the folder starts with that check
(`guard`), because the router may have rebooted since the folder was made (its /tmp is
gone) and someone else may have re-created the path since: a folder that fails the check is
treated as gone, and nothing in it is run or believed. Everything is run by absolute path.
"""

from __future__ import annotations

import re
import shlex

from .errors import UNSUITABLE, DeployError
from .ssh import RemoteError, Session

TEMPLATE = "/tmp/torbox-deploy.XXXXXX"
NAME = re.compile(r"^/tmp/torbox-deploy\.[A-Za-z0-9]{6}$")
UNSAFE_RC = 97  # the folder (or /tmp) fails the check
TMP_UNSAFE_RC = 96

# POSIX sh for busybox ash (OpenWrt's busybox has no stat): `ls -ldn` gives mode and uid.
FUNCTIONS = (
    'tbx_dir_ok() { [ -d "$1" ] && [ ! -L "$1" ] && tbx_tmp_ok || return 1;'
    ' case $1 in /tmp/torbox-deploy.??????) ;; *) return 1 ;; esac;'
    ' set -- $(ls -ldn "$1"); case $1 in drwx------ | drwx------.) ;; *) return 1 ;; esac;'
    ' [ "$3" = 0 ]; };'
    ' tbx_tmp_ok() { [ ! -L /tmp ] || return 1; set -- $(ls -ldn /tmp/.); [ "$3" = 0 ] || return 1;'
    ' case $1 in d????????[tT]* | d???????-?*) return 0 ;; esac; return 1; }'
)


def q(text: str) -> str:
    return shlex.quote(text)


def guard_prefix(rdir: str) -> str:
    """Shell text to put before a command that uses `rdir`: exits 97 unless root made it."""
    if not NAME.match(rdir):
        raise ValueError(f"not a deploy folder name: {rdir!r}")
    return (f"{FUNCTIONS}; tbx_dir_ok {q(rdir)} || {{ echo 'deploy: {rdir} is not a folder"
            " that root made (a directory, owner root, mode 0700, in a sticky /tmp):"
            f" refusing to use it' >&2; exit {UNSAFE_RC}; }}; ")


def guard(rdir: str, cmd: str) -> str:
    return guard_prefix(rdir) + cmd


# Makes the folder and prints its name; the checks after mktemp catch a busybox or umask
# that made it with another mode, and a /tmp others could rename entries in.
CREATE = (
    f"{FUNCTIONS}; tbx_tmp_ok || exit {TMP_UNSAFE_RC}; umask 077;"
    f' d=$(mktemp -d {TEMPLATE}) || exit 95;'
    f' tbx_dir_ok "$d" || {{ rmdir "$d"; exit {UNSAFE_RC}; }}; echo "$d"'
)

# For the probe: folders of deploys still waiting for a decision (only root-made ones).
PENDING = (
    f"{FUNCTIONS}; pend=''; for s in /tmp/torbox-deploy.*/state; do"
    ' [ -f "$s" ] || continue; tbx_dir_ok "${s%/state}" || continue;'
    ' case $(cat "$s") in armed|restoring) pend="$pend ${s%/state}" ;; esac; done'
)


def create(session: Session) -> str:
    """Make a fresh folder on the router (as the logged-in root) and return its path."""
    res = session.run(CREATE)
    path = res.text.strip()
    if res.rc == TMP_UNSAFE_RC:
        raise DeployError(
            UNSUITABLE,
            f"{session.host}: /tmp on the router is not root's, or others may write there"
            " without the sticky bit: any account could tamper with the deploy's files there."
            " Nothing was changed.",
            "Fix it on the router: `chown root:root /tmp && chmod 1777 /tmp`.",
        )
    if res.rc != 0 or not NAME.match(path):
        raise RemoteError(f"mktemp -d {TEMPLATE}", res.rc, res.text, res.errtext)
    return path
