# Emulated MIPS router (QEMU malta, Debian mipsel). Included from the top Makefile;
# also usable alone: make -f qemu/qemu.mk qemu-smoke
#   qemu-image  build or reuse the cached image (qemu/cache/<key>/)
#   qemu-smoke  boot it, report memory, Python start-up, tor --version, power off
#   qemu-ci     boot + deploy with the real deploy tool (CI-sized: ~4 min with a cached image)
#   qemu-test   pytest -m qemu tests/qemu: also the full run on the rig's private Tor network
QEMU_PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: qemu-image qemu-smoke qemu-ci qemu-test

qemu-image:
	qemu/build-image.sh

qemu-smoke:
	$(QEMU_PY) -m qemu.smoke

qemu-ci:
	$(QEMU_PY) -m pytest -m qemu tests/qemu/test_smoke.py tests/qemu/test_deploy.py

qemu-test:
	OPENWRT_IMAGE="$(OPENWRT_IMAGE)" $(QEMU_PY) -m pytest -m qemu tests/qemu
