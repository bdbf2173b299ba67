# The arm64 module in a qemu-system-aarch64 guest (issue 19), built the way kernel.mk
# builds the x86-64 one: Debian's linux-image-<KVER>-arm64 and busybox-static:arm64 fetched
# with apt-get download (multiarch, sh mk/deps.sh arm64) and unpacked under
# build/kernel-arm64/image, the kselftests cross-built static with aarch64-linux-gnu-gcc,
# the module from mk/arm64.mk (make module-arm64). No CLI in this guest (see
# Documentation/arm64.md); tests/integration/kernel_arm64.sh boots it.
# (after kernel.mk and arm64.mk: uses KSELF_INC, KSELF_SRC, ARM64_KVER, ARM64_KOUT, ARM64_KMOD)
#
#   make selftests-arm64      build/kernel-arm64/selftests/activeswap*_test
#   make kernel-guest-arm64   build/kernel-arm64/guest/{initramfs.cpio.gz,disk.img,raw.img}

ARM64_IMAGE      := $(ARM64_KOUT)/image
ARM64_VMLINUZ    := $(ARM64_IMAGE)/boot/vmlinuz-$(ARM64_KVER)
ARM64_BUSYBOX    := $(ARM64_IMAGE)/bin/busybox
ARM64_KSELF_BINS := $(addprefix $(ARM64_KOUT)/selftests/,activeswap_test activeswap_io_test \
	activeswap_limits_test activeswap_module_test activeswap_user_test)
ARM64_KGUEST     := $(ARM64_KOUT)/guest/initramfs.cpio.gz
# the modules the guest loads: the disks and the TAP console are virtio PCI devices
ARM64_GUEST_MODULES := virtio_pci virtio_blk virtio_console ext4 dm-mod dm-delay

.PHONY: selftests-arm64 kernel-guest-arm64

selftests-arm64: $(ARM64_KSELF_BINS)

$(ARM64_KSELF_BINS): $(ARM64_KOUT)/selftests/%: $(KSELF_SRC)/%.c $(KSELF_SRC)/as_util.c \
		$(wildcard $(KSELF_SRC)/*.h) uapi/linux/activeswap.h $(KSELF_INC)/kselftest_harness.h
	@mkdir -p $(dir $@)
	$(ARM64_CC) -static -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wno-sign-compare -Wno-misleading-indentation -I$(KSELF_INC) -I$(TOP)/uapi -o $@ \
		$< $(KSELF_SRC)/as_util.c -pthread

# The kernel image and its modules (modules.dep made here: the package's postinst would),
# and a static aarch64 busybox (busybox-static:arm64 cannot be installed beside the host's).
$(ARM64_VMLINUZ):
	@test -n "$(KVER)" || { echo "kernel-guest-arm64: no amd64 kernel headers to match" \
		"(install linux-headers-amd64)" >&2; exit 1; }
	rm -rf $(ARM64_IMAGE) $(ARM64_KOUT)/image-deb && mkdir -p $(ARM64_KOUT)/image-deb
	cd $(ARM64_KOUT)/image-deb && apt-get download linux-image-$(ARM64_KVER):arm64 \
		busybox-static:arm64 >/dev/null
	dpkg-deb -x $(ARM64_KOUT)/image-deb/linux-image-$(ARM64_KVER)_*_arm64.deb $(ARM64_IMAGE)
	dpkg-deb -x $(ARM64_KOUT)/image-deb/busybox-static_*_arm64.deb $(ARM64_IMAGE)
	depmod -b $(ARM64_IMAGE) $(ARM64_KVER)
	rm -rf $(ARM64_KOUT)/image-deb
	@test -f $@ -a -x $(ARM64_BUSYBOX)

kernel-guest-arm64: $(ARM64_KGUEST)

# KSELF_BIN (the host's selftest) writes the store pattern on the host (--gen).
$(ARM64_KGUEST): $(ARM64_KMOD) $(ARM64_KSELF_BINS) $(ARM64_VMLINUZ) $(KSELF_BIN) \
		tests/qemu/build-guest.sh tests/qemu/init.sh
	GUEST_MODROOT=$(ARM64_IMAGE) GUEST_BUSYBOX=$(ARM64_BUSYBOX) \
		GUEST_MODULES="$(ARM64_GUEST_MODULES)" GUEST_GEN=$(KSELF_BIN) \
		sh tests/qemu/build-guest.sh $(ARM64_KOUT)/guest $(ARM64_KVER) $(ARM64_KMOD) \
		$(firstword $(ARM64_KSELF_BINS))
