#!/bin/sh
# `activeswap mkmodel -o X.asw`: the store written directly, layer by layer, without the
# GGUF on disk (runtime/mkstore.c), is byte for byte the store of the two-step
# `mkmodel -o X.gguf && convert X.gguf -o X.asw`:
#
#  - for small models of every kind of store mkmodel makes: llama Q4_0, Q8_0 and F16,
#    the K-quant mix q4_k_m (K codes + scale tables), q4_1 (re-encoded as q8_0 with a
#    note), qwen2 (biases), qwen3 (Q/K norms, head dim), llama with rope_freqs, and the
#    MoEs mixtral and qwen3moe (expert bundles);
#  - on 1 generating thread (the release CLI) and, for the kinds marked t3 below, on 3
#    (the sanitizer CLI, which also runs every store's code under ASan/UBSan: one of each
#    kind of bundle), and --draw-blocks (quantized blocks drawn straight from the
#    generator) likewise for Q4_0 and Q8_0;
#  - no OUT.tmp.PID is left; `info` reads the store; `run` gives greedy text on it;
#  - a 24-layer ~100 MB store is written in less than half its size of peak memory
#    (layer by layer, not the model);
#  - a case variant (.ASW) is refused with one line, exit 2, nothing written; an
#    unwritable directory exits 1 with one line and leaves nothing.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/mkstore"
rm -rf "$T"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

SHAPE="--dim 256 --hidden 512 --layers 3 --heads 4 --kv-heads 2 --vocab 300 --ctx 64"
i=0
# name | mkmodel flags (the shape is added) | t3: also on 3 threads, sanitizer CLI
while IFS='|' read -r name flags t3; do
	[ -n "$name" ] || continue
	i=$((i + 1))
	G="$T/$name.gguf"
	# shellcheck disable=SC2086
	"$AR" mkmodel -o "$G" $SHAPE $flags --seed $i >/dev/null 2>"$T/err" &&
		"$AR" convert "$G" -o "$T/$name.two.asw" --quiet >/dev/null 2>>"$T/err"
	rc=$?
	# shellcheck disable=SC2086
	"$AR" mkmodel -o "$T/$name.asw" $SHAPE $flags --seed $i --threads 1 >/dev/null \
		2>>"$T/err" || rc=1
	if [ "$t3" = t3 ]; then
		# shellcheck disable=SC2086
		"$ACTIVESWAP" mkmodel -o "$T/$name.t3.asw" $SHAPE $flags --seed $i --threads 3 \
			>/dev/null 2>>"$T/err" || rc=1
	fi
	[ $rc = 0 ] || sed 's/^/# /' "$T/err"
	check $([ $rc = 0 ] && cmp "$T/$name.two.asw" "$T/$name.asw" &&
		{ [ "$t3" != t3 ] || cmp "$T/$name.two.asw" "$T/$name.t3.asw"; } &&
		! ls "$T"/*.tmp.* >/dev/null 2>&1; echo $?) \
		"$name: the direct store (1 thread${t3:+ and 3}) equals mkmodel + convert"
	rm -f "$G" "$T/$name.t3.asw"
done <<'EOF'
q4_0|--type q4_0|t3
q8_0|--type q8_0|
f16|--type f16|
q4_k_m|--dim 512 --type q4_k_m|t3
q4_1|--type q4_1|
qwen2|--arch qwen2 --type q4_0|
qwen3|--arch qwen3 --head-dim 128 --type q8_0|t3
rope|--rope-freqs --type q4_0|
mixtral|--arch mixtral --experts 4 --experts-used 2 --type q4_0|t3
qwen3moe|--arch qwen3moe --experts 8 --experts-used 2 --expert-hidden 128 --type q8_0|
draw_q4_0|--type q4_0 --draw-blocks|t3
draw_q8_0|--type q8_0 --draw-blocks|
EOF

"$AR" mkmodel -o "$T/note.asw" $SHAPE --type q4_1 >/dev/null 2>"$T/err"
check $([ $? = 0 ] && grep -q "cannot be re-encoded, using q8_0" "$T/err"; echo $?) \
	"q4_1: convert's note is printed"
"$ACTIVESWAP" info "$T/q4_0.asw" >"$T/info.txt" 2>&1
check $([ $? = 0 ] && grep -q "^activeswap store" "$T/info.txt" &&
	grep -q "layers 3, " "$T/info.txt"; echo $?) \
	"info reads the direct store"
"$AR" run -m "$T/q4_0.asw" -p "Once upon a time" -n 8 --temp 0 >"$T/run.txt" 2>"$T/err"
check $([ $? = 0 ] && [ -s "$T/run.txt" ]; echo $?) "run generates on the direct store"
"$AR" run -m "$T/draw_q4_0.asw" -p "Once upon a time" -n 8 --temp 0 --json \
	>"$T/draw.json" 2>"$T/err"
check $([ $? = 0 ] && grep -q '"generated_ids"' "$T/draw.json" &&
	! grep -qi 'nan\|inf' "$T/draw.json"; echo $?) \
	"run generates on a --draw-blocks store, finite figures"

# memory: a 24-layer model of ~100 MB (Q8_0, 4.5 MB a layer) written directly peaks far
# below its size (the release CLI: the sanitizers' shadow memory would blur it)
if [ -x /usr/bin/time ]; then
	B="--dim 512 --hidden 2048 --layers 24 --heads 8 --vocab 300 --ctx 64 --type q8_0"
	# shellcheck disable=SC2086
	/usr/bin/time -f "%M" -o "$T/rss" "$AR" mkmodel -o "$T/big.asw" $B --threads 2 \
		>/dev/null 2>"$T/err"
	rc=$?
	rss=$(tail -n 1 "$T/rss")
	size=$(wc -c <"$T/big.asw" 2>/dev/null || echo 0)
	check $([ $rc = 0 ] && [ "$rss" -gt 0 ] && [ $((rss * 1024 * 2)) -lt "$size" ]
		echo $?) "a 24-layer store of $size bytes written in $rss KiB peak (< half)"
	rm -f "$T/big.asw"
else
	ok "peak memory of a direct store # SKIP no /usr/bin/time"
fi

"$ACTIVESWAP" mkmodel -o "$T/case.ASW" $SHAPE >/dev/null 2>"$T/err"
rc=$?
check $([ $rc = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && ! ls "$T"/case* >/dev/null 2>&1
	echo $?) ".ASW is refused with one line, exit 2, nothing written"
"$ACTIVESWAP" mkmodel -o "$T/x.asw" $SHAPE --dim 100 >/dev/null 2>"$T/err"
check $([ $? = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -e "$T/x.asw" ]; echo $?) \
	"a refused shape (--dim 100) exits 2 with one line, nothing written"
mkdir -p "$T/ro"
chmod 500 "$T/ro"
if [ -w "$T/ro" ]; then
	ok "an unwritable directory exits 1 # SKIP running as root"
else
	"$ACTIVESWAP" mkmodel -o "$T/ro/x.asw" $SHAPE >/dev/null 2>"$T/err"
	check $([ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ -z "$(ls "$T/ro")" ]
		echo $?) "an unwritable directory exits 1 with one line and leaves nothing"
fi
chmod 700 "$T/ro"
rm -rf "$T"
echo "1..$n"
