// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD shim for benchmarks against llama.cpp through mmap in a memory cgroup: its CPU
 * backend's extra buffer types (AMX and the repacked layouts) return NULL, so the weights
 * stay in the mmap'ed GGUF instead of being copied into anonymous memory (what later
 * llama.cpp calls --no-repack). C++ functions, hence the mangled names: the first two are
 * the February 2025 llama.cpp's, the last ggml v0.5.0's (node-llama-cpp 3.22.1).
 *   cc -shared -fPIC -O2 -o norepack.so norepack.c
 */
void *as_no_amx(void) __asm__("_Z28ggml_backend_amx_buffer_typev");
void *as_no_aarch64(void) __asm__("_Z36ggml_backend_cpu_aarch64_buffer_typev");
void *as_no_repack(void) __asm__("_Z35ggml_backend_cpu_repack_buffer_typev");

void *as_no_amx(void)
{
	return 0;
}

void *as_no_aarch64(void)
{
	return 0;
}

void *as_no_repack(void)
{
	return 0;
}
