"""Interface data both ways: with netifaces and with the kernel reader that replaces it."""

from __future__ import annotations

import json

import pytest

from webui import netinfo, sysinfo

from .conftest import call
from .helpers import make

netifaces = pytest.importorskip("netifaces")


def test_kernel_reader_matches_netifaces():
    names = netinfo.interfaces()
    assert "lo" in names
    checked = 0
    for name in names:
        ni = netinfo.ipv4(name, use_netifaces=True)
        kern = netinfo.ipv4(name, use_netifaces=False)
        if not ni:
            assert kern == []
            continue
        # the ioctl sees the primary address: the first one netifaces lists
        assert kern[0]["addr"] == ni[0]["addr"], name
        assert kern[0]["netmask"] == ni[0]["netmask"], name
        checked += 1
    assert checked >= 1
    assert netinfo.ipv4("lo", use_netifaces=False)[0]["addr"] == "127.0.0.1"


def test_missing_interface_is_empty_both_ways():
    assert netinfo.ipv4("tbx-nonexist", use_netifaces=True) == []
    assert netinfo.ipv4("tbx-nonexist", use_netifaces=False) == []
    assert netinfo.link("tbx-nonexist") == {"exists": False, "up": False, "rx_bytes": None,
                                            "tx_bytes": None}


def test_link_of_loopback():
    lk = netinfo.link("lo")
    assert lk["exists"] and lk["rx_bytes"] is not None


@pytest.mark.parametrize("use_netifaces", [True, False], ids=["netifaces", "kernel"])
def test_page_and_api_with_each_backend(tmp_path, monkeypatch, use_netifaces):
    wan_dev = netinfo.default_route_dev() or "lo"
    want = netinfo.ipv4(wan_dev, use_netifaces=True)
    if not use_netifaces:
        monkeypatch.setattr(netinfo, "netifaces", None)  # as on a router without the package
    assert netinfo.backend() == ("netifaces" if use_netifaces else "kernel")
    from .conftest import uci_text
    app, *_ = make(tmp_path, uci=uci_text(str(tmp_path / "c"), **{
        "option wan_device 'eth0'": f"option wan_device '{wan_dev}'"}))
    doc = json.loads(call(app, "GET", "/torbox/api/status").body)
    assert doc["wan"]["address"] == (want[0]["addr"] if want else None)
    assert doc["versions"]["netifaces"].startswith("yes" if use_netifaces else "no")
    assert call(app, "GET", "/torbox").status == 200


def test_leases_and_neighbours(tmp_path):
    lf = tmp_path / "dhcp.leases"
    lf.write_text("0 aa:bb:cc:dd:ee:01 192.168.9.100 phone *\n"
                  "99999999999 aa:bb:cc:dd:ee:02 192.168.9.101 laptop 01:aa\n"
                  "1 aa:bb:cc:dd:ee:03 192.168.10.100 old *\n"
                  "garbage\n")
    ips = [str(i) for i in sysinfo.leases(str(lf))]
    assert ips == ["192.168.9.100", "192.168.9.101"]  # the expired one is not counted
    app, *_ = make(tmp_path, lease_path=str(lf))
    doc = json.loads(call(app, "GET", "/torbox/api/status").body)
    by = {n["name"]: n for n in doc["networks"]}
    assert by["tor_medium"]["leases"] == 2 and by["tor_max"]["leases"] == 0
    # lease names and MACs never reach the page or the API
    body = call(app, "GET", "/torbox").body + json.dumps(doc)
    assert "phone" not in body and "aa:bb" not in body
