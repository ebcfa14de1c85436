# SPDX-License-Identifier: GPL-2.0-only
#
# A small stand-in for OpenWrt's include/package.mk, package-defaults.mk and
# package-pack.mk, enough to run a noarch package without sources (torbox)
# the way the SDK runs it: BuildPackage, Package/Default, dependency
# filtering, the control file, the generated maintainer scripts and the ipk
# and apk packing. The recipe lines are OpenWrt's own (main tree,
# TDT-AG/openwrt 8f8276a5b7, 2026-04-16), left as they are so they can be
# compared line by line; what a noarch Python package never needs is left out
# (ABI versions, variants, users, alternatives, rstrip, library checks, the
# package index).
#
# Called by package/build.py:
#   make -C <package dir> TOPDIR=<this shim> PKG_BUILD_DIR=<scratch> \
#        PACKAGE_DIR=<output> [CONFIG_USE_APK=y APK=<apk-tools v3>] <goal>
# Goals: stage (Package/x/install + keep.d into the ipk root, nothing else),
#        compile (the .ipk, or with CONFIG_USE_APK=y the .apk).

PKG_BUILD_DIR ?= $(CURDIR)/.build
PACKAGE_DIR ?= $(CURDIR)/.pkg
TMP_DIR:=$(PKG_BUILD_DIR)/tmp
PYTHON ?= python3
APK ?= apk
# OpenWrt packs under fakeroot; as root, or with GNU tar's --owner/--group
# (our ipkg-build), it is not needed.
FAKEROOT ?=

export LC_ALL:=C
export LANG:=C
export TZ:=UTC
export SOURCE_DATE_EPOCH ?= 0
PKG_SOURCE_DATE_EPOCH ?= $(SOURCE_DATE_EPOCH)

# The Source: field as an SDK writes it for this package in a feed named torbox.
__pkg_source_makefile:=$(TOPDIR)/feeds/torbox/$(notdir $(CURDIR))

# --- package-defaults.mk -------------------------------------------------------------------
PKG_DEFAULT_DEPENDS = +libc
PKG_FIXUP_DEPENDS = $(if $(filter kmod-%,$(1)),$(2),$(PKG_DEFAULT_DEPENDS) $(filter-out $(PKG_DEFAULT_DEPENDS),$(2)))

define Package/Default
  CONFIGFILE:=
  SECTION:=opt
  CATEGORY:=Extra packages
  DEPENDS:=
  MDEPENDS:=
  CONFLICTS:=
  PROVIDES:=
  EXTRA_DEPENDS:=
  MAINTAINER:=$(PKG_MAINTAINER)
  SOURCE:=$(patsubst $(TOPDIR)/%,%,$(if $(__pkg_source_makefile),$(__pkg_source_makefile),$(CURDIR)))
  ifneq ($(PKG_VERSION),)
    ifneq ($(PKG_RELEASE),)
      VERSION:=$(PKG_VERSION)-r$(PKG_RELEASE)
    else
      VERSION:=$(PKG_VERSION)
    endif
  else
    VERSION:=$(PKG_RELEASE)
  endif
  ABI_VERSION:=
  PKGARCH:=$(ARCH_PACKAGES)
  TITLE:=
  URL:=$(PKG_URL)
  USERID:=
  ALTERNATIVES:=
  LICENSE:=$(PKG_LICENSE)
  LICENSE_FILES:=$(PKG_LICENSE_FILES)
  FILE_MODES:=$(PKG_FILE_MODES)
endef

# --- package-pack.mk -----------------------------------------------------------------------
define description_escape
$(subst `,\`,$(subst $$,\$$,$(subst ",\",$(subst \,\\,$(1)))))
endef

define BuildPackVariable
ifdef Package/$(1)/$(2)
  $$(PACK_$(1)) : VAR_$(2)$(3)=$$(Package/$(1)/$(2))
  $(call shexport,Package/$(1)/$(2))
  $(1)_COMMANDS += echo "$$$$$$$$$(call shvar,Package/$(1)/$(2))" > $(2)$(3); $(if $(4),chmod 0755 $(2)$(3);)
endif
endef

PARENL :=(
PARENR :=)

dep_split=$(subst :,$(space),$(1))
dep_rem=$(subst !,,$(subst $(strip $(PARENL)),,$(subst $(strip $(PARENR)),,$(word 1,$(call dep_split,$(1))))))
dep_and=dep_and_res:=$$(and $(subst $(space),$(comma),$(foreach cond,$(subst &&, ,$(1)),$$(CONFIG_$(cond)))))
dep_confvar=$(strip $(foreach cond,$(subst ||, ,$(call dep_rem,$(1))),$(eval $(call dep_and,$(cond)))$(dep_and_res)))
dep_pos=$(if $(call dep_confvar,$(1)),$(call dep_val,$(1)))
dep_neg=$(if $(call dep_confvar,$(1)),,$(call dep_val,$(1)))
dep_if=$(if $(findstring !,$(1)),$(call dep_neg,$(1)),$(call dep_pos,$(1)))
dep_val=$(word 2,$(call dep_split,$(1)))
strip_deps=$(strip $(subst +,,$(filter-out @%,$(1))))
filter_deps=$(foreach dep,$(call strip_deps,$(1)),$(if $(findstring :,$(dep)),$(call dep_if,$(dep)),$(dep)))

define AddProvide
$(strip
  $(if $(filter @%,$(1)),
    $(patsubst @%,%,$(1)),
    $(1)=$(2)
  )
)
endef

define FormatProvides
$(strip \
    $(foreach provide, \
      $(filter-out $(1),$(4)), \
      $(call AddProvide,$(provide),$(2)) \
    ) \
)
endef

_addsep=$(word 1,$(1))$(foreach w,$(wordlist 2,$(words $(1)),$(1)),$(strip $(2) $(w)))
_cleansep=$(subst $(space)$(2)$(space),$(2)$(space),$(1))
mergelist=$(call _cleansep,$(call _addsep,$(1),$(comma)),$(comma))
addfield=$(if $(strip $(2)),$(1): $(2))
_define=define
_endef=endef

define BuildTarget/ipkg
    PDIR_$(1):=$(PACKAGE_DIR)
ifeq ($(CONFIG_USE_APK),)
    PACK_$(1):=$$(PDIR_$(1))/$(1)_$(VERSION)_$(PKGARCH).ipk
else
    PACK_$(1):=$$(PDIR_$(1))/$(1)-$(VERSION).apk
endif
    IDIR_$(1):=$(PKG_BUILD_DIR)/ipkg-$(PKGARCH)/$(1)
    ADIR_$(1):=$(PKG_BUILD_DIR)/apk-$(PKGARCH)/$(1)
    KEEP_$(1):=$(strip $(call Package/$(1)/conffiles))

    APK_SCRIPTS_$(1):=

    ifdef Package/$(1)/preinst
      APK_SCRIPTS_$(1)+=--script "pre-install:$$(ADIR_$(1))/preinst"
    endif
    APK_SCRIPTS_$(1)+=--script "post-install:$$(ADIR_$(1))/post-install"

    ifdef Package/$(1)/preinst
      APK_SCRIPTS_$(1)+=--script "pre-upgrade:$$(ADIR_$(1))/pre-upgrade"
    endif
    APK_SCRIPTS_$(1)+=--script "post-upgrade:$$(ADIR_$(1))/post-upgrade"

    APK_SCRIPTS_$(1)+=--script "pre-deinstall:$$(ADIR_$(1))/pre-deinstall"
    ifdef Package/$(1)/postrm
      APK_SCRIPTS_$(1)+=--script "post-deinstall:$$(ADIR_$(1))/postrm"
    endif

    compile: $$(PACK_$(1))
    stage: $(1)-stage

    DEPENDS:=$(call PKG_FIXUP_DEPENDS,$(1),$(DEPENDS))
    IDEPEND_$(1):=$$(call filter_deps,$$(DEPENDS))

    $(eval $(call BuildPackVariable,$(1),conffiles))
    $(eval $(call BuildPackVariable,$(1),preinst,,1))
    $(eval $(call BuildPackVariable,$(1),postinst,-pkg,1))
    $(eval $(call BuildPackVariable,$(1),prerm,-pkg,1))
    $(eval $(call BuildPackVariable,$(1),postrm,,1))

    Package/$(1)/DEPENDS := $$(foreach dep,$$(filter-out @%,$$(IDEPEND_$(1))),$$(dep))
    Package/$(1)/DEPENDS := $$(call mergelist,$$(Package/$(1)/DEPENDS))

    ifeq ($(CONFIG_USE_APK),)
      Package/$(1)/PROVIDES := $$(patsubst @%,%,$(PROVIDES))
      Package/$(1)/PROVIDES := $$(filter-out $(1),$$(Package/$(1)/PROVIDES))
    else
      Package/$(1)/PROVIDES := $$(call FormatProvides,$(1),$(VERSION),,$(PROVIDES))
    endif

$(_define) Package/$(1)/CONTROL
Package: $(1)
Version: $(VERSION)
$$(call addfield,Depends,$$(Package/$(1)/DEPENDS)
)$$(call addfield,Conflicts,$$(call mergelist,$(CONFLICTS))
)$$(call addfield,Provides,$$(call mergelist,$$(Package/$(1)/PROVIDES))
)$$(call addfield,Source,$(SOURCE)
)$$(call addfield,SourceName,$(PKG_NAME)
)$$(call addfield,License,$(LICENSE)
)$$(call addfield,LicenseFiles,$(LICENSE_FILES)
)$$(call addfield,Section,$(SECTION)
)$$(call addfield,SourceDateEpoch,$(PKG_SOURCE_DATE_EPOCH)
)$$(call addfield,URL,$(URL)
)$(if $(MAINTAINER),Maintainer: $(MAINTAINER)
)Architecture: $(PKGARCH)
Installed-Size: 0
$(_endef)

    $(1)-stage $$(PACK_$(1)) : export CONTROL=$$(Package/$(1)/CONTROL)
    $(1)-stage $$(PACK_$(1)) : $(call shexport,Package/$(1)/description)

    # Package/x/install into a fresh root, then the keep.d list, as package-pack.mk does.
    $(1)-stage: FORCE
	rm -rf $$(IDIR_$(1)) $$(ADIR_$(1))
	mkdir -p $(PACKAGE_DIR) $$(IDIR_$(1)) $(TMP_DIR)
	$(call Package/$(1)/install,$$(IDIR_$(1)))
	-find $$(IDIR_$(1)) -name '.svn' -o -name '.#*' -o -name '*~'| $(XARGS) rm -rf
    ifneq ($$(KEEP_$(1)),)
		@( \
			keepfiles=""; \
			for x in $$(KEEP_$(1)); do \
				[ -f "$$(IDIR_$(1))/$$$$x" ] || keepfiles="$$$${keepfiles:+$$$$keepfiles }$$$$x"; \
			done; \
			[ -z "$$$$keepfiles" ] || { \
				mkdir -p $$(IDIR_$(1))/lib/upgrade/keep.d; \
				for x in $$$$keepfiles; do echo $$$$x >> $$(IDIR_$(1))/lib/upgrade/keep.d/$(1); done; \
			}; \
		)
    endif

    $$(PACK_$(1)): $(1)-stage
	$(INSTALL_DIR) $$(PDIR_$(1))

ifeq ($(CONFIG_USE_APK),)
	mkdir -p $$(IDIR_$(1))/CONTROL
	(cd $$(IDIR_$(1))/CONTROL; \
		( \
			echo "$$$$CONTROL"; \
			printf "Description: "; echo "$$$$$(call shvar,Package/$(1)/description)" | sed -e 's,^[[:space:]]*, ,g'; \
		) > control; \
		chmod 644 control; \
		( \
			echo "#!/bin/sh"; \
			echo "[ \"\$$$${IPKG_NO_SCRIPT}\" = \"1\" ] && exit 0"; \
			echo "[ -s "\$$$${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0"; \
			echo ". \$$$${IPKG_INSTROOT}/lib/functions.sh"; \
			echo "default_postinst \$$$$0 \$$$$@"; \
		) > postinst; \
		( \
			echo "#!/bin/sh"; \
			echo "[ -s "\$$$${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0"; \
			echo ". \$$$${IPKG_INSTROOT}/lib/functions.sh"; \
			echo "default_prerm \$$$$0 \$$$$@"; \
		) > prerm; \
		chmod 0755 postinst prerm; \
		$($(1)_COMMANDS) \
	)

	$(FAKEROOT) $(PYTHON) $(SCRIPT_DIR)/ipkg-build -m "$(FILE_MODES)" $$(IDIR_$(1)) $$(PDIR_$(1))
else
	mkdir -p $$(ADIR_$(1))/
	mkdir -p $$(IDIR_$(1))/lib/apk/packages/

	(cd $$(ADIR_$(1)); $($(1)_COMMANDS))

	( \
		echo "#!/bin/sh"; \
		echo "[ \"\$$$${IPKG_NO_SCRIPT}\" = \"1\" ] && exit 0"; \
		echo "[ -s "\$$$${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0"; \
		echo ". \$$$${IPKG_INSTROOT}/lib/functions.sh"; \
		echo 'export root="$$$${IPKG_INSTROOT}"'; \
		echo 'export pkgname="$(1)"'; \
		echo "add_group_and_user"; \
		echo "default_postinst"; \
		[ ! -f $$(ADIR_$(1))/postinst-pkg ] || sed '/^\s*#!/d' "$$(ADIR_$(1))/postinst-pkg"; \
	) > $$(ADIR_$(1))/post-install;

    ifdef Package/$(1)/preinst
	( \
		echo "#!/bin/sh"; \
		echo 'export PKG_UPGRADE=1'; \
		[ ! -f $$(ADIR_$(1))/preinst ] || sed '/^\s*#!/d' "$$(ADIR_$(1))/preinst"; \
	) > $$(ADIR_$(1))/pre-upgrade;
    endif

	( \
		echo "#!/bin/sh"; \
		echo 'export PKG_UPGRADE=1'; \
		[ ! -f $$(ADIR_$(1))/post-install ] || sed '/^\s*#!/d' "$$(ADIR_$(1))/post-install"; \
	) > $$(ADIR_$(1))/post-upgrade;

	( \
		echo "#!/bin/sh"; \
		echo "[ -s "\$$$${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0"; \
		echo ". \$$$${IPKG_INSTROOT}/lib/functions.sh"; \
		echo 'export root="$$$${IPKG_INSTROOT}"'; \
		echo 'export pkgname="$(1)"'; \
		echo "default_prerm"; \
		[ ! -f $$(ADIR_$(1))/prerm-pkg ] || sed '/^\s*#!/d' "$$(ADIR_$(1))/prerm-pkg"; \
	) > $$(ADIR_$(1))/pre-deinstall;

	[ ! -f $$(ADIR_$(1))/postrm ] || sed -zi 's/^\s*#!/#!/' "$$(ADIR_$(1))/postrm";

	(cd $$(IDIR_$(1)) && find . -type f,l -printf "/%P\n" | sort > $(TMP_DIR)/$(1).list && mv $(TMP_DIR)/$(1).list $$(IDIR_$(1))/lib/apk/packages/$(1).list)
	# Move conffiles to IDIR and build conffiles_static with csums
	if [ -f $$(ADIR_$(1))/conffiles ]; then \
		mv -f $$(ADIR_$(1))/conffiles $$(IDIR_$(1))/lib/apk/packages/$(1).conffiles; \
		for file in $$$$(cat $$(IDIR_$(1))/lib/apk/packages/$(1).conffiles); do \
			[ -f $$(IDIR_$(1))/$$$$file ] || continue; \
			csum=$$$$($(MKHASH) sha256 $$(IDIR_$(1))/$$$$file); \
			echo $$$$file $$$$csum >> $$(IDIR_$(1))/lib/apk/packages/$(1).conffiles_static; \
		done; \
	fi

	if [ -z "$$$$(ls -A $$(IDIR_$(1))/CONTROL 2>/dev/null)" ]; then \
		rm -rf $$(IDIR_$(1))/CONTROL; \
	else \
		echo "CONTROL directory $$(IDIR_$(1))/CONTROL is not empty! This is not right and should be checked!" >&2; \
		exit 1; \
	fi

	$(FAKEROOT) $(APK) mkpkg \
	  --info "name:$(1)" \
	  --info "version:$(VERSION)" \
	  --info "description:$$(call description_escape,$$(strip $$(Package/$(1)/description)))" \
	  $(if $(findstring all,$(PKGARCH)),--info "arch:noarch",--info "arch:$(PKGARCH)") \
	  --info "license:$(LICENSE)" \
	  --info "origin:$(SOURCE)" \
	  --info "url:$(URL)" \
	  --info "maintainer:$(MAINTAINER)" \
	  $$(if $$(Package/$(1)/PROVIDES),--info "provides:$$(Package/$(1)/PROVIDES)") \
	  $$(APK_SCRIPTS_$(1)) \
	  --info "depends:$$(foreach depends,$$(subst $$(comma),$$(space),$$(subst $$(space),,$$(subst $$(paren_right),,$$(subst $$(paren_left),,$$(Package/$(1)/DEPENDS))))),$$(depends))" \
	  --files "$$(IDIR_$(1))" \
	  --output "$$(PACK_$(1))"
endif

	@[ -f $$(PACK_$(1)) ]
endef

# --- package.mk ----------------------------------------------------------------------------
define BuildPackage
  $(eval $(Package/Default))
  $(eval $(Package/$(1)))
  $(eval PROVIDES:=$(strip @$(1)-any $(PROVIDES)))

ifndef Package/$(1)/description
define Package/$(1)/description
	$(TITLE)
endef
endif

  $(foreach FIELD, TITLE CATEGORY SECTION VERSION PKGARCH,
    ifeq ($($(FIELD)),)
      $$(error Package/$(1) is missing the $(FIELD) field)
    endif
  )
  $(if $(EXTRA_DEPENDS)$(ABI_VERSION)$(USERID)$(ALTERNATIVES),
    $$(error package/sdk-shim does not implement EXTRA_DEPENDS, ABI_VERSION, USERID or ALTERNATIVES))
  $(BuildTarget/ipkg)
endef

.PHONY: compile stage FORCE
FORCE:
