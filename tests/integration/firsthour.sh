#!/bin/sh
# What a new user meets first (issue #21, "Bugs"):
#
#  - a budget far above the model (--dram-budget 100G, 2G) is capped at what holding
#    everything takes, says so, and runs inside a memory cgroup of 256 MiB;
#  - convert refuses to write the store over its own input (same inode, also by a link);
#  - the summary line on stderr starts on its own line after the generated text;
#  - a truncated store says "truncated" and names the file once, a text file named .asw is
#    "not an activeswap store or GGUF";
#  - the README's swapping example (--dram-budget 50% --sparsity auto --stats) runs on the
#    real model (AS_SHARED/models/stories260K.gguf; skipped when absent).
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/firsthour"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

"$AR" mkmodel -o "$T/m.gguf" --shape tiny --seed 3 >/dev/null 2>&1 &&
	"$AR" convert "$T/m.gguf" -o "$T/m.asw" --quiet
check $? "a tiny generated model converted to a store"
S="$T/m.asw"

# 1. The budget cap, under a memory cgroup of 256 MiB (the uncapped pool is 100 GiB).
for b in 100G 2G; do
	sh "$AS_TOP/tools/memcg.sh" $((256 << 20)) "$AR" run -m "$S" -p "Once" -n 8 \
		--temp 0 --dram-budget $b --json >"$T/cap.out" 2>"$T/cap.err"
	rc=$?
	if [ $rc = 77 ]; then
		skip "--dram-budget $b in a 256 MiB cgroup" "no memory cgroup ($(tail -n 1 "$T/cap.err"))"
		continue
	fi
	full=$(sed -n 's/.*"full_bytes": *\([0-9]*\).*/\1/p' "$T/cap.out")
	used=$(sed -n 's/.*"budget_bytes": *\([0-9]*\).*/\1/p' "$T/cap.out")
	[ $rc = 0 ] && grep -q "capped at" "$T/cap.err" && [ -n "$full" ] && [ "$used" = "$full" ]
	check $? "--dram-budget $b in a 256 MiB cgroup: exit $rc, budget $used = full $full, $(grep -o 'budget [0-9.]* MiB capped at [0-9.]* MiB' "$T/cap.err")"
	[ $rc = 0 ] || sed 's/^/# /' "$T/cap.err"
done

# 2. convert onto itself: refused (exit 2), the model left as it was.
cp "$T/m.gguf" "$T/c.gguf"
ln "$T/c.gguf" "$T/link.gguf"
"$AR" convert "$T/c.gguf" -o "$T/c.gguf" >/dev/null 2>"$T/self.err"
rc1=$?
"$AR" convert "$T/c.gguf" -o "$T/link.gguf" >/dev/null 2>"$T/link.err"
rc2=$?
[ $rc1 = 2 ] && [ $rc2 = 2 ] && cmp -s "$T/c.gguf" "$T/m.gguf" &&
	[ "$(wc -l <"$T/self.err")" = 1 ] && grep -q "input model itself" "$T/self.err"
check $? "convert X -o X and -o a hard link of X: exit $rc1/$rc2, model intact ($(cat "$T/self.err"))"

# 3. The summary line is not glued to the text when both go to one file (2>&1); stdout
# alone stays exactly the text.
"$AR" run -m "$T/m.gguf" -p "Once" -n 6 --temp 0 >"$T/both.txt" 2>&1
rc=$?
[ $rc = 0 ] && grep -q '^activeswap run: load' "$T/both.txt"
check $? "dense run >file 2>&1: the summary starts a line"
"$AR" run -m "$S" -p "Once" -n 6 --temp 0 >"$T/both.txt" 2>&1
rc=$?
[ $rc = 0 ] && grep -q '^activeswap run: load' "$T/both.txt"
check $? "store run >file 2>&1: the summary starts a line"
"$AR" run -m "$T/m.gguf" -p "Once" -n 6 --temp 0 >"$T/alone.txt" 2>/dev/null
[ -s "$T/alone.txt" ] && [ "$(tail -c 1 "$T/alone.txt" | od -An -c | tr -d ' ')" != '\n' ]
check $? "stdout alone is exactly the text (no newline added)"

# 4. A truncated store says so and names the file once; a text file is no model.
head -c 600000 "$S" >"$T/trunc.asw"
echo "hello" >"$T/text.asw"
open_bad() { # SUB FILE: run -m FILE -n 1, or info FILE
	if [ "$1" = run ]; then "$AR" run -m "$2" -n 1; else "$AR" info "$2"; fi
}
for sub in run info; do
	open_bad $sub "$T/trunc.asw" >/dev/null 2>"$T/tr.err"
	rc=$?
	[ $rc = 1 ] && [ "$(wc -l <"$T/tr.err")" = 1 ] && grep -q "truncated" "$T/tr.err" &&
		[ "$(grep -o "trunc\.asw" "$T/tr.err" | wc -l)" = 1 ]
	check $? "$sub on a truncated store: exit $rc, $(cat "$T/tr.err")"
	open_bad $sub "$T/text.asw" >/dev/null 2>"$T/tx.err"
	rc=$?
	[ $rc = 1 ] && [ "$(wc -l <"$T/tx.err")" = 1 ] &&
		grep -q "text.asw: not an activeswap store or GGUF" "$T/tx.err"
	check $? "$sub on a text file named .asw: exit $rc, $(cat "$T/tx.err")"
done

# 5. The README's swapping example on the real model.
STORIES="${AS_SHARED:-$AS_TOP/../shared}/models/stories260K.gguf"
if [ ! -f "$STORIES" ]; then
	skip "README example on stories260K" "$STORIES absent"
else
	"$AR" convert "$STORIES" -o "$T/s.asw" --quiet &&
		"$AR" run -m "$T/s.asw" --dram-budget 50% --sparsity auto --stats \
			-p "Once upon a time" -n 16 >"$T/s.out" 2>"$T/s.err"
	rc=$?
	[ $rc = 0 ] && grep -q '^total ' "$T/s.err"
	check $? "stories260K store: run --dram-budget 50% --sparsity auto --stats (exit $rc)"
	[ $rc = 0 ] || sed 's/^/# /' "$T/s.err"
fi
echo "1..$n"
