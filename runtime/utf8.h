/* SPDX-License-Identifier: MIT */
/* UTF-8 to code points and back (internal to the runtime: tokenizers, JSON). */
#ifndef ACTIVESWAP_UTF8_H
#define ACTIVESWAP_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* UTF-8 to code points as llama.cpp decodes them (an invalid byte becomes U+FFFD);
 * cp holds n entries; returns the count. */
size_t as_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* The UTF-8 bytes of code point c (at most 0x10FFFF) into dst (4 bytes room): the count. */
size_t as_utf8_encode(uint32_t c, char *dst);

#endif
