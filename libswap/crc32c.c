// SPDX-License-Identifier: MIT
/*
 * CRC-32C (Castagnoli): the CPU's instruction when it has one (SSE4.2 on x86-64, the ARMv8
 * CRC32C instructions on aarch64, HWCAP_CRC32), a table otherwise. ACTIVESWAP_CRC32C=soft
 * forces the table (tests compare the two).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "swap_int.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

#if defined(__x86_64__)
static int crc_hw_detect(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

#define CRC_HW_ATTR __attribute__((target("sse4.2")))
#define crc_u8(c, v) __builtin_ia32_crc32qi((c), (v))
#define crc_u64(c, v) ((uint32_t)__builtin_ia32_crc32di((c), (v)))
#elif defined(__aarch64__)
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1UL << 7)
#endif
static int crc_hw_detect(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}

#define CRC_HW_ATTR __attribute__((target("+crc")))
#define crc_u8(c, v) __builtin_aarch64_crc32cb((c), (v))
#define crc_u64(c, v) __builtin_aarch64_crc32cx((c), (v))
#endif

#ifdef CRC_HW_ATTR
CRC_HW_ATTR static uint32_t crc_hw_run(uint32_t c, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = crc_u8(c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = crc_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_u8(c, *p++);
	return c;
}
#else
static int crc_hw_detect(void)
{
	return 0;
}

static uint32_t crc_hw_run(uint32_t c, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	return c; /* never called: crc_hw_detect() is 0 */
}
#endif

static void crc_init(void)
{
	const char *env = getenv("ACTIVESWAP_CRC32C");

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	crc_hw = crc_hw_detect() && !(env && !strcmp(env, "soft"));
}

uint32_t swap_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

bool swap_crc32c_hw(void)
{
	pthread_once(&crc_once, crc_init);
	return crc_hw;
}

uint32_t swap_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	if (crc_hw)
		return ~crc_hw_run(~crc, buf, len);
	return swap_crc32c_soft(crc, buf, len);
}
