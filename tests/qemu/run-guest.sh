#!/bin/sh
# Boot Debian's kernel KVER in QEMU (TCG, never KVM) with the guest from build-guest.sh.
# Writes LOGDIR/console.log (ttyS0: kernel messages) and LOGDIR/tap.log (ttyS1: TAP).
# The kernel runs with slab red zones/poisoning (slub_debug=FZPU) and freed-page poisoning
# (page_poison=1), so a use-after-free of a request or a region page shows up in dmesg.
# Usage: run-guest.sh GUESTDIR KVER LOGDIR [TIMEOUT_SECONDS]
# Environment: GUEST_ARCH=arm64 boots qemu-system-aarch64's "virt" board (TCG, -cpu max)
# instead; GUEST_KERNEL is the kernel image (default /boot/vmlinuz-KVER); GUEST_APPEND adds
# to the kernel command line (init.sh reads as_tests= from it).
set -u
dir=$1 kver=$2 logs=$3 limit=${4:-240}
arch=${GUEST_ARCH:-x86_64}
kernel=${GUEST_KERNEL:-/boot/vmlinuz-$kver}
mkdir -p "$logs"
: >"$logs"/console.log
: >"$logs"/tap.log
[ -r "$kernel" ] || { echo "run-guest: no kernel image $kernel (install linux-image-amd64)" >&2; exit 1; }
# A TCG vCPU on a loaded host can be descheduled for many seconds: raise the soft-lockup
# and RCU-stall thresholds far above that so only real hangs (which the per-test timeouts
# catch anyway) are reported.
tolerant="watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=120"
debug="panic=-1 loglevel=4 rdinit=/init slub_debug=FZPU page_poison=1 $tolerant ${GUEST_APPEND:-}"
case "$arch" in
x86_64)
	timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 2 -m 768M \
		-nodefaults -no-reboot -display none \
		-kernel "$kernel" -initrd "$dir"/initramfs.cpio.gz \
		-append "console=ttyS0 $debug" \
		-drive file="$dir"/disk.img,if=virtio,format=raw,readonly=on \
		-drive file="$dir"/raw.img,if=virtio,format=raw,readonly=on \
		-serial file:"$logs"/console.log -serial file:"$logs"/tap.log ;;
arm64)
	# The virt board has one UART (the console, ttyAMA0): TAP goes to a virtio console
	# (/dev/hvc0). pauth-impdef: TCG emulates QEMU's own pointer-authentication hash
	# instead of the architected QARMA, which QEMU documents as much faster.
	timeout -k 5 "$limit" qemu-system-aarch64 -accel tcg -machine virt -cpu max,pauth-impdef=on \
		-smp 2 -m 768M -nodefaults -no-reboot -display none \
		-kernel "$kernel" -initrd "$dir"/initramfs.cpio.gz \
		-append "console=ttyAMA0 as_tap=/dev/hvc0 $debug" \
		-drive file="$dir"/disk.img,if=none,id=d0,format=raw,readonly=on \
		-device virtio-blk-pci,drive=d0 \
		-drive file="$dir"/raw.img,if=none,id=d1,format=raw,readonly=on \
		-device virtio-blk-pci,drive=d1 \
		-serial file:"$logs"/console.log \
		-device virtio-serial-pci -chardev file,id=tap,path="$logs"/tap.log \
		-device virtconsole,chardev=tap ;;
*)
	echo "run-guest: unknown GUEST_ARCH $arch" >&2
	exit 1 ;;
esac
