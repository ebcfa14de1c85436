/* torbox test build: strlcpy() for glibc < 2.38 (Debian 12 has 2.36), which procd calls.
 * Force-included (-include) into procd's sources by tests/openwrt/userland.py only when the
 * host's glibc lacks it; deliberately includes no libc header, so that a source file's own
 * `#define _GNU_SOURCE` still takes effect. */
#ifndef TORBOX_COMPAT_STRLCPY_H
#define TORBOX_COMPAT_STRLCPY_H
#include <stddef.h>
size_t strlcpy(char *dst, const char *src, size_t size);
#endif
