#!/bin/sh
# Build the QEMU guest for the kernel selftests:
#   OUT/initramfs.cpio.gz  busybox-static, the kernel modules the guest needs (virtio,
#                          ext4, dm-mod, dm-delay, from Debian's linux-image for KVER), activeswap.ko,
#                          the static selftest programs (SELFTEST, activeswap_test, and the
#                          activeswap_*_test beside it) and tests/qemu/init.sh as /init
#                          and, with CLI, the activeswap CLI with its shared libraries
#                          (ASAN_CLI, the sanitizer build, as /bin/activeswap-asan)
#   OUT/disk.img           ext4 image holding store.bin, a 16 MiB pattern file written by
#                          "activeswap_test --gen" (the guest mounts it read-only as /mnt),
#                          and, with CLI, model.asw: a small generated model (mkmodel,
#                          seeded) converted to a store, for the kmod/io_uring comparison
#   OUT/raw.img            the same 16 MiB as a raw disk (the guest's /dev/vdb)
#   with CLI, /flakey.txt  in the initramfs: where 64 KiB of model.asw's bundles lie on
#                          disk.img (debugfs), and the host's dmsetup, for init.sh's
#                          dm-flakey read faults
# Usage: build-guest.sh OUT KVER MODULE.ko SELFTEST [CLI [ASAN_CLI]]
# A guest of another architecture (mk/kernel_arm64.mk) sets, in the environment:
#   GUEST_MODROOT  the directory holding lib/modules/KVER (default /, the host's)
#   GUEST_BUSYBOX  a static busybox for the guest (default the host's busybox)
#   GUEST_MODULES  the kernel modules to load, dependencies resolved by modprobe
#   GUEST_GEN      a host program for "--gen" (default SELFTEST)
set -eu
out=$1 kver=$2 kmod=$3 selftest=$4 cli=${5:-} asan_cli=${6:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$out/root
modroot=${GUEST_MODROOT:-/}
modules=${GUEST_MODULES:-virtio_pci virtio_blk ext4 dm-mod dm-delay}
gen=${GUEST_GEN:-$selftest}

bb=${GUEST_BUSYBOX:-$(command -v busybox || true)}
[ -n "$bb" ] && [ -x "$bb" ] || { echo "build-guest: busybox-static missing" >&2; exit 1; }
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
for t in "$(dirname "$selftest")"/activeswap_*_test; do
	[ -x "$t" ] && cp "$t" "$root"/bin/
done

# The CLI (the host's optimized build, and its sanitizer build when given) with the
# shared libraries ldd lists, at the same paths, loader included.
add_prog() {	# PROGRAM NAME-IN-/bin
	cp "$1" "$root/bin/$2"
	libs=$(ldd "$1" | sed -n -e 's/.*=> \(\/[^ ]*\) (.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
	[ -n "$libs" ] || { echo "build-guest: ldd found no libraries for $1" >&2; exit 1; }
	for l in $libs; do
		mkdir -p "$root$(dirname "$l")"
		[ -e "$root$l" ] || cp -L "$l" "$root$l"
	done
}
[ -z "$cli" ] || add_prog "$cli" activeswap
[ -z "$cli" ] || [ -z "$asan_cli" ] || add_prog "$asan_cli" activeswap-asan

# activeswap trace in the guest (tests/qemu/trace-guest.sh): the script and its static
# workload kmod_fetch (mk/ktrace.mk builds it next to the selftest binary)
cp "$here"/trace-guest.sh "$root"/trace-guest.sh
if [ -x "$(dirname "$selftest")"/kmod_fetch ]; then
	cp "$(dirname "$selftest")"/kmod_fetch "$root"/bin/kmod_fetch
fi

# Kernel modules, in dependency order (modprobe resolves it from the installed image).
: >"$root"/lib/modules/list
for m in $modules $([ -z "$cli" ] || echo dm-flakey); do
	modprobe -d "$modroot" -S "$kver" --show-depends "$m" | while read -r cmd path _; do
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

# The store disk.
rm -rf "$out"/disk && mkdir -p "$out"/disk
"$gen" --gen "$out"/disk/store.bin 16
if [ -n "$cli" ]; then
	# tiny shape (dim 256, hidden 768), 4 layers, q8_0: a 3.7 MiB store, so a 60% budget
	# evicts and bench io with a 2 MiB budget reads from the disk all the time
	"$cli" mkmodel -o "$out"/model.gguf --shape tiny --layers 4 --type q8_0 --seed 3 \
		>/dev/null 2>&1
	"$cli" convert "$out"/model.gguf -o "$out"/disk/model.asw --group 1 --quiet
	rm -f "$out"/model.gguf
fi
rm -f "$out"/disk.img
mkfs.ext4 -q -F -b 4096 -L asstore -d "$out"/disk "$out"/disk.img 48M
# the same bytes as a raw disk (the guest's /dev/vdb: a block-device store, dm targets)
mv "$out"/disk/store.bin "$out"/raw.img
rm -rf "$out"/disk

# Where model.asw's bytes lie on disk.img, for the guest's dm-flakey case (init.sh,
# libswap_faults): 64 KiB of the file at 70% of its length (bundles, past the header and
# the resident tensors), if contiguous there, as "START_SECTOR SECTORS DISK_SECTORS".
if [ -n "$cli" ] && command -v debugfs >/dev/null 2>&1 && command -v dmsetup >/dev/null 2>&1; then
	blocks=$(debugfs -R "stat /model.asw" "$out"/disk.img 2>/dev/null |
		sed -n 's/^User: .*Size: *\([0-9]*\)$/\1/p')
	blocks=$(( ${blocks:-0} / 4096 ))
	l=$((blocks * 7 / 10))
	p0=$(debugfs -R "bmap /model.asw $l" "$out"/disk.img 2>/dev/null)
	p1=$(debugfs -R "bmap /model.asw $((l + 15))" "$out"/disk.img 2>/dev/null)
	if [ "$blocks" -gt 32 ] && [ -n "$p0" ] && [ "$p1" = $((p0 + 15)) ]; then
		echo "$((p0 * 8)) 128 $(($(stat -c %s "$out"/disk.img) / 512))" >"$root"/flakey.txt
		add_prog "$(command -v dmsetup)" dmsetup
	fi
fi

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"/initramfs.cpio.gz.tmp
mv "$out"/initramfs.cpio.gz.tmp "$out"/initramfs.cpio.gz
echo "build-guest: $out/initramfs.cpio.gz $out/disk.img ($kver)"
