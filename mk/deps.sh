#!/bin/sh
# Install the Debian packages the build and the tests need (when root), or print the
# exact command to do so. Usage: mk/deps.sh [build|check|demo|kernel|arm64]
# "arm64" (part of "check" on an x86-64 host) is the aarch64 cross build and its tests
# under qemu-user: the cross compiler and the arm64 -dev packages of the libraries the
# build links (multiarch: dpkg --add-architecture arm64 first).
set -u
want="$1"
pkgs_build="gcc make pkg-config clang llvm liburing-dev libnuma-dev libbpf-dev bpftool
libelf-dev zlib1g-dev systemtap-sdt-dev"
pkgs_check="libcmocka-dev libclang-rt-14-dev fio jq"
pkgs_demo="gnuplot-nox"
pkgs_kernel="qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static
linux-source-6.1 sparse kmod cpio e2fsprogs xz-utils"
pkgs_arm64=""
if [ "$(uname -m)" = x86_64 ]; then
	pkgs_arm64="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user liburing-dev:arm64
libnuma-dev:arm64 libcmocka-dev:arm64 systemtap-sdt-dev:arm64"
fi
case "$want" in
build) pkgs="$pkgs_build" ;;
check) pkgs="$pkgs_build $pkgs_check $pkgs_demo $pkgs_kernel $pkgs_arm64" ;;
demo) pkgs="$pkgs_build $pkgs_demo" ;;
kernel) pkgs="$pkgs_build $pkgs_kernel" ;;
arm64) pkgs="$pkgs_build $pkgs_arm64" ;;
*) echo "usage: $0 build|check|demo|kernel|arm64" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
multiarch=""
case "$missing" in
*:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || multiarch=y ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	[ -n "$multiarch" ] && echo "deps: run as root: dpkg --add-architecture arm64" >&2
	echo "deps: run as root: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages$missing and no apt-get on this system" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages come from the arm64 half of the same Debian archive (multiarch).
[ -n "$multiarch" ] && dpkg --add-architecture arm64
# Lists may be absent on a fresh machine (or lack arm64); refresh once, quietly.
apt-get update -qq >/dev/null 2>&1 || apt-get update
apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	echo "deps: apt-get install failed for:$missing" >&2
	exit 1
}
