/* SPDX-License-Identifier: MIT */
/* The runtime's one-line error messages (internal). */
#ifndef ACTIVESWAP_ERRMSG_H
#define ACTIVESWAP_ERRMSG_H

#include <stddef.h>

/* Control characters (names and keys read from a hostile file) in err become '?', so a
 * message stays one line. */
void as_err_oneline(char *err);
/* snprintf into err[errlen], then as_err_oneline(); nothing when err is NULL or errlen 0. */
void as_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
