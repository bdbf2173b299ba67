#!/bin/sh
# Builds the libFuzzer targets with clang -fsanitize=fuzzer,address,undefined and runs
# each for a bounded time (AS_FUZZ_SECONDS, default 60 s in all: a third for the GGUF
# parser, a quarter for model loading + tokenizer + chat template from a GGUF, a sixth
# for the BPE tokenizer and JSON reader, the rest for the store reader), printing TAP.
#
# Seed corpus: tests/fuzz/corpus/model/*.seed (small GGUFs, committed, see its README) and,
# made at run time, the real model ($AS_SHARED/models/stories260K.gguf, when present),
# small models written by `activeswap mkmodel` of every type, and a few hand-made
# headers (fuzz_gguf and fuzz_model); for fuzz_store those models converted to stores
# (layer groups of 1 and 2, columns kept or re-quantized, K-quant columns with their scale
# tables, experts as bundles). A crash or a sanitizer report
# fails the suite; the input that caused it is kept under $AS_BUILD/fuzz/ (crash-*) to
# reproduce with: $AS_BUILD/fuzz/fuzz_gguf FILE (or fuzz_model, fuzz_store)
set -u
: "${AS_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AS_TMP:=$(mktemp -d /tmp/activeswap-fuzz.XXXXXX)}"
: "${AS_BUILD:=$AS_TOP/build}"
: "${AS_FUZZ_SECONDS:=60}"
CLANG=${CLANG:-clang}
OUT="$AS_BUILD/fuzz"
W="$AS_TMP/fuzz"
mkdir -p "$W/corpus" "$OUT" || { echo "1..0 # SKIP cannot create $OUT"; exit 0; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "1..0 # SKIP no clang (apt-get install clang libclang-rt-14-dev)"
	exit 0
fi
# The fuzzer runtime is a separate package on Debian; probe it with an empty target.
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
	>"$W/probe.c"
if ! "$CLANG" -fsanitize=fuzzer "$W/probe.c" -o "$W/probe" >/dev/null 2>&1; then
	echo "1..0 # SKIP clang cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"
	exit 0
fi

FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
-D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter
-I$AS_TOP/runtime/include"
# The runtime is built once as an archive of every runtime/*.c, ISA flags chosen by file
# name as the Makefile does (aarch64 files left out): each target links what it uses from
# it, so a new runtime file needs no list here.
R="$AS_TOP/runtime"
mkdir -p "$W/rt"
cat >"$W/cc-rt.sh" <<EOS
f=\$1
case "\$f" in
*_neon.c | *_dotprod.c) exit 0 ;;
*_avx2.c) isa="-mavx2 -mfma -mf16c" ;;
*_avx512.c) isa="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c" ;;
*_amx.c) isa="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mamx-tile -mamx-int8" ;;
*) isa= ;;
esac
inc="-I$AS_TOP/libswap/include -I$AS_TOP/uapi"
exec "$CLANG" $(echo $FLAGS) \$inc \$isa -c "\$f" -o "$W/rt/\$(basename "\$f" .c).o"
EOS
# shellcheck disable=SC2086
if ! { ls "$R"/*.c | xargs -P 2 -n 1 sh "$W/cc-rt.sh" 2>"$W/build.log" &&
	ar rcs "$W/runtime.a" "$W"/rt/*.o 2>>"$W/build.log"; }; then
	nok "build the runtime archive for the fuzz targets"
	sed 's/^/# /' "$W/build.log" | head -n 30
	echo "1..$n"
	exit 1
fi

build() {	# target extra-flags-and-sources...
	t=$1
	shift
	# shellcheck disable=SC2086
	if "$CLANG" $FLAGS "$AS_TOP/tests/fuzz/$t.c" "$@" "$W/runtime.a" -lm -lpthread \
		-o "$OUT/$t" 2>"$W/build.log"; then
		ok "build $t (clang -fsanitize=fuzzer,address,undefined)"
	else
		nok "build $t"
		sed 's/^/# /' "$W/build.log" | head -n 30
		echo "1..$n"
		exit 1
	fi
}
build fuzz_gguf
build fuzz_model
# the store reader is libswap's: its two files, with libswap's private header
build fuzz_store -I"$AS_TOP/libswap/include" -I"$AS_TOP/libswap" "$AS_TOP/libswap/store.c" \
	"$AS_TOP/libswap/crc32c.c"
build fuzz_bpe

# Seeds.
C="$W/corpus"
MODEL="${AS_SHARED:-/nonexistent}/models/stories260K.gguf"
[ -r "$MODEL" ] && cp "$MODEL" "$C/stories260K.gguf"
CLI=""
for c in "${ACTIVESWAP_RELEASE:-}" "${ACTIVESWAP:-}" "$AS_BUILD/bin/activeswap"; do
	if [ -n "$c" ] && [ -x "$c" ] && "$c" mkmodel --help >/dev/null 2>&1; then
		CLI=$c
		break
	fi
done
CS="$W/corpus-store"
mkdir -p "$CS"
if [ -n "$CLI" ]; then
	for ty in q4_0 q8_0 f16 f32; do
		"$CLI" mkmodel -o "$C/mk-$ty.gguf" --type "$ty" --dim 32 --hidden 64 --layers 1 \
			--heads 2 --kv-heads 1 --vocab 259 --ctx 16 2>/dev/null
	done
	"$CLI" mkmodel -o "$W/mk2.gguf" --type q4_0 --dim 32 --hidden 64 --layers 2 \
		--heads 2 --kv-heads 1 --vocab 259 --ctx 16 2>/dev/null
	# a byte-level BPE vocabulary (qwen2 rules, special and user-defined tokens)
	mkdir -p "$W/hf"
	printf '%s' '{"added_tokens": [{"id": 5, "content": "<|im_start|>", "special": true},
	  {"id": 6, "content": "<u>", "special": false}], "decoder": {"type": "ByteLevel"},
	  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3,
	  "\u0120ab": 4}, "merges": ["a b", "\u0120 ab"]}}' >"$W/hf/tokenizer.json"
	"$CLI" mkmodel -o "$C/mk-bpe.gguf" --vocab-from "$W/hf" --pre qwen2 --type f32 \
		--dim 32 --hidden 32 --layers 1 --heads 1 --kv-heads 1 --ctx 16 2>/dev/null
	"$CLI" convert "$W/mk2.gguf" -o "$CS/g1.asw" --group 1 --quiet 2>/dev/null
	"$CLI" convert "$W/mk2.gguf" -o "$CS/g2.asw" --group 2 --quiet 2>/dev/null
	"$CLI" convert "$C/mk-f16.gguf" -o "$CS/f16-keep.asw" --type keep --quiet 2>/dev/null
	"$CLI" convert "$C/mk-q8_0.gguf" -o "$CS/q8.asw" --quiet 2>/dev/null
	# K-quant columns with resident scale tables, and version 3, 4 and 5 stores of experts
	"$CLI" mkmodel -o "$W/mk-k.gguf" --type q4_k_m --dim 256 --hidden 256 --layers 1 \
		--heads 2 --kv-heads 1 --vocab 259 --ctx 16 2>/dev/null &&
		"$CLI" convert "$W/mk-k.gguf" -o "$CS/q4km.asw" --quiet 2>/dev/null
	"$CLI" mkmodel -o "$W/mk-moe.gguf" --arch qwen3moe --experts 4 --experts-used 2 \
		--expert-hidden 32 --type f32 --dim 32 --hidden 64 --layers 1 --heads 2 \
		--kv-heads 1 --vocab 259 --ctx 16 2>/dev/null &&
		"$CLI" convert "$W/mk-moe.gguf" -o "$CS/moe.asw" --quiet 2>/dev/null &&
		"$CLI" convert "$W/mk-moe.gguf" -o "$CS/moe2.asw" --expert-types q8_0,q4_0 \
			--quiet 2>/dev/null # version 4: every expert also in a low precision
	"$CLI" convert "$W/mk-moe.gguf" -o "$CS/moe5.asw" --expert-layout columns \
		--quiet 2>/dev/null # version 5: the experts in columns
fi
# Minimal headers: v3 and v2 with nothing in them, and one with a u32 key.
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
	>"$C/empty-v3"
printf 'GGUF\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
	>"$C/empty-v2"
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000k\004\000\000\000\052\000\000\000' \
	>"$C/one-kv"

# Every seed must go through its target cleanly first; then the target runs for its time.
fuzz() {	# target corpus seconds what
	t=$1
	seeds=$(ls "$2" | wc -l)
	if "$OUT/$t" -runs=0 "$2" >"$W/seeds-$t.log" 2>&1; then
		ok "$t runs its $seeds seeds cleanly$4"
	else
		nok "$t on its seeds"
		tail -n 40 "$W/seeds-$t.log" | sed 's/^/# /'
	fi
	# libFuzzer takes 0 as "no limit": a small AS_FUZZ_SECONDS must not mean forever
	"$OUT/$t" -max_total_time="$(($3 > 0 ? $3 : 1))" -timeout=10 -rss_limit_mb=2048 \
		-max_len=262144 -print_final_stats=1 -artifact_prefix="$OUT/" "$2" \
		>"$W/fuzz-$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$W/fuzz-$t.log" | tail -n 1)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$W/fuzz-$t.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$W/fuzz-$t.log" | tail -n 1)
	if [ "$rc" = 0 ] && [ -n "$runs" ]; then
		ok "$t ${3}s: $runs executions ($rate/s), coverage $cov, no crash"
	else
		nok "$t crashed or failed (exit $rc); reproducer in $OUT/"
		grep -E 'ERROR|SUMMARY|runtime error|crash-|deadly' "$W/fuzz-$t.log" |
			head -n 20 | sed 's/^/# /'
		tail -n 30 "$W/fuzz-$t.log" >&2
	fi
}
# fuzz_bpe: byte 0 = pre-tokenizer and options, NUL-separated tokens, merges, text
CB="$W/corpus-bpe"
mkdir -p "$CB"
printf '\002he\000ll\000hell\000hello\000<|x|>\000#u\000\000h e\000l l\000he ll\000hell o\000\000hello <|x|> #u it'"'"'s 123 \344\275\240\n\n' \
	>"$CB/llama3"
printf '\003ab\000\000a b\000\000ab  ab\t12345 \360\237\221\213!' >"$CB/qwen2"
printf '\000\000\000a+=b 1234\r\n' >"$CB/default"
printf '{"model": {"type": "BPE", "vocab": {"a": 0, "\\u0120": 1}, "merges": [["a", " "]]}}' \
	>"$CB/json"
nomk=$([ -n "$CLI" ] || echo ' (no CLI: no mkmodel seeds)')
cp "$AS_TOP"/tests/fuzz/corpus/model/*.seed "$C/"
CM="$W/corpus-model"
mkdir -p "$CM"
cp "$C"/* "$CM/"
fuzz fuzz_gguf "$C" $((AS_FUZZ_SECONDS / 3)) "$nomk"
fuzz fuzz_model "$CM" $((AS_FUZZ_SECONDS / 4)) "$nomk"
fuzz fuzz_bpe "$CB" $((AS_FUZZ_SECONDS / 6)) ""
if [ -n "$(ls "$CS")" ]; then
	fuzz fuzz_store "$CS" $((AS_FUZZ_SECONDS - AS_FUZZ_SECONDS / 3 - AS_FUZZ_SECONDS / 4 -
		AS_FUZZ_SECONDS / 6)) ""
else
	n=$((n + 1))
	echo "ok $n - fuzz_store # SKIP no CLI to make its seed stores"
fi
echo "1..$n"
