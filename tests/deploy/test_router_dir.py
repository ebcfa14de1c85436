"""The deploy's working directory on the router cannot be hijacked by another account there
(issue 11 item 5).

Threat: an unprivileged account on the router (the `tor` user, the status page's user, a
compromised service) creates the directory the deploy will use before it does, or swaps the
deploy's directory for its own after the helper passed its checksum, and so gets its code run
as root. Here the attacker is a real process running as `nobody` inside the router, polling
every 20 ms: it moves away any deploy directory it can and puts in its own, whose
`deploy-helper` writes the uid it ran as to /tmp/pwned and then runs the real helper (so the
deploy itself would still succeed and nobody would notice).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from .conftest import assert_original, deploy_dirs
from .routerns import REPO, RouterRig
from .test_deploy import Lines

NOBODY = 65534
ATTACKER = r"""
A=/tmp/torbox-deploy
LOG=/tmp/attacker.log
end=$(( $(cut -d. -f1 /proc/uptime) + 240 ))
while [ ! -e /tmp/attacker.stop ] && [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
	for d in "$A"/* /tmp/torbox-deploy.*; do
		[ -d "$d" ] || continue
		case $d in *.orig) continue ;; esac
		[ -O "$d" ] && continue   # one of ours already
		grep -qxF "$d" /tmp/attacker.tried 2>/dev/null && continue
		echo "$d" >> /tmp/attacker.tried
		if mv "$d" "$d.orig" 2>/dev/null && mkdir -m 777 "$d"; then
			echo "swapped $d" >> "$LOG"
		else
			echo "cannot move $d" >> "$LOG"
		fi
	done
	for d in "$A"/* /tmp/torbox-deploy.*; do
		[ -d "$d" ] && [ -O "$d" ] || continue
		h="$d/deploy-helper"
		[ -e "$h" ] && [ -O "$h" ] && continue
		[ -e "$h" ] && mv -f "$h" "$d/real-helper"
		printf '%s\n' '#!/bin/sh' 'id -u > /tmp/pwned' \
			'exec sh "${0%/*}/real-helper" "$@"' > "$d/evil" && mv -f "$d/evil" "$h" &&
			echo "helper planted in $d" >> "$LOG"
	done
	sleep 0.02
done
"""


def start_attacker(rig: RouterRig) -> subprocess.Popen:
    """The attack loop as uid/gid 65534 inside the router (ends by itself, or at close)."""
    drop = (f"import os; os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY});"
            f" os.execv('/bin/sh', ['sh', '-c', {ATTACKER!r}])")
    p = subprocess.Popen(["nsenter", "-t", str(rig.pid1), "-m", "-n", "-p", "-r", "-w",
                          "python3", "-c", drop],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rig.procs.append(p)
    return p


def stop_attacker(rig: RouterRig, p: subprocess.Popen) -> str:
    rig.path("/tmp/attacker.stop").write_text("")
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
    log = rig.path("/tmp/attacker.log")
    return log.read_text() if log.exists() else ""


def as_nobody(rig: RouterRig, script: str) -> None:
    rig.sh(f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups sh -c '{script}'")


def listing(rig: RouterRig, path: str) -> list[str]:
    return sorted(p.name for p in rig.path(path).iterdir())


@pytest.mark.parametrize(("server", "kind"), [("dropbear", "dir"), ("openssh", "dir"),
                                              ("dropbear", "symlink")])
def test_attacker_owned_deploy_dir_is_not_used(rig, laptop, kind):
    """/tmp/torbox-deploy made first by `nobody` (a directory, or a symlink to its own
    directory): the deploy neither uses it nor runs anything the attacker can swap."""
    if kind == "dir":
        as_nobody(rig, "mkdir -m 777 /tmp/torbox-deploy")
        watched = "/tmp/torbox-deploy"
    else:
        as_nobody(rig, "mkdir -m 777 /tmp/attacker && ln -s /tmp/attacker /tmp/torbox-deploy")
        watched = "/tmp/attacker"
    assert rig.path(watched).stat().st_uid == NOBODY
    laptop.trust()
    rig.start_status_page()
    attacker = start_attacker(rig)
    try:
        time.sleep(0.5)
        r = laptop.run()
    finally:
        log = stop_attacker(rig, attacker)
    print(f"attacker's log:\n{log}")
    pwned = rig.path("/tmp/pwned")
    assert not pwned.exists(), f"the attacker's helper ran as uid {pwned.read_text().strip()}"
    assert r.returncode == 0, r.stdout + r.stderr
    # the tool never created anything in the attacker's directory
    assert listing(rig, watched) == [], listing(rig, watched)
    assert "swapped" not in log and "helper planted" not in log
    assert "Confirmed from" in r.stdout
    assert deploy_dirs(rig) == []  # and cleaned up its own


@pytest.mark.parametrize("server", ["dropbear"])
def test_fake_pending_deploys_do_not_block(rig, laptop):
    """Directories that look like a deploy waiting for confirmation, made by `nobody`, are
    not a deploy: they neither block the tool nor get looked into."""
    for path in ("/tmp/torbox-deploy", "/tmp/torbox-deploy/x", "/tmp/torbox-deploy.fake01"):
        d = rig.path(path)
        d.mkdir(exist_ok=True)
        if path != "/tmp/torbox-deploy":
            (d / "state").write_text("armed\n")
            (d / "deadline").write_text("999999\n")
        for f in [d, *d.iterdir()]:
            os.chown(f, NOBODY, NOBODY)
    laptop.trust()
    r = laptop.run("--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "another deploy" not in r.stderr


@pytest.mark.parametrize("server", ["dropbear"])
def test_rollback_ignores_a_router_dir_recreated_by_someone_else(rig, laptop):
    """The backup names the router-side folder of its deploy. After a reboot cleared /tmp,
    another account re-creates that path with a state that asks for a restore and its own
    helper: --rollback must treat the folder as gone (upload a fresh one), never run it."""
    laptop.trust()
    p = laptop.popen("--confirm-timeout", "60", "--status-timeout", "120")
    out = Lines(p)
    out.wait_for(r"Waiting for the status page", timeout=120)
    p.send_signal(signal.SIGKILL)
    out.finish(timeout=30)
    (backup,) = laptop.backups.iterdir()
    rdir = json.loads((backup / "meta.json").read_text())["router_dir"]
    # the "reboot": the timer and the folder are gone
    rig.sh(f"kill $(cat {rdir}/watch.pid); rm -rf {rdir}")
    d = rig.path(rdir)
    d.mkdir(parents=True)
    (d / "state").write_text("armed\n")
    (d / "deploy-helper").write_text("#!/bin/sh\nid -u > /tmp/pwned\n")
    for f in (d, d / "state", d / "deploy-helper"):
        os.chown(f, NOBODY, NOBODY)
    d.chmod(0o777)
    r = rig.laptop("--rollback", str(backup), "--known-hosts", str(laptop.known),
                   env=laptop.env)
    print(r.stdout, r.stderr)
    assert not rig.path("/tmp/pwned").exists(), "the re-created folder's helper ran"
    assert r.returncode == 0, r.stderr
    assert "uploading the backup" in r.stdout
    assert_original(rig)


def test_helper_is_the_tools_own_copy():
    """One copy of the router-side helper: the tool's (issue 10 item 2)."""
    from deploy.torbox_deploy import flow

    assert flow.HELPER.is_file()
    assert not (REPO / "files/usr/libexec/torbox/deploy-helper").exists()


@pytest.mark.parametrize("shell", ["busybox", "dash"])
def test_guard_accepts_only_root_made_folders(shell, tmp_path):
    """The check itself, under busybox ash and dash, on folders in this machine's /tmp."""
    import secrets
    import shutil

    from deploy.torbox_deploy import routerdir

    argv = {"busybox": ["busybox", "sh", "-c"], "dash": ["dash", "-c"]}[shell]
    if not shutil.which(argv[0]):
        pytest.skip(f"no {argv[0]}")
    if os.geteuid() != 0:
        pytest.skip("needs root (chown)")

    def ok(path: str) -> bool:
        r = subprocess.run([*argv, routerdir.guard(path, "echo fine")], capture_output=True,
                           text=True)
        assert (r.returncode == 0) == (r.stdout == "fine\n"), r
        return r.returncode == 0

    made = subprocess.run([*argv, routerdir.CREATE], capture_output=True, text=True, check=True)
    good = made.stdout.strip()
    link = f"/tmp/torbox-deploy.{secrets.token_hex(3)}"
    try:
        assert routerdir.NAME.match(good) and oct(os.stat(good).st_mode & 0o7777) == "0o700"
        assert ok(good)
        os.chmod(good, 0o755)
        assert not ok(good)
        os.chmod(good, 0o700)
        os.chown(good, NOBODY, NOBODY)
        assert not ok(good)
        os.chown(good, 0, 0)
        os.symlink(good, link)
        assert not ok(link)
        assert ok(good)
        with pytest.raises(ValueError):
            routerdir.guard("/tmp/torbox-deploy", "true")
    finally:
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(good, ignore_errors=True)
