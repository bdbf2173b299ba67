#!/bin/sh
# Threshold sparsity on the real model (AS_SHARED; skipped without it):
#  - calibrate --sparsity-mode threshold --uniform (TEAL's uniform thresholds: no search,
#    which the calibrate suite covers) writes a "format 2" levels file with a threshold for
#    each of the 20 (layer, kind) groups, at the weighted average asked;
#  - on held-out text (lines 5-8 of tinystories-dev.txt; calibrated on lines 1-4), eval
#    --sparsity-mode threshold through a store realizes about the average asked
#    (realized_sparsity) and gives a lower KL to dense than uniform Top-K at 0.5;
#  - run's greedy text with the thresholds is the same at budgets 100%, 60% and 50% (the
#    least this model takes) and
#    with pread and io_uring, and differs from the Top-K of the same levels;
#  - usage errors: --sparsity-mode without a levels file, a bad mode (exit 2); a Top-K
#    levels file in threshold mode (exit 1, one line naming the file).
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AS_SHARED=${AS_SHARED:-$AS_TOP/../shared}
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/threshold"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }

RM="$AS_SHARED/models/stories260K.gguf"
TXT="$AS_SHARED/golden/tinystories-dev.txt"
if [ ! -f "$RM" ] || [ ! -f "$TXT" ]; then
	echo "1..0 # SKIP no $RM or $TXT"
	exit 0
fi
sed -n 1,4p "$TXT" >"$T/cal.txt"
sed -n 5,8p "$TXT" >"$T/held.txt"
"$AR" convert "$RM" -o "$T/s.asw" --group 1 --quiet
check $? "the real model converted to a store"

# 1. the thresholds file
"$AR" calibrate -m "$RM" -f "$T/cal.txt" --sparsity 0.5 -c 64 -t 1 --uniform \
	--sparsity-mode threshold -o "$T/thr.txt" --json >"$T/c.json" 2>"$T/c.err" ||
	echo "# calibrate failed: $(tail -n 1 "$T/c.err")"
a=$(jfield weighted_average "$T/c.json")
[ "$(grep -c '^format 2$' "$T/thr.txt")" = 1 ] &&
	[ "$(grep -c '^[0-4] [a-z_]* 0\.[0-9]* [0-9.e+-]*$' "$T/thr.txt")" = 20 ] &&
	grep -q '"sparsity_mode": "threshold"' "$T/c.json" &&
	awk -v a="${a:-0}" 'BEGIN { exit !(a > 0.499 && a < 0.501) }'
check $? "format 2 file, 20 levels with thresholds, weighted average $a"

# 2. held-out text
"$AR" eval -m "$T/s.asw" -f "$T/held.txt" -c 64 -t 1 --sparsity 0.5 --json \
	>"$T/u.json" 2>/dev/null
"$AR" eval -m "$T/s.asw" -f "$T/held.txt" -c 64 -t 1 --sparsity-file "$T/thr.txt" \
	--sparsity-mode threshold --json >"$T/e.json" 2>"$T/e.err"
ku=$(jfield kl "$T/u.json")
kt=$(jfield kl "$T/e.json")
rs=$(jfield realized_sparsity "$T/e.json")
awk -v u="${ku:-0}" -v c="${kt:-9}" -v r="${rs:-0}" \
	'BEGIN { exit !(u > 0 && c < u && r > 0.4 && r < 0.6) }'
check $? "held-out text: thresholds KL $kt < uniform Top-K $ku, realized sparsity $rs"

# 3. the same text at every budget and backend; not the Top-K's
P="Once upon a time"
run() {
	"$AR" run -m "$T/s.asw" -p "$P" -n 24 --temp 0 -t 1 --sparsity-file "$T/thr.txt" \
		--gap 0 "$@" 2>>"$T/run.err"
}
run --sparsity-mode threshold >"$T/r100.txt"
same=0
for b in 60% 50%; do
	for be in pread uring; do
		run --sparsity-mode threshold --dram-budget $b --backend $be >"$T/rb.txt"
		cmp -s "$T/r100.txt" "$T/rb.txt" || { same=1; echo "# differs at $b $be"; }
	done
done
[ -s "$T/r100.txt" ] && [ "$same" = 0 ]
check $? "thresholds: the same text at 100%, 60%, 50%, pread and io_uring"
run >"$T/rk.txt"
[ -s "$T/rk.txt" ] && ! cmp -s "$T/r100.txt" "$T/rk.txt"
check $? "the Top-K of the same levels writes another text"

# 4. usage errors
"$AR" run -m "$T/s.asw" -p "$P" -n 2 --sparsity-mode threshold >/dev/null 2>"$T/u1.err"
[ $? = 2 ] && grep -q "needs --sparsity-file" "$T/u1.err"
check $? "--sparsity-mode threshold without a levels file: exit 2"
"$AR" eval -m "$T/s.asw" -f "$T/held.txt" --sparsity-mode top >/dev/null 2>"$T/u2.err"
[ $? = 2 ] && grep -q "topk or threshold" "$T/u2.err"
check $? "a bad --sparsity-mode: exit 2"
grep -v '^format' "$T/thr.txt" | sed '/^[0-4] /s/ [0-9.e+-]*$//' >"$T/topk.txt"
"$AR" run -m "$T/s.asw" -p "$P" -n 2 --sparsity-file "$T/topk.txt" \
	--sparsity-mode threshold >/dev/null 2>"$T/u3.err"
r=$?
[ $r = 1 ] && grep -q "topk.txt: levels without thresholds" "$T/u3.err" &&
	[ "$(wc -l <"$T/u3.err")" = 1 ]
check $? "a Top-K levels file in threshold mode: exit $r, $(cat "$T/u3.err")"
"$AR" run -m "$T/s.asw" -p "$P" -n 2 --sparsity-file "$T/topk.txt" >/dev/null 2>&1
check $? "the same levels without thresholds run as Top-K"
echo "1..$n"
