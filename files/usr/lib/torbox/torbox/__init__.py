"""torbox: a Tor router for OpenWrt travel routers (and plain Linux)."""


def _version() -> str:
    """PKG_VERSION-rPKG_RELEASE from the feed Makefile, the one place the version is written.

    The package build writes torbox/_version.py from it; a source checkout reads
    package/torbox/Makefile itself.
    """
    try:
        from ._version import __version__ as stamped  # type: ignore[import-not-found]

        return stamped
    except ImportError:
        pass
    import os
    import re

    here = os.path.dirname(os.path.abspath(__file__))  # <repo>/files/usr/lib/torbox/torbox
    makefile = os.path.join(here, *[os.pardir] * 5, "package", "torbox", "Makefile")
    try:
        with open(makefile, encoding="utf-8") as fh:
            fields = dict(re.findall(r"^(PKG_VERSION|PKG_RELEASE):=(\S+)", fh.read(), re.M))
        return f"{fields['PKG_VERSION']}-r{fields['PKG_RELEASE']}"
    except (OSError, KeyError):
        return "unknown"


__version__ = _version()
