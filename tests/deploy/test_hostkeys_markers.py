"""known_hosts markers: `@revoked` refuses a key, `@cert-authority` is ignored with a note
(issue 11 item 5). Before, paramiko's loader raised InvalidHostKey on either line and the
tool died with a traceback (exit 1) before it even connected.

paramiko (5.x) has no marker support at all: HostKeyEntry.from_line takes `@revoked` for
the host name and the host pattern for the key type. Its client also never asks for
host certificates (it offers only plain host key algorithms), so a certificate authority
line can never vouch for a router here: the router's own key must be known.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import paramiko
import pytest

from deploy.torbox_deploy import hostkeys
from deploy.torbox_deploy.errors import HOSTKEY, DeployError

from .conftest import router_state
from .routerns import ROUTER_IP


def _key(tmp: Path, name: str) -> tuple[str, paramiko.PKey]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)],
                   check=True)
    kind, b64 = (tmp / f"{name}.pub").read_text().split()[:2]
    return f"{kind} {b64}", paramiko.PKey.from_type_string(kind, base64.b64decode(b64))


def _known(tmp: Path, text: str) -> hostkeys.KnownHosts:
    f = tmp / "known_hosts"
    f.write_text(text)
    return hostkeys.KnownHosts([f], f)


def test_paramiko_cannot_read_marker_lines(tmp_path):
    """The behaviour this module works around (fails loudly if paramiko learns markers)."""
    line, _ = _key(tmp_path, "k")
    f = tmp_path / "kh"
    f.write_text(f"@revoked * {line}\n")
    with pytest.raises(paramiko.hostkeys.InvalidHostKey):
        paramiko.HostKeys().load(str(f))


def test_revoked_key_is_refused_whatever_the_options(tmp_path):
    line, key = _key(tmp_path, "router")
    known = _known(tmp_path, f"# a comment\n{ROUTER_IP} {line}\n@revoked * {line}\n")
    for kwargs in ({}, {"accept_new": True}, {"fingerprints": [hostkeys.fingerprint(key)]},
                   {"trusted": key}):
        with pytest.raises(DeployError) as exc:
            hostkeys.verify(known, ROUTER_IP, 22, key, **kwargs)
        assert exc.value.code == HOSTKEY
        assert "REVOKED" in exc.value.message and hostkeys.fingerprint(key) in exc.value.message
        assert "known_hosts:3" in exc.value.message  # where the marker is


def test_revoked_line_with_hashed_or_other_host_still_refuses(tmp_path):
    """A revoked key is compromised: refused for every host, not only the line's pattern
    (stricter than OpenSSH, which applies the marker to matching hosts)."""
    line, key = _key(tmp_path, "router")
    known = _known(tmp_path, f"@revoked |1|abc=|def= {line}\n")
    with pytest.raises(DeployError) as exc:
        hostkeys.verify(known, ROUTER_IP, 22, key, accept_new=True)
    assert exc.value.code == HOSTKEY


def test_other_keys_are_unaffected_by_a_revoked_line(tmp_path):
    line, key = _key(tmp_path, "router")
    old_line, _ = _key(tmp_path, "old")
    known = _known(tmp_path, f"{ROUTER_IP} {line}\n@revoked * {old_line}\n")
    assert hostkeys.verify(known, ROUTER_IP, 22, key) == "known"


def test_cert_authority_lines_are_ignored_with_a_note(tmp_path):
    line, key = _key(tmp_path, "router")
    ca_line, ca = _key(tmp_path, "ca")
    known = _known(tmp_path, f"@cert-authority *.lan,{ROUTER_IP} {ca_line}\n{ROUTER_IP} {line}\n"
                             "this line is garbage\n")
    assert hostkeys.verify(known, ROUTER_IP, 22, key) == "known"
    notes = "\n".join(known.notes)
    assert "known_hosts:1: @cert-authority line ignored" in notes
    assert "cannot check host certificates" in notes
    assert "known_hosts:3" in notes  # the unreadable line is skipped, and said so
    # a CA key is never taken for the router's own key
    known2 = _known(tmp_path, f"@cert-authority * {ca_line}\n")
    with pytest.raises(DeployError) as exc:
        hostkeys.verify(known2, ROUTER_IP, 22, ca)
    assert "unknown host key" in exc.value.message


def test_recording_keeps_marker_lines(tmp_path):
    line, key = _key(tmp_path, "router")
    ca_line, _ = _key(tmp_path, "ca")
    text = f"@cert-authority * {ca_line}\n"
    known = _known(tmp_path, text)
    hostkeys.verify(known, ROUTER_IP, 22, key, accept_new=True)
    after = (tmp_path / "known_hosts").read_text()
    assert after.startswith(text) and f"{ROUTER_IP} {line}" in after


@pytest.mark.parametrize("server", ["dropbear"])
def test_revoked_router_key_stops_the_tool(rig, laptop):
    before = router_state(rig)
    key = rig.host_pubkey()
    laptop.known.write_text(f"{ROUTER_IP} {key}\n@revoked * {key}\n")
    for extra in ((), ("--accept-new",)):
        r = laptop.run(*extra)
        assert r.returncode == HOSTKEY, r.stdout + r.stderr
        assert "REVOKED" in r.stderr and "Nothing was sent" in r.stderr
        assert "Traceback" not in r.stderr
    log = (rig.logs[0]).read_text()
    assert "auth succeeded" not in log.lower() and "Accepted" not in log
    assert router_state(rig) == before


@pytest.mark.parametrize("server", ["dropbear"])
def test_cert_authority_line_does_not_stop_the_tool(rig, laptop):
    ca = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                         str(laptop.home / "ca")], check=True)
    assert ca.returncode == 0
    ca_line = " ".join((laptop.home / "ca.pub").read_text().split()[:2])
    laptop.known.write_text(f"@cert-authority * {ca_line}\n{ROUTER_IP} {rig.host_pubkey()}\n")
    r = laptop.run("--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "@cert-authority line ignored" in r.stdout + r.stderr
