/* torbox test build: ethtool PSE-PD uapi values that netifd (since 299a51f, 2026-02-23) needs
 * and Linux < 6.17 uapi headers lack; Debian 12 ships 6.1 headers. Force-included (-include)
 * into netifd's sources by tests/openwrt/userland.py. The values are those of the kernel's
 * uapi (include/uapi/linux/ethtool_netlink_generated.h and ethtool.h); PSE (Power over
 * Ethernet) is never used on the veth devices of the tests, so only the build depends on it.
 * Kept instead of pinning the netifd commit before PSE support, which would also drop the
 * master pin's bridge fix (69a5afc, bridge_free_member), relevant to bridge re-creation. */
#ifndef TORBOX_COMPAT_NETIFD_ETHTOOL_PSE_H
#define TORBOX_COMPAT_NETIFD_ETHTOOL_PSE_H
#include <linux/version.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 17, 0)
#include <linux/ethtool_netlink.h>	/* its enums first; then the macros below shadow them */

/* attributes of ETHTOOL_MSG_PSE_GET/SET, in kernel order after ETHTOOL_A_PODL_PSE_PW_D_STATUS (4) */
#define ETHTOOL_A_C33_PSE_ADMIN_STATE		5
#define ETHTOOL_A_C33_PSE_ADMIN_CONTROL		6
#define ETHTOOL_A_C33_PSE_PW_D_STATUS		7
#define ETHTOOL_A_C33_PSE_PW_CLASS		8
#define ETHTOOL_A_C33_PSE_ACTUAL_PW		9
#define ETHTOOL_A_C33_PSE_EXT_STATE		10
#define ETHTOOL_A_C33_PSE_EXT_SUBSTATE		11
#define ETHTOOL_A_C33_PSE_AVAIL_PW_LIMIT	12
#define ETHTOOL_A_C33_PSE_PW_LIMIT_RANGES	13
#define ETHTOOL_A_PSE_PW_D_ID			14
#define ETHTOOL_A_PSE_PRIO_MAX			15
#define ETHTOOL_A_PSE_PRIO			16
#undef ETHTOOL_A_PSE_MAX
#define ETHTOOL_A_PSE_MAX			16

/* enum ethtool_c33_pse_admin_state */
#define ETHTOOL_C33_PSE_ADMIN_STATE_UNKNOWN	1
#define ETHTOOL_C33_PSE_ADMIN_STATE_DISABLED	2
#define ETHTOOL_C33_PSE_ADMIN_STATE_ENABLED	3

/* enum ethtool_c33_pse_pw_d_status */
#define ETHTOOL_C33_PSE_PW_D_STATUS_UNKNOWN	1
#define ETHTOOL_C33_PSE_PW_D_STATUS_DISABLED	2
#define ETHTOOL_C33_PSE_PW_D_STATUS_SEARCHING	3
#define ETHTOOL_C33_PSE_PW_D_STATUS_DELIVERING	4
#define ETHTOOL_C33_PSE_PW_D_STATUS_TEST	5
#define ETHTOOL_C33_PSE_PW_D_STATUS_FAULT	6
#define ETHTOOL_C33_PSE_PW_D_STATUS_OTHERFAULT	7
#endif
#endif
