/* SPDX-License-Identifier: MIT */
/* Unicode general-category ranges for the BPE pre-tokenizers (runtime/pretok.c). */
#ifndef ACTIVESWAP_UNICODE_TAB_H
#define ACTIVESWAP_UNICODE_TAB_H

#include <stdint.h>

struct as_ucd_range {
	uint32_t lo, hi;
};

extern const struct as_ucd_range as_ucd_letter[], as_ucd_number[], as_ucd_punct[],
	as_ucd_unassigned[];
extern const unsigned int as_ucd_letter_n, as_ucd_number_n, as_ucd_punct_n,
	as_ucd_unassigned_n;

#endif
