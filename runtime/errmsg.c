// SPDX-License-Identifier: MIT
#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>

void as_err_oneline(char *err)
{
	for (unsigned char *p = (unsigned char *)err; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void as_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	as_err_oneline(err);
}
