/* SPDX-License-Identifier: MIT */
/*
 * Quantization mixes: which type each tensor of a model gets, following llama.cpp's
 * per-tensor rules for its Q4_K_M and Q5_K_M file types (learned from llama.cpp's
 * llama_tensor_get_type; our own code), and the GGUF general.file_type numbers (llama.cpp's
 * llama_ftype) with their names.
 */
#ifndef ACTIVESWAP_QUANTMIX_H
#define ACTIVESWAP_QUANTMIX_H

#include <stdint.h>

#include "activeswap/quant.h"

enum as_quant_mix {
	AS_MIX_NONE = 0, /* every matrix of the one type */
	AS_MIX_Q4_K_M,
	AS_MIX_Q5_K_M,
};

/*
 * Parse a --type value: a supported type name ("q4_K", "iq4_xs", ...; case-insensitive),
 * or a mix ("q4_k_m", "q5_k_m": *type is its base type Q4_K / Q5_K). 0 or -EINVAL.
 */
int as_quant_mix_parse(const char *name, enum ggml_type *type, enum as_quant_mix *mix);

/* "q4_K_M", "q5_K_M"; NULL for AS_MIX_NONE or an unknown value. */
const char *as_quant_mix_name(enum as_quant_mix mix);

/*
 * The type of matrix `name` (GGUF tensor name, e.g. "blk.3.attn_v.weight") with ne0
 * columns, in layer `layer` of n_layers, under mix with base type `type`:
 *   output.weight: Q6_K; attn_v and ffn_down: Q6_K in the layers where llama.cpp's
 *   use_more_bits holds (the first and last eighth, and every third layer between),
 *   otherwise the base type; and llama.cpp's fallback when ne0 is not a multiple of 256
 *   (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0).
 * AS_MIX_NONE: `type`.
 */
enum ggml_type as_quant_mix_type(enum as_quant_mix mix, enum ggml_type type, const char *name,
				 uint32_t layer, uint32_t n_layers, uint64_t ne0);

/* general.file_type (llama_ftype) of a model of `type` / mix; 0xffffffff if none. */
uint32_t as_file_type(enum ggml_type type, enum as_quant_mix mix);
/* Its name as llama.cpp prints it ("Q4_K - Medium", ...); NULL when unknown. */
const char *as_file_type_name(uint32_t ftype);

#endif
