#!/bin/sh
# Runs every test suite and prints one closing line: "N passed, N failed, N skipped".
#
# A suite is a command that prints TAP on stdout:
#   - every cmocka binary in $AS_ASAN_BUILD/tests/unit (CMOCKA_MESSAGE_OUTPUT=TAP),
#   - every executable tests/integration/*.sh (and tests/fuzz/run.sh).
# "ok" counts as passed, "ok ... # SKIP" (cmocka prints "not ok N # SKIP") as skipped, "not ok" as failed; a plan
# "1..0 # SKIP reason" counts one skip. A suite that exits non-zero without reporting a
# failure counts one failure; so does one that prints no TAP at all.
#
# Environment handed to suites: AS_TOP, AS_BUILD (release), AS_ASAN_BUILD, ACTIVESWAP
# (the sanitizer CLI), ACTIVESWAP_RELEASE (the optimized CLI), AS_SHARED (../shared,
# which may be absent), AS_TMP (a scratch directory removed at the end).
# AS_ONLY=pattern runs only the suites whose name contains pattern.
# AS_BACKGROUND lists suites (default: integration/arm64.sh, which spends its minutes in
# one single-threaded qemu-aarch64 process at a time) started in the background at the
# beginning, beside the others on the second core; their results are printed and counted
# at the end, in the same way. AS_BACKGROUND= runs everything one suite after another.
set -u
: "${AS_TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${AS_BUILD:=$AS_TOP/build}"
: "${AS_ASAN_BUILD:=$AS_BUILD/asan}"
: "${AS_SHARED:=$AS_TOP/../shared}"
: "${AS_ONLY:=}"
: "${AS_BACKGROUND=integration/arm64.sh}"
ACTIVESWAP="$AS_ASAN_BUILD/bin/activeswap"
ACTIVESWAP_RELEASE="$AS_BUILD/bin/activeswap"
[ -x "$ACTIVESWAP" ] || ACTIVESWAP="$ACTIVESWAP_RELEASE"
AS_TMP=$(mktemp -d /tmp/activeswap-check.XXXXXX)
export AS_TOP AS_BUILD AS_ASAN_BUILD AS_SHARED ACTIVESWAP ACTIVESWAP_RELEASE AS_TMP
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0 failed=0 skipped=0
failed_names=""
log="$AS_TMP/suite.log"

selected() {	# name: in AS_ONLY's selection
	case "$1" in *"$AS_ONLY"*) return 0 ;; esac
	return 1
}

in_background() {	# name: one of AS_BACKGROUND's
	for b in $AS_BACKGROUND; do
		[ "$b" = "$1" ] && return 0
	done
	return 1
}

# account name log rc seconds: prints the suite's TAP and adds up its counts
account() {
	name="$1" out="$2" rc="$3" secs="$4"
	cat "$out"
	counts=$(awk '
		/^1\.\.0[ \t]*#[ \t]*[Ss][Kk][Ii][Pp]/ { s++; next }
		/^(not )?ok/ && /#[ \t]*[Ss][Kk][Ii][Pp]/ { s++; next }
		/^not ok/ { f++; next }
		/^ok/ { p++; next }
		END { printf "%d %d %d\n", p, f, s }' "$out")
	set -- $counts
	p=$1 f=$2 s=$3
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc"
	elif [ $((p + f + s)) -eq 0 ]; then
		f=1
		echo "not ok - $name printed no TAP results"
	fi
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "# --- stderr of $name ---"
		tail -n 60 "$out.err" | sed 's/^/# /'
		failed_names="$failed_names $name"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	echo "# $name: $p passed, $f failed, $s skipped (${secs}s)"
}

run_suite() {
	name="$1"; shift
	selected "$name" || return 0
	in_background "$name" && return 0
	echo "# suite: $name"
	start=$(date +%s)
	"$@" >"$log" 2>"$log.err"
	account "$name" "$log" $? $(( $(date +%s) - start ))
}

# The background suites, started first; each writes its TAP, exit status and time to
# files of its own under $AS_TMP/bg.
bg_names=""
mkdir -p "$AS_TMP/bg"
for b in $AS_BACKGROUND; do
	selected "$b" && [ -f "$AS_TOP/tests/$b" ] || continue
	f="$AS_TMP/bg/$(echo "$b" | tr / _)"
	echo "# suite: $b (in the background; its results come at the end)"
	(
		start=$(date +%s)
		sh "$AS_TOP/tests/$b" >"$f.log" 2>"$f.log.err"
		echo $? >"$f.rc"
		echo $(( $(date +%s) - start )) >"$f.secs"
	) &
	bg_names="$bg_names $b"
done

for t in "$AS_ASAN_BUILD"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	run_suite "unit/$(basename "$t")" "$t"
done
for t in "$AS_TOP"/tests/integration/*.sh "$AS_TOP"/tests/fuzz/run.sh; do
	[ -f "$t" ] || continue
	run_suite "${t#$AS_TOP/tests/}" sh "$t"
done

wait
for b in $bg_names; do
	f="$AS_TMP/bg/$(echo "$b" | tr / _)"
	echo "# suite: $b (ran in the background)"
	account "$b" "$f.log" "$(cat "$f.rc" 2>/dev/null || echo 1)" "$(cat "$f.secs" 2>/dev/null || echo ?)"
done

rm -rf "$AS_TMP"
[ -n "$failed_names" ] && echo "# failed suites:$failed_names"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
