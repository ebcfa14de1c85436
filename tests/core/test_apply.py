"""`torbox apply` and `torbox restore` on a throw-away router root (never the host's /etc)."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from torbox import apply, config, uci

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORBOX = os.path.join(ROOT, "files", "usr", "sbin", "torbox")
STOCK = os.path.join(ROOT, "tests", "data", "openwrt")
FILES = ["network", "wireless", "dhcp", "firewall", "tor", "torbox"]


@pytest.fixture
def router(tmp_path):
    """A fake OpenWrt root: stock config files plus torbox's config with keys."""
    etc = tmp_path / "etc" / "config"
    etc.mkdir(parents=True)
    for name in ("network", "wireless", "dhcp", "firewall", "tor"):
        shutil.copy(os.path.join(STOCK, name), etc / name)
    shutil.copy(os.path.join(ROOT, "tests", "configs", "default.uci"), etc / "torbox")
    os.chmod(etc / "wireless", 0o644)
    return tmp_path


def digest(root) -> dict[str, str]:
    out = {}
    for name in FILES:
        p = root / "etc" / "config" / name
        out[name] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
    return out


def run(*args, root):
    return subprocess.run(
        [sys.executable, TORBOX, *args, "--root", str(root), "--target", "openwrt"],
        capture_output=True, text=True)


def apply_cli(root, extra=()):
    return run("apply", "--config", str(root / "etc/config/torbox"), "--no-nft", *extra, root=root)


def test_apply_then_restore_is_byte_identical(router):
    before = digest(router)
    proc = apply_cli(router)
    assert proc.returncode == 0, proc.stderr
    after = digest(router)
    for name in ("network", "wireless", "dhcp", "firewall", "tor"):
        assert after[name] != before[name], name
    net = uci.load(str(router / "etc/config/network"))
    assert net.section("tor_medium").get("ipaddr") == "192.168.9.1"
    assert net.section("lan").get("ipaddr") == "192.168.8.1"
    assert net.section("wan").get("proto") == "dhcp"  # the user's sections stay
    wl = uci.load(str(router / "etc/config/wireless"))
    assert wl.section("default_radio0").get("disabled") == "1"
    assert wl.section("tor_max_ap").get("ssid") == "tor_max"
    assert oct((router / "etc/config/wireless").stat().st_mode & 0o777) == "0o600"
    tor = uci.load(str(router / "etc/config/tor"))
    assert tor.section("conf").get_list("tail_include") == ["/etc/tor/torbox.torrc"]
    assert (router / "etc/tor/torbox.torrc").exists()
    assert (router / "usr/share/nftables.d/ruleset-post/30-torbox.nft").exists()
    backup_dir = router / "etc/torbox/backup"
    assert oct(backup_dir.stat().st_mode & 0o777) == "0o700"

    proc = run("restore", root=router)
    assert proc.returncode == 0, proc.stderr
    restored = digest(router)
    # torbox's own config is not restored; apply only made it private (it holds keys)
    assert restored.pop("torbox") == before.pop("torbox")[:-3] + "600"
    assert restored == before
    assert not (router / "etc/tor/torbox.torrc").exists()
    assert not (router / "usr/share/nftables.d/ruleset-post/30-torbox.nft").exists()
    assert not backup_dir.exists()


def test_apply_twice_changes_nothing_and_keeps_first_backup(router):
    before = digest(router)
    assert apply_cli(router).returncode == 0
    once = digest(router)
    proc = apply_cli(router)
    assert proc.returncode == 0
    assert "changed" not in proc.stdout
    assert digest(router) == once
    # a second, different apply must not overwrite the original backup
    cfg = router / "etc/config/torbox"
    cfg.write_text(cfg.read_text().replace("192.168.9.", "192.168.19."))
    assert apply_cli(router).returncode == 0
    assert uci.load(str(router / "etc/config/network")).section("tor_medium").get("ipaddr") \
        == "192.168.19.1"
    assert run("restore", root=router).returncode == 0
    restored = digest(router)
    for name in ("network", "wireless", "dhcp", "firewall", "tor"):
        assert restored[name] == before[name]


def test_invalid_config_changes_nothing(router):
    cfg = router / "etc/config/torbox"
    # (not `option ssid ''`: libuci reads that as no ssid, and the default is the section name)
    cfg.write_text(cfg.read_text().replace("option ssid 'tor_max'", "option ssid '" + "x" * 33 + "'"))
    before = digest(router)
    proc = apply_cli(router)
    assert proc.returncode == 2
    assert "tor_max.ssid" in proc.stderr and "nothing was changed" in proc.stderr
    assert digest(router) == before
    assert not (router / "etc/torbox").exists()


def test_dry_run_prints_diff_and_changes_nothing(router):
    before = digest(router)
    proc = apply_cli(router, ["--dry-run"])
    assert proc.returncode == 0
    assert "+config interface 'tor_medium'" in proc.stdout
    assert "-\toption ipaddr '192.168.1.1'" in proc.stdout
    assert digest(router) == before
    assert not (router / "etc/torbox").exists()


def test_wired_port_moves_to_tor_max(router):
    cfg = router / "etc/config/torbox"
    cfg.write_text(cfg.read_text().replace("option wired 'tor_off'", "option wired 'tor_max'"))
    assert apply_cli(router).returncode == 0
    net = uci.load(str(router / "etc/config/network"))
    lan_dev = [s for s in net.sections_of("device") if s.get("name") == "br-lan"][0]
    assert lan_dev.get_list("ports") == []
    assert net.section("torbox_br_tor_max").get_list("ports") == ["eth1"]


def test_restore_without_backup_fails_clearly(router):
    proc = run("restore", root=router)
    assert proc.returncode == 1
    assert "no backup" in proc.stderr


def test_linux_target_writes_generated_files(router):
    cfg = config.load(str(router / "etc/config/torbox"))
    r = apply.Router(str(router), "linux")
    result = apply.apply(cfg, r, load_nft=False)
    gen = router / "etc/torbox/generated"
    assert (gen / "torbox.nft").exists() and (gen / "dnsmasq-tor_max.conf").exists()
    assert oct((gen / "hostapd.conf").stat().st_mode & 0o777) == "0o600"
    assert result.changed()
    restored = apply.restore(r)
    assert "/etc/torbox/generated/hostapd.conf" in restored
    assert not (gen / "hostapd.conf").exists()
