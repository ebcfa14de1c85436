"""`python3 -m webui --config /etc/config/torbox [--listen ADDR:PORT[=NETWORK]] ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from torbox import config

from . import auth, server, sysinfo, torstate
from .app import create_app

log = logging.getLogger("torbox.webui")


def parse_listen(text: str) -> server.Listener:
    """ADDR:PORT or ADDR:PORT=NETWORK (the requests on it count as that network's)."""
    spec, _, network = text.partition("=")
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected ADDR:PORT[=NETWORK]")
    if network and network not in config.NETWORK_NAMES:
        raise argparse.ArgumentTypeError(
            f"{network!r}: not a network; allowed: {', '.join(config.NETWORK_NAMES)}")
    return server.Listener(host.strip("[]"), int(port), network or None, None, bool(network))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m webui", description="torbox status page")
    p.add_argument("--config", default=config.DEFAULT_PATH, help="torbox UCI file")
    p.add_argument("--listen", action="append", type=parse_listen, default=[],
                   metavar="ADDR:PORT[=NETWORK]",
                   help="listen here instead of on each network's router address (repeatable)")
    p.add_argument("--secret", default=auth.DEFAULT_SECRET_PATH,
                   help="file holding the admin secret (created 0600 when missing)")
    p.add_argument("--leases", action="append", default=[],
                   help="dnsmasq lease file (repeatable; default: the usual places)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="torbox-webui: %(levelname)s %(message)s")
    logging.getLogger("stem").setLevel(logging.WARNING)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        return 2
    if not cfg.webui.enabled:
        log.info("webui.enabled is 0 in %s: not starting", args.config)
        return 0
    listeners = args.listen or [
        server.Listener(str(n.router), cfg.webui.port, n.name, n.device)
        for n in cfg.enabled_networks
    ]
    tor = torstate.TorMonitor(cfg.tor.control_socket, cfg.tor.use_bridges, cfg.tor.bridge,
                              poll_s=2.0)
    system = sysinfo.SystemMonitor(cfg, args.leases or None)
    app = create_app(cfg, tor, system, auth.Auth(args.secret), sysinfo.versions(),
                     extra_hosts=tuple(lst.host for lst in listeners))
    tor.start()
    system.start()
    service = server.serve(listeners, app)  # logs each listener it cannot serve
    if not service.alive:
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    # The HTTP threads block in accept() without a timeout (server.serve): no shutdown(); the
    # listening sockets close when the process exits right after this.
    tor.stop()
    system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
