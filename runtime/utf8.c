// SPDX-License-Identifier: MIT
/* UTF-8 decoding as llama.cpp does it and encoding (utf8.h). */
#include "utf8.h"

#include <stdbool.h>

static bool cont(const char *s, size_t i, size_t n)
{
	return i < n && ((uint8_t)s[i] & 0xc0) == 0x80;
}

size_t as_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	size_t i = 0, k = 0;

	while (i < n) {
		const uint8_t *u = (const uint8_t *)s + i;

		if (!(u[0] & 0x80)) {
			cp[k++] = u[0];
			i += 1;
		} else if ((u[0] & 0xe0) == 0xc0 && cont(s, i + 1, n)) {
			cp[k++] = (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
			i += 2;
		} else if ((u[0] & 0xf0) == 0xe0 && cont(s, i + 1, n) && cont(s, i + 2, n)) {
			cp[k++] = (u[0] & 0xfu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
			i += 3;
		} else if ((u[0] & 0xf8) == 0xf0 && cont(s, i + 1, n) && cont(s, i + 2, n) &&
			   cont(s, i + 3, n)) {
			cp[k++] = (u[0] & 0x7u) << 18 | (u[1] & 0x3fu) << 12 |
				  (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
			i += 4;
		} else {
			cp[k++] = 0xfffd;
			i += 1;
		}
	}
	return k;
}

size_t as_utf8_encode(uint32_t c, char *d)
{
	if (c < 0x80) {
		d[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		d[0] = (char)(0xc0 | (c >> 6));
		d[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		d[0] = (char)(0xe0 | (c >> 12));
		d[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		d[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | ((c >> 18) & 0x7));
	d[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	d[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}
