# The kernel part: activeswap.ko (built against Debian's linux-headers, not the host
# kernel), its kselftests and the QEMU guest that runs them.
#
#   make module         build/kernel/src/module/activeswap.ko, W=1 and sparse (C=1) clean
#   make selftests      build/kernel/selftests/activeswap*_test (static, one per area)
#   make kernel-guest   build/kernel/guest/{initramfs.cpio.gz,disk.img} (with the CLI and a
#                       generated model's store, for libswap's kmod backend)
#   make check-kernel   only the kernel suite (tests/integration/kernel.sh): build, boot
#                       Debian's kernel in QEMU (TCG), relay the guest's TAP
#
# KVER picks the kernel (default: the newest 6.1 with a build dir in /lib/modules).

KVER      ?= $(shell ls -d /lib/modules/6.1*/build 2>/dev/null | sort -V | tail -n 1 | cut -d/ -f4)
KDIR      ?= /lib/modules/$(KVER)/build
KOUT      := $(TOP)/build/kernel
KSRC_TAR  ?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.xz /usr/src/linux-source-6.1.tar.bz2))
KMOD      := $(KOUT)/src/module/activeswap.ko
KSELF_INC := $(KOUT)/kselftest
KSELF_SRC := tests/selftests/activeswap
KSELF_BINS := $(addprefix $(KOUT)/selftests/,activeswap_test activeswap_io_test \
	activeswap_limits_test activeswap_module_test activeswap_user_test)
# the first one: tests/qemu/build-guest.sh takes the others from beside it
KSELF_BIN := $(firstword $(KSELF_BINS))
KGUEST    := $(KOUT)/guest/initramfs.cpio.gz
KMOD_SRC  := Kbuild $(wildcard module/*.c module/*.h module/Kbuild) uapi/linux/activeswap.h

.PHONY: module selftests kernel-guest check-kernel

module: $(KMOD)

# Built in a copy so the source tree never holds kbuild output.  The kernel's make must
# not inherit our command line (CC=, BUILD=, ...): hence env -u.  Any compiler or sparse
# warning fails the build.
$(KMOD): $(KMOD_SRC)
	@test -n "$(KVER)" -a -d "$(KDIR)" || { echo "module: no kernel build dir (install linux-headers-amd64)" >&2; exit 1; }
	rm -rf $(KOUT)/src && mkdir -p $(KOUT)/src/module
	cp Kbuild $(KOUT)/src/ && cp -r uapi $(KOUT)/src/
	cp module/Kbuild module/*.c module/*.h $(KOUT)/src/module/
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		make -C $(KDIR) M=$(KOUT)/src W=1 $(if $(shell command -v sparse),C=1) modules \
		>$(KOUT)/module-build.log 2>&1 || { cat $(KOUT)/module-build.log; exit 1; }
	@if grep -E '(warning|error):' $(KOUT)/module-build.log; then \
		echo "module: warnings (W=1 / sparse), see $(KOUT)/module-build.log" >&2; \
		rm -f $@; exit 1; fi
	@echo "module: $@ ($(KVER), W=1$(if $(shell command -v sparse), C=1) clean)"

$(KSELF_INC)/kselftest_harness.h:
	@test -n "$(KSRC_TAR)" || { echo "selftests: install linux-source-6.1" >&2; exit 1; }
	rm -rf $(KSELF_INC) && mkdir -p $(KSELF_INC)
	tar -xf $(KSRC_TAR) -C $(KSELF_INC) --strip-components=4 --wildcards \
		'linux-source-*/tools/testing/selftests/kselftest*.h'
	@test -f $@

selftests: $(KSELF_BINS)

# one program per area (the harness keeps its test list per program), each with the helpers
$(KSELF_BINS): $(KOUT)/selftests/%: $(KSELF_SRC)/%.c $(KSELF_SRC)/as_util.c \
		$(wildcard $(KSELF_SRC)/*.h) uapi/linux/activeswap.h $(KSELF_INC)/kselftest_harness.h
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-sign-compare -Wno-misleading-indentation -I$(KSELF_INC) -I$(TOP)/uapi -o $@ \
		$< $(KSELF_SRC)/as_util.c -pthread

kernel-guest: $(KGUEST)

# KGUEST_ASAN=PATH also puts the sanitizer CLI in the guest (tests/integration/kernel.sh
# passes the ASan build); the stamp rebuilds the guest when that choice changes.
KGUEST_ASAN ?=
KGUEST_STAMP := $(KOUT)/guest-asan.txt

.PHONY: kguest-force
$(KGUEST_STAMP): kguest-force
	@mkdir -p $(KOUT) && echo "$(KGUEST_ASAN)" | cmp -s - $@ || echo "$(KGUEST_ASAN)" >$@

$(KGUEST): $(KMOD) $(KSELF_BINS) $(CLI) $(KGUEST_ASAN) $(KGUEST_STAMP) tests/qemu/build-guest.sh \
		tests/qemu/init.sh
	sh tests/qemu/build-guest.sh $(KOUT)/guest $(KVER) $(KMOD) $(KSELF_BIN) $(abspath $(CLI)) \
		$(KGUEST_ASAN)

check-kernel:
	@AS_TOP=$(TOP) AS_BUILD=$(TOP)/build AS_ASAN_BUILD=$(TOP)/build/asan \
		AS_ONLY=integration/kernel sh tests/run.sh
