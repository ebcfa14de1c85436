# Network rig: a private Tor network, torbox's real router output and clients in network
# namespaces (tests/rig/, tests/net/). Needs root; everything is torn down after each run.
#   make test-rig    the packet-level test matrix of issue 3 (~4-5 min on 2 cores)
#   make bench-rig   TransPort vs SocksPort and tor_off overhead (medians of 5)
#   make demo-rig    bring the rig up and keep it running until Ctrl-C
#   make rig-clean   remove what a killed run left behind (by its state file in /run/tbx)

BENCH_TARGETS += bench-rig

.PHONY: test-rig bench-rig demo-rig rig-clean

test-rig: venv
	$(PYTEST) tests/net -m rig

bench-rig: venv
	$(PY) tests/bench/bench_rig.py

demo-rig: venv
	$(PY) -m tests.rig.demo

rig-clean: venv
	$(PY) -m tests.rig.netns --cleanup-stale
