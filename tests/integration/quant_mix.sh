#!/bin/sh
# The K-quant / IQ4 types and the q4_k_m / q5_k_m mixes end to end (small, seconds):
#
#  - mkmodel --type q4_k_m / q5_k_m writes llama.cpp's per-tensor types (Q6_K output,
#    attn_v and ffn_down in the layers of use_more_bits, the base type elsewhere), and
#    `info` names the file type ("Q4_K - Medium");
#  - `run` generates on a model of each new type, the same text with 1 and 2 threads, and
#    also with the scalar kernels (whose text may differ: the levels sum in different
#    orders, test_kernels compares them);
#  - `convert` turns a q5_K_M GGUF into a store (its K-quant matrices re-encoded as Q8_0
#    columns for now) that passes --verify and runs.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/quant_mix"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }
SHAPE="--dim 256 --hidden 512 --layers 8 --heads 8 --kv-heads 4 --vocab 300 --ctx 64"

# 8 layers: use_more_bits holds for layers 0, 3, 6, 7.
for mix in q4_k_m:q4_K:"Q4_K - Medium" q5_k_m:q5_K:"Q5_K - Medium"; do
	name=${mix%%:*}
	rest=${mix#*:}
	base=${rest%%:*}
	ftname=${rest#*:}
	"$ACTIVESWAP" mkmodel -o "$T/$name.gguf" --type "$name" $SHAPE --seed 5 2>"$T/err"
	"$ACTIVESWAP" info "$T/$name.gguf" >"$T/info.txt" 2>&1
	want="output.weight q6_K"
	for l in 0 1 2 3 4 5 6 7; do
		case $l in 0|3|6|7) t=q6_K ;; *) t=$base ;; esac
		want="$want blk.$l.attn_v.weight $t blk.$l.ffn_down.weight $t"
		want="$want blk.$l.attn_q.weight $base blk.$l.ffn_up.weight $base"
	done
	fails=0
	set -- $want
	while [ $# -ge 2 ]; do
		grep -q "^ *[0-9]* *$1 .* $2 " "$T/info.txt" || fails=$((fails + 1))
		shift 2
	done
	check $([ $fails = 0 ] && grep -q "token_embd.weight .* $base " "$T/info.txt" &&
		grep -q "^file type: *$ftname (general.file_type" "$T/info.txt"; echo $?) \
		"$name: llama.cpp's per-tensor types ($fails wrong) and info names '$ftname'"
done

for ty in q2_K q3_K q5_K q6_K iq4_xs q4_1 q5_0 q5_1 iq4_nl; do
	M="$T/$ty.gguf"
	"$ACTIVESWAP_RELEASE" mkmodel -o "$M" --type $ty $SHAPE --layers 2 --seed 5 2>"$T/err"
	ACTIVESWAP_SIMD=scalar "$ACTIVESWAP" run -m "$M" -p "Once upon a time" -n 12 \
		--temp 0 -t 1 >"$T/a.txt" 2>"$T/a.err"
	rc=$?
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Once upon a time" -n 12 --temp 0 -t 1 \
		>"$T/b.txt" 2>/dev/null
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Once upon a time" -n 12 --temp 0 -t 2 \
		>"$T/c.txt" 2>/dev/null
	check $([ $rc = 0 ] && [ -s "$T/a.txt" ] && [ -s "$T/b.txt" ] &&
		cmp -s "$T/b.txt" "$T/c.txt"; echo $?) \
		"$ty: run generates, the same with 2 threads; the scalar kernels run too"
done

"$ACTIVESWAP_RELEASE" mkmodel -o "$T/c.gguf" --type q5_k_m $SHAPE --seed 6 2>/dev/null
"$ACTIVESWAP" convert "$T/c.gguf" -o "$T/c.asw" --quiet >"$T/cv.out" 2>"$T/cv.err"
rc=$?
"$ACTIVESWAP" convert --verify "$T/c.asw" >/dev/null 2>"$T/vf.err"
vrc=$?
"$ACTIVESWAP" run -m "$T/c.asw" -p "Once" -n 8 --temp 0 >"$T/s.txt" 2>"$T/s.err"
check $([ $rc = 0 ] && [ $vrc = 0 ] && [ $? = 0 ] && [ -s "$T/s.txt" ]; echo $?) \
	"convert: a q5_K_M GGUF becomes a store that verifies and runs (rc $rc/$vrc)"

echo "1..$n"
