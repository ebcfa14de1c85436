"""`make demo-rig`: bring up the whole rig and keep it running until Ctrl-C.

Prints how to look around: namespaces, client commands, the onion address, the status page.
Everything is torn down on exit (Ctrl-C, SIGTERM or an error).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.rig.netns import Lab, cleanup_stale  # noqa: E402
from tests.rig.router import TorboxRouter  # noqa: E402
from tests.rig.tornet import PrivateTorNetwork  # noqa: E402


def main() -> int:
    cleanup_stale()
    t0 = time.monotonic()
    with Lab() as lab:
        net = PrivateTorNetwork(lab)
        net.start()
        router = TorboxRouter(lab, net)
        router.start()
        c = router.clients
        print(f"""
torbox rig {lab.run_id} up in {time.monotonic() - t0:.0f} s (work dir {lab.workdir})
  internet   {net.ns}: web {net.web_ip}, DNS {net.dns_ip}, exits {sorted(net.exit_ips)}
  onion      http://{net.onion_hostname}/
  router     {router.ns}: WAN {router.wan_ip} ({router.wan_if}), config {router.uci_path}
  clients    {', '.join(f'{n}={x.ns} ({x.ip})' for n, x in c.items())}

Try:
  ip netns exec {c['tor_medium'].ns} curl http://web.test/
  ip netns exec {c['tor_max'].ns} curl --socks5-hostname 192.168.10.1:9050 http://web.test/
  ip netns exec {c['tor_off'].ns} curl http://192.168.8.1:8480/torbox
  ip netns exec {router.ns} nft list table inet torbox
Ctrl-C tears everything down.""", flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            while all(p.alive() for p in lab.procs if p.name.startswith(("tor-", "dnsmasq"))):
                time.sleep(2)
            print("a rig process exited; tearing down", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ntearing down", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
