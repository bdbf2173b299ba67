#!/bin/sh
# activeswap convert, the command line around as_convert (the library call itself is
# tested by tests/unit/test_swap_convert.c):
#
#  - exit codes: 1 for an input that cannot be read (missing, not a GGUF, a store), an
#    unwritable output or a store that cannot be verified; 2 for bad flags (--type,
#    --group out of range, no -o, unknown option, extra argument, no input), with one
#    message line naming the flag, and no output file or OUT.tmp.PID left in either case;
#  - a conversion prints its summary line (none with --quiet), --verify adds the
#    "verified" line, and `convert --verify STORE` checks a store alone;
#  - the summary's counts agree with `info --json` on the store.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
T="$AS_TMP/convert"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
# Nothing written under the output's name: neither OUT nor OUT.tmp.PID.
none() { [ ! -e "$1" ] && ! ls "$1".tmp.* >/dev/null 2>&1; }

O="$T/never.asw"
# want_rc desc rc message-pattern|- args...: the exit status, a message containing the
# pattern on stderr ("-": the usage text), no output written.
want_rc() {
	desc="$1" want="$2" pat="$3"
	shift 3
	"$ACTIVESWAP" convert "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$pat" = - ]; then
		grep -q "^usage: activeswap convert" "$T/err"
	else
		[ "$(grep -c "^activeswap convert: " "$T/err")" = 1 ] && grep -q -- "$pat" "$T/err"
	fi
	msg=$?
	check $([ $rc = "$want" ] && [ $msg = 0 ] && none "$O"; echo $?) \
		"$desc: exit $rc (want $want) [$(head -n 1 "$T/err" | head -c 100)]"
}

want_rc "missing input" 1 "/nonexistent.gguf" /nonexistent.gguf -o "$O"
want_rc "bad --type" 2 "bad value for --type: 'q5_k'" x.gguf -o "$O" --type q5_k
want_rc "--type of a non-encodable kind" 2 "bad value for --type: 'q4_1'" x.gguf -o "$O" \
	--type q4_1
want_rc "--group 0" 2 "bad value for --group: '0'" x.gguf -o "$O" --group 0
want_rc "--group 4097" 2 "bad value for --group: '4097'" x.gguf -o "$O" --group 4097
want_rc "no -o" 2 "missing -o OUT.asw" x.gguf
want_rc "no input" 2 -
want_rc "unknown option" 2 "unknown option '--bogus'" x.gguf -o "$O" --bogus
want_rc "extra argument" 2 "unexpected argument 'y.gguf'" x.gguf y.gguf -o "$O"
want_rc "-o without a value" 2 "-o needs a value" x.gguf -o
want_rc "--group without a value" 2 "--group needs a value" x.gguf -o "$O" --group
want_rc "--group=0 (the = form)" 2 "bad value for --group: '0'" x.gguf -o "$O" --group=0
want_rc "--verify of a missing store" 1 "/nonexistent.asw" --verify /nonexistent.asw
awk 'BEGIN { for (i = 0; i < 100; i++) print "not a model" }' >"$T/text.gguf"
want_rc "input not a GGUF" 1 "not a GGUF file" "$T/text.gguf" -o "$O"

"$ACTIVESWAP" mkmodel -o "$T/m.gguf" --shape tiny --layers 3 --dim 128 --hidden 352 \
	--heads 4 --kv-heads 2 --type q8_0 --seed 5 >/dev/null 2>&1
check $? "mkmodel for the conversions"
O="$T/no/such/dir/x.asw"
want_rc "unwritable output" 1 "No such file" "$T/m.gguf" -o "$O"
O="$T/never.asw"

"$ACTIVESWAP" convert "$T/m.gguf" -o "$T/m.asw" --group 2 >"$T/out" 2>"$T/err"
rc=$?
want="^$T/m.asw: 3 layers, group 2, 2208 bundles (q8_0/q8_0/q8_0/q8_0), 9 resident"
want="$want tensors, [0-9.]* MB in [0-9.]* s ([0-9]* MB/s)\$"
check $([ $rc = 0 ] && [ "$(wc -l <"$T/out")" = 1 ] && [ ! -s "$T/err" ] &&
	grep -q "$want" "$T/out" && ! ls "$T"/m.asw.tmp.* >/dev/null 2>&1; echo $?) \
	"convert: exit $rc, the summary line [$(head -c 120 "$T/out")]"
if command -v jq >/dev/null 2>&1; then
	"$ACTIVESWAP" info --json "$T/m.asw" >"$T/info.json" 2>/dev/null
	size=$(wc -c <"$T/m.asw")
	check $([ "$(jq -r .bundles "$T/info.json")" = 2208 ] &&
		[ "$(jq -r '.resident | length' "$T/info.json")" = 9 ] &&
		[ "$(jq -r .file_size "$T/info.json")" = "$size" ] &&
		grep -q "$(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')" "$T/out"
		echo $?) \
		"summary agrees with info --json (2208 bundles, 9 resident, $size bytes)"
else
	n=$((n + 1))
	echo "ok $n - summary agrees with info --json # SKIP jq is not installed"
fi
want_rc "a store as the input" 1 "not a GGUF file" "$T/m.asw" -o "$O"

"$ACTIVESWAP" convert "$T/m.gguf" -o "$T/q.asw" --type=f16 --rows --quiet >"$T/out" 2>"$T/err"
rc=$?
check $([ $rc = 0 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ] && [ -s "$T/q.asw" ]; echo $?) \
	"--quiet (and --type=f16): exit $rc, nothing printed"
"$ACTIVESWAP" convert "$T/m.gguf" -o "$T/v.asw" --type q4_0 --verify >"$T/out" 2>"$T/err"
rc=$?
check $([ $rc = 0 ] && [ "$(wc -l <"$T/out")" = 2 ] &&
	sed -n 1p "$T/out" | grep -q "(q4_0/q4_0/q4_0/q4_0)" &&
	sed -n 2p "$T/out" |
	grep -q "^$T/v.asw: 2208 bundles and 9 resident tensors verified (crc32c) in"
	echo $?) \
	"--verify after the conversion: exit $rc, summary then verified line"
"$ACTIVESWAP" convert --verify "$T/q.asw" >"$T/out" 2>"$T/err"
rc=$?
check $([ $rc = 0 ] &&
	grep -q "^$T/q.asw: 2208 bundles and 30 resident tensors verified" "$T/out"; echo $?) \
	"convert --verify STORE (row copy: 30 resident): exit $rc"
"$ACTIVESWAP" convert --verify --quiet "$T/q.asw" >"$T/out" 2>"$T/err"
rc=$?
check $([ $rc = 0 ] && [ ! -s "$T/out" ]; echo $?) "convert --verify --quiet: exit $rc, silent"
head -c 20000 "$T/q.asw" >"$T/trunc.asw"
"$ACTIVESWAP" convert --verify "$T/trunc.asw" >"$T/out" 2>"$T/err"
rc=$?
check $([ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "trunc.asw" "$T/err"; echo $?) \
	"convert --verify of a truncated store: exit $rc, one line [$(head -c 100 "$T/err")]"
rm -rf "$T"
echo "1..$n"
