"""deploy.py against real SSH servers (dropbear, OpenSSH) on a throw-away router.

Every fault case ends with the router's files compared byte for byte with the
originals: the rollback is judged by what is on the router, not by what the
tool says.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time

import paramiko
import pytest

from deploy.torbox_deploy import hostkeys

from .conftest import (
    DATA,
    ORIGINAL,
    assert_original,
    deploy_dirs,
    file_hash,
    repack,
    router_state,
    wait_router_state,
)
from .routerns import PASSWORD, REPO, ROUTER_IP, RouterRig

KEY_LINE = re.compile(r"option key '([^']+)'")


class Lines:
    """Reads a running deploy.py's output so a test can act at a given moment."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.q: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"never saw {pattern!r}; output:\n{''.join(self.seen)}")

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        rc = self.proc.wait(timeout=timeout)
        while True:
            try:
                line = self.q.get(timeout=2)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        out = "".join(self.seen)
        print(out)
        return rc, out


def server_log(rig: RouterRig) -> str:
    return rig.logs[0].read_text()


# -- install, configure, re-run -------------------------------------------------------------


def test_install_configure_and_rerun(rig, laptop):
    rig.start_status_page()
    started = time.monotonic()
    r = laptop.run("--accept-new")
    elapsed = time.monotonic() - started
    print(f"full deploy ({rig.server}): {elapsed:.2f} s")
    assert r.returncode == 0, r.stderr
    # installed and configured
    assert rig.path("/usr/sbin/torbox").exists()
    assert rig.path("/etc/config/torbox").read_bytes() == (DATA / "torbox.uci").read_bytes()
    assert oct(rig.path("/etc/config/torbox").stat().st_mode & 0o777) == "0o600"
    status = json.loads(rig.sh("/usr/sbin/torbox status --json", check=False).stdout)
    assert status["config"] == "valid" and status["nft_table_loaded"] is True
    # the local backup holds the originals, byte for byte
    (backup,) = laptop.backups.iterdir()
    for path, data in ORIGINAL.items():
        assert (backup / "files" / path.lstrip("/")).read_bytes() == data
    assert json.loads((backup / "meta.json").read_text())["state"] == "done"
    # the key was recorded; the confirmation was taken; nothing left in /tmp
    assert rig.host_pubkey().split()[1] in laptop.known.read_text()
    assert deploy_dirs(rig) == []
    assert "Confirmed from 192.168.8.1" in r.stdout
    assert 'tor_medium: "tor_medium"' in r.stdout and "http://192.168.8.1/torbox" in r.stdout
    assert "bootstrap 0 %" in r.stdout
    for key in KEY_LINE.findall((DATA / "torbox.uci").read_text()):
        assert key not in r.stdout + r.stderr, "a Wi-Fi key reached the output"

    before = router_state(rig)
    r2 = laptop.run()  # the same again: idempotent
    assert r2.returncode == 0, r2.stderr
    assert "Nothing to change" in r2.stdout
    assert router_state(rig) == before
    assert len(list(laptop.backups.iterdir())) == 1, "an unchanged re-run made a backup"


def test_dry_run_changes_nothing(rig, laptop):
    laptop.trust()
    before = router_state(rig)
    r = laptop.run("--dry-run")
    assert r.returncode == 0, r.stderr
    assert "Dry run" in r.stdout
    assert "would install torbox 0.1.0" in r.stdout
    assert "+++ /etc/config/torbox (after deploy)" in r.stdout
    assert "+config network 'tor_medium'" in r.stdout
    assert "option key '********'" in r.stdout
    for key in KEY_LINE.findall((DATA / "torbox.uci").read_text()):
        assert key not in r.stdout, "the dry run printed a Wi-Fi key"
    assert router_state(rig) == before
    assert deploy_dirs(rig) == []
    assert not laptop.backups.exists()


# -- host keys and authentication -----------------------------------------------------------


def _fingerprint(rig: RouterRig) -> str:
    kind, b64 = rig.host_pubkey().split()
    return hostkeys.fingerprint(paramiko.PKey.from_type_string(kind, base64.b64decode(b64)))


def test_unknown_host_key_stops_before_auth(rig, laptop):
    fp = _fingerprint(rig)
    r = laptop.run("--dry-run")
    assert r.returncode == 3
    assert "unknown host key" in r.stderr and fp in r.stderr
    assert not laptop.known.exists()
    log = server_log(rig)
    assert "auth succeeded" not in log.lower() and "Accepted" not in log
    # a wrong --fingerprint is refused too
    r = laptop.run("--dry-run", "--fingerprint", "SHA256:" + "A" * 43)
    assert r.returncode == 3 and "does not match --fingerprint" in r.stderr
    # the right one is accepted and recorded
    r = laptop.run("--dry-run", "--fingerprint", fp)
    assert r.returncode == 0, r.stderr
    assert "matches --fingerprint" in r.stdout
    assert rig.host_pubkey().split()[1] in laptop.known.read_text()


def test_changed_host_key_always_refused(rig, laptop):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(laptop.home / "fake")], check=True)
    pub = (laptop.home / "fake.pub").read_text().split()
    laptop.known.write_text(f"{ROUTER_IP} {pub[0]} {pub[1]}\n")
    before = router_state(rig)
    r = laptop.run("--accept-new")
    assert r.returncode == 3
    assert "CHANGED" in r.stderr and "Nothing was sent" in r.stderr
    log = server_log(rig)
    assert "auth succeeded" not in log.lower() and "Accepted" not in log
    assert router_state(rig) == before
    assert laptop.known.read_text() == f"{ROUTER_IP} {pub[0]} {pub[1]}\n"


def test_wrong_password(rig, laptop):
    laptop.trust()
    before = router_state(rig)
    env = dict(laptop.env, TORBOX_DEPLOY_PASSWORD="not-the-password")
    r = laptop.run(env=env)
    assert r.returncode == 4
    assert "authentication failed" in r.stderr and "nothing was changed" in r.stderr
    assert router_state(rig) == before
    assert not laptop.backups.exists()
    # the right one through --password-stdin (no terminal, no environment variable)
    env = {k: v for k, v in laptop.env.items() if k != "TORBOX_DEPLOY_PASSWORD"}
    r = laptop.run("--dry-run", "--password-stdin", env=env, stdin="tbx-router-pw\n")
    assert r.returncode == 0, r.stderr


def test_key_login_without_password(rig, laptop):
    laptop.trust()
    key = laptop.home / "id_test"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    rig.authorize((laptop.home / "id_test.pub").read_text().strip())
    env = {k: v for k, v in laptop.env.items() if k != "TORBOX_DEPLOY_PASSWORD"}
    r = laptop.run("--dry-run", "--identity", str(key), env=env)
    assert r.returncode == 0, r.stderr


@pytest.mark.deploy
def test_factory_fresh_router_without_password(tmp_path, ipk):
    """OpenWrt ships with an empty root password: dropbear lets `none` auth in."""
    from .conftest import Laptop

    rig = RouterRig(tmp_path, "dropbear", blank_password=True).start()
    try:
        laptop = Laptop(rig, tmp_path, ipk)
        laptop.trust()
        env = {k: v for k, v in laptop.env.items() if k != "TORBOX_DEPLOY_PASSWORD"}
        r = laptop.run("--dry-run", env=env)
        assert r.returncode == 0, r.stderr
        assert "blank password" in server_log(rig)
    finally:
        rig.close()


# -- faults after changes began: the router must come back byte for byte --------------------


def test_packets_dropped_mid_transfer_router_restores_itself(rig, laptop):
    laptop.trust()
    rig.shape_laptop("32kbit")  # ~4 KB/s: the 48 KiB payload takes seconds
    p = laptop.popen("--confirm-timeout", "12", "--io-timeout", "4")
    out = Lines(p)
    out.wait_for(r"\(payload\): 0%", timeout=120)
    time.sleep(1.5)
    rig.cut()
    cut_at = time.monotonic()
    (d,) = deploy_dirs(rig)
    part = d / "data.tar.gz.part"
    partial = part.stat().st_size if part.exists() else 0
    rc, text = out.finish(timeout=120)
    assert rc == 9, text
    assert "restores its previous configuration by itself" in text
    assert partial < len(payload(laptop)), "the transfer was not cut midway"
    d = wait_router_state(rig, "restored", timeout=40)
    print(f"router restored itself {time.monotonic() - cut_at:.1f} s after the cut")
    assert "restore (timer)" in (d / "log").read_text()
    assert not (d / "data.tar.gz").exists()
    assert_original(rig)


def payload(laptop) -> bytes:
    from deploy.torbox_deploy import ipk as ipkmod

    return ipkmod.load(laptop.ipk).data_tgz


def test_session_killed_mid_transfer_rolls_back(rig, laptop):
    laptop.trust()
    rig.shape_laptop("32kbit")
    p = laptop.popen("--io-timeout", "5")
    out = Lines(p)
    out.wait_for(r"\(payload\): 0%", timeout=120)
    time.sleep(1.5)
    assert rig.kill_sessions(), "no session to kill"
    rc, text = out.finish(timeout=120)
    assert rc == 8, text
    assert "connection broke during uploading" in text
    assert "checked byte for byte" in text
    assert_original(rig)
    (backup,) = laptop.backups.iterdir()
    assert json.loads((backup / "meta.json").read_text())["state"] == "rolled-back"


def test_install_failure_rolls_back(rig, laptop, tmp_path, ipk):
    laptop.trust()
    laptop.ipk = repack(ipk, tmp_path / "broken.ipk", {
        "postinst": "#!/bin/sh\necho 'postinst: simulated failure' >&2\nexit 1\n",
    })
    rig.start_status_page()
    r = laptop.run()
    assert r.returncode == 8, r.stdout + r.stderr
    assert "installing the package failed" in r.stderr
    assert "postinst failed" in r.stdout
    assert_original(rig)


def test_status_page_not_answering_rolls_back(rig, laptop):
    laptop.trust()
    r = laptop.run("--status-timeout", "4")
    assert r.returncode == 8, r.stdout + r.stderr
    assert "status page did not answer" in r.stderr
    assert_original(rig)


def test_confirmation_never_arrives_router_restores_itself(rig, laptop):
    laptop.trust()
    p = laptop.popen("--confirm-timeout", "8", "--status-timeout", "120")
    out = Lines(p)
    out.wait_for(r"Waiting for the status page", timeout=120)
    # applied, not confirmed: the tool dies here (ip netns exec has exec'd python)
    p.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    out.finish(timeout=30)
    assert rig.path("/usr/sbin/torbox").exists(), "the kill came before the apply"
    d = wait_router_state(rig, "restored", timeout=40)
    took = time.monotonic() - killed_at
    print(f"router restored itself {took:.1f} s after the tool was killed")
    assert "restore (timer)" in (d / "log").read_text()
    assert_original(rig)
    # the next run notices the unfinished deploy and finds the router restored it
    (backup,) = laptop.backups.iterdir()
    assert json.loads((backup / "meta.json").read_text())["state"] == "armed"
    r = laptop.run("--dry-run")
    assert r.returncode == 0, r.stderr
    assert "the router restored itself" in r.stdout
    assert json.loads((backup / "meta.json").read_text())["state"] == "rolled-back"


def test_unfinished_deploy_after_router_reboot_offers_rollback(rig, laptop):
    """Tool killed after applying, then the router "reboots" (its /tmp timer is gone)."""
    laptop.trust()
    p = laptop.popen("--confirm-timeout", "60", "--status-timeout", "120")
    out = Lines(p)
    out.wait_for(r"Waiting for the status page", timeout=120)
    p.send_signal(signal.SIGKILL)
    out.finish(timeout=30)
    (d,) = deploy_dirs(rig)
    rig.sh(f"kill $(cat /tmp/{d.name}/watch.pid); rm -rf /tmp/{d.name}")
    assert rig.path("/etc/config/torbox").exists()
    r = laptop.run()
    assert r.returncode == 10, r.stdout + r.stderr
    assert "did not finish" in r.stderr and "--rollback" in r.stderr
    (backup,) = laptop.backups.iterdir()
    r = rig.laptop("--rollback", str(backup), "--known-hosts", str(laptop.known),
                   env=laptop.env)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr
    assert "uploading the backup" in r.stdout
    assert_original(rig)
    assert json.loads((backup / "meta.json").read_text())["state"] == "rolled-back"


def test_rollback_by_hand_after_success(rig, laptop):
    laptop.trust()
    rig.start_status_page()
    r = laptop.run()
    assert r.returncode == 0, r.stderr
    assert rig.path("/etc/config/torbox").exists()
    (backup,) = laptop.backups.iterdir()
    r = rig.laptop("--rollback", str(backup), "--known-hosts", str(laptop.known),
                   env=laptop.env)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr
    assert_original(rig)


@pytest.mark.parametrize("server", ["dropbear"])
def test_router_moves_address_tool_follows_and_confirms(rig, laptop):
    """A new LAN subnet cuts the session; the tool finds the router at its new address."""
    laptop.trust()
    rig.start_status_page(bind="0.0.0.0")
    p = laptop.popen("--io-timeout", "4", "--confirm-timeout", "40", config="torbox-moved.uci")
    out = Lines(p)
    out.wait_for(r"==> Installing torbox", timeout=120)
    rig.move_router("192.168.18.1", "192.168.18.2")
    rc, text = out.finish(timeout=120)
    assert rc == 0, text
    assert "reconnected to 192.168.18.1" in text
    assert "Confirmed from 192.168.18.1" in text
    known = laptop.known.read_text().splitlines()
    key = rig.host_pubkey().split()[1]
    assert any(line.startswith("192.168.18.1 ") for line in known)
    assert all(key in line for line in known), "a different key was recorded"
    assert rig.path("/etc/config/torbox").read_bytes() == (
        DATA / "torbox-moved.uci").read_bytes()
    (backup,) = laptop.backups.iterdir()
    meta = json.loads((backup / "meta.json").read_text())
    assert meta["state"] == "done" and meta["new_host"] == "192.168.18.1"


@pytest.mark.parametrize("server", ["dropbear"])
def test_terminal_prompt_and_progress_bars(rig, laptop):
    """On a terminal (tmux): a hidden getpass prompt, and progress bars drawn in place."""
    if shutil.which("tmux") is None:
        pytest.skip("no tmux")
    laptop.trust()
    rig.start_status_page()
    env = {k: v for k, v in laptop.env.items() if k != "TORBOX_DEPLOY_PASSWORD"}
    cmd = shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()),
                      *rig.laptop_cmd(*laptop.args())]) + "; echo EXIT=$?; sleep 600"
    tmux = ["tmux", "-L", f"tbx-{rig.id}"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "150", "-y", "80", cmd], check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-S", "-300"],
                              capture_output=True, text=True).stdout

    try:
        deadline = time.monotonic() + 60
        while "password:" not in screen():
            assert time.monotonic() < deadline, screen()
            time.sleep(0.2)
        subprocess.run([*tmux, "send-keys", PASSWORD, "Enter"], check=True)
        deadline = time.monotonic() + 120
        while "EXIT=" not in screen():
            assert time.monotonic() < deadline, screen()
            time.sleep(0.3)
        text = screen()
        print(text)
        assert "EXIT=0" in text
        assert "root@192.168.8.1's password:" in text
        assert PASSWORD not in text, "the password was echoed"
        assert "[##############################] 100%" in text
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def tree(rig: RouterRig, path: str) -> dict[str, bytes]:
    root = rig.path(path)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("server", ["dropbear"])
def test_failed_reconfigure_restores_the_previous_torbox_setup(rig, laptop):
    """torbox already runs; a new configuration fails its check: the old one comes back."""
    laptop.trust()
    status = rig.start_status_page()
    assert laptop.run().returncode == 0
    before = router_state(rig)
    etc_torbox = tree(rig, "/etc/torbox")
    status.kill()
    status.wait()
    r = laptop.run("--status-timeout", "4", config="torbox-moved.uci")
    assert r.returncode == 8, r.stdout + r.stderr
    assert "torbox installed: 0.1.0" in r.stdout
    assert router_state(rig) == before
    assert tree(rig, "/etc/torbox") == etc_torbox
    assert rig.path("/etc/config/torbox").read_bytes() == (DATA / "torbox.uci").read_bytes()
    tables = subprocess.run(["ip", "netns", "exec", rig.ns_r, "nft", "list", "table", "inet",
                             "torbox"], capture_output=True, text=True)
    assert tables.returncode == 0, "the previous torbox table is not loaded again"


# -- refused before anything changes --------------------------------------------------------


def test_invalid_config_is_refused_before_connecting(rig, laptop):
    time.sleep(1)  # the rig's own readiness probe is logged late
    seen = len(server_log(rig))
    r = laptop.run(config="torbox-invalid.uci")
    assert r.returncode == 7
    assert re.search(r"torbox-invalid\.uci:\d+: tor_\w+\.subnet: .*overlaps", r.stderr)
    assert "onnection from" not in server_log(rig)[seen:], "it connected anyway"


@pytest.mark.deploy
def test_router_without_enough_flash_is_refused(tmp_path, ipk):
    from .conftest import Laptop

    rig = RouterRig(tmp_path, "dropbear", upper_size="400k").start()
    try:
        laptop = Laptop(rig, tmp_path, ipk)
        laptop.trust()
        before = router_state(rig)
        r = laptop.run()
        assert r.returncode == 6, r.stdout + r.stderr
        assert "not enough flash" in r.stderr
        assert router_state(rig) == before
        assert deploy_dirs(rig) == []
    finally:
        rig.close()


@pytest.mark.parametrize("server", ["dropbear"])
def test_helper_runs_under_busybox_ash(rig):
    """The router-side helper on the OpenWrt-like userland: snapshot, timer, restore."""
    helper = (REPO / "deploy/deploy-helper.sh").read_bytes()
    rig.path("/tmp/h").write_bytes(helper)
    net = rig.path("/etc/config/network")
    before = file_hash(net)
    r = rig.sh("readlink -f /bin/sh; D=/tmp/hd; sh /tmp/h snapshot $D /etc/config/network"
               " /etc/config/torbox && printf 'method=manual\\nwas_installed=1\\n' > $D/pkg"
               " && sh /tmp/h arm $D 2 && echo x >> /etc/config/network && echo new >"
               " /etc/config/torbox")
    assert "busybox" in r.stdout
    deadline = time.monotonic() + 15
    while rig.path("/tmp/hd/state").read_text().strip() != "restored":
        assert time.monotonic() < deadline, rig.path("/tmp/hd/log").read_text()
        time.sleep(0.3)
    assert file_hash(net) == before
    assert not rig.path("/etc/config/torbox").exists()
