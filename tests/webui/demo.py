"""`make demo-webui`: the status page against a real tor on loopback, until Ctrl-C.

Tor runs with `DisableNetwork 1` (it never connects anywhere, so the page shows "connecting
0 %"). For a bootstrapped Tor with traffic, run `make demo-rig` (root): the rig's router runs
this same page on its three networks and prints how to open it.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.webui.conftest import start_tor, start_webui, stop_tor, stop_webui, uci_text


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="tbx-webui-demo-"))
    tor = start_tor(tmp / "tor")
    served = None
    try:
        served = start_webui(tmp, uci_text(tor.control_socket),
                             ["tor_off", "tor_medium", "tor_max"])
        print("torbox status page (real tor, DisableNetwork 1):")
        for net, url in served.urls.items():
            print(f"  as a visitor on {net:10s} {url}/torbox   (JSON: {url}/torbox/api/status)")
        print(f"  admin secret for actions (tor_off): {served.secret_path}")
        print("Ctrl-C stops tor and the page.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored
        while served.proc.poll() is None and tor.proc.poll() is None:
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if served is not None:
            stop_webui(served)
        stop_tor(tor.proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
