#!/bin/sh
# Mixture-of-experts models written by `activeswap mkmodel` (no shared data):
#
#  - --arch mixtral and qwen3moe (and their tiny shapes) write models of each type that
#    run; greedy output does not depend on the thread count or on Q4_0 repacking;
#  - `info` shows the experts (count, used, one expert's FFN width);
#  - bad expert flags are usage errors (exit 2) and write nothing;
#  - `convert --rows` refuses a MoE model (exit 1, one line, no store left); MoE stores
#    are tests/integration/moe_store.sh and tests/unit/test_moe_store.c.
# The MoE arithmetic is tests/unit/test_moe.c, parity with llama.cpp
# tests/unit/test_arch_parity.c.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/moe"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
greedy() {
	m=$1
	shift
	"$ACTIVESWAP" run -m "$m" -p "Once upon a time" -n 16 --temp 0 "$@" 2>/dev/null
}

SHAPE="--dim 128 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 256"
for arch in mixtral qwen3moe; do
	extra="--experts 4 --experts-used 2"
	[ $arch = qwen3moe ] && extra="$extra --head-dim 32 --expert-hidden 64"
	for ty in q4_0 q8_0 f16; do
		M="$T/$arch-$ty.gguf"
		# shellcheck disable=SC2086
		"$ACTIVESWAP_RELEASE" mkmodel -o "$M" --arch $arch --type $ty $SHAPE $extra \
			--seed 3 >/dev/null 2>"$T/mk.err"
		check $? "$arch $ty: mkmodel ($(tail -n 1 "$T/mk.err"))"
		greedy "$M" -t 1 >"$T/a.txt"
		rc=$?
		greedy "$M" -t 2 >"$T/b.txt"
		[ $rc -eq 0 ] && [ -s "$T/a.txt" ] && cmp -s "$T/a.txt" "$T/b.txt"
		check $? "$arch $ty: run generates, -t 2 equals -t 1 (rc $rc)"
	done
	greedy "$T/$arch-q4_0.gguf" -t 2 --no-repack >"$T/c.txt"
	greedy "$T/$arch-q4_0.gguf" -t 2 >"$T/d.txt"
	[ -s "$T/c.txt" ] && cmp -s "$T/c.txt" "$T/d.txt"
	check $? "$arch q4_0: greedy repacked equals --no-repack"
done

"$ACTIVESWAP_RELEASE" info "$T/qwen3moe-f16.gguf" >"$T/info.txt" 2>&1
grep -q "^experts: *4, 2 used per token, expert FFN 64 wide$" "$T/info.txt"
check $? "info: qwen3moe experts line"
"$ACTIVESWAP_RELEASE" info "$T/mixtral-f16.gguf" >"$T/info.txt" 2>&1
grep -q "^experts: *4, 2 used per token, expert FFN 256 wide (from hidden)$" "$T/info.txt" &&
	grep -q "^architecture: *llama" "$T/info.txt"
check $? "info: mixtral is llama with experts as wide as hidden"
"$ACTIVESWAP_RELEASE" info --json "$T/qwen3moe-f16.gguf" >"$T/info.json" 2>&1
grep -q '"experts":4,"experts_used":2,"expert_ffn":64' "$T/info.json"
check $? "info --json: the expert keys"

for shape in mixtral-tiny qwen3moe-tiny; do
	"$ACTIVESWAP_RELEASE" mkmodel -o "$T/$shape.gguf" --shape $shape --type q8_0 \
		>/dev/null 2>&1 && greedy "$T/$shape.gguf" -t 2 >"$T/s.txt" && [ -s "$T/s.txt" ]
	check $? "--shape $shape: writes a model that runs"
done
"$ACTIVESWAP_RELEASE" info "$T/qwen3moe-tiny.gguf" | grep -q "^architecture: *qwen3moe"
check $? "--shape qwen3moe-tiny implies --arch qwen3moe"

bad() {
	"$ACTIVESWAP_RELEASE" mkmodel -o "$T/x.gguf" "$@" >/dev/null 2>"$T/e.txt"
	rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/e.txt")" -eq 1 ] && [ ! -e "$T/x.gguf" ]
}
bad --arch qwen3moe --experts 4 --experts-used 5
check $? "mkmodel: --experts-used over --experts is a usage error"
bad --arch mixtral --hidden 256 --expert-hidden 128
check $? "mkmodel: a mixtral expert narrower than --hidden is a usage error"
bad --arch qwen2 --experts 4 --experts-used 2
check $? "mkmodel: experts on qwen2 are a usage error"
bad --arch qwen3moe --expert-hidden 100
check $? "mkmodel: an expert width not a multiple of 32 is a usage error"

"$ACTIVESWAP" convert --rows "$T/mixtral-q8_0.gguf" -o "$T/m.asw" >/dev/null 2>"$T/e.txt"
rc=$?
[ $rc -eq 1 ] && grep -q "mixture-of-experts store has no row copy" "$T/e.txt" &&
	[ "$(wc -l <"$T/e.txt")" -eq 1 ] && ! ls "$T"/m.asw* >/dev/null 2>&1
check $? "convert --rows refuses a MoE model with one line (rc $rc: $(head -c 160 "$T/e.txt"))"

echo "1..$n"
