"""Tap devices made inside network namespaces, handed to QEMU as open file descriptors.

QEMU itself stays in the host's namespace; its NICs are taps that live only in namespaces
the tests created (the rig's "internet" for the WAN, a "laptop" namespace for the LAN).
"""

from __future__ import annotations

import fcntl
import os
import struct

from tests.rig.netns import call_in_netns

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


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

    fd = call_in_netns(netns, make)  # the rig's way into a namespace
    os.set_inheritable(fd, True)
    return fd
