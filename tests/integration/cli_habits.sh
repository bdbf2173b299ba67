#!/bin/sh
# The llama.cpp flags users reach for, on `activeswap run` (GGUF and store):
# -f FILE, -s SEED, -n -1, --min-p, --repeat-penalty, --version, and Ctrl-C printing the
# summary of what was generated (exit 130).
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/cli_habits"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
jfield() { sed -n "s/.*\"$1\": *\([a-z0-9.e+-]*\).*/\1/p" "$2" | tail -n 1; }

v=$("$ACTIVESWAP" --version 2>&1)
rc=$?
[ $rc = 0 ] && echo "$v" | grep -q '^activeswap [0-9][0-9.]*$'
check $? "--version: '$v'"

"$AR" mkmodel -o "$T/m.gguf" --shape tiny --seed 4 >/dev/null 2>&1 &&
	"$AR" convert "$T/m.gguf" -o "$T/m.asw" --quiet
check $? "tiny model and store"
P="Once upon a time"

for M in "$T/m.gguf" "$T/m.asw"; do
	k=${M##*.}
	# -f FILE gives the same text as -p
	printf '%s' "$P" >"$T/p.txt"
	"$ACTIVESWAP" run -m "$M" -p "$P" -n 12 --temp 0 >"$T/p.out" 2>/dev/null &&
		"$ACTIVESWAP" run -m "$M" -f "$T/p.txt" -n 12 --temp 0 >"$T/f.out" 2>/dev/null &&
		[ -s "$T/p.out" ] && cmp -s "$T/p.out" "$T/f.out"
	check $? "$k: -f FILE = -p TEXT"

	# -s SEED = --seed SEED
	"$ACTIVESWAP" run -m "$M" -p "$P" -n 12 -s 7 >"$T/s1.out" 2>/dev/null &&
		"$ACTIVESWAP" run -m "$M" -p "$P" -n 12 --seed 7 >"$T/s2.out" 2>/dev/null &&
		[ -s "$T/s1.out" ] && cmp -s "$T/s1.out" "$T/s2.out"
	check $? "$k: -s 7 = --seed 7"

	# --min-p 1 keeps only the most likely token: greedy at any temperature
	"$ACTIVESWAP" run -m "$M" -p "$P" -n 12 --temp 2 --min-p 1 -s 3 >"$T/mp.out" \
		2>/dev/null && cmp -s "$T/mp.out" "$T/p.out"
	check $? "$k: --temp 2 --min-p 1 = greedy"

	# --repeat-penalty 1 changes nothing; a strong one changes the greedy text
	"$ACTIVESWAP" run -m "$M" -p "$P" -n 24 --temp 0 >"$T/r0.out" 2>/dev/null &&
		"$ACTIVESWAP" run -m "$M" -p "$P" -n 24 --temp 0 --repeat-penalty 1 \
			>"$T/r1.out" 2>/dev/null &&
		"$ACTIVESWAP" run -m "$M" -p "$P" -n 24 --temp 0 --repeat-penalty 50 \
			--repeat-last-n 64 >"$T/r2.out" 2>/dev/null &&
		cmp -s "$T/r0.out" "$T/r1.out" && ! cmp -s "$T/r0.out" "$T/r2.out"
	check $? "$k: --repeat-penalty 1 = greedy, 50 differs"

	# -n -1: until the context is full
	"$ACTIVESWAP" run -m "$M" -p "$P" -n -1 -c 20 --temp 0 --json >"$T/n.out" 2>"$T/n.err"
	rc=$?
	full=$(jfield context_full "$T/n.out")
	ng=$(jfield n_generated "$T/n.out")
	[ $rc = 0 ] && [ "$full" = true ] && [ "${ng:-0}" -ge 10 ]
	check $? "$k: -n -1 -c 20 runs until the context is full ($ng tokens, rc $rc)"

	# Ctrl-C: the summary of what was generated, exit 130
	"$AR" run -m "$M" -p "$P" -n -1 -c 4096 --temp 0 >"$T/i.out" 2>"$T/i.err" &
	pid=$!
	i=0
	# (the file may not exist yet when the loop starts: count that as empty; a background
	# command of sh ignores SIGINT until run installs its handler, so wait for output; up to
	# a minute: under a loaded machine's ASan the load alone took more than ten seconds)
	while [ $i -lt 600 ] && [ "$(cat "$T/i.out" 2>/dev/null | wc -c)" -lt 64 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
	[ $rc = 130 ] && grep -q '^activeswap run: load .*(interrupted)' "$T/i.err"
	check $? "$k: SIGINT during run: exit $rc, $(grep -o 'decode [0-9]* tokens' "$T/i.err")"
done
echo "1..$n"
