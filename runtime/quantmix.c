// SPDX-License-Identifier: MIT
/*
 * Quantization mixes (Q4_K_M, Q5_K_M) and GGUF file type numbers; see quantmix.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "activeswap/quantmix.h"

int as_quant_mix_parse(const char *name, enum ggml_type *type, enum as_quant_mix *mix)
{
	int t;

	if (!name || !type || !mix)
		return -EINVAL;
	if (!strcasecmp(name, "q4_k_m")) {
		*type = GGML_TYPE_Q4_K;
		*mix = AS_MIX_Q4_K_M;
		return 0;
	}
	if (!strcasecmp(name, "q5_k_m")) {
		*type = GGML_TYPE_Q5_K;
		*mix = AS_MIX_Q5_K_M;
		return 0;
	}
	t = as_type_from_name(name);
	if (t < 0 || !as_type_supported((enum ggml_type)t))
		return -EINVAL;
	*type = (enum ggml_type)t;
	*mix = AS_MIX_NONE;
	return 0;
}

const char *as_quant_mix_name(enum as_quant_mix mix)
{
	switch (mix) {
	case AS_MIX_Q4_K_M:
		return "q4_K_M";
	case AS_MIX_Q5_K_M:
		return "q5_K_M";
	default:
		return NULL;
	}
}

/* llama.cpp's use_more_bits: the first and last eighth, and every third layer between. */
static int more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Matrix `kind` ("attn_v", ...) of a "blk.N.KIND.weight" name. */
static int is_kind(const char *name, const char *kind)
{
	const char *p = strchr(name, '.');

	if (strncmp(name, "blk.", 4) || !p || !(p = strchr(p + 1, '.')))
		return 0;
	p++;
	return !strncmp(p, kind, strlen(kind)) && !strcmp(p + strlen(kind), ".weight");
}

enum ggml_type as_quant_mix_type(enum as_quant_mix mix, enum ggml_type type, const char *name,
				 uint32_t layer, uint32_t n_layers, uint64_t ne0)
{
	enum ggml_type t = type;

	if (mix == AS_MIX_NONE || !name)
		return type;
	if (!strcmp(name, "output.weight"))
		t = GGML_TYPE_Q6_K;
	else if ((is_kind(name, "attn_v") || is_kind(name, "ffn_down")) &&
		 more_bits((int)layer, (int)n_layers))
		t = GGML_TYPE_Q6_K;
	if (ne0 % QK_K) {
		switch (t) {
		case GGML_TYPE_Q4_K:
			t = GGML_TYPE_Q5_0;
			break;
		case GGML_TYPE_Q5_K:
			t = GGML_TYPE_Q5_1;
			break;
		default:
			t = GGML_TYPE_Q8_0;
			break;
		}
		if (ne0 % QK8_0)
			t = GGML_TYPE_F16;
	}
	return t;
}

static const struct {
	uint32_t ftype;
	enum ggml_type type;
	enum as_quant_mix mix;
	const char *name;
} ftypes[] = {
	{ 0, GGML_TYPE_F32, AS_MIX_NONE, "all F32" },
	{ 1, GGML_TYPE_F16, AS_MIX_NONE, "F16" },
	{ 2, GGML_TYPE_Q4_0, AS_MIX_NONE, "Q4_0" },
	{ 3, GGML_TYPE_Q4_1, AS_MIX_NONE, "Q4_1" },
	{ 7, GGML_TYPE_Q8_0, AS_MIX_NONE, "Q8_0" },
	{ 8, GGML_TYPE_Q5_0, AS_MIX_NONE, "Q5_0" },
	{ 9, GGML_TYPE_Q5_1, AS_MIX_NONE, "Q5_1" },
	{ 10, GGML_TYPE_Q2_K, AS_MIX_NONE, "Q2_K - Medium" },
	{ 11, GGML_TYPE_Q3_K, AS_MIX_NONE, "Q3_K - Small" },
	{ 12, GGML_TYPE_COUNT, AS_MIX_NONE, "Q3_K - Medium" },
	{ 13, GGML_TYPE_COUNT, AS_MIX_NONE, "Q3_K - Large" },
	{ 14, GGML_TYPE_Q4_K, AS_MIX_NONE, "Q4_K - Small" },
	{ 15, GGML_TYPE_Q4_K, AS_MIX_Q4_K_M, "Q4_K - Medium" },
	{ 16, GGML_TYPE_Q5_K, AS_MIX_NONE, "Q5_K - Small" },
	{ 17, GGML_TYPE_Q5_K, AS_MIX_Q5_K_M, "Q5_K - Medium" },
	{ 18, GGML_TYPE_Q6_K, AS_MIX_NONE, "Q6_K" },
	{ 21, GGML_TYPE_COUNT, AS_MIX_NONE, "Q2_K - Small" },
	{ 25, GGML_TYPE_IQ4_NL, AS_MIX_NONE, "IQ4_NL - 4.5 bpw" },
	{ 30, GGML_TYPE_IQ4_XS, AS_MIX_NONE, "IQ4_XS - 4.25 bpw" },
	{ 32, GGML_TYPE_BF16, AS_MIX_NONE, "BF16" },
};

uint32_t as_file_type(enum ggml_type type, enum as_quant_mix mix)
{
	for (size_t i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
		if (ftypes[i].type == type && ftypes[i].mix == mix)
			return ftypes[i].ftype;
	return 0xffffffffu;
}

const char *as_file_type_name(uint32_t ftype)
{
	for (size_t i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
		if (ftypes[i].ftype == ftype)
			return ftypes[i].name;
	return NULL;
}
