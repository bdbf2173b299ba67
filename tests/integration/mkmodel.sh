#!/bin/sh
# activeswap mkmodel + info:
#
#  - a tiny model of every --type is written, no OUT.tmp.PID is left, `info` (text and
#    --json) reads it back, and the tensor bytes equal the size computed here from the
#    shape and the type's block layout (independently of the code under test);
#  - the same seed gives the same bytes, another seed different weights;
#  - explicit flags override the shape and show up in `info`;
#  - the vocabulary is a working byte-level SentencePiece one: `run --print-token-ids`
#    turns text into merged pieces, not only byte tokens (when `run` is in the build);
#  - a forward pass stays finite: `eval` gives a finite perplexity (when in the build);
#  - bad flags exit 2 with one message line and leave no output file; an unwritable
#    output exits 1; `info` on a truncated or missing file exits 1 with one line.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
T="$AS_TMP/mkmodel"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# Value of a numeric field in a one-line JSON object (first occurrence).
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | head -n 1; }

# Tensor bytes of the tiny shape (dim 256, hidden 768, 4 layers, 8 heads, 4 kv heads,
# vocab 512) for a type of B bytes per block of E elements; norms are f32.
tiny_bytes() {
	awk -v b="$1" -v e="$2" 'BEGIN {
		dim = 256; hid = 768; L = 4; kv = dim / 8 * 4; V = 512;
		m = 2 * dim * V + L * (2 * dim * dim + 2 * dim * kv + 3 * dim * hid);
		printf "%d\n", m / e * b + (2 * L + 1) * dim * 4 }'
}

for spec in "q4_0 18 32" "q8_0 34 32" "f16 2 1" "f32 4 1" "bf16 2 1" "q4_1 20 32" \
	"q5_0 22 32" "q5_1 24 32" "iq4_nl 18 32" "q2_K 84 256" "q3_K 110 256" "q4_K 144 256" \
	"q5_K 176 256" "q6_K 210 256" "iq4_xs 136 256"; do
	set -- $spec
	ty=$1
	out="$T/tiny-$ty.gguf"
	"$ACTIVESWAP" mkmodel -o "$out" --type "$ty" --seed 7 2>"$T/err"
	rc=$?
	check $([ $rc = 0 ] && [ -s "$out" ] && ! ls "$out".tmp* >/dev/null 2>&1; echo $?) \
		"mkmodel --type $ty writes the file and no .tmp"
	"$ACTIVESWAP" info "$out" >"$T/info.txt" 2>"$T/err"
	check $([ $? = 0 ] && grep -q "^architecture: *llama" "$T/info.txt" &&
		grep -q "blk.3.ffn_down.weight *768 x 256 *$ty" "$T/info.txt"; echo $?) \
		"info ($ty) lists the architecture and blk.3.ffn_down as 768 x 256 $ty"
	"$ACTIVESWAP" info --json "$out" >"$T/info.json" 2>"$T/err"
	want=$(tiny_bytes "$2" "$3")
	got=$(jfield tensor_bytes "$T/info.json")
	size=$(wc -c <"$out")
	fsize=$(jfield file_size "$T/info.json")
	check $([ "$got" = "$want" ] && [ "$fsize" = "$size" ] &&
		[ "$(jfield n_tensors "$T/info.json")" = 39 ] &&
		[ "$(jfield dim "$T/info.json")" = 256 ] &&
		[ "$(jfield kv_heads "$T/info.json")" = 4 ] &&
		[ "$(jfield n_vocab "$T/info.json")" = 512 ] &&
		[ "$(jfield byte "$T/info.json")" = 256 ]; echo $?) \
		"info --json ($ty): 39 tensors, tensor bytes $got = $want, file size $fsize"
done

"$ACTIVESWAP" mkmodel -o "$T/again.gguf" --type q4_0 --seed 7 2>/dev/null
check $(cmp -s "$T/again.gguf" "$T/tiny-q4_0.gguf"; echo $?) "same seed, same bytes"
"$ACTIVESWAP" mkmodel -o "$T/other.gguf" --type q4_0 --seed 8 2>/dev/null
check $([ -s "$T/other.gguf" ] && ! cmp -s "$T/other.gguf" "$T/tiny-q4_0.gguf"; echo $?) \
	"another seed, other weights"
if [ -n "${ACTIVESWAP_RELEASE:-}" ] && [ -x "$ACTIVESWAP_RELEASE" ]; then
	"$ACTIVESWAP_RELEASE" mkmodel -o "$T/rel.gguf" --type q4_0 --seed 7 --threads 1 \
		2>/dev/null
	check $(cmp -s "$T/rel.gguf" "$T/tiny-q4_0.gguf"; echo $?) \
		"release CLI on 1 thread writes the same bytes as the sanitizer CLI"
fi

"$ACTIVESWAP" mkmodel -o "$T/ovr.gguf" --shape tiny --dim 128 --hidden 256 --layers 2 \
	--heads 4 --kv-heads 2 --vocab 300 --ctx 64 --type q8_0 2>/dev/null
"$ACTIVESWAP" info --json "$T/ovr.gguf" >"$T/ovr.json" 2>/dev/null
check $([ "$(jfield dim "$T/ovr.json")" = 128 ] && [ "$(jfield hidden "$T/ovr.json")" = 256 ] &&
	[ "$(jfield layers "$T/ovr.json")" = 2 ] && [ "$(jfield heads "$T/ovr.json")" = 4 ] &&
	[ "$(jfield kv_heads "$T/ovr.json")" = 2 ] && [ "$(jfield ctx "$T/ovr.json")" = 64 ] &&
	[ "$(jfield n_vocab "$T/ovr.json")" = 300 ] &&
	[ "$(jfield n_tensors "$T/ovr.json")" = 21 ] &&
	[ "$(jfield rope_dims "$T/ovr.json")" = 32 ]; echo $?) \
	"flags override the shape (dim 128, hidden 256, 2 layers, 4/2 heads, vocab 300)"

# Tokenizer: "Once upon a time the little girl" must use merged pieces. Count ids
# above the 259 specials + byte tokens: with a working vocabulary most are.
if "$ACTIVESWAP" run --help >/dev/null 2>&1; then
	ids=$("$ACTIVESWAP" run -m "$T/tiny-q4_0.gguf" -p "Once upon a time the little girl" \
		--print-token-ids 2>/dev/null)
	merged=$(echo "$ids" | tr -d '[] ' | tr ',' '\n' | awk '$1 >= 259 { c++ } END { print c + 0 }')
	check $([ "$merged" -ge 7 ] && echo "$ids" | grep -q '^\[1, '; echo $?) \
		"vocabulary merges words: $ids"
else
	skip "vocabulary merges words" "no 'run' in this build"
fi
if "$ACTIVESWAP" eval --help >/dev/null 2>&1; then
	printf 'Once upon a time there was a little girl named Lily. She liked to play in the park with her dog. One day the sun was big and happy.\n' >"$T/text.txt"
	i=0
	while [ $i -lt 3 ]; do cat "$T/text.txt" "$T/text.txt" >"$T/t2" && mv "$T/t2" "$T/text.txt"; i=$((i + 1)); done
	"$ACTIVESWAP" eval -m "$T/tiny-q4_0.gguf" -f "$T/text.txt" -c 64 --chunks 2 --json \
		>"$T/eval.json" 2>/dev/null
	ppl=$(jfield ppl "$T/eval.json")
	check $(awk -v p="$ppl" 'BEGIN { exit !(p != "" && p + 0 > 1 && p + 0 < 1e6) }'; echo $?) \
		"forward pass on random weights is finite (ppl $ppl)"
else
	skip "forward pass on random weights is finite" "no 'eval' in this build"
fi

# Bad flags: exit 2, one line, nothing written.
bad() {
	desc="$1"
	want="$2"
	shift 2
	rm -f "$T/bad.gguf" "$T"/bad.gguf.tmp*
	"$ACTIVESWAP" mkmodel "$@" >/dev/null 2>"$T/err"
	rc=$?
	check $([ $rc = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q -- "$want" "$T/err" &&
		[ ! -e "$T/bad.gguf" ] && ! ls "$T"/bad.gguf.tmp* >/dev/null 2>&1; echo $?) \
		"bad flags ($desc): exit 2, one line, no file [$(head -c 120 "$T/err")]"
}
O="-o $T/bad.gguf"
bad "no -o" "missing -o"
bad "unknown option" "unknown option" $O --frobnicate
bad "bad type" "bad value for --type" $O --type q4_k_s
bad "K-quant on a width not a multiple of 256" "multiples of 256" $O --type q4_K --hidden 288
bad "bad shape" "bad value for --shape" $O --shape 13b
bad "dim not multiple of 32" "multiples of 32" $O --dim 100
bad "hidden not multiple of 32" "multiples of 32" $O --hidden 688
bad "dim % heads" "multiple of --heads" $O --heads 7 --kv-heads 7
bad "heads % kv-heads" "multiple of --kv-heads" $O --kv-heads 3
bad "odd head dim" "must be even" $O --dim 96 --heads 32 --kv-heads 32
bad "vocab too small" "at least 259" $O --vocab 100
bad "not a number" "bad value for --dim" $O --dim abc
bad "zero layers" "bad value for --layers" $O --layers 0
bad "missing value" "needs a value" $O --seed

"$ACTIVESWAP" mkmodel -o "$T/no/such/dir/x.gguf" >/dev/null 2>"$T/err"
check $([ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -e "$T/no" ]; echo $?) \
	"unwritable output: exit 1, one line [$(head -c 100 "$T/err")]"

# A write error (file size limit: EFBIG once SIGXFSZ is ignored) exits 1 and removes
# OUT.tmp.PID.
(trap '' XFSZ; ulimit -f 200 && exec "$ACTIVESWAP" mkmodel -o "$T/big.gguf" --type f32) \
	>/dev/null 2>"$T/err"
rc=$?
check $([ $rc = 1 ] && grep -q "write" "$T/err" && [ ! -e "$T/big.gguf" ] &&
	! ls "$T"/big.gguf.tmp* >/dev/null 2>&1; echo $?) \
	"write error: exit 1, no file left [rc $rc: $(head -c 100 "$T/err")]"

head -c 5000 "$T/tiny-q4_0.gguf" >"$T/trunc.gguf"
"$ACTIVESWAP" info "$T/trunc.gguf" >/dev/null 2>"$T/err"
check $([ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "trunc.gguf" "$T/err"; echo $?) \
	"info on a truncated file: exit 1, one line [$(head -c 120 "$T/err")]"
"$ACTIVESWAP" info "$T/missing.gguf" >/dev/null 2>"$T/err"
check $([ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ]; echo $?) "info on a missing file: exit 1"
"$ACTIVESWAP" info >/dev/null 2>"$T/err"
check $([ $? = 2 ]; echo $?) "info without MODEL: exit 2"
"$ACTIVESWAP" info --bogus "$T/tiny-q4_0.gguf" >/dev/null 2>"$T/err"
check $([ $? = 2 ]; echo $?) "info with an unknown flag: exit 2"

MODEL="${AS_SHARED:-/nonexistent}/models/stories260K.gguf"
if [ -r "$MODEL" ]; then
	"$ACTIVESWAP" info --json "$MODEL" >"$T/real.json" 2>/dev/null
	check $([ "$(jfield dim "$T/real.json")" = 64 ] &&
		[ "$(jfield hidden "$T/real.json")" = 172 ] &&
		[ "$(jfield n_tensors "$T/real.json")" = 48 ] &&
		[ "$(jfield file_size "$T/real.json")" = "$(wc -c <"$MODEL")" ]; echo $?) \
		"info --json on stories260K: dim 64, hidden 172, 48 tensors"
else
	skip "info on stories260K" "no \$AS_SHARED/models/stories260K.gguf"
fi
rm -rf "$T"
echo "1..$n"
