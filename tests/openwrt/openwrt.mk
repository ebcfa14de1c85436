# OpenWrt's userland for the tests (included by the top Makefile), built from the pinned
# upstream sources of tests/openwrt/userland.lock into ~/.cache/torbox/openwrt/<key>/root.
#   make openwrt-sources    take the locked commits from $OPENWRT_MIRROR (a directory of git
#                           mirrors, <owner>+<name>/repo or <name>.git) or clone them online;
#                           verify each archive's sha256 against the lock
#   make openwrt-userland   build (cached by the lock, the script and our compat files);
#                           prints the staged root last
# System python3 on purpose: no venv needed, stdlib only.

OPENWRT_USERLAND := python3 tests/openwrt/userland.py

.PHONY: openwrt-sources openwrt-userland

openwrt-sources:
	$(OPENWRT_USERLAND) sources

openwrt-userland:
	$(OPENWRT_USERLAND) build
