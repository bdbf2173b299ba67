#!/bin/sh
# Boot Debian's kernel KVER in QEMU (TCG, never KVM) with the guest from build-guest.sh.
# Writes LOGDIR/console.log (ttyS0: kernel messages) and LOGDIR/tap.log (ttyS1: TAP).
# The kernel runs with slab red zones/poisoning (slub_debug=FZPU) and freed-page poisoning
# (page_poison=1), so a use-after-free of a request or a region page shows up in dmesg.
# Usage: run-guest.sh GUESTDIR KVER LOGDIR [TIMEOUT_SECONDS]
set -u
dir=$1 kver=$2 logs=$3 limit=${4:-240}
kernel=/boot/vmlinuz-$kver
mkdir -p "$logs"
: >"$logs"/console.log
: >"$logs"/tap.log
[ -r "$kernel" ] || { echo "run-guest: no $kernel (install linux-image-amd64)" >&2; exit 1; }
# A TCG vCPU on a loaded host can be descheduled for many seconds: raise the soft-lockup
# and RCU-stall thresholds far above that so only real hangs (which the per-test timeouts
# catch anyway) are reported.
tolerant="watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=120"
timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 2 -m 768M \
	-nodefaults -no-reboot -display none \
	-kernel "$kernel" -initrd "$dir"/initramfs.cpio.gz \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init slub_debug=FZPU page_poison=1 $tolerant" \
	-drive file="$dir"/disk.img,if=virtio,format=raw,readonly=on \
	-drive file="$dir"/raw.img,if=virtio,format=raw,readonly=on \
	-serial file:"$logs"/console.log -serial file:"$logs"/tap.log
