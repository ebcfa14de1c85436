/* torbox test build: BSD strlcpy() for glibc < 2.38; see strlcpy.h. */
#include <string.h>
#include "strlcpy.h"

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
