#!/bin/sh
# The architectures on models written by `activeswap mkmodel --arch` (no shared data):
#
#  - qwen2 and qwen3 (with --head-dim) models of each type generate, and the same
#    parameters give the same bytes;
#  - greedy output does not depend on the thread count, nor (with an F32 KV cache) on Q4_0
#    repacking;
#  - `info` names the architecture;
#  - bad --arch / --head-dim values are usage errors (exit 2);
#  - --rope-freqs writes Llama 3.1's rope_freqs.weight (llama only) and the model runs;
#  - `convert` refuses a model whose attention is wider than dim (exit 1, one line, no
#    store left); qwen2 and rope_freqs stores at sparsity 0 give the GGUF's greedy text.
# Parity with llama.cpp on these models is tests/unit/test_arch_parity.c.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/arch"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }

SHAPE="--dim 128 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 256"
for arch in qwen2 qwen3; do
	extra=
	[ $arch = qwen3 ] && extra="--head-dim 64"
	for ty in q4_0 q8_0 f16; do
		M="$T/$arch-$ty.gguf"
		# shellcheck disable=SC2086
		"$ACTIVESWAP_RELEASE" mkmodel -o "$M" --arch $arch --type $ty $SHAPE $extra \
			--seed 5 >/dev/null 2>"$T/mk.err"
		"$ACTIVESWAP" run -m "$M" -p "Once upon a time" -n 24 --temp 0 --json \
			>"$T/run.out" 2>"$T/run.err"
		rc=$?
		[ $rc -eq 0 ] && [ "$(jfield n_generated "$T/run.out")" -ge 1 ]
		check $? "$arch $ty: run generates (rc $rc, $(tail -n 1 "$T/run.err"))"
	done
	# shellcheck disable=SC2086
	"$ACTIVESWAP_RELEASE" mkmodel -o "$T/again.gguf" --arch $arch --type q4_0 $SHAPE \
		$extra --seed 5 --threads 1 >/dev/null 2>&1
	cmp -s "$T/$arch-q4_0.gguf" "$T/again.gguf"
	check $? "$arch: the same parameters give the same bytes (1 thread vs default)"
	M="$T/$arch-q4_0.gguf"
	# with an F32 KV cache: the repacked and plain Q4_0 kernels may differ in the last bit,
	# which the default F16 cache can turn into one F16 step of K or V (qwen3 here: the
	# texts part); the F16 cache is compared across threads below
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 60 --temp 0 -t 1 --no-repack \
		--kv-type f32 >"$T/a.txt" 2>/dev/null
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 60 --temp 0 -t 2 \
		--kv-type f32 >"$T/b.txt" 2>/dev/null
	[ -s "$T/a.txt" ] && cmp -s "$T/a.txt" "$T/b.txt"
	check $? "$arch: greedy repacked -t 2 equals plain -t 1 (f32 KV cache)"
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 60 --temp 0 -t 1 \
		>"$T/a.txt" 2>/dev/null
	"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 60 --temp 0 -t 2 \
		>"$T/b.txt" 2>/dev/null
	[ -s "$T/a.txt" ] && cmp -s "$T/a.txt" "$T/b.txt"
	check $? "$arch: greedy -t 2 equals -t 1 (f16 KV cache, the default)"
	"$ACTIVESWAP_RELEASE" info "$M" >"$T/info.txt" 2>&1
	grep -q "^architecture: *$arch" "$T/info.txt"
	check $? "$arch: info names the architecture"
done

"$ACTIVESWAP_RELEASE" mkmodel -o "$T/x.gguf" --arch gemma >/dev/null 2>"$T/e.txt"
rc=$?
[ $rc -eq 2 ] && grep -q "llama, qwen2 or qwen3" "$T/e.txt" && [ ! -e "$T/x.gguf" ]
check $? "mkmodel --arch gemma: exit 2 naming the architectures (rc $rc)"
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/x.gguf" --arch qwen3 --head-dim 31 >/dev/null \
	2>"$T/e.txt"
rc=$?
[ $rc -eq 2 ] && grep -q "head-dim" "$T/e.txt" && [ ! -e "$T/x.gguf" ]
check $? "mkmodel --head-dim 31: exit 2 (rc $rc)"

"$ACTIVESWAP_RELEASE" mkmodel -o "$T/x.gguf" --arch qwen2 --rope-freqs >/dev/null \
	2>"$T/e.txt"
rc=$?
[ $rc -eq 2 ] && grep -q "llama only" "$T/e.txt" && [ ! -e "$T/x.gguf" ]
check $? "mkmodel --arch qwen2 --rope-freqs: exit 2 (rc $rc)"
# shellcheck disable=SC2086
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/l31.gguf" --rope-freqs $SHAPE --type q8_0 >/dev/null \
	2>&1 && "$ACTIVESWAP_RELEASE" info "$T/l31.gguf" 2>/dev/null | grep -q "rope_freqs.weight" &&
	"$ACTIVESWAP" run -m "$T/l31.gguf" -p "Once upon a time" -n 8 --temp 0 >/dev/null 2>&1
check $? "mkmodel --rope-freqs: a Llama 3.1-style model with rope_freqs.weight runs"

# qwen2, qwen3 (attention 4 x 64 = 256 over dim 128) and Llama 3.1-style stores: the row
# copy at sparsity 0 gives the GGUF's text.
for m in qwen2-q8_0 qwen3-q8_0 l31; do
	"$ACTIVESWAP_RELEASE" convert "$T/$m.gguf" -o "$T/$m.asw" --rows --quiet >/dev/null 2>&1
	"$ACTIVESWAP_RELEASE" run -m "$T/$m.gguf" -p "Tom and Lily" -n 24 --temp 0 -t 1 \
		>"$T/g.txt" 2>/dev/null
	"$ACTIVESWAP" run -m "$T/$m.asw" -p "Tom and Lily" -n 24 --temp 0 -t 1 --sparsity 0 \
		>"$T/s.txt" 2>"$T/s.err"
	rc=$?
	[ $rc -eq 0 ] && [ -s "$T/g.txt" ] && cmp -s "$T/g.txt" "$T/s.txt"
	check $? "$m: its store at sparsity 0 writes the GGUF's greedy text (rc $rc)"
done

# The wide qwen3 store from its columns at sparsity 0.5 (sanitizer CLI).
"$ACTIVESWAP" run -m "$T/qwen3-q8_0.asw" -p "Tom and Lily" -n 16 --temp 0 -t 1 \
	--sparsity 0.5 >"$T/s.txt" 2>"$T/s.err"
rc=$?
[ $rc -eq 0 ] && [ -s "$T/s.txt" ]
check $? "qwen3 wide attention: its store runs at sparsity 0.5 (rc $rc)"

# A qwen3 model whose attention (4 x 64) is wider than both dim and hidden (128): the
# Top-K hooks of eval and calibrate see the O group's 256 inputs (sanitizer CLI).
# shellcheck disable=SC2086
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/wide.gguf" --arch qwen3 --dim 128 --hidden 128 \
	--heads 4 --kv-heads 2 --head-dim 64 --layers 2 --type f32 >/dev/null 2>&1
i=0
while [ $i -lt 40 ]; do
	echo "Once upon a time there was a little girl named Lily. She liked the park."
	i=$((i + 1))
done >"$T/text.txt"
"$ACTIVESWAP" eval -m "$T/wide.gguf" -f "$T/text.txt" -c 64 --sparsity 0.5 --json \
	>"$T/ev.out" 2>"$T/ev.err"
rc=$?
[ $rc -eq 0 ] && grep -q '"kl"' "$T/ev.out"
check $? "wide attention: eval --sparsity 0.5 (rc $rc, $(tail -n 1 "$T/ev.err"))"
"$ACTIVESWAP" calibrate -m "$T/wide.gguf" -f "$T/text.txt" -c 64 --chunks 4 --sparsity 0.5 \
	--step 0.25 --rounds 1 -o "$T/levels.txt" >/dev/null 2>"$T/cal.err"
rc=$?
[ $rc -eq 0 ] && [ -s "$T/levels.txt" ]
check $? "wide attention: calibrate (rc $rc, $(grep -m 1 -E 'ERROR|calibrate' "$T/cal.err"))"

echo "1..$n"
