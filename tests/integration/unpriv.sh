#!/bin/sh
# Unprivileged runs of a store (issue #18, Documentation/swapping.md "Unprivileged runs"):
#
#  - as `nobody` (setpriv, no capabilities) with RLIMIT_MEMLOCK 64 KiB, `run` gives the
#    same greedy text as root and one note that the cache is not locked;
#  - with --mlock it fails (exit 1) with one line naming RLIMIT_MEMLOCK;
#  - --numa-node 0 gives the same text, a node the machine lacks is one error line
#    (exit 1), a bad value a usage error (exit 2).
# The setpriv part needs root (to drop to nobody) and is skipped otherwise.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

# nobody must reach the files: a world-readable directory of our own (AS_TMP is 0700)
T=$(mktemp -d /tmp/activeswap-unpriv.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
if ! "$AR" mkmodel -o "$T/m.gguf" --shape tiny --dim 512 --hidden 1024 --layers 6 \
	--type q4_0 --seed 7 >/dev/null 2>"$T/mk.err" ||
	! "$AR" convert "$T/m.gguf" -o "$T/m.asw" --group 1 --quiet 2>"$T/cv.err"; then
	echo "1..0 # SKIP mkmodel/convert failed: $(cat "$T/mk.err" "$T/cv.err" | head -n 1)"
	exit 0
fi
chmod 644 "$T/m.asw"
cp "$AR" "$T/activeswap" && chmod 755 "$T/activeswap"
set -- run -m "$T/m.asw" -p "Once upon a time" -n 16 -c 32 --temp 0 --sparsity 0.5 \
	--group 1 --gap 64K --dram-budget 50% --backend pread
"$T/activeswap" "$@" >"$T/ref.txt" 2>"$T/ref.err"
[ $? = 0 ] && [ -s "$T/ref.txt" ] && ! grep -q "not locked" "$T/ref.err"
check $? "as $(id -un): runs, the cache locked (no note)"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
	asnobody() {
		(ulimit -l 64 && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
			--inh-caps=-all --bounding-set=-all "$T/activeswap" "$@")
	}
	asnobody "$@" >"$T/u.txt" 2>"$T/u.err"
	rc=$?
	[ $rc = 0 ] && cmp -s "$T/u.txt" "$T/ref.txt" &&
		[ "$(grep -c "not locked in memory (RLIMIT_MEMLOCK is 64 KiB); --mlock to insist" \
			"$T/u.err")" = 1 ]
	check $? "nobody, memlock 64 KiB: same text, one note (rc $rc: $(grep -v ': auto: ' "$T/u.err" | head -n 1))"
	asnobody "$@" --mlock >"$T/m.txt" 2>"$T/m.err"
	rc=$?
	[ $rc = 1 ] && [ "$(wc -l <"$T/m.err")" = 1 ] && grep -q "RLIMIT_MEMLOCK allows 65536" "$T/m.err"
	check $? "nobody, memlock 64 KiB, --mlock: exit $rc, $(head -c 160 "$T/m.err")"
else
	skip "nobody, memlock 64 KiB: same text, one note" "needs root and setpriv"
	skip "nobody, --mlock refused" "needs root and setpriv"
fi

"$T/activeswap" "$@" --numa-node 0 >"$T/n.txt" 2>"$T/n.err"
rc=$?
if [ $rc = 0 ]; then
	cmp -s "$T/n.txt" "$T/ref.txt"
	check $? "--numa-node 0: same text"
else
	grep -q "NUMA node 0 is not available" "$T/n.err"
	check $? "--numa-node 0 without NUMA support: one error ($(head -c 100 "$T/n.err"))"
fi
"$T/activeswap" "$@" --numa-node 4000 >/dev/null 2>"$T/n.err"
rc=$?
[ $rc = 1 ] && grep -q "NUMA node 4000 is not available on this system" "$T/n.err" &&
	[ "$(grep -vc ': auto: ' "$T/n.err")" = 1 ]
check $? "--numa-node 4000: exit $rc, $(head -c 120 "$T/n.err")"
for v in -1 abc 99999; do
	"$T/activeswap" "$@" --numa-node $v >/dev/null 2>"$T/n.err"
	rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/n.err")" = 1 ]
	check $? "--numa-node $v: usage error (exit $rc)"
done
echo "1..$n"
