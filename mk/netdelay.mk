# tests/netdelay: the userspace delay line (netem's stand-in where the kernel has no
# sch_netem) between network namespaces, for the tensor-parallel link-latency checks
# (tests/integration/netdelay.sh, Documentation/tensor-parallel.md). A test tool, built
# with the tests; it links nothing of the project's.
NETDELAY := $(BUILD)/tests/netdelay

$(NETDELAY): tests/netdelay/netdelay.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

tests: $(NETDELAY)
