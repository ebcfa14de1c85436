"""Which services an apply puts in force (fault 2 of the OpenWrt trial: an online install
wrote the files with --no-reload, and the service's own apply then saw no change)."""

import os

from tests.core.test_apply import apply_cli, router  # noqa: F401 - fixture and helper reused
from torbox import apply


def test_no_reload_leaves_changes_pending_for_the_next_apply(router):  # noqa: F811
    first = apply_cli(router, ["--no-reload"])
    assert first.returncode == 0, first.stderr
    pending_file = router / apply.PENDING.lstrip("/")
    pending = pending_file.read_text().split()
    assert "/etc/config/network" in pending and "/etc/tor/torbox.torrc" in pending
    second = apply_cli(router)
    assert second.returncode == 0, second.stderr
    assert "changed" not in second.stdout  # nothing new to write...
    assert not pending_file.exists()  # ...but the pending reloads were taken


def test_boot_apply_forgets_pending(router):  # noqa: F811
    apply_cli(router, ["--no-reload"])
    res = apply_cli(router, ["--boot"])
    assert res.returncode == 0, res.stderr
    assert not os.path.exists(router / apply.PENDING.lstrip("/"))


def test_reload_order_and_each_service_once():
    calls = []

    class FakeRouter(apply.Router):
        def sh(self, *argv, check=True):
            calls.append(argv)

    r = FakeRouter("/")
    paths = ["/etc/tor/torbox.torrc", "/etc/config/tor", "/etc/config/firewall",
             "/etc/config/network"]
    done = apply.reload_services(r, paths)
    assert done == [("/etc/init.d/network", "reload"), ("/etc/init.d/firewall", "reload"),
                    ("/etc/init.d/tor", "restart")]
