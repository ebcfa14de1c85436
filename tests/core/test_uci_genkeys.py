"""`torbox genkeys` fills every empty or missing Wi-Fi key, now that `option key ''` reads as
no key (libuci's reading, issue 9 fault 6), and changes nothing else in the file."""

import os
import shutil
import subprocess
import sys

from torbox import config, uci

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "files", "etc", "config", "torbox")
TORBOX = os.path.join(ROOT, "files", "usr", "sbin", "torbox")


def genkeys(path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, TORBOX, "genkeys", "--config", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_shipped_config_has_no_keys_as_libuci_reads_it():
    doc = uci.load(SHIPPED)
    for name in config.NETWORK_NAMES:
        sec = doc.section(name)
        assert "key" not in sec.names() and sec.get("key") is None
        assert sec.get_list("key") == []


def test_genkeys_fills_empty_keys_in_place(tmp_path):
    path = tmp_path / "torbox"
    shutil.copy(SHIPPED, path)
    before = path.read_text()
    out = genkeys(path).stdout
    assert "tor_off, tor_medium, tor_max" in out
    after = path.read_text()
    doc = uci.parse(after)
    keys = [doc.section(n).get("key") for n in config.NETWORK_NAMES]
    assert all(k and len(k) == 20 for k in keys) and len(set(keys)) == 3
    # each `option key ''` line became the key, in its place; nothing else changed
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert [a for a, _ in changed] == ["\toption key ''"] * 3
    assert all(b.startswith("\toption key '") for _, b in changed)
    config.load(str(path))  # a valid configuration now
    assert genkeys(path).stdout == "" and path.read_text() == after  # twice: no change


def test_genkeys_fills_missing_keys_and_keeps_set_ones(tmp_path):
    path = tmp_path / "torbox"
    text = open(SHIPPED, encoding="utf-8").read()
    text = text.replace("\toption key ''\n", "", 1)  # tor_off: no key line at all
    text = text.replace("\toption key ''\n", "\toption key 'mykey-0123456789'\n", 1)  # tor_medium
    text = text.replace("\toption key ''\n", "\toption key 'x'\n\toption key ''\n", 1)  # tor_max
    path.write_text(text)
    genkeys(path)
    doc = uci.parse(path.read_text())
    assert len(doc.section("tor_off").get("key")) == 20
    assert doc.section("tor_medium").get("key") == "mykey-0123456789"
    # libuci: a later `option key ''` does not clear an earlier key, so tor_max has key 'x'
    assert doc.section("tor_max").get("key") == "x"


def test_genkeys_skips_open_networks(tmp_path):
    path = tmp_path / "torbox"
    text = open(SHIPPED, encoding="utf-8").read()
    old = "option ssid 'tor_medium'\n\toption encryption 'psk2'"
    assert old in text
    text = text.replace(old, "option ssid 'tor_medium'\n\toption encryption 'none'")
    path.write_text(text)
    genkeys(path)
    doc = uci.parse(path.read_text())
    assert doc.section("tor_medium").get("key") is None
    assert "option key ''" in path.read_text()
    assert len(doc.section("tor_max").get("key")) == 20
