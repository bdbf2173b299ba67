#!/bin/sh
# activeswap calibrate on the real model (AS_SHARED; skipped without it):
#  - the split is honoured: two texts with the same first 128 tokens (the search split at
#    -c 64 --chunks 4 --val-fraction 0.5) and different validation tokens give the same
#    search figures (every candidate's search KL) and different validation figures; a text
#    with other search tokens gives other search figures (so the check can fail);
#  - the chosen levels keep the weighted average and their validation KL is at most
#    uniform's (uniform is a candidate);
#  - on held-out text (the second half of tinystories-dev.txt, lines 5-8, 808 bytes), the
#    levels calibrated at 0.4 on the first half (lines 1-4) give a lower KL to dense than
#    uniform Top-K at the same average, through a store (eval --sparsity-file). At 0.5
#    the 256 search tokens of the first half are too few (Documentation/swapping.md);
#  - --search teal makes TEAL's greedy over every group and its half only, --search
#    groups the closed-form allocation and its half only;
#  - --store S --dram-budget B averages over flash bytes: the resident shares are
#    reported, the flash average is S and the average by weights is not, and the levels
#    need at most 5% more bytes per token than uniform at that budget; usage errors.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AS_SHARED=${AS_SHARED:-$AS_TOP/../shared}
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/calibrate"
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
lines() { sed -n "$1,$2p" "$TXT"; }

# 1. the split: lines 1-2 are 198 tokens, so tokens [0, 128) are theirs in f1 and f2
{ lines 1 2; lines 3 4; } >"$T/f1.txt"
{ lines 1 2; lines 5 6; } >"$T/f2.txt"
{ lines 5 6; lines 3 4; } >"$T/f3.txt"
for i in 1 2 3; do
	"$AR" calibrate -m "$RM" -f "$T/f$i.txt" --sparsity 0.5 -c 64 --chunks 4 \
		--val-fraction 0.5 --step 0.2 -t 1 -o "$T/lv$i.txt" --json \
		>"$T/c$i.json" 2>"$T/c$i.err" || echo "calibrate f$i failed: $(tail -n 1 "$T/c$i.err")"
done
srch() { grep '^# chosen:' "$1" | sed 's/.*search KL://'; }
val() { grep '^# validation KL:' "$1"; }
[ "$(jfield search_tokens "$T/c1.json")" = 128 ] && [ "$(jfield val_tokens "$T/c1.json")" = 128 ] &&
	[ -n "$(srch "$T/lv1.txt")" ] && [ "$(srch "$T/lv1.txt")" = "$(srch "$T/lv2.txt")" ] &&
	[ "$(jfield search_uniform_kl "$T/c1.json")" = "$(jfield search_uniform_kl "$T/c2.json")" ] &&
	[ -n "$(val "$T/lv1.txt")" ] && [ "$(val "$T/lv1.txt")" != "$(val "$T/lv2.txt")" ]
check $? "other validation tokens: same search figures ($(srch "$T/lv1.txt")), other validation"
[ -n "$(srch "$T/lv3.txt")" ] && [ "$(srch "$T/lv1.txt")" != "$(srch "$T/lv3.txt")" ]
check $? "other search tokens: other search figures ($(srch "$T/lv3.txt"))"
u=$(jfield uniform_kl "$T/c1.json")
c=$(jfield calibrated_kl "$T/c1.json")
a=$(jfield weighted_average "$T/c1.json")
[ "$(grep -c '^[0-4] [a-z_]* 0\.[0-9]*$' "$T/lv1.txt")" = 20 ] &&
	awk -v u="${u:-0}" -v c="${c:-9}" -v a="${a:-0}" \
		'BEGIN { exit !(c <= u && a > 0.499 && a < 0.501) }'
check $? "20 levels, weighted average $a, validation KL $u (uniform) -> $c"

# 2. held-out text: calibrate on lines 1-4, evaluate on lines 5-8 through a store
lines 1 4 >"$T/cal.txt"
lines 5 8 >"$T/held.txt"
"$AR" convert "$RM" -o "$T/s.asw" --quiet
check $? "the real model converted to a store"
for s in 0.4; do
	"$AR" calibrate -m "$RM" -f "$T/cal.txt" --sparsity $s -c 64 -t 1 -o "$T/h$s.txt" \
		>/dev/null 2>"$T/h$s.err"
	"$AR" eval -m "$T/s.asw" -f "$T/held.txt" -c 64 -t 1 --sparsity $s --json \
		>"$T/u$s.json" 2>/dev/null
	"$AR" eval -m "$T/s.asw" -f "$T/held.txt" -c 64 -t 1 --sparsity-file "$T/h$s.txt" \
		--json >"$T/e$s.json" 2>/dev/null
	ku=$(jfield kl "$T/u$s.json")
	kc=$(jfield kl "$T/e$s.json")
	awk -v u="${ku:-0}" -v c="${kc:-9}" 'BEGIN { exit !(u > 0 && c < u) }'
	check $? "held-out text at $s: calibrated KL $kc < uniform $ku"
done

# 3. TEAL's greedy over every group (--search teal): its candidates, the average kept
"$AR" calibrate -m "$RM" -f "$T/f1.txt" --sparsity 0.5 -c 32 --chunks 2 --val-fraction 0.5 \
	--step 0.25 -t 1 --search teal -o "$T/teal.txt" --json >"$T/teal.json" 2>"$T/teal.err" ||
	echo "# calibrate --search teal failed: $(tail -n 1 "$T/teal.err")"
a=$(jfield weighted_average "$T/teal.json")
grep -q '^# chosen: .*search KL: uniform [0-9.]* teal [0-9.]* teal/2 [0-9.]*$' "$T/teal.txt" &&
	! grep -q 'kinds\|groups' "$T/teal.txt" &&
	awk -v a="${a:-0}" 'BEGIN { exit !(a > 0.499 && a < 0.501) }'
check $? "--search teal: teal and teal/2 candidates only, weighted average $a"
"$AR" calibrate -m "$RM" -f "$T/f1.txt" --sparsity 0.5 -c 32 --chunks 2 --val-fraction 0.5 \
	--step 0.25 -t 1 --search groups -o "$T/grp.txt" >/dev/null 2>"$T/grp.err" ||
	echo "# calibrate --search groups failed: $(tail -n 1 "$T/grp.err")"
grep -q '^# chosen: .*search KL: uniform [0-9.]* groups [0-9.]* groups/2 [0-9.]*$' "$T/grp.txt"
check $? "--search groups: the closed-form allocation and its half only"
"$AR" calibrate -m "$RM" -f "$T/f1.txt" --sparsity 0.5 --search greedy >/dev/null 2>&1
check $(($? != 2)) "--search greedy: usage error"

# 4. the average over flash bytes (--store at a budget): the kinds the budget holds
#    resident weigh less, so the average by number of weights moves. A fixed gap (0)
#    fixes the hot set's split (auto's replay is timed: the split can move between opens);
#    at 80% it holds most of attn_in, attn_out and ffn_out and a sixth of ffn_in
"$AR" calibrate -m "$RM" -f "$T/cal.txt" --sparsity 0.5 -c 64 -t 1 --search kinds \
	--store "$T/s.asw" --dram-budget 80% --gap 0 -o "$T/fl.txt" --json >"$T/fl.json" \
	2>"$T/fl.err" ||
	echo "# calibrate --store failed: $(tail -n 1 "$T/fl.err")"
a=$(jfield weighted_average "$T/fl.json")
aw=$(jfield weights_average "$T/fl.json")
sh=$(sed -n 's/.*"resident_share": \[\([^]]*\)\].*/\1/p' "$T/fl.json")
grep -q '"average_over": "flash"' "$T/fl.json" && grep -q '^# averaged over flash bytes' "$T/fl.txt" &&
	echo "$sh" | awk -F', ' '{ lo = hi = 0; for (i = 1; i <= 4; i++) { lo += $i < 0.999; hi += $i > 0 } exit !(NF == 4 && lo && hi) }' &&
	awk -v a="${a:-0}" -v w="${aw:-0.5}" \
		'BEGIN { exit !(a > 0.499 && a < 0.501 && (w < 0.49 || w > 0.51)) }'
check $? "--store at 80%: resident shares $sh, flash average $a, by weights $aw"
#    what a token needs from the cache and flash (useful bytes: no timing in them) at
#    that budget and gap: at most 5% above uniform's (levels averaged over weights at
#    0.5 need 15% more here: they keep more of ffn_in, the kind the hot set holds least)
ub() {
	"$AR" bench decode -m "$T/s.asw" --dram-budget 80% --gap 0 -n 16 --warmup 1 -t 1 \
		--json "$@" 2>/dev/null | sed -n 's/.*"useful_bytes_per_token": *\([0-9.]*\).*/\1/p'
}
bu=$(ub --sparsity 0.5)
bf=$(ub --sparsity-file "$T/fl.txt")
awk -v u="${bu:-0}" -v f="${bf:-9e99}" 'BEGIN { exit !(u > 0 && f <= 1.05 * u) }'
check $? "--store levels at 80%: $bf useful bytes per token, uniform 0.5 $bu"
"$AR" calibrate -m "$RM" -f "$T/cal.txt" --sparsity 0.5 --dram-budget 60% >/dev/null 2>&1
check $(($? != 2)) "--dram-budget without --store: usage error"
"$AR" calibrate -m "$RM" -f "$T/cal.txt" --sparsity 0.5 -c 64 --search kinds \
	--store "$RM" -o "$T/bad.txt" >/dev/null 2>"$T/bad.err"
[ $? = 1 ] && [ "$(wc -l <"$T/bad.err")" -ge 1 ] && grep -q "$RM" "$T/bad.err"
check $? "--store naming a GGUF: refused ($(tail -n 1 "$T/bad.err"))"
echo "1..$n"
