#!/bin/sh
# Guest instructions per kernel call of the arm64 build, per SIMD level, under
# qemu-aarch64 (TCG timings mean nothing; Documentation/arm64.md). Needs build/aarch64
# (make arm64-tests). Counts come from -d in_asm,exec,nochain: the instructions of each
# translation block, summed over every block executed; one call = (3 calls - 1 call) / 2.
# Usage: sh tests/qemu/arm64_insn.sh [TOP]   (a few minutes; not part of make check)
# AS_INSN_DENSE, AS_INSN_SPARSE, AS_INSN_KQ: the types of each table part (space-separated;
# empty strings are the defaults, all of them).
set -eu
top=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
b=$top/build/aarch64
drv=$b/tests/arm64_insn
aarch64-linux-gnu-gcc -O2 -D_GNU_SOURCE -I"$top/runtime/include" -o "$drv" \
	"$top/tests/qemu/arm64_insn.c" "$b/lib/libasrt.a" "$b/lib/libswap.a" -luring -lnuma -lm \
	-lpthread

count() { # level reps type [sparse|kq]
	qemu-aarch64 -cpu max -d in_asm,exec,nochain "$drv" "$@" 2>&1 >/dev/null | awk '
	/^IN:/ { intb = 1; pc = ""; k = 0; next }
	intb && /^0x[0-9a-f]+:/ { if (pc == "") pc = substr($1, 3, length($1) - 3); k++; next }
	intb && /^$/ { if (pc != "") size[pc] = k; intb = 0; next }
	/^Trace/ { split($0, f, "/"); p = f[2]; sub(/^0+/, "", p); total += size[p] }
	END { printf "%d\n", total }'
}

one() { # level type [sparse]
	a=$(count "$1" 1 "$2" ${3:-}) c=$(count "$1" 3 "$2" ${3:-})
	echo $(( (c - a) / 2 ))
}

echo "| kernel | scalar | neon | dotprod | scalar / best |"
echo "|---|---|---|---|---|"
for t in ${AS_INSN_DENSE:-f32 f16 bf16 q8_0 q4_0 q4_0_x16 q4_K q6_K \
	q4_1 q5_0 q5_1 iq4_nl q2_K q3_K q5_K iq4_xs}; do
	s=$(one 0 $t) n=$(one 1 $t) d=$(one 2 $t)
	best=$n; [ "$d" -lt "$best" ] && best=$d
	echo "| matvec $t 256x1024 | $s | $n | $d | $(awk -v a=$s -v b=$best 'BEGIN{printf "%.1f", a/b}') |"
done
for t in ${AS_INSN_SPARSE:-f32 f16 bf16 q8_0 q4_0}; do
	s=$(one 0 $t sparse) n=$(one 1 $t sparse)
	echo "| sparse $t 64 cols x 256 | $s | $n | = neon | $(awk -v a=$s -v b=$n 'BEGIN{printf "%.1f", a/b}') |"
done
for t in ${AS_INSN_KQ:-q4_K q5_K q6_K}; do
	s=$(one 0 $t kq) n=$(one 1 $t kq)
	echo "| K-quant columns $t 64 x 256 | $s | $n | = neon | $(awk -v a=$s -v b=$n 'BEGIN{printf "%.1f", a/b}') |"
done
