# SPDX-License-Identifier: GPL-2.0-only
#
# The part of OpenWrt's rules.mk that package/torbox/Makefile uses, with the
# same definitions (OpenWrt main tree, TDT-AG/openwrt 8f8276a5b7, rules.mk),
# so `make ipk`/`make apk` run the feed Makefile's install block exactly as the
# SDK does. Not a general OpenWrt build: no toolchain, no .config, no targets.

ifneq ($(__rules_inc),1)
__rules_inc=1

INCLUDE_DIR:=$(TOPDIR)/include
SCRIPT_DIR:=$(TOPDIR)/scripts

empty:=
space:= $(empty) $(empty)
comma:=,
paren_left = (
paren_right = )

# OpenWrt builds with bash (echo must not interpret backslashes in scripts).
export SHELL:=/usr/bin/env bash

CP:=cp -fpR
LN:=ln -sf
XARGS:=xargs -r

INSTALL_BIN:=install -m0755
INSTALL_SUID:=install -m4755
INSTALL_DIR:=install -d -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600

# OpenWrt's mkhash prints the digest only.
MKHASH:=$(SCRIPT_DIR)/mkhash

define shvar
V_$(subst .,_,$(subst -,_,$(subst /,_,$(1))))
endef

define shexport
export $(call shvar,$(1))=$$(call $(1))
endef

endif
