# `activeswap trace` in the QEMU guest of the kernel suite (issue 5): the module's
# tracepoints, counted by the BPF tracer, against the module's own ACTIVESWAP_IOC_STATS.
# Included after mk/kernel.mk (KOUT, KGUEST). tests/qemu/build-guest.sh copies the
# workload and tests/qemu/trace-guest.sh into the guest; see Documentation/tracing.md.

KTRACE_BIN := $(KOUT)/selftests/kmod_fetch

$(KTRACE_BIN): tests/bpf/kmod_fetch.c uapi/linux/activeswap.h
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -g -Wall -Wextra -Werror -I$(TOP)/uapi -o $@ $<

$(KGUEST): $(KTRACE_BIN) tests/qemu/trace-guest.sh
