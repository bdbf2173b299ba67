#!/bin/sh
# Mixture-of-experts stores through the CLI (Documentation/store-format.md, "Experts"):
#
#  - `convert` writes a generated Mixtral and qwen3moe model into a version 3 store whose
#    FFN kinds hold one bundle per expert (`info` says so);
#  - `run` on the store at sparsity 0 generates the dense GGUF run's greedy text, for
#    budgets of 100%, 25% and 12% and the io_uring and pread backends;
#  - `--stats` shows the experts' hit rate (100% with everything in DRAM, less at 12%)
#    and `--json` has expert_hit_rate; the experts' cache is contextual unless
#    --expert-policy says lru or static (same text);
#  - `--expert-sparsity 0.5` (Top-K inside experts): the same text at 100% (io_uring)
#    and 12% (pread), said at open and in --json; 1.5 is a usage error (exit 2).
#  - `convert --expert-types q8_0,q4_0` (version 4) and `--expert-precision low-weight`
#    and `miss`, counted in --stats and --json; bad values refused in one line;
#  - `convert --expert-layout columns` (version 5): `info` says so; --expert-sparsity 0.5
#    gives the same text at 100% and 20% and reads missing experts in part (--stats,
#    --json); a bad layout and the layout with --expert-types are refused in one line;
# Logits and the engine's variants are tests/unit/test_moe_store.c.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/moe_store"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
# F32 KV cache: the dense rows and the store's columns sum in different orders, and an
# F16 cache's rounding can turn that last-bit difference into another greedy token (as in
# the other suites that compare two kernel paths; seen at the AVX-512 level)
greedy() {
	m=$1
	shift
	"$ACTIVESWAP_RELEASE" run -m "$m" -p "Once upon a time" -n 12 --temp 0 -t 2 --kv-type f32 "$@" \
		2>"$T/run.err"
}

SHAPE="--dim 128 --hidden 256 --layers 12 --heads 4 --kv-heads 2 --vocab 512 --ctx 256"
for arch in mixtral qwen3moe; do
	extra="--experts 8 --experts-used 2"
	[ $arch = qwen3moe ] && extra="--experts 16 --experts-used 4 --head-dim 64 --expert-hidden 64"
	M="$T/$arch.gguf"
	S="$T/$arch.asw"
	# shellcheck disable=SC2086
	"$ACTIVESWAP_RELEASE" mkmodel -o "$M" --arch $arch --type f32 $SHAPE $extra --seed 5 \
		>/dev/null 2>&1 &&
		"$ACTIVESWAP_RELEASE" convert "$M" -o "$S" >/dev/null 2>"$T/conv.err"
	check $? "$arch: convert writes a store ($(tail -n 1 "$T/conv.err"))"
	"$ACTIVESWAP_RELEASE" info "$S" >"$T/info.txt" 2>&1
	ne=8
	[ $arch = qwen3moe ] && ne=16
	grep -q "^activeswap store v3:" "$T/info.txt" &&
		grep -q "^  experts: $ne per layer, one bundle each" "$T/info.txt" &&
		"$ACTIVESWAP_RELEASE" info --json "$S" | grep -q "\"experts\": $ne, "
	check $? "$arch: info shows a version 3 store of $ne experts per layer"
	greedy "$M" >"$T/dense.txt"
	rc=$?
	[ $rc -eq 0 ] && [ -s "$T/dense.txt" ]
	check $? "$arch: the GGUF generates (rc $rc)"
	for b in 100% 25% 12%; do
		for be in uring pread; do
			greedy "$S" --sparsity 0 --dram-budget $b --backend $be >"$T/s.txt"
			rc=$?
			if [ $be = uring ] && [ $rc -ne 0 ] && grep -q "io_uring" "$T/run.err"; then
				ok "$arch $b $be # SKIP io_uring unusable here"
				continue
			fi
			[ $rc -eq 0 ] && cmp -s "$T/dense.txt" "$T/s.txt"
			check $? "$arch: the store at $b, $be, generates the GGUF's text (rc $rc)"
		done
	done
	greedy "$S" --sparsity 0 --stats >/dev/null
	grep -q "^experts: hit-rate per layer.*; total 100.0% of" "$T/run.err"
	check $? "$arch: --stats, everything in DRAM: every expert a hit"
	greedy "$S" --sparsity 0 --dram-budget 12% --stats --json >"$T/j.txt"
	grep -q "^experts: hit-rate per layer" "$T/run.err" &&
		! grep -q "; total 100.0% of" "$T/run.err" && grep -q '"expert_hit_rate": 0\.' "$T/j.txt"
	check $? "$arch: --stats and --json at 12%: misses"
	grep -q '"expert_policy": "contextual"' "$T/j.txt" &&
		grep -q "per token; policy contextual)" "$T/run.err"
	check $? "$arch: the experts' cache policy is contextual by default, even under --policy auto"
	for pol in lru static; do
		greedy "$S" --sparsity 0 --dram-budget 12% --expert-policy $pol --stats >"$T/p.txt"
		rc=$?
		[ $rc -eq 0 ] && cmp -s "$T/dense.txt" "$T/p.txt" &&
			grep -q "per token; policy $pol)" "$T/run.err"
		check $? "$arch: --expert-policy $pol at 12% generates the GGUF's text (rc $rc)"
	done
	greedy "$S" --sparsity 0 --expert-sparsity 0.5 --json >"$T/e100.txt"
	rc=$?
	grep -q "sparsity inside 0.50" "$T/run.err" && grep -q '"expert_sparsity": 0.5000' "$T/e100.txt"
	check $? "$arch: --expert-sparsity 0.5 said at open and in --json (rc $rc)"
	greedy "$S" --sparsity 0 --expert-sparsity 0.5 >"$T/e100.txt" &&
		greedy "$S" --sparsity 0 --expert-sparsity 0.5 --dram-budget 12% --backend pread \
			>"$T/e12.txt"
	rc=$?
	[ $rc -eq 0 ] && [ -s "$T/e12.txt" ] && cmp -s "$T/e100.txt" "$T/e12.txt"
	check $? "$arch: --expert-sparsity 0.5: the same text at 100% and 12% (rc $rc)"
done

# The open's measurements stay inside the budget: the gap replay (default --gap auto)
# once sized its engine for every expert of a layer and a buffer of the largest expert
# per read in flight (a 31 MiB budget peaked at 104 MiB here).
M="$T/mxw.gguf"
if "$ACTIVESWAP_RELEASE" mkmodel -o "$M" --arch mixtral --dim 512 --hidden 4096 --layers 4 \
	--heads 8 --kv-heads 4 --vocab 512 --experts 8 --experts-used 2 --type q4_0 --seed 3 \
	>/dev/null 2>&1 && "$ACTIVESWAP_RELEASE" convert "$M" -o "$T/mxw.asw" --quiet 2>/dev/null; then
	"$ACTIVESWAP_RELEASE" run -m "$T/mxw.asw" -p Once -n 4 --temp 0 --dram-budget 25% \
		--json 2>"$T/run.err" | tail -n 1 >"$T/w.json"
	rss=$(sed -n 's/.*"peak_rss_bytes": *\([0-9]*\).*/\1/p' "$T/w.json")
	bud=$(sed -n 's/.*"budget_bytes": *\([0-9]*\).*/\1/p' "$T/w.json")
	grep -q '"gap_auto": true' "$T/w.json" &&
		awk -v r="${rss:-0}" -v b="${bud:-0}" 'BEGIN { exit !(r > 0 && b > 0 && r <= b * 1.1 + 8 * 1048576) }'
	check $? "mixtral, experts of 2.4 MB, 25% with the gap replay: peak RSS $rss within budget $bud + 10% + 8 MiB"
	rm -f "$M" "$T/mxw.asw"
else
	nok "mixtral, experts of 2.4 MB: mkmodel + convert"
fi

# Per-expert precision: every expert also in q4_0 (store version 4); the low-weight
# planner gives the same text at 100% and 12% and says what it read (logits, budgets and
# backends: tests/unit/test_moe_store.c).
P="$T/mixtral2.asw"
"$ACTIVESWAP_RELEASE" convert "$T/mixtral.gguf" -o "$P" --expert-types q8_0,q4_0 \
	>/dev/null 2>"$T/conv.err" && "$ACTIVESWAP_RELEASE" info "$P" >"$T/info.txt" 2>&1 &&
	grep -q "^activeswap store v4:" "$T/info.txt" && grep -q "^  ffn_out_low " "$T/info.txt"
check $? "mixtral: convert --expert-types q8_0,q4_0 writes a version 4 store with low kinds"
greedy "$P" --sparsity 0 --expert-precision low-weight --stats >"$T/lw100.txt" &&
	grep -q "^experts: precision low-weight: [0-9]* computed from the high copy, [1-9]" \
		"$T/run.err" &&
	greedy "$P" --sparsity 0 --expert-precision low-weight --dram-budget 12% \
		--backend pread --json >"$T/lw12.txt" &&
	grep -q '"expert_precision": "low-weight", "expert_reads_high": [1-9][0-9]*, "expert_reads_low": [1-9]' "$T/lw12.txt" &&
	greedy "$P" --sparsity 0 --expert-precision low-weight --dram-budget 12% \
		--backend pread >"$T/lw12.txt" && [ -s "$T/lw12.txt" ] && cmp -s "$T/lw100.txt" "$T/lw12.txt"
check $? "mixtral: --expert-precision low-weight: counted in --stats and --json, the same text at 100% and 12%"
greedy "$P" --sparsity 0 --expert-precision miss --dram-budget 12% --json >"$T/m12.txt" &&
	grep -q '"expert_precision": "miss", .*"expert_reads_low": [1-9]' "$T/m12.txt"
check $? "mixtral: --expert-precision miss at 12% reads low copies"
"$ACTIVESWAP_RELEASE" convert "$T/mixtral.gguf" -o "$T/bad.asw" --expert-types q4_0,q8_0 \
	>/dev/null 2>"$T/conv.err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/conv.err")" -eq 1 ] && [ ! -e "$T/bad.asw" ]
check $? "convert --expert-types q4_0,q8_0 (low not smaller): a usage error, one line (rc $rc)"
greedy "$T/mixtral.asw" --expert-precision low-weight >/dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "needs a store with low-precision experts" "$T/run.err"
check $? "--expert-precision on a one-copy store: refused, one line (rc $rc)"
greedy "$P" --expert-precision lowest >/dev/null
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/run.err")" -eq 1 ]
check $? "--expert-precision lowest: a usage error, one line (rc $rc)"
rm -f "$P"

# The experts in columns (version 5): a miss reads only its selected columns (f32
# experts 512 wide: a gate/up column pair is a 4 KiB page).
C="$T/mixtral5.asw"
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/mxc.gguf" --arch mixtral --type f32 --dim 128 \
	--hidden 512 --layers 4 --heads 4 --kv-heads 2 --vocab 512 --ctx 256 --experts 8 \
	--experts-used 2 --seed 5 >/dev/null 2>&1 &&
	"$ACTIVESWAP_RELEASE" convert "$T/mxc.gguf" -o "$C" --expert-layout columns \
	>/dev/null 2>"$T/conv.err" && "$ACTIVESWAP_RELEASE" info "$C" >"$T/info.txt" 2>&1 &&
	grep -q "^activeswap store v5:" "$T/info.txt" &&
	grep -q "^  experts: 8 per layer, one bundle each in ffn_in (128 columns of gate, up)" \
		"$T/info.txt"
check $? "mixtral: convert --expert-layout columns writes a version 5 store ($(tail -n 1 "$T/conv.err"))"
greedy "$C" --sparsity 0 --expert-sparsity 0.5 >"$T/c100.txt" &&
	greedy "$C" --sparsity 0 --expert-sparsity 0.5 --dram-budget 20% --stats --json \
		>"$T/c12.txt" && grep -q '"expert_part_reads": [1-9]' "$T/c12.txt" &&
	grep -q "^experts: [0-9]* missing bundles read in part" "$T/run.err" &&
	grep -q "(columns; a miss reads its selected gate/up columns, down whole)" "$T/run.err" &&
	greedy "$C" --sparsity 0 --expert-sparsity 0.5 --dram-budget 20% --backend pread \
		>"$T/c12.txt" && [ -s "$T/c12.txt" ] && cmp -s "$T/c100.txt" "$T/c12.txt"
check $? "mixtral, expert columns, --expert-sparsity 0.5: partial reads at 20%, the same text as at 100%"
greedy "$C" --sparsity 0 --expert-sparsity 0.5 --dram-budget 20% --verify --stats \
	>"$T/c12v.txt" && grep -q "(columns; a miss read whole)" "$T/run.err" &&
	grep -q "^total " "$T/run.err" && ! grep -q "missing bundles read in part" "$T/run.err" &&
	cmp -s "$T/c100.txt" "$T/c12v.txt"
check $? "mixtral, expert columns, --verify: every miss read whole and checked, the same text"
# A router with locality (--expert-topics): the misses' experts recur, so a cache of whole
# reads hits most of the time; the ghost of the expert cache sees it and the misses are
# then read whole and cached instead of in part (nearly all of the 544 gate/up lookups
# were read in part before it, with 46% hits).
L="$T/loc5.asw"
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/loc.gguf" --arch mixtral --type f32 --dim 128 \
	--hidden 512 --layers 4 --heads 4 --kv-heads 2 --vocab 512 --ctx 256 --experts 16 \
	--experts-used 2 --expert-topics 4 --seed 5 >/dev/null 2>&1 &&
	"$ACTIVESWAP_RELEASE" convert "$T/loc.gguf" -o "$L" --expert-layout columns \
		>/dev/null 2>&1
loc() { greedy "$L" --sparsity 0 --expert-sparsity 0.5 -n 64 -b 1 --policy lru --gap 64K "$@"; }
jnum() { sed -n "s/.*\"$1\": *\[*\([0-9.]*\).*/\1/p" "$2" | tail -n 1; }
loc >"$T/l100.txt" && loc --dram-budget 25% --stats --json >"$T/l25.json" &&
	grep -q "^experts: a cache of whole reads would have hit gate/up" "$T/run.err" &&
	loc --dram-budget 25% >"$T/l25.txt" && cmp -s "$T/l100.txt" "$T/l25.txt"
rc=$?
lk=$(jnum expert_lookups "$T/l25.json")
pr=$(jnum expert_part_reads "$T/l25.json")
gh=$(jnum expert_ghost_hit_rate "$T/l25.json")
hr=$(jnum expert_hit_rate "$T/l25.json")
[ $rc -eq 0 ] && [ -n "$pr" ] && [ -n "$lk" ] && [ $((pr * 4)) -lt "$lk" ] &&
	awk -v g="$gh" -v h="$hr" 'BEGIN { exit !(g > 0.5 && h > 0.5) }'
check $? "expert columns, a router with locality at 25%: misses read whole once a cache would hit ($pr of $lk bundles read in part, ghost hits $gh, hits $hr), the same text"
rm -f "$L" "$T/loc.gguf"
for bad in "--expert-layout diagonal" "--expert-layout columns --expert-types q8_0,q4_0"; do
	# shellcheck disable=SC2086
	"$ACTIVESWAP_RELEASE" convert "$T/mixtral.gguf" -o "$T/bad.asw" $bad >/dev/null \
		2>"$T/conv.err"
	rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/conv.err")" -eq 1 ] && [ ! -e "$T/bad.asw" ]
	check $? "convert $bad: a usage error, one line (rc $rc)"
done
rm -f "$C" "$T/mxc.gguf"

greedy "$S" --expert-sparsity 1.5 >/dev/null
rc=$?
[ $rc -eq 2 ] && grep -q "expert-sparsity" "$T/run.err" && [ "$(wc -l <"$T/run.err")" -eq 1 ]
check $? "--expert-sparsity 1.5: a usage error, one line (rc $rc)"

echo "1..$n"
