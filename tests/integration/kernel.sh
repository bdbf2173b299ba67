#!/bin/sh
# Kernel suite (TAP): builds activeswap.ko against Debian's 6.1 headers (W=1, sparse), the
# static kselftests and a busybox guest, boots Debian's 6.1 kernel in QEMU (TCG) and relays
# the guest's TAP (renumbered).  The guest also runs the CLI (libswap's kmod backend):
# greedy decoding of a generated store gives the same text with kmod, io_uring and pread,
# auto picks kmod, and bench io reports both backends' bandwidth as comments.  Skips when
# the kernel packages are missing (sh mk/deps.sh kernel installs them).  Takes 60-120 s
# depending on host load; QEMU is limited to AS_QEMU_TIMEOUT seconds (default 480) so a
# hung guest cannot hang make check.
set -u
top=${AS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ -n "${AS_TMP:-}" ]; then
	tmp=$AS_TMP
else
	tmp=$(mktemp -d /tmp/as-kernel.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
fi
logs=$tmp/kernel-guest
limit=${AS_QEMU_TIMEOUT:-480}

kver=$(ls -d /lib/modules/6.1*/build 2>/dev/null | sort -V | tail -n 1 | cut -d/ -f4)
missing=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
[ -n "$kver" ] || missing="$missing linux-headers-amd64"
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] || missing="$missing linux-image-amd64"
[ -d "/lib/modules/$kver/kernel" ] || missing="$missing linux-image-amd64(modules)"
ls /usr/src/linux-source-6.1.tar.* >/dev/null 2>&1 || missing="$missing linux-source-6.1"
command -v busybox >/dev/null 2>&1 || missing="$missing busybox-static"
for t in cpio mkfs.ext4 modprobe gzip; do
	command -v $t >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "1..0 # SKIP missing:$missing (run: sh mk/deps.sh kernel)"
	exit 0
fi

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }

# the sanitizer CLI goes into the guest too (a kmod-backend run under ASan+UBSan)
asan_cli=""
if [ -n "${ACTIVESWAP:-}" ] && [ "$ACTIVESWAP" != "${ACTIVESWAP_RELEASE:-}" ] &&
   ldd "$ACTIVESWAP" 2>/dev/null | grep -q libasan; then
	asan_cli=$ACTIVESWAP
fi

build() {	# target description
	if env -u MAKEFLAGS -u MAKELEVEL make -C "$top" --no-print-directory KVER="$kver" \
		KGUEST_ASAN="$asan_cli" "$1" >"$tmp/make-$1.log" 2>&1; then
		ok "$2"
		return 0
	fi
	notok "$2"
	tail -n 40 "$tmp/make-$1.log" | sed 's/^/# /'
	return 1
}

# dkms.conf's MAKE command, run as dkms would, on a copy of the sources.
dkms_build() {
	if ! command -v bash >/dev/null 2>&1; then
		ok "dkms.conf build command # SKIP no bash"
		return 0
	fi
	rm -rf "$tmp/dkms" && mkdir -p "$tmp/dkms/activeswap/0.1/build/module"
	cp -r "$top/Kbuild" "$top/uapi" "$tmp/dkms/activeswap/0.1/build/" &&
	cp "$top"/module/Kbuild "$top"/module/*.c "$top"/module/*.h \
		"$tmp/dkms/activeswap/0.1/build/module/"
	if env -u MAKEFLAGS -u MAKELEVEL kernel_source_dir="/lib/modules/$kver/build" \
		dkms_tree="$tmp/dkms" bash -c '. "$1" && eval "${MAKE[0]}" &&
		test -f "$dkms_tree/$PACKAGE_NAME/$PACKAGE_VERSION/build/${BUILT_MODULE_LOCATION[0]}${BUILT_MODULE_NAME[0]}.ko"' \
		sh "$top/dkms.conf" >"$tmp/dkms.log" 2>&1; then
		ok "dkms.conf build command produces activeswap.ko"
	else
		notok "dkms.conf build command produces activeswap.ko"
		tail -n 20 "$tmp/dkms.log" | sed 's/^/# /'
	fi
	rm -rf "$tmp/dkms"
	return 0
}

# The uapi header alone: no implicit padding, same offsets on x86-64 and i386, valid C++.
abi_check() {
	what=""
	for v in "gcc -std=c11" "g++ -x c++ -std=c++11" "clang -target i386-linux-gnu -std=c11"; do
		set -- $v
		command -v "$1" >/dev/null 2>&1 || continue
		if ! $v -I"$top/uapi" -I/usr/include/x86_64-linux-gnu -Wall -Wextra -Wpadded \
			-Werror -fsyntax-only "$top/tests/selftests/activeswap/abi_check.c" \
			>"$tmp/abi.log" 2>&1; then
			notok "uapi/linux/activeswap.h layout ($v)"
			sed 's/^/# /' "$tmp/abi.log" | head -n 20
			return 0
		fi
		what="$what, $1${3:+ $3}"
	done
	ok "uapi/linux/activeswap.h: fixed layout, no padding (${what#, })"
}
abi_check

build module "activeswap.ko builds against $kver headers, W=1 and sparse clean" &&
dkms_build &&
build selftests "kselftests build (static, harness from linux-source-6.1)" &&
build kernel-guest "guest initramfs and ext4 store disk build"
if [ "$failed" -ne 0 ]; then
	echo "1..$n"
	exit 1
fi

start=$(date +%s)
sh "$top/tests/qemu/run-guest.sh" "$top/build/kernel/guest" "$kver" "$logs" "$limit"
rc=$?
secs=$(($(date +%s) - start))
echo "# guest ran ${secs}s (qemu status $rc)"

# Relay the guest's results with host numbering; keep its diagnostics as comments.
. "$top/tests/qemu/guest-tap.sh"
guest_relay "$logs" "$secs" "$rc" guest
echo "1..$n"
[ "$failed" -eq 0 ]
