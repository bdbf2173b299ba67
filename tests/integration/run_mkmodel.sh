#!/bin/sh
# `activeswap run` and `eval` on small models written by `activeswap mkmodel` (no shared
# data needed):
#
#  - every weight type loads and generates the requested number of tokens;
#  - greedy output does not depend on the thread count (matvecs and attention heads
#    split over the pool) or on Q4_0 repacking;
#  - eval gives a finite PPL, and --sparsity 0 equals dense exactly (KL 0, top-1 1);
#  - a prompt longer than -c is a usage error;
#  - a GGUF and its store (the same generation loop) both say when the context is full;
#  - eval/calibrate refuse a text that is not a regular file, calibrate a levels file it
#    cannot write, with one error line and exit 1.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/run_mkmodel"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }

if ! "$ACTIVESWAP_RELEASE" mkmodel --help >/dev/null 2>&1; then
	echo "1..0 # SKIP activeswap mkmodel is not in this build"
	exit 0
fi

# Each type: mkmodel, then 24 greedy tokens with the sanitizer CLI.
for ty in q4_0 q8_0 f16 f32; do
	"$ACTIVESWAP_RELEASE" mkmodel -o "$T/m-$ty.gguf" --type $ty --layers 2 --seed 3 \
		>/dev/null 2>"$T/mk-$ty.err"
	"$ACTIVESWAP" run -m "$T/m-$ty.gguf" -p "Once upon a time" -n 24 --temp 0 --json \
		>"$T/run-$ty.out" 2>"$T/run-$ty.err"
	rc=$?
	[ $rc -eq 0 ] && [ "$(jfield n_generated "$T/run-$ty.out")" -ge 1 ] &&
		[ "$(jfield prompt_tokens "$T/run-$ty.out")" -ge 2 ]
	check $? "$ty model: run generates (rc $rc, $(tail -n 1 "$T/run-$ty.err"))"
done

# Greedy text is the same with 1 or 2 threads and with or without repacking.
M="$T/m-q4_0.gguf"
"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 40 --temp 0 -t 1 --no-repack \
	>"$T/a.txt" 2>/dev/null
"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 40 --temp 0 -t 2 \
	>"$T/b.txt" 2>/dev/null
"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom and Lily" -n 40 --temp 0 -t 2 --no-repack \
	>"$T/c.txt" 2>/dev/null
[ -s "$T/a.txt" ] && cmp -s "$T/a.txt" "$T/b.txt"
check $? "greedy: repacked -t 2 equals plain -t 1"
cmp -s "$T/a.txt" "$T/c.txt"
check $? "greedy: plain -t 2 equals plain -t 1"

# Long enough (300 positions) that attention heads are spread over the pool too.
"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom" -n 300 --temp 0 -t 1 >"$T/l1.txt" 2>/dev/null
"$ACTIVESWAP_RELEASE" run -m "$M" -p "Tom" -n 300 --temp 0 -t 2 >"$T/l2.txt" 2>/dev/null
[ "$(wc -c <"$T/l1.txt")" -gt 300 ] && cmp -s "$T/l1.txt" "$T/l2.txt"
check $? "greedy over 300 positions: -t 2 (threaded attention) equals -t 1"

# eval: finite PPL; sparsity 0 is dense exactly.
i=0
while [ $i -lt 40 ]; do
	echo "Once upon a time there was a little dog. The dog liked to run and play in the sun."
	i=$((i + 1))
done >"$T/text.txt"
"$ACTIVESWAP" eval -m "$M" -f "$T/text.txt" -c 64 --json >"$T/e.json" 2>"$T/e.err"
"$ACTIVESWAP_RELEASE" eval -m "$M" -f "$T/text.txt" -c 64 --json >"$T/e2.json" 2>"$T/e2.err"
ppl=$(jfield ppl "$T/e.json")
awk -v p="$ppl" 'BEGIN { exit !(p != "" && p > 1 && p < 1e6) }'
check $? "eval on a mkmodel model gives a finite PPL ($ppl)"
"$ACTIVESWAP_RELEASE" eval -m "$M" -f "$T/text.txt" -c 64 --sparsity 0 --json \
	>"$T/s.json" 2>"$T/s.err"
[ "$(jfield ppl "$T/s.json")" = "$(jfield ppl "$T/e2.json")" ] && [ "$(jfield kl "$T/s.json")" = "0.00000000" ] &&
	[ "$(jfield top1_agreement "$T/s.json")" = "1.000000" ]
check $? "eval --sparsity 0 equals dense (ppl $(jfield ppl "$T/s.json"), kl $(jfield kl "$T/s.json"))"

# Context smaller than the prompt.
"$ACTIVESWAP" run -m "$M" -p "a b c d e f g h i j k l m n o p" -c 4 >/dev/null 2>"$T/c.err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/c.err")" -eq 1 ]
check $? "prompt longer than -c is a usage error (rc $rc: $(cat "$T/c.err"))"

# Generation stops at the end of the context, for a GGUF and for its store.
"$ACTIVESWAP_RELEASE" convert "$M" -o "$T/m.asw" --quiet 2>"$T/conv.err"
for mm in "$M" "$T/m.asw"; do
	"$ACTIVESWAP" run -m "$mm" -p "Tom" -n 100 -c 8 --temp 0 -t 1 >"$T/full.txt" \
		2>"$T/full.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q "(context full)" "$T/full.err"
	check $? "run ${mm##*.}: -n beyond -c stops at the context (rc $rc: $(tail -n 1 "$T/full.err"))"
done

# Texts and output files that cannot be used.
for mm in "$M" "$T/m.asw"; do
	"$ACTIVESWAP" eval -m "$mm" -f "$T" -c 64 >/dev/null 2>"$T/d.err"
	rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$T/d.err")" -eq 1 ] && grep -q "not a regular file" "$T/d.err"
	check $? "eval ${mm##*.} -f DIRECTORY: one error line, exit 1 (rc $rc: $(cat "$T/d.err"))"
done
"$ACTIVESWAP" calibrate -m "$M" -f "$T" --sparsity 0.5 >/dev/null 2>"$T/cd.err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/cd.err")" -eq 1 ] && grep -q "not a regular file" "$T/cd.err"
check $? "calibrate -f DIRECTORY: one error line, exit 1 (rc $rc: $(cat "$T/cd.err"))"
if [ -c /dev/full ]; then
	"$ACTIVESWAP" calibrate -m "$M" -f "$T/text.txt" --sparsity 0.5 -c 64 --chunks 1 \
		--val-fraction 0 --rounds 0 -o /dev/full >/dev/null 2>"$T/cf.err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "cannot write /dev/full" "$T/cf.err"
	check $? "calibrate -o /dev/full fails (rc $rc: $(tail -n 1 "$T/cf.err"))"
else
	ok "calibrate -o /dev/full fails # SKIP no /dev/full"
fi

echo "1..$n"
