# The aarch64 build beside the native one (issue 19). On an x86-64 host, `make check`
# cross-builds the CLI and the unit tests with Debian's cross toolchain into
# $(ARM64_BUILD) (release flags: ASan does not run under qemu-user), and
# tests/integration/arm64.sh runs them under qemu-aarch64. See Documentation/arm64.md.
#
#   make ARCH=arm64          the cross build alone (CC=aarch64-linux-gnu-gcc, build/aarch64)
#   make arm64-tests         the CLI and unit tests of that build (what make check uses)
#
# The BPF tracer is left out of a cross build (its skeletons and libbpf are the host's);
# on an arm64 board the native build finds them as on x86-64.

ARM64_CC    ?= aarch64-linux-gnu-gcc
ARM64_BUILD := build/aarch64

.PHONY: arm64-tests
arm64-tests:
	$(MAKE) ARCH=arm64 CC=$(ARM64_CC) BUILD=$(ARM64_BUILD) SAN=0 tests

ifeq ($(HOST_ISA)$(CROSS),x86_64)
CHECK_PREP += arm64-tests
endif
