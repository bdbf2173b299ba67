# BPF tracer (issue 5): CO-RE programs in bpf/*.bpf.c -> $(BUILD)/gen/<name>.skel.h, used by
# `activeswap trace`: tools/cmd_trace.c and its tools/trace_*.c. See Documentation/tracing.md.
#
#   VMLINUX_BTF=/path   BTF to generate vmlinux.h from (default: the running kernel's);
#   VMLINUX_H=/path     a pinned vmlinux.h to use instead (cross builds, kernels without BTF).
#
# Without clang, bpftool or libbpf the CLI is built without the tracer: `activeswap trace`
# then says what is missing, and nothing else changes. A cross build (CROSS, see the
# Makefile) is always built without it: the libbpf found is the host's.

BPF_CLANG   ?= clang
BPF_STRIP   ?= $(or $(shell command -v llvm-strip 2>/dev/null),true)
BPFTOOL     ?= $(or $(shell command -v bpftool 2>/dev/null),$(wildcard /usr/sbin/bpftool))
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
VMLINUX_H   ?=
BPF_ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# <asm/*.h> lives in the multiarch directory, which clang -target bpf does not search.
BPF_SYSINC  := $(addprefix -idirafter ,$(wildcard /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)))

BPF_HAVE := $(and $(if $(CROSS),,y),$(shell command -v $(BPF_CLANG) 2>/dev/null),$(BPFTOOL),\
	$(shell pkg-config --exists libbpf 2>/dev/null && echo y),\
	$(or $(VMLINUX_H),$(wildcard $(VMLINUX_BTF))))

BPF_SRC  := $(sort $(wildcard bpf/*.bpf.c))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(BUILD)/gen/%.skel.h,$(BPF_SRC))

ifneq ($(BPF_HAVE),)
CLI_EXTRA_DEPS += $(BPF_SKEL)
CLI_EXTRA_LIBS += $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz
# The tracer's objects see the skeletons and bpf/activeswap_maps.h; built without
# AS_HAVE_BPF they hold only what needs no libbpf.
BPF_TOOL_OBJS := $(call obj,tools/cmd_trace.c $(wildcard tools/trace_*.c))
$(BPF_TOOL_OBJS): CPPFLAGS += -DAS_HAVE_BPF -I$(TOP)/bpf
$(BPF_TOOL_OBJS): $(BPF_SKEL)

ifneq ($(VMLINUX_H),)
$(BUILD)/gen/vmlinux.h: $(VMLINUX_H)
	@mkdir -p $(dir $@)
	cp $< $@
else
$(BUILD)/gen/vmlinux.h: $(VMLINUX_BTF)
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@
endif

$(BUILD)/gen/%.bpf.o: bpf/%.bpf.c bpf/activeswap_maps.h $(BUILD)/gen/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
		-I$(BUILD)/gen -I$(TOP)/bpf $(BPF_SYSINC) -c $< -o $@.tmp
	$(BPF_STRIP) -g $@.tmp  # DWARF only; BTF (CO-RE relocations, map types) stays
	mv $@.tmp $@

$(BUILD)/gen/%.skel.h: $(BUILD)/gen/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@
endif
