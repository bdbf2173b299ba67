# The aarch64 build beside the native one (issue 19). On an x86-64 host, `make check`
# cross-builds the CLI and the unit tests with Debian's cross toolchain into
# $(ARM64_BUILD) (release flags; the sanitizer build under qemu-user is untried), and
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

# The module for arm64, cross-built against Debian's linux-headers-<KVER>-arm64 (the same
# ABI as the amd64 headers kernel.mk uses). The arm64 headers package cannot be installed
# beside the host compiler (it pulls gcc-12:arm64), so it is fetched with apt-get download
# and unpacked under build/kernel-arm64, with the host's linux-kbuild and the common
# headers it refers to. W=1 and sparse clean, like `make module`.
#
#   make module-arm64   build/kernel-arm64/src/module/activeswap.ko

# (read before mk/kernel.mk: KVER is its default, which it keeps when set)
KVER       ?= $(shell ls -d /lib/modules/6.1*/build 2>/dev/null | sort -V | tail -n 1 | cut -d/ -f4)
ARM64_KVER := $(subst -amd64,-arm64,$(KVER))
ARM64_KOUT := $(TOP)/build/kernel-arm64
ARM64_KHDR := $(ARM64_KOUT)/root/usr/src/linux-headers-$(ARM64_KVER)
ARM64_KMOD := $(ARM64_KOUT)/src/module/activeswap.ko

.PHONY: module-arm64
module-arm64: $(ARM64_KMOD)

$(ARM64_KHDR)/Makefile:
	@test -n "$(KVER)" || { echo "module-arm64: no amd64 kernel headers to match" \
		"(install linux-headers-amd64)" >&2; exit 1; }
	rm -rf $(ARM64_KOUT)/root $(ARM64_KOUT)/deb && mkdir -p $(ARM64_KOUT)/deb
	cd $(ARM64_KOUT)/deb && apt-get download linux-headers-$(ARM64_KVER):arm64 >/dev/null
	dpkg-deb -x $(ARM64_KOUT)/deb/linux-headers-$(ARM64_KVER)_*_arm64.deb $(ARM64_KOUT)/root
	@common=$$(sed -n 's,^include /usr/src/\([^/]*\)/Makefile,\1,p' $@); \
	kbuild=$$(readlink $(ARM64_KHDR)/scripts | sed -n 's,.*lib/\([^/]*\)/scripts,\1,p'); \
	test -d /usr/src/$$common -a -d /usr/lib/$$kbuild || { \
		echo "module-arm64: needs /usr/src/$$common and /usr/lib/$$kbuild (linux-headers-amd64)" >&2; \
		exit 1; }; \
	mkdir -p $(ARM64_KOUT)/root/usr/lib && \
	ln -sfn /usr/src/$$common $(ARM64_KOUT)/root/usr/src/$$common && \
	ln -sfn /usr/lib/$$kbuild $(ARM64_KOUT)/root/usr/lib/$$kbuild

$(ARM64_KMOD): Kbuild $(wildcard module/*.c module/*.h module/Kbuild) uapi/linux/activeswap.h \
		$(ARM64_KHDR)/Makefile
	rm -rf $(ARM64_KOUT)/src && mkdir -p $(ARM64_KOUT)/src/module
	cp Kbuild $(ARM64_KOUT)/src/ && cp -r uapi $(ARM64_KOUT)/src/
	cp module/Kbuild module/*.c module/*.h $(ARM64_KOUT)/src/module/
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		make -C $(ARM64_KHDR) M=$(ARM64_KOUT)/src W=1 $(if $(shell command -v sparse),C=1) \
		DEB_BUILD_ARCH=amd64 DEB_HOST_ARCH=arm64 DEB_HOST_GNU_TYPE=aarch64-linux-gnu \
		modules >$(ARM64_KOUT)/module-build.log 2>&1 || \
		{ cat $(ARM64_KOUT)/module-build.log; exit 1; }
	@if grep -E '(warning|error):' $(ARM64_KOUT)/module-build.log; then \
		echo "module-arm64: warnings (W=1 / sparse), see $(ARM64_KOUT)/module-build.log" >&2; \
		rm -f $@; exit 1; fi
	@echo "module-arm64: $@ ($(ARM64_KVER), W=1$(if $(shell command -v sparse), C=1) clean)"
