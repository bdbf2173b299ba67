# The public library (issue 17): include/activeswap.h, api/*.c over the runtime and libswap.
#
#   $(BUILD)/lib/libactiveswap.a        api + runtime + libswap objects (part of `make`)
#   make lib                             also libactiveswap.so.$(API_VERSION) with the
#                                        SONAME libactiveswap.so.$(API_MAJOR), from objects
#                                        built again with -fPIC -fvisibility=hidden in
#                                        $(BUILD)/pic (the CLI keeps its non-PIC objects),
#                                        exporting only asw_* (mk/libactiveswap.map)
#   make install / uninstall             also the libraries, the header, activeswap.pc and
#                                        man/activeswap.3 (see the Makefile)

API_MAJOR   := 0
API_VERSION := 0.3.0
API_SRC     := $(sort $(wildcard api/*.c))
API_OBJ     := $(call obj,$(API_SRC))
API_LIB     := $(BUILD)/lib/libactiveswap.a
API_SO_NAME := libactiveswap.so.$(API_MAJOR)
API_SO      := $(BUILD)/lib/libactiveswap.so.$(API_VERSION)
API_MAP     := mk/libactiveswap.map
PIC_OBJ     := $(patsubst %.c,$(BUILD)/pic/obj/%.o,$(API_SRC) $(RT_SRC) $(SWAP_SRC))
PIC_FLAGS   := -fPIC -fvisibility=hidden

CPPFLAGS    += -I$(TOP)/include -I$(TOP)/api
$(API_OBJ) $(filter $(BUILD)/pic/obj/api/%,$(PIC_OBJ)): CPPFLAGS += -DASW_BUILD

.PHONY: lib
all: $(API_LIB)
lib: $(API_LIB) $(API_SO)

$(API_LIB): $(API_OBJ) $(call obj,$(RT_SRC) $(SWAP_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/pic/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_FLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/pic/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_FLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/pic/obj/%_amx.o: %_amx.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_FLAGS) $(AMX_FLAGS) -c $< -o $@

$(BUILD)/pic/obj/%_dotprod.o: %_dotprod.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_FLAGS) $(DOTPROD_FLAGS) -c $< -o $@

$(BUILD)/pic/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PIC_FLAGS) -c $< -o $@

# -z defs: every symbol resolved at link time (the private libraries named here).
$(API_SO): $(PIC_OBJ) $(API_MAP)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(API_SO_NAME) -Wl,--version-script=$(API_MAP) \
		-Wl,-z,defs -o $@ $(PIC_OBJ) $(LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/lib/$(API_SO_NAME)
	ln -sf $(API_SO_NAME) $(BUILD)/lib/libactiveswap.so

# The API's unit test and the CLI use the API objects.
$(BUILD)/tests/unit/test_api: $(API_OBJ)
CLI_EXTRA_OBJS += $(API_OBJ)

-include $(shell find $(BUILD)/pic -name '*.d' 2>/dev/null)
