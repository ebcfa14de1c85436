# Status page targets (included from the top-level Makefile).
# demo-webui: the page against a real tor. With root and the rig's tools it is the rig's
#             bootstrapped private Tor network (`make demo-rig` prints the page's address);
#             otherwise a standalone tor with DisableNetwork 1 (no traffic at all) on loopback.
# bench-webui: budgets of issue 4 as ratios against baselines measured in the same run.
# mpy-webui:   installs MicroPython for Node (npm) into build/mpy for the ujson test.

WEBUI_PY ?= .venv/bin/python
WEBUI_ENV = PYTHONPATH=.:files/usr/lib/torbox
WEBUI_MPY_PKG = @micropython/micropython-webassembly-pyscript@1.27.0

BENCH_TARGETS += bench-webui

.PHONY: demo-webui bench-webui test-webui test-webui-browser mpy-webui

demo-webui:
	$(WEBUI_ENV) $(WEBUI_PY) -m tests.webui.demo

bench-webui:
	$(WEBUI_ENV) $(WEBUI_PY) -m tests.bench.webui_bench

test-webui: mpy-webui
	$(WEBUI_PY) -m pytest tests/webui -m "not rig"

test-webui-browser:
	$(WEBUI_PY) -m pytest tests/webui -m browser

mpy-webui: build/mpy/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs

build/mpy/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs:
	mkdir -p build/mpy
	cd build/mpy && npm install --no-audit --no-fund --prefix . $(WEBUI_MPY_PKG)
