#!/bin/sh
# `--expert-precision auto` (Documentation/swapping.md, "auto picks the precision"):
#
#  - on a generated qwen3moe store with low copies (convert --expert-types q8_0,q4_0),
#    auto prints one line with the pick, why, and every candidate's predicted expert
#    bytes and time per token; at a tight budget it picks a low-copy policy whose
#    predicted bytes are below off's, with 25% of the high experts cached or more off, with
#    the reads hidden under the compute off, with everything in DRAM off (and the text
#    the default run's, bit for bit);
#  - nothing asked: precision off, the same text as `--expert-precision off`; a store
#    without low copies: auto says so and stays off (the text of the default run);
#  - --json has expert_precision_auto and the candidates, --stats the share read low;
#  - with --latency-target: a target met without the low copies stays off, one no rung
#    meets takes them (the fastest rung), one between two rungs takes the first that
#    meets it, and says so; while decoding the feedback takes the low copies, rung by
#    rung, when the target is not met at the sparsity cap.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
T="$AS_TMP/moe_xprec_auto"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
run() {
	m=$1
	shift
	"$ACTIVESWAP" run -m "$m" -p "Once upon a time" -n 6 --temp 0 -t 2 --sparsity 0 "$@" \
		2>"$T/run.err"
}
# the picked policy and a candidate's predicted MB from the auto line
pick() { sed -n 's/.*auto: expert precision \([a-z-]*\).*/\1/p' "$T/run.err" | head -n 1; }
mb() { sed -n "s/.*time per token: .*$1[^,;]* \([0-9.]*\) MB.*/\1/p" "$T/run.err" | head -n 1; }

M="$T/q.gguf"
"$ACTIVESWAP" mkmodel -o "$M" --arch qwen3moe --type q8_0 --dim 128 --hidden 256 --layers 4 \
	--heads 4 --kv-heads 2 --vocab 512 --ctx 128 --experts 16 --experts-used 4 --head-dim 32 \
	--expert-hidden 64 --seed 3 >/dev/null 2>&1 &&
	"$ACTIVESWAP" convert "$M" -o "$T/q2.asw" --expert-types q8_0,q4_0 >/dev/null 2>&1 &&
	"$ACTIVESWAP" convert "$M" -o "$T/q1.asw" >/dev/null 2>&1
check $? "a qwen3moe store with low copies and one without"

run "$T/q2.asw" >"$T/default.txt"
rc=$?
grep -q "experts: two copies each, precision off" "$T/run.err" &&
	! grep -q "auto: expert precision" "$T/run.err"
check $((rc + $?)) "nothing asked: precision off, no auto line"
run "$T/q2.asw" --expert-precision off >"$T/off.txt"
cmp -s "$T/default.txt" "$T/off.txt"
check $? "nothing asked: the text of --expert-precision off"

run "$T/q2.asw" --expert-precision auto >"$T/auto100.txt"
rc=$?
[ $rc -eq 0 ] && [ "$(pick)" = off ] && grep -q "everything fits in DRAM" "$T/run.err" &&
	cmp -s "$T/default.txt" "$T/auto100.txt"
check $? "auto with everything in DRAM: off, the default run's text ($(grep 'auto: expert' "$T/run.err"))"

# the speeds fixed (the probes' figures vary with the load and the sanitizers): flash-bound
# as a model far larger than its budget is
SPEEDS=1e9,1e11
low() { sed -n 's/.*; \([0-9]*\)% computed low).*/\1/p' "$T/run.err" | head -n 1; }
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS run "$T/q2.asw" --expert-precision auto --dram-budget 1800KiB \
	--stats >/dev/null
rc=$?
p=$(pick)
off=$(mb off)
pk=$(mb "$p")
line=$(grep 'auto: expert' "$T/run.err")
[ $rc -eq 0 ] && [ -n "$p" ] && [ "$p" != off ] && [ -n "$off" ] && [ -n "$pk" ] &&
	awk -v a="$pk" -v b="$off" 'BEGIN { exit !(a < b) }'
check $? "auto at a tight budget: a low-copy policy predicted to read less than off ($line)"
echo "$line" | grep -q "off [0-9.]* MB [0-9.]* ms, low-weight (2 of 4 high) [0-9.]* MB [0-9.]* ms, miss [0-9.]* MB [0-9.]* ms; high experts cached [0-9]*%; [0-9]*% computed low)"
check $? "the auto line has every candidate's predicted bytes and time"
grep -q "^experts: precision $p: [0-9]* computed from the high copy, [0-9]* from the low" "$T/run.err"
check $? "--stats: the share computed low"
low2=$(low)
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS run "$T/q2.asw" --expert-precision auto --dram-budget 2600KiB \
	>/dev/null
low3=$(low)
off3=$(mb off)
[ -n "$low2" ] && [ -n "$low3" ] && [ "$low3" -lt "$low2" ] &&
	awk -v a="$off3" -v b="$off" 'BEGIN { exit !(a < b) }' && [ "$(pick)" = off ] &&
	grep -q "off: the cache holds 25% of the high experts or more" "$T/run.err"
check $? "a larger budget: off predicted to read less ($off3 < $off MB), off as the cache holds 25% of the high experts or more"
ACTIVESWAP_AUTO_SPEEDS=1e12,1e8 run "$T/q2.asw" --expert-precision auto --dram-budget 1800KiB \
	>/dev/null
[ "$(pick)" = off ] && grep -q "no policy is predicted to save 10% of the time" "$T/run.err"
check $? "compute-bound (the reads hidden under the compute): off"

ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" -n 4 \
	--temp 0 -t 2 --sparsity 0 --expert-precision auto --dram-budget 1800KiB --json 2>/dev/null | tail -n 1 >"$T/j.json"
grep -q '"expert_precision_auto": true, "expert_precision_why": "' "$T/j.json" &&
	grep -q '"expert_precision_candidates": \[{"policy": "off", ' "$T/j.json" &&
	grep -q '"picked": true' "$T/j.json" && grep -q '"expert_reads_low": [1-9]' "$T/j.json"
check $? "--json: expert_precision_auto, the candidates, the pick, the low reads"

run "$T/q1.asw" --expert-precision auto --dram-budget 2MiB >"$T/q1auto.txt"
rc=$?
run "$T/q1.asw" --dram-budget 2MiB >"$T/q1def.txt"
[ $rc -eq 0 ] && cmp -s "$T/q1auto.txt" "$T/q1def.txt"
rc2=$?
run "$T/q1.asw" --expert-precision auto --dram-budget 2MiB >/dev/null
grep -q "auto: expert precision off (the store has no low-precision copies)" "$T/run.err"
check $((rc2 + $?)) "a store without low copies: auto says so and stays off (the default text)"

# latency targets: one the model meets without the low copies, one nothing meets
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" -n 4 \
	--temp 0 -t 2 --expert-precision auto --dram-budget 2MiB --latency-target 100000 >/dev/null 2>"$T/run.err"
rc=$?
[ $rc -eq 0 ] && [ "$(pick)" = off ] && grep -q "met without the low copies" "$T/run.err"
check $? "a latency target met without the low copies: off ($(grep 'auto: expert' "$T/run.err"))"
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" -n 4 \
	--temp 0 -t 2 --expert-precision auto --dram-budget 2MiB --latency-target 0.0001 --stats >/dev/null \
	2>"$T/run.err"
rc=$?
p=$(pick)
[ $rc -eq 0 ] && [ "$p" != off ] && grep -q "no rung meets the target" "$T/run.err" &&
	grep -q "^experts: precision $p: " "$T/run.err"
check $? "a latency target nothing meets: the fastest rung, $p, read low ($(grep 'auto: expert' "$T/run.err" | cut -c1-160))"

# a target between the rungs low-weight 3 of 4 high and 2 of 4 (their predicted times from
# the last run's --json): the rung of the least accuracy cost that meets it, 2 of 4 (kept
# for the run: --latency-fixed)
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" -n 2 \
	--temp 0 -t 2 --expert-precision auto --dram-budget 2MiB --latency-target 0.0001 --json \
	2>/dev/null | tail -n 1 | tr '{' '\n' >"$T/rungs.txt"
t3=$(sed -n 's/.*"expert_high": 3, .*"predicted_s_per_token": \([0-9.]*\),.*/\1/p' "$T/rungs.txt")
t2=$(sed -n 's/.*"expert_high": 2, .*"predicted_s_per_token": \([0-9.]*\),.*/\1/p' "$T/rungs.txt")
tgt=$(awk -v a="$t3" -v b="$t2" 'BEGIN { if (a > b && b > 0) printf "%.6f", (a + b) / 2 * 1e3 }')
[ -n "$tgt" ] &&
	ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" \
		-n 4 --temp 0 -t 2 --expert-precision auto --dram-budget 2MiB --latency-target "$tgt" \
		--latency-fixed --stats >/dev/null 2>"$T/run.err" &&
	grep -q "auto: expert precision low-weight (2 of 4 high): the least accuracy cost meeting the target" \
		"$T/run.err" && grep -q "^experts: precision low-weight: [0-9]* computed from the high copy, [0-9]* from the low (50.0%)" "$T/run.err"
check $? "a target between the rungs ($tgt ms; 3 of 4 high: $t3 s, 2 of 4: $t2 s): low-weight 2 of 4 high, 50% read low"

# the feedback moves the rung: a target the model meets with off (1 ms; predicted 0.3 ms)
# that the run cannot (a few ms per token here, more under the sanitizers): the sparsity
# goes to its cap, then the low copies are taken, rung by rung
ACTIVESWAP_AUTO_SPEEDS=$SPEEDS "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once upon a time" -n 16 \
	--temp 0 -t 2 --expert-precision auto --dram-budget 2MiB --latency-target 1 --json \
	2>"$T/run.err" | tail -n 1 >"$T/lat.json"
rc=$?
[ $rc -eq 0 ] && [ "$(pick)" = off ] &&
	grep -q '"latency_expert_precision_start": "off", "latency_expert_high_start": 4, ' "$T/lat.json" &&
	grep -q '"latency_rung_changes": [1-9]' "$T/lat.json" &&
	! grep -q '"latency_expert_precision_end": "off"' "$T/lat.json" &&
	grep -q '"expert_reads_low": [1-9]' "$T/lat.json"
check $? "the feedback takes the low copies when the target is not met at the cap ($(grep -o '"latency_expert_precision_end": "[a-z-]*", "latency_expert_high_end": [0-9]*, "latency_rung_changes": [0-9]*' "$T/lat.json"))"

"$ACTIVESWAP" run -m "$T/q2.asw" -p x -n 1 --expert-precision fast >/dev/null 2>"$T/run.err"
rc=$?
[ $rc -eq 2 ] && grep -q "off, low-weight, miss or auto" "$T/run.err"
check $? "a bad --expert-precision value: usage error naming auto"

for v in 1e9 "1e9,-5" "1e9,2e9x" "inf,1e9" "1e-320,1e-320"; do
	ACTIVESWAP_AUTO_SPEEDS=$v "$ACTIVESWAP" run -m "$T/q2.asw" -p "Once" -n 1 \
		--dram-budget 1800KiB >/dev/null 2>"$T/run.err"
	rc=$?
	[ $rc -ne 0 ] && grep -q "ACTIVESWAP_AUTO_SPEEDS='$v': give FLASH,COMPUTE" "$T/run.err"
	check $? "ACTIVESWAP_AUTO_SPEEDS='$v' refused with one line (rc $rc)"
done

rm -rf "$T"
echo "1..$n"
