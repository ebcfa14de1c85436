"""torbox: a Tor router for OpenWrt travel routers (and plain Linux)."""

__version__ = "0.1.0"
