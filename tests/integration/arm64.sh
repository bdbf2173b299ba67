#!/bin/sh
# The aarch64 build (build/aarch64, `make arm64-tests`) under qemu-aarch64 user-mode
# emulation, on an x86-64 host (Documentation/arm64.md):
#
#  - every arm64 unit test but the long ones named below, on qemu's default CPU ("max": NEON with the dot-product
#    instructions and CRC32), and the kernel tests (test_kernels, test_sparse,
#    test_kqstore) and the crc32c test again on a Cortex-A53 (NEON without dot product),
#    so both NEON levels and the scalar one are compared;
#  - integration suites with ACTIVESWAP set to the arm64 CLI under qemu: golden.sh (the
#    real model's llama.cpp texts and PPL) and swap_io.sh (fetch storms);
#  - swapping the real model: its store gives the dense text at sparsity 0 and the same
#    text at every budget (pread backend). The unit test test_arch_store checks the
#    budgets bit-identity on generated models of every architecture;
#  - the module cross-built against Debian's arm64 headers, W=1 and sparse clean
#    (make module-arm64; SKIP when apt-get cannot fetch them).
#
# What cannot run emulated is reported as a SKIP with the reason: io_uring (qemu-user does
# not implement io_uring_setup; the tests' io_uring halves print why), the kernel module's
# ioctls, BPF, the unit tests that take minutes emulated and hold no arm64-specific code
# (test_arch_parity, test_api, test_swaprun, test_swap_convert, test_forward_batch,
# test_swap_batch, test_moe_store: AS_ARM64_FULL=1 runs them; the kernels they reach are
# tested here by the kernel tests) and swaprun.sh (many minutes: its real-model checks
# are repeated here).
# Each result line is prefixed with "arm64" and the suite's name; the numbers are this
# suite's own.
set -u
: "${AS_TOP:?}" "${AS_TMP:?}"
B="${AS_ARM64_BUILD:-$AS_TOP/build/aarch64}"
QEMU="${AS_QEMU_AARCH64:-qemu-aarch64}"
T="$AS_TMP/arm64"
n=0

if [ "$(uname -m)" != x86_64 ]; then
	echo "1..0 # SKIP not an x86-64 host (on aarch64 the native suites are these tests)"
	exit 0
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "1..0 # SKIP no $QEMU (sh mk/deps.sh arm64 installs qemu-user)"
	exit 0
fi
if [ ! -x "$B/bin/activeswap" ] || [ ! -d "$B/tests/unit" ]; then
	echo "1..0 # SKIP no arm64 build in $B (make arm64-tests)"
	exit 0
fi
mkdir -p "$T"

# relay one TAP stream: renumbered, named "arm64 NAME: ...", SKIPs kept as SKIPs
relay() { # name file
	while IFS= read -r line; do
		d=$(echo "$line" | sed 's/^\(not \)\{0,1\}ok [0-9]* *-\{0,1\} *//')
		case "$line" in
		"1..0 #"*[Ss][Kk][Ii][Pp]*)
			n=$((n + 1)); echo "ok $n - arm64 $1 # SKIP${line#*[Ss][Kk][Ii][Pp]}" ;;
		"not ok "*"# SKIP"* | "ok "*"# SKIP"*)
			n=$((n + 1)); echo "ok $n - arm64 $1: $d" ;;
		"not ok "*)
			n=$((n + 1)); echo "not ok $n - arm64 $1: $d" ;;
		"ok "*)
			n=$((n + 1)); echo "ok $n - arm64 $1: $d" ;;
		"#"*)
			echo "# arm64 $1: ${line#\#}" ;;
		esac
	done <"$2"
}

unit() { # name cpu
	t="$B/tests/unit/$1"
	log="$T/$1.$2.tap"
	CMOCKA_MESSAGE_OUTPUT=TAP AS_SHARED="${AS_SHARED:-}" "$QEMU" -cpu "$2" "$t" \
		>"$log" 2>"$log.err"
	rc=$?
	relay "$1 (-cpu $2)" "$log"
	if [ $rc -ne 0 ] && ! grep -q '^not ok [0-9]* -' "$log"; then
		n=$((n + 1)); echo "not ok $n - arm64 $1 (-cpu $2) exited with status $rc"
		sed 's/^/# /' "$log.err" | tail -n 20
	fi
}

for t in "$B"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	case "$name" in *.d) continue ;; esac
	# Long under emulation, and no code of their own per architecture: what they
	# reach that differs on arm64 (the NEON kernels of every type and column encoding,
	# batched matmul, crc32c) is covered above and below by test_kernels, test_sparse,
	# test_kqstore, test_matmul, test_model, golden.sh and the real model's store.
	# AS_ARM64_FULL=1 runs them (measured under qemu-user on the 2-core host).
	why=""
	case "$name" in
	test_arch_parity) why="2-6 minutes" ;;
	test_api) why="over 10 minutes (the store opens' cost-model probes)" ;;
	test_swaprun) why="90 s (budgets x policies x backends on generated stores)" ;;
	test_swap_convert) why="80 s (convert's numerics and hostile inputs)" ;;
	test_forward_batch) why="57 s (batched forward; its matmul kernels: test_matmul)" ;;
	test_swap_batch) why="50 s (store prompt batches)" ;;
	test_moe_store) why="35 s (expert stores)" ;;
	esac
	if [ -n "$why" ] && [ -z "${AS_ARM64_FULL:-}" ]; then
		n=$((n + 1))
		echo "ok $n - arm64 $name # SKIP $why under TCG, no arm64-specific code (AS_ARM64_FULL=1 runs it)"
		continue
	fi
	unit "$name" max
done
for name in test_kernels test_sparse test_kqstore test_swap_store; do
	unit "$name" cortex-a53
done

# the CLI under qemu for the integration suites
cat >"$T/activeswap" <<EOF
#!/bin/sh
exec "$QEMU" "$B/bin/activeswap" "\$@"
EOF
chmod +x "$T/activeswap"
for s in golden swap_io; do
	mkdir -p "$T/$s"
	start=$(date +%s)
	AS_NO_URING="qemu-user has no io_uring_setup" AS_CLI_ELF="$B/bin/activeswap" \
		ACTIVESWAP="$T/activeswap" ACTIVESWAP_RELEASE="$T/activeswap" AS_TMP="$T/$s" \
		AS_BUILD="$B" sh "$AS_TOP/tests/integration/$s.sh" >"$T/$s.tap" 2>"$T/$s.err"
	rc=$?
	relay "integration/$s" "$T/$s.tap"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$T/$s.tap"; then
		n=$((n + 1)); echo "not ok $n - arm64 integration/$s exited with status $rc"
		sed 's/^/# /' "$T/$s.err" | tail -n 20
	fi
	echo "# arm64 integration/$s: $(( $(date +%s) - start )) s"
done

# Swapping the real model (swaprun.sh's real-model checks; the whole suite takes many
# minutes emulated): its store at sparsity 0 gives the dense greedy text, and at
# sparsity 0.3 every budget gives the same text (pread backend).
MODEL="${AS_SHARED:-/nonexistent}/models/stories260K.gguf"
A="$T/activeswap"
P="Once upon a time"
n=$((n + 1))
if [ ! -r "$MODEL" ]; then
	echo "ok $n - arm64 swapping the real model # SKIP no AS_SHARED/models/stories260K.gguf"
else
	"$A" convert "$MODEL" -o "$T/r.asw" --group 1 --quiet >"$T/conv.err" 2>&1
	"$A" run -m "$MODEL" -p "$P" -n 40 --temp 0 >"$T/rd.txt" 2>/dev/null
	"$A" run -m "$T/r.asw" -p "$P" -n 40 --temp 0 --sparsity 0 --backend pread \
		>"$T/rs.txt" 2>/dev/null
	if [ -s "$T/rd.txt" ] && cmp -s "$T/rd.txt" "$T/rs.txt"; then
		echo "ok $n - arm64 swapping: the real model's store at sparsity 0 gives the dense text"
	else
		echo "not ok $n - arm64 swapping: the real model's store at sparsity 0 gives the dense text"
		sed 's/^/# /' "$T/conv.err"
	fi
	"$A" run -m "$T/r.asw" -p "$P" -n 40 --temp 0 --sparsity 0.3 --backend pread \
		>"$T/r3.txt" 2>/dev/null
	fail=""
	for b in 75% 60%; do
		"$A" run -m "$T/r.asw" -p "$P" -n 40 --temp 0 --sparsity 0.3 --dram-budget $b \
			--backend pread >"$T/rx.txt" 2>/dev/null || fail="$fail $b(rc)"
		cmp -s "$T/rx.txt" "$T/r3.txt" || fail="$fail $b"
	done
	n=$((n + 1))
	if [ -z "$fail" ] && [ -s "$T/r3.txt" ]; then
		echo "ok $n - arm64 swapping: sparsity 0.3 gives the same text at 100/75/60% (pread)"
	else
		echo "not ok $n - arm64 swapping: sparsity 0.3, same text at 100/75/60% (pread):$fail"
	fi
fi
# The module cross-built against Debian's arm64 headers (mk/arm64.mk, fetched with
# apt-get download); kernel_arm64.sh loads it in a qemu-system-aarch64 guest.
n=$((n + 1))
ko="$AS_TOP/build/kernel-arm64/src/module/activeswap.ko"
rm -f "$ko" # built every time (seconds): its W=1 / sparse verdict is this run's
make -s -C "$AS_TOP" module-arm64 >"$T/kmod.log" 2>&1
rc=$?
offline='Unable to locate|Failed to fetch|Could not resolve|Temporary failure'
if [ $rc -ne 0 ] && grep -qE "$offline|no amd64 kernel headers|needs /usr/src" "$T/kmod.log"; then
	echo "ok $n - arm64 module cross build # SKIP $(grep -m 1 -E 'E:|module-arm64:' "$T/kmod.log")"
elif [ $rc -eq 0 ] && readelf -h "$ko" 2>/dev/null | grep -q 'Machine:.*AArch64'; then
	echo "ok $n - arm64 module cross build: $(tail -n 1 "$T/kmod.log" | sed 's,^.*/,,')"
else
	echo "not ok $n - arm64 module cross build (rc $rc)"
	tail -n 20 "$T/kmod.log" | sed 's/^/# /'
fi

for what in "io_uring backend: qemu-user has no io_uring_setup" \
	"kmod backend and module: qemu-user does not relay the module's ioctls (kernel_arm64.sh loads the module in a system guest)" \
	"BPF tracer: left out of the cross build (host libbpf); no BPF under qemu-user" \
	"integration/swaprun.sh: many minutes emulated; its real-model checks are above"; do
	n=$((n + 1))
	echo "ok $n - arm64 ${what%%:*} # SKIP${what#*:}"
done
echo "1..$n"
