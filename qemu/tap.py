"""Tap devices made inside network namespaces, handed to QEMU as open file descriptors.

QEMU itself stays in the host's namespace; its NICs are taps that live only in namespaces
the tests created (the rig's "internet" for the WAN, a "laptop" namespace for the LAN).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a short-lived thread that has entered ``netns``; return its result.

    Sockets and taps made there stay in that namespace, whoever uses them later.
    """
    box: dict[str, object] = {}

    def inside() -> None:
        # setns only changes this thread, which ends right after: nothing else runs there.
        try:
            _setns(f"/var/run/netns/{netns}")
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=inside, name=f"netns-{netns}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def open_tap(netns: str, ifname: str) -> int:
    """Create tap ``ifname`` in ``netns``; return its fd (inheritable, for QEMU's fd=).

    The device exists while the fd is open; it vanishes with the namespace too.
    """
    if len(ifname) > 15:
        raise ValueError(f"interface name {ifname!r} longer than 15 characters")

    def make() -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
        except OSError:
            os.close(fd)
            raise
        return fd

    fd = in_netns(netns, make)
    os.set_inheritable(fd, True)
    return fd
