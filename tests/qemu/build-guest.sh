#!/bin/sh
# Build the QEMU guest for the kernel selftests:
#   OUT/initramfs.cpio.gz  busybox-static, the kernel modules the guest needs (virtio,
#                          ext4, dm-mod, dm-delay, from Debian's linux-image for KVER), activeswap.ko,
#                          the static selftest binary and tests/qemu/init.sh as /init
#   OUT/disk.img           ext4 image holding store.bin, a 16 MiB pattern file written by
#                          "activeswap_test --gen" (the guest mounts it read-only as /mnt)
#   OUT/raw.img            the same 16 MiB as a raw disk (the guest's /dev/vdb)
# Usage: build-guest.sh OUT KVER MODULE.ko SELFTEST
set -eu
out=$1 kver=$2 kmod=$3 selftest=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$out/root

command -v busybox >/dev/null || { echo "build-guest: busybox-static missing" >&2; exit 1; }
bb=$(command -v busybox)
case "$(file -L "$bb" 2>/dev/null)" in
*"statically linked"*|"") ;;
*) echo "build-guest: $bb is not static (install busybox-static)" >&2; exit 1 ;;
esac

rm -rf "$root" && mkdir -p "$root"/bin "$root"/dev "$root"/proc "$root"/sys "$root"/mnt \
	"$root"/tmp "$root"/lib/modules
cp "$bb" "$root"/bin/busybox
ln -s busybox "$root"/bin/sh
cp "$here"/init.sh "$root"/init
chmod 0755 "$root"/init
cp "$kmod" "$root"/activeswap.ko
cp "$selftest" "$root"/bin/activeswap_test

# Kernel modules, in dependency order (modprobe resolves it from the installed image).
: >"$root"/lib/modules/list
for m in virtio_pci virtio_blk ext4 dm-mod dm-delay; do
	modprobe -S "$kver" --show-depends "$m" | while read -r cmd path _; do
		[ "$cmd" = insmod ] || continue
		name=$(basename "$path")
		grep -qx "$name" "$root"/lib/modules/list && continue
		case "$path" in
		*.xz) xz -dc "$path" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
		*.zst) zstd -qdc "$path" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
		*) cp "$path" "$root/lib/modules/$name" ;;
		esac
		echo "$name" >>"$root"/lib/modules/list
	done
done
[ -s "$root"/lib/modules/list ] || { echo "build-guest: no modules for $kver" >&2; exit 1; }

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"/initramfs.cpio.gz.tmp
mv "$out"/initramfs.cpio.gz.tmp "$out"/initramfs.cpio.gz

# The store disk.
rm -rf "$out"/disk && mkdir -p "$out"/disk
"$selftest" --gen "$out"/disk/store.bin 16
rm -f "$out"/disk.img
mkfs.ext4 -q -F -b 4096 -L asstore -d "$out"/disk "$out"/disk.img 48M
# the same bytes as a raw disk (the guest's /dev/vdb: a block-device store, dm targets)
mv "$out"/disk/store.bin "$out"/raw.img
rm -rf "$out"/disk
echo "build-guest: $out/initramfs.cpio.gz $out/disk.img ($kver)"
