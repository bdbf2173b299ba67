#!/bin/sh
# The arm64 module in an arm64 guest (issue 19; Documentation/arm64.md): activeswap.ko
# cross-built against Debian's arm64 headers (make module-arm64), the kselftests
# cross-built static, and Debian's linux-image-<KVER>-arm64 and busybox-static:arm64
# (apt-get download, multiarch) booted in qemu-system-aarch64 -M virt -cpu max under TCG
# (make kernel-guest-arm64). The guest is tests/qemu/init.sh, as on x86-64: it loads the
# module, runs the kselftest programs and the insmod/rmmod checks; its TAP is relayed
# renumbered, each line named "arm64-guest". There is no CLI in this guest (the libswap
# kmod backend is tested in the x86-64 guest, kernel.sh).
#
# TCG emulating arm64 is slow: AS_ARM64_GUEST_TESTS (comma-separated, default all five
# selftest programs) picks the programs; QEMU is limited to AS_ARM64_QEMU_TIMEOUT seconds
# (default 400: the guest ran 136 s at a host load average of 14, 257 s at 25 with the
# fuzzer's 20000 iterations; AS_ARM64_FUZZ_ITERS, default 2000, sets them). Skips
# with the reason when a tool is missing or a package cannot be fetched (sh mk/deps.sh
# arm64 and kernel install what this needs).
set -u
top=${AS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ -n "${AS_TMP:-}" ]; then
	tmp=$AS_TMP/kernel-arm64
	mkdir -p "$tmp"
else
	tmp=$(mktemp -d /tmp/as-kernel-arm64.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
fi
logs=$tmp/guest
limit=${AS_ARM64_QEMU_TIMEOUT:-400}
# the ioctl fuzzer's iterations (x86-64 guest: 20000, 30 s of this guest's time; the
# kernel hands AS_FUZZ_ITERS=N from its command line to /init's environment)
fuzz=${AS_ARM64_FUZZ_ITERS:-2000}
progs=${AS_ARM64_GUEST_TESTS:-activeswap_test,activeswap_io_test,activeswap_limits_test,activeswap_module_test,activeswap_user_test}

if [ "$(uname -m)" != x86_64 ]; then
	echo "1..0 # SKIP not an x86-64 host (on an arm64 board kernel.sh's guest is native)"
	exit 0
fi
kver=$(ls -d /lib/modules/6.1*/build 2>/dev/null | sort -V | tail -n 1 | cut -d/ -f4)
akver=$(echo "$kver" | sed 's/-amd64$/-arm64/')
missing=""
command -v qemu-system-aarch64 >/dev/null 2>&1 || missing="$missing qemu-system-arm"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing="$missing gcc-aarch64-linux-gnu"
[ -n "$kver" ] || missing="$missing linux-headers-amd64"
ls /usr/src/linux-source-6.1.tar.* >/dev/null 2>&1 || missing="$missing linux-source-6.1"
for t in cpio mkfs.ext4 modprobe depmod gzip apt-get dpkg-deb; do
	command -v $t >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "1..0 # SKIP missing:$missing (run: sh mk/deps.sh kernel; sh mk/deps.sh arm64)"
	exit 0
fi

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }

offline='Unable to locate|Failed to fetch|Could not resolve|Temporary failure|Unable to fetch'
build() {	# target description: 0 built, 1 failed, 2 skipped (a package cannot be fetched)
	if env -u MAKEFLAGS -u MAKELEVEL make -C "$top" --no-print-directory KVER="$kver" \
		"$1" >"$tmp/make-$1.log" 2>&1; then
		ok "$2"
		return 0
	fi
	if grep -qE "$offline" "$tmp/make-$1.log"; then
		ok "$2 # SKIP $(grep -m 1 -E "$offline" "$tmp/make-$1.log")"
		return 2
	fi
	notok "$2"
	tail -n 40 "$tmp/make-$1.log" | sed 's/^/# /'
	return 1
}

build module-arm64 "arm64-guest: activeswap.ko cross-built for $akver" &&
build selftests-arm64 "arm64-guest: kselftests cross-built (aarch64, static)" &&
build kernel-guest-arm64 "arm64-guest: initramfs with linux-image-$akver modules and busybox:arm64"
built=$?
if [ $built -ne 0 ]; then
	echo "1..$n"
	[ $built = 2 ]
	exit
fi

echo "# arm64-guest: selftest programs: $progs (fuzzer: $fuzz iterations)"
start=$(date +%s)
GUEST_ARCH=arm64 GUEST_KERNEL="$top/build/kernel-arm64/image/boot/vmlinuz-$akver" \
	GUEST_APPEND="as_tests=$progs AS_FUZZ_ITERS=$fuzz" \
	sh "$top/tests/qemu/run-guest.sh" "$top/build/kernel-arm64/guest" "$akver" "$logs" "$limit"
rc=$?
secs=$(($(date +%s) - start))
echo "# arm64-guest ran ${secs}s (qemu status $rc)"

. "$top/tests/qemu/guest-tap.sh"
guest_relay "$logs" "$secs" "$rc" arm64-guest
echo "1..$n"
[ "$failed" -eq 0 ]
