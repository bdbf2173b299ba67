#!/bin/sh
# Install the Debian packages the build and the tests need (when root), or print the
# exact command to do so. Usage: mk/deps.sh [build|check|demo|kernel|arm64|quick]
#   quick   plain `make`: only check the packages the build cannot do without and, when
#           one is missing, print the one line to run (`make deps`); installs nothing.
# Before installing, says what and why (check: the kernel image, QEMU and the kernel
# source of the module's guest tests, about 14 minutes on 2 cores the first time); apt's
# progress shows; another apt/dpkg running is waited for (its lock), not a failure.
# "arm64" (part of "check" on an x86-64 host) is the aarch64 cross build and its tests
# under qemu-user: the cross compiler and the arm64 -dev packages of the libraries the
# build links (multiarch: dpkg --add-architecture arm64 first).
set -u
want="$1"
pkgs_hard="gcc make liburing-dev libnuma-dev systemtap-sdt-dev"
# openmpi-bin, libopenmpi-dev: tensor parallelism (mpirun -np N activeswap ...), built in
# when pkg-config finds Open MPI (mk/mpi.mk); "check" (which includes "build") runs it
# with 2 and 4 ranks (tests/integration/mpi.sh)
pkgs_build="gcc make pkg-config clang llvm liburing-dev libnuma-dev libbpf-dev bpftool
libelf-dev zlib1g-dev systemtap-sdt-dev openmpi-bin libopenmpi-dev"
pkgs_check="libcmocka-dev libclang-rt-14-dev fio jq g++"
pkgs_demo="gnuplot-nox"
pkgs_kernel="qemu-system-x86 qemu-system-arm linux-image-amd64 linux-headers-amd64 busybox-static
linux-source-6.1 sparse kmod cpio e2fsprogs xz-utils dmsetup"
pkgs_arm64=""
if [ "$(uname -m)" = x86_64 ]; then
	pkgs_arm64="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user liburing-dev:arm64
libnuma-dev:arm64 libcmocka-dev:arm64 systemtap-sdt-dev:arm64"
fi
case "$want" in
quick) pkgs="$pkgs_hard" ;;
build) pkgs="$pkgs_build" ;;
check) pkgs="$pkgs_build $pkgs_check $pkgs_demo $pkgs_kernel $pkgs_arm64" ;;
demo) pkgs="$pkgs_build $pkgs_demo" ;;
kernel) pkgs="$pkgs_build $pkgs_kernel" ;;
arm64) pkgs="$pkgs_build $pkgs_arm64" ;;
*) echo "usage: $0 build|check|demo|kernel|arm64|quick" >&2; exit 2 ;;
esac
command -v dpkg-query >/dev/null 2>&1 || {
	[ "$want" = quick ] && exit 0
	echo "deps: not a Debian system (no dpkg-query): install by hand:" $pkgs >&2
	exit 1
}
missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$want" = quick ]; then
	echo "activeswap: missing build packages:$missing; run 'make deps' (as root) first" >&2
	exit 1
fi
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
echo "deps: installing with apt-get:$missing" >&2
case " $missing " in
*" qemu-system-x86 "* | *" linux-image-amd64 "* | *" linux-source-6.1 "*)
	echo "deps: (a kernel image, QEMU and the kernel source are for the kernel module's" \
		"tests in a QEMU guest: the first make check takes about 14 minutes on 2 cores)" >&2 ;;
esac
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages come from the arm64 half of the same Debian archive (multiarch).
[ -n "$multiarch" ] && dpkg --add-architecture arm64
# Wait for another apt or dpkg (its locks) instead of failing: up to 20 minutes.
LOCKWAIT="-o DPkg::Lock::Timeout=1200"
# Lists may be absent on a fresh machine; refresh once (retried while locked).
i=0
# shellcheck disable=SC2086
until apt-get $LOCKWAIT update; do
	i=$((i + 1))
	[ $i -ge 60 ] && { echo "deps: apt-get update failed" >&2; exit 1; }
	echo "deps: apt-get update failed (another apt running?); retrying in 20 s" >&2
	sleep 20
done
# shellcheck disable=SC2086
apt-get $LOCKWAIT install -y --no-install-recommends $missing || {
	echo "deps: apt-get install failed for:$missing" >&2
	exit 1
}
