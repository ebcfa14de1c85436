"""The deploy tool's pieces that need no router: host key rules, package reading,
address mapping, secret masking, resource checks, the generated change script."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from deploy.torbox_deploy import hostkeys, ipk, localconfig, probe
from deploy.torbox_deploy.errors import HOSTKEY, UNSUITABLE, DeployError
from deploy.torbox_deploy.flow import Deployer, Options
from deploy.torbox_deploy.ui import UI

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def pkg(tmp_path_factory) -> ipk.Package:
    from .conftest import REPO

    out = tmp_path_factory.mktemp("ipk")
    subprocess.run(["python3", str(REPO / "package" / "mkipk.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return ipk.load(next(out.glob("*.ipk")))


def _key() -> paramiko.PKey:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def test_unknown_key_is_refused_with_its_fingerprint(tmp_path):
    known = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    key = _key()
    with pytest.raises(DeployError) as exc:
        hostkeys.verify(known, "192.168.8.1", 22, key)
    assert exc.value.code == HOSTKEY
    assert hostkeys.fingerprint(key) in exc.value.message
    assert not (tmp_path / "kh").exists()


def test_accept_new_records_and_then_knows(tmp_path):
    key = _key()
    known = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    assert "accepted" in hostkeys.verify(known, "192.168.8.1", 2222, key, accept_new=True)
    assert (tmp_path / "kh").read_text().startswith("[192.168.8.1]:2222 ssh-ed25519 ")
    again = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    assert hostkeys.verify(again, "192.168.8.1", 2222, key) == "known"
    # the same key under another port is still unknown
    with pytest.raises(DeployError):
        hostkeys.verify(again, "192.168.8.1", 22, key)


def test_changed_key_is_refused_even_with_accept_new(tmp_path):
    old, new = _key(), _key()
    (tmp_path / "kh").write_text(f"192.168.8.1 {old.get_name()} {old.get_base64()}\n")
    known = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    for kwargs in ({}, {"accept_new": True}, {"fingerprints": [hostkeys.fingerprint(new)]}):
        with pytest.raises(DeployError) as exc:
            hostkeys.verify(known, "192.168.8.1", 22, new, **kwargs)
        assert "CHANGED" in exc.value.message
    assert (tmp_path / "kh").read_text().count("\n") == 1


def test_fingerprint_must_match(tmp_path):
    key = _key()
    known = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    with pytest.raises(DeployError):
        hostkeys.verify(known, "h", 22, key, fingerprints=["SHA256:" + "B" * 43])
    fp = hostkeys.fingerprint(key).removeprefix("SHA256:")
    assert hostkeys.verify(known, "h", 22, key, fingerprints=[fp]) == "matches --fingerprint"


def test_new_address_must_offer_the_same_key(tmp_path):
    key, other = _key(), _key()
    known = hostkeys.KnownHosts([tmp_path / "kh"], tmp_path / "kh")
    assert "same key" in hostkeys.verify(known, "192.168.18.1", 22, key, trusted=key)
    with pytest.raises(DeployError):
        hostkeys.verify(known, "192.168.19.1", 22, other, trusted=key)


def test_fingerprint_format_matches_ssh_keygen(tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("no ssh-keygen")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    want = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], check=True,
                          capture_output=True, text=True).stdout.split()[1]
    kind, b64 = (tmp_path / "k.pub").read_text().split()[:2]
    import base64

    key = paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
    assert hostkeys.fingerprint(key) == want


def test_package_is_read_and_paths_are_safe(pkg):
    assert pkg.name == "torbox" and pkg.architecture == "all"
    assert "/usr/sbin/torbox" in pkg.files
    # the deploy tool uploads its own helper; the package does not ship one (issue 10 item 2)
    assert not any(p.startswith("/usr/libexec/torbox") for p in pkg.files)
    assert pkg.conffiles == ["/etc/config/torbox"]
    assert ["tor"] in pkg.depends and ["python3-light"] in pkg.depends
    assert all(p.startswith("/") and ".." not in p for p in pkg.files)


def test_depends_parsing():
    assert ipk.parse_depends("libc, tor (>= 0.4), a | b") == [["libc"], ["tor"], ["a", "b"]]


def test_address_mapping():
    default = localconfig.load(DATA / "torbox.uci")
    moved = localconfig.load(DATA / "torbox-moved.uci")
    # the laptop talked to tor_off's address: it follows tor_off
    assert localconfig.map_address("192.168.8.1", default, moved) == "192.168.18.1"
    # a factory-fresh router (192.168.1.1): the wired port's network
    assert localconfig.map_address("192.168.1.1", None, moved) == "192.168.18.1"
    # already a new address: stays
    assert localconfig.map_address("192.168.9.1", default, moved) == "192.168.9.1"


def test_default_address_for_a_fresh_install():
    assert localconfig.default_address("192.168.1.1") == "192.168.8.1"
    assert localconfig.default_address("192.168.10.1") == "192.168.10.1"


def test_mask_hides_keys_in_every_format():
    lines = ["+\toption key 'secret-one'\n", "-wpa_passphrase=secret-two\n",
             " \toption ssid 'x'\n", "+ssid=secret-three-in-odd-place\n"]
    out = "".join(localconfig.mask(lines, ["secret-three-in-odd-place"]))
    assert "secret-one" not in out and "secret-two" not in out
    assert "secret-three" not in out and "option ssid 'x'" in out


def _probe(**values: str) -> probe.Probe:
    base = {"os": "openwrt", "pkgmgr": "opkg", "archs": "all noarch mips_24kc",
            "flash_free_kb": "8000", "tmp_free_kb": "20000", "mem_total_kb": "59000",
            "python3": "3.11", "machine": "mips"}
    base.update(values)
    return probe.Probe(base)


def test_resource_checks(pkg):
    assert probe.check_suitable(_probe(), pkg, "r") == []
    cases = {
        "not enough flash": _probe(flash_free_kb="300"),
        "tor, python3-light": _probe(flash_free_kb="3000", missing_deps="tor python3-light"),
        "RAM": _probe(mem_total_kb="28000"),
        "opkg accepts": _probe(archs="mips_24kc"),
        "python3 is missing": _probe(os="linux", pkgmgr="none", python3="none"),
        "too old": _probe(os="linux", pkgmgr="none", python3="3.7"),
        "room in /tmp": _probe(tmp_free_kb="100"),
    }
    for words, pr in cases.items():
        with pytest.raises(DeployError) as exc:
            probe.check_suitable(pr, pkg, "r")
        assert exc.value.code == UNSUITABLE
        assert words in exc.value.message, (words, exc.value.message)


@pytest.mark.parametrize("mgr", ["opkg", "apk", "none"])
def test_change_script_is_valid_sh(pkg, mgr, tmp_path):
    d = Deployer(Options(host="h"), UI(io.StringIO(), io.StringIO(), tty=False), pkg)
    d.rdir = "/tmp/torbox-deploy.abc123"
    pr = _probe(pkgmgr=mgr, os="openwrt" if mgr != "none" else "linux",
                missing_deps="tor python3-light")
    script = d.change_script(pr, install=True, apply=True)
    path = tmp_path / "change.sh"
    path.write_text(script)
    subprocess.run(["sh", "-n", str(path)], check=True)
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
    if mgr == "opkg":
        assert "opkg update" in script and f"opkg install \"$D\"/{pkg.path.name}" in script
    elif mgr == "apk":
        assert "apk add tor python3-light" in script and "added=tor python3-light" in script
    else:
        assert 'sh "$H" install "$D"' in script and "apk" not in script
    assert "/etc/init.d/torbox restart" in script if mgr != "none" else True


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    tty, plain = io.StringIO(), io.StringIO()
    for out, is_tty in ((tty, True), (plain, False)):
        bar = UI(out, io.StringIO(), tty=is_tty).progress("file", 4096)
        for n in range(0, 4097, 512):
            bar.update(n)
        bar.finish()
    assert "\r" in tty.getvalue() and "[##############################] 100%" in tty.getvalue()
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert [ln.split(": ")[1].split("%")[0] for ln in lines] == ["0", "25", "50", "75", "100"]
