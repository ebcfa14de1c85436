# Packaging targets (included by the top Makefile). All three run the one manifest,
# package/torbox/Makefile, through package/sdk-shim (see package/pkgbuild.py).
#   make ipk    build/torbox_<version>_all.ipk (opkg, OpenWrt 24.10 and older)
#   make apk    build/torbox-<version>.apk (apk-tools v3, OpenWrt 25.12); needs
#               `make openwrt-userland` first and fails without it
#   make feed   build/feed/torbox/: the feed Makefile with its files, self-contained,
#               for an SDK's feeds.conf: src-link torbox <repo>/build/feed

.PHONY: ipk apk feed

ipk: venv
	$(PY) package/mkipk.py

apk: venv
	$(PY) package/mkapk.py

feed: venv
	$(PY) package/mkfeed.py
