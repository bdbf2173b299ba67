#!/bin/sh
# Builds the libFuzzer targets with clang -fsanitize=fuzzer,address,undefined and runs
# each for a bounded time (AS_FUZZ_SECONDS, default 45 s in all), printing TAP.
#
# Seed corpus, made at run time (nothing binary is committed): the real model
# ($AS_SHARED/models/stories260K.gguf, when present), small models written by
# `activeswap mkmodel` of every type, and a few hand-made headers. A crash or a
# sanitizer report fails the suite; the input that caused it is kept under
# $AS_BUILD/fuzz/ (crash-*) to reproduce with: $AS_BUILD/fuzz/fuzz_gguf FILE
set -u
: "${AS_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AS_TMP:=$(mktemp -d /tmp/activeswap-fuzz.XXXXXX)}"
: "${AS_BUILD:=$AS_TOP/build}"
: "${AS_FUZZ_SECONDS:=45}"
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
# shellcheck disable=SC2086
if "$CLANG" $FLAGS "$AS_TOP/tests/fuzz/fuzz_gguf.c" "$AS_TOP/runtime/gguf.c" \
	"$AS_TOP/runtime/quant.c" -lm -o "$OUT/fuzz_gguf" 2>"$W/build.log"; then
	ok "build fuzz_gguf (clang -fsanitize=fuzzer,address,undefined)"
else
	nok "build fuzz_gguf"
	sed 's/^/# /' "$W/build.log" | head -n 30
	echo "1..$n"
	exit 1
fi

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
if [ -n "$CLI" ]; then
	for ty in q4_0 q8_0 f16 f32; do
		"$CLI" mkmodel -o "$C/mk-$ty.gguf" --type "$ty" --dim 32 --hidden 64 --layers 1 \
			--heads 2 --kv-heads 1 --vocab 259 --ctx 16 2>/dev/null
	done
fi
# Minimal headers: v3 and v2 with nothing in them, and one with a u32 key.
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
	>"$C/empty-v3"
printf 'GGUF\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
	>"$C/empty-v2"
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000k\004\000\000\000\052\000\000\000' \
	>"$C/one-kv"
seeds=$(ls "$C" | wc -l)

# Every seed must go through the target cleanly first.
if "$OUT/fuzz_gguf" -runs=0 "$C" >"$W/seeds.log" 2>&1; then
	ok "fuzz_gguf runs its $seeds seeds cleanly$([ -n "$CLI" ] || echo ' (no CLI: no mkmodel seeds)')"
else
	nok "fuzz_gguf on its seeds"
	tail -n 40 "$W/seeds.log" | sed 's/^/# /'
fi

"$OUT/fuzz_gguf" -max_total_time="$AS_FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
	-max_len=262144 -print_final_stats=1 -artifact_prefix="$OUT/" "$C" \
	>"$W/fuzz.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$W/fuzz.log" | tail -n 1)
cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$W/fuzz.log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$W/fuzz.log" | tail -n 1)
if [ "$rc" = 0 ] && [ -n "$runs" ]; then
	ok "fuzz_gguf ${AS_FUZZ_SECONDS}s: $runs executions ($rate/s), coverage $cov, no crash"
else
	nok "fuzz_gguf crashed or failed (exit $rc); reproducer in $OUT/"
	grep -E 'ERROR|SUMMARY|runtime error|crash-|deadly' "$W/fuzz.log" | head -n 20 |
		sed 's/^/# /'
	tail -n 30 "$W/fuzz.log" >&2
fi
echo "1..$n"
