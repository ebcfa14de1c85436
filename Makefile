# torbox developer entry points (run as root on Debian 12: tests use network
# namespaces, nftables and a private Tor network).
#   make demo   set up everything, start a simulated router with its status page
#   make test   set up everything, lint, run the whole test suite
#   make ipk    build build/torbox_<version>_all.ipk without the OpenWrt SDK
#   make bench  benchmarks, reported as ratios against a baseline of the same run

VENV    := .venv
PY      := $(VENV)/bin/python
PYTEST  ?= $(PY) -m pytest
export PYTHONPATH := $(CURDIR)/files/usr/lib/torbox:$(CURDIR)
SHELL_SCRIPTS := files/etc/init.d/torbox files/etc/uci-defaults/90-torbox tests/host-deps.sh \
	$(wildcard files/usr/libexec/torbox/*) $(wildcard qemu/*.sh) $(wildcard qemu/jobs/*.sh) \
	qemu/initrd-init qemu/guest/tbx-init $(wildcard deploy/*.sh) $(wildcard tests/openwrt/*.sh) \
	.ci/run

# Each part of the project keeps its own targets beside it.
-include tests/rig/rig.mk
-include webui/webui.mk
-include deploy/deploy.mk
-include qemu/qemu.mk
-include package/package.mk
-include tests/openwrt/openwrt.mk

.PHONY: all setup host-deps venv lint test test-core ipk render bench demo clean

.DEFAULT_GOAL := all
all: test

host-deps:
	sh tests/host-deps.sh

$(VENV)/.done: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.done

setup: host-deps venv

lint: venv
	$(VENV)/bin/ruff check .
	shellcheck $(SHELL_SCRIPTS)

# OpenWrt's userland is built first (cached): its tests fail, never skip, without it.
test: setup lint mpy-webui openwrt-userland
	$(PYTEST) tests

# The fast part: no namespaces, no Tor network, no OpenWrt userland.
test-core: venv
	$(PYTEST) tests -m "not rig and not deploy and not qemu and not browser and not openwrt"

render: venv
	$(PY) files/usr/sbin/torbox render --config tests/configs/default.uci --out build/render-linux --target linux
	$(PY) files/usr/sbin/torbox render --config tests/configs/default.uci --out build/render-openwrt --target openwrt

bench: setup bench-core $(BENCH_TARGETS)

bench-core: venv
	$(PY) tests/bench/bench_core.py

# The main job: a simulated router (private Tor network, torbox's real output, clients,
# the status page) in network namespaces, until Ctrl-C.
demo: setup demo-rig

clean:
	rm -rf build .pytest_cache

