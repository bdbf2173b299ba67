# activeswap top-level Makefile (GNU make).
#
#   make            userspace libraries and the CLI (build/bin/activeswap)
#   make check      every test (unit + integration under ASan/UBSan, fuzz, BPF, kernel/QEMU)
#   make demo       the main job on a generated model
#   make bench      the standard benchmark set
#   make install    PREFIX=/usr/local DESTDIR=  (make uninstall with the same removes it)
#   make lib        also libactiveswap.so (the C library of include/activeswap.h, mk/lib.mk)
#   make clean
#   make ARCH=arm64 the aarch64 cross build (CC=aarch64-linux-gnu-gcc) in build/aarch64;
#                   `make check` also runs its tests under qemu-aarch64 (mk/arm64.mk)
#                   and the module's in a qemu-system-aarch64 guest (mk/kernel_arm64.mk)
#
# Sources are discovered by directory: runtime/*.c -> build/lib/libasrt.a,
# libswap/*.c -> build/lib/libswap.a, tools/*.c -> build/bin/activeswap,
# tests/unit/test_*.c -> one cmocka binary each. The target architecture is the
# compiler's (`$(CC) -dumpmachine`): on x86-64, files named *_avx2.c / *_avx512.c / *_amx.c are
# compiled with the matching ISA flags; on aarch64, *_neon.c (baseline Advanced SIMD) and
# *_dotprod.c (+dotprod); ISA files of other architectures are left out, and everything
# else is baseline code that chooses SIMD paths at run time (scalar on any other
# architecture). Parts with special builds live in mk/*.mk.

TOP       := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
ARCH      ?=
ifeq ($(origin CC),default)
CC        := $(if $(filter arm64 aarch64,$(ARCH)),aarch64-linux-gnu-gcc,gcc)
endif
TARGET    := $(shell $(CC) -dumpmachine 2>/dev/null)
AS_ISA    := $(firstword $(subst -, ,$(TARGET)))
HOST_ISA  := $(shell uname -m)
CROSS     := $(if $(filter $(HOST_ISA),$(AS_ISA)),,1)
BUILD     ?= $(if $(CROSS),build/$(AS_ISA),build)
SAN       ?= 0
PREFIX    ?= /usr/local
DESTDIR   ?=

PKG_LIBS  := liburing numa
CPPFLAGS  += -D_GNU_SOURCE -I$(TOP)/runtime/include -I$(TOP)/libswap/include \
             -I$(TOP)/uapi -I$(TOP)/tools -I$(BUILD)/gen
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wvla
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 $(WARN) -pthread -fno-strict-aliasing -MMD -MP
LDLIBS    += -luring -lnuma -lm -lpthread
# gcc fuses a * b + c into one rounding (fmadd) where the baseline ISA has it, as
# aarch64's does and x86-64's does not: off, so that the scalar code computes the same
# bits on both (generated models, golden texts). SIMD files use FMA through intrinsics.
ifeq ($(AS_ISA),aarch64)
CFLAGS    += -ffp-contract=off
endif
ifeq ($(SAN),1)
CFLAGS    += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer -DAS_SANITIZE=1
LDFLAGS   += -fsanitize=address,undefined
endif

AVX2_FLAGS    := -mavx2 -mfma -mf16c
AVX512_FLAGS  := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c
AMX_FLAGS     := $(AVX512_FLAGS) -mamx-tile -mamx-int8
DOTPROD_FLAGS := -march=armv8.2-a+dotprod

ISA_X86   := %_avx2.c %_avx512.c %_amx.c
ISA_ARM   := %_neon.c %_dotprod.c
ISA_SKIP  := $(if $(filter x86_64,$(AS_ISA)),$(ISA_ARM),\
             $(if $(filter aarch64,$(AS_ISA)),$(ISA_X86),$(ISA_X86) $(ISA_ARM)))

RT_SRC    := $(filter-out $(ISA_SKIP),$(sort $(wildcard runtime/*.c)))
SWAP_SRC  := $(filter-out $(ISA_SKIP),$(sort $(wildcard libswap/*.c)))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELP := $(filter-out tests/unit/test_%,$(sort $(wildcard tests/unit/*.c)))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

RT_LIB    := $(BUILD)/lib/libasrt.a
SWAP_LIB  := $(BUILD)/lib/libswap.a
CLI       := $(BUILD)/bin/activeswap
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))

# Hooks for mk/*.mk fragments (BPF skeletons, kernel module, fuzzers).
CLI_EXTRA_OBJS :=
CLI_EXTRA_LIBS :=
CLI_EXTRA_DEPS :=
CHECK_PREP     :=

.PHONY: all deps deps-check deps-demo deps-quick tests check demo bench install uninstall \
	clean help
# deps-quick: a fresh machine without the build's packages gets one line naming them and
# 'make deps' instead of a compiler error.
all: deps-quick $(CLI)

-include $(sort $(wildcard mk/*.mk))

$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/obj/%_amx.o: %_amx.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(AMX_FLAGS) -c $< -o $@

$(BUILD)/obj/%_dotprod.o: %_dotprod.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DOTPROD_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(RT_LIB): $(call obj,$(RT_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SWAP_LIB): $(call obj,$(SWAP_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLI): $(call obj,$(TOOL_SRC)) $(CLI_EXTRA_OBJS) $(RT_LIB) $(SWAP_LIB) $(CLI_EXTRA_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(call obj,$(TOOL_SRC)) $(CLI_EXTRA_OBJS) $(RT_LIB) $(SWAP_LIB) \
		$(CLI_EXTRA_LIBS) $(LDLIBS)

# Unit tests link the libraries (and tests/unit helpers), not the CLI: fixtures are built
# through library calls (as_mkmodel, as_convert). A test of a tools/ file names its object
# as an extra prerequisite below; every .o prerequisite is linked.
$(BUILD)/tests/unit/%: tests/unit/%.c $(call obj,$(UNIT_HELP)) $(RT_LIB) $(SWAP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -I$(TOP)/tests/unit $(LDFLAGS) -o $@ $< $(filter %.o,$^) \
		$(RT_LIB) $(SWAP_LIB) -lcmocka $(LDLIBS)

# tests/unit/test_cli.c tests tools/cli.c and args.c; test_trace_helpers.c tools/trace_helpers.c, built
# with BPF support (and its libraries) when mk/bpf.mk finds libbpf.
$(BUILD)/tests/unit/test_cli: $(call obj,tools/cli.c tools/args.c)
$(BUILD)/tests/unit/test_trace_helpers: $(call obj,tools/trace_helpers.c tools/cli.c)
$(BUILD)/tests/unit/test_trace_helpers: LDLIBS += $(CLI_EXTRA_LIBS)

tests: $(CLI) $(UNIT_BIN)

deps:
	@sh mk/deps.sh build
deps-quick:
	@sh mk/deps.sh quick
deps-check:
	@sh mk/deps.sh check
deps-demo:
	@sh mk/deps.sh demo

# make check: release build, sanitizer build, then every suite through tests/run.sh,
# which prints the single summary line "N passed, N failed, N skipped".
check: deps-check
	$(MAKE) all
	$(MAKE) BUILD=build/asan SAN=1 tests
	$(if $(CHECK_PREP),$(MAKE) $(CHECK_PREP))
	@AS_TOP=$(TOP) AS_BUILD=$(TOP)/build AS_ASAN_BUILD=$(TOP)/build/asan \
		sh tests/run.sh

demo: deps-demo
	$(MAKE) all
	sh tools/demo.sh $(TOP)/build/bin/activeswap

bench: deps-demo
	$(MAKE) all
	sh tools/bench.sh $(TOP)/build/bin/activeswap

# Public headers: activeswap.h (the library's API, mk/lib.mk), libswap.h, activeswap/*.h (installed with extern "C" for C++ users by
# mk/install-header.sh) and the kernel ABI linux/activeswap.h.
PUB_HDRS  := $(sort $(wildcard runtime/include/activeswap/*.h))
INC_DIR   := $(DESTDIR)$(PREFIX)/include

LIB_DIR   := $(DESTDIR)$(PREFIX)/lib
MAN3_DIR  := $(DESTDIR)$(PREFIX)/share/man/man3

install: all lib
	install -d $(DESTDIR)$(PREFIX)/bin $(LIB_DIR)/pkgconfig $(INC_DIR)/activeswap \
		$(INC_DIR)/linux $(MAN3_DIR)
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/activeswap
	install -m 0644 $(RT_LIB) $(SWAP_LIB) $(API_LIB) $(LIB_DIR)/
	install -m 0755 $(API_SO) $(LIB_DIR)/
	ln -sf $(notdir $(API_SO)) $(LIB_DIR)/$(API_SO_NAME)
	ln -sf $(API_SO_NAME) $(LIB_DIR)/libactiveswap.so
	sh mk/activeswap-pc.sh $(PREFIX) $(API_VERSION) >$(LIB_DIR)/pkgconfig/activeswap.pc
	sh mk/install-header.sh include/activeswap.h $(INC_DIR)/activeswap.h
	install -m 0644 man/activeswap.3 $(MAN3_DIR)/activeswap.3
	sh mk/install-header.sh libswap/include/libswap.h $(INC_DIR)/libswap.h
	for h in $(PUB_HDRS); do \
		sh mk/install-header.sh $$h $(INC_DIR)/activeswap/$${h##*/} || exit 1; \
	done
	install -m 0644 uapi/linux/activeswap.h $(INC_DIR)/linux/activeswap.h

# Removes what install put there (and the activeswap include directory if left empty).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/activeswap $(LIB_DIR)/$(notdir $(RT_LIB)) \
		$(LIB_DIR)/$(notdir $(SWAP_LIB)) $(LIB_DIR)/$(notdir $(API_LIB)) \
		$(LIB_DIR)/$(notdir $(API_SO)) $(LIB_DIR)/$(API_SO_NAME) \
		$(LIB_DIR)/libactiveswap.so $(LIB_DIR)/pkgconfig/activeswap.pc \
		$(INC_DIR)/activeswap.h $(MAN3_DIR)/activeswap.3 $(INC_DIR)/libswap.h \
		$(INC_DIR)/linux/activeswap.h \
		$(addprefix $(INC_DIR)/activeswap/,$(notdir $(PUB_HDRS)))
	-rmdir $(INC_DIR)/activeswap 2>/dev/null

clean:
	rm -rf build
	$(if $(wildcard module/Makefile),$(MAKE) -C module clean)

help:
	@sed -n '3,11p' Makefile

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
