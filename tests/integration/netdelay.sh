#!/bin/sh
# The userspace delay line (tests/netdelay, netem's stand-in on this kernel without
# sch_netem; Documentation/tensor-parallel.md): two network namespaces joined through
# TUN devices by netdelay, D ms each way.
#
#  - netdelay refuses bad arguments (exit 2, one line);
#  - a ping between the namespaces takes 2 D (+ the scheduling's overhead) for D = 1 and 5;
#  - mpirun spans the namespaces (one rank in each, TCP over the line, rsh.sh as the
#    launcher's agent) at D = 5: one process's greedy text, and the allreduce takes at
#    least D per call (the line delays every message).
# Skips without root, /dev/net/tun, ip, unshare, network namespaces or the netdelay binary
# (make tests); the mpirun part without mpirun or an MPI build of the CLI.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/netdelay"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

NETDELAY=""
for b in "${AS_BUILD:-}/tests/netdelay" "${AS_ASAN_BUILD:-}/tests/netdelay"; do
	[ -x "$b" ] && NETDELAY=$b && break
done
[ -n "$NETDELAY" ] || skip_all "netdelay not built (make tests)"
[ "$(id -u)" = 0 ] || skip_all "not root (network namespaces, TUN devices)"
[ -c /dev/net/tun ] || skip_all "/dev/net/tun absent"
command -v ip >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 ||
	skip_all "ip or unshare absent (iproute2, util-linux)"
export NETDELAY NETDELAY_PREFIX="asnd$$" NETDELAY_STATE="$AS_TMP/netdelay-state"
NS="sh $AS_TOP/tests/netdelay/netns.sh"
ip netns add "${NETDELAY_PREFIX}x" 2>/dev/null || skip_all "cannot create a network namespace"
ip netns del "${NETDELAY_PREFIX}x"
mkdir -p "$T"
trap '$NS down' EXIT INT TERM

"$NETDELAY" -d 20000 a=10.0.0.1 b=10.0.0.2 2>"$T/usage.err"
rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$T/usage.err")" -le 2 ] && grep -q "^netdelay: -d" "$T/usage.err"
check $? "a delay out of range: exit 2 (got $rc) with one line"
"$NETDELAY" a=10.0.0.1 b=10.0.0.1 2>/dev/null
check $(($? != 2)) "an address given twice: exit 2"

PING=""
if command -v ping >/dev/null 2>&1; then
	PING=ping
elif command -v busybox >/dev/null 2>&1 && busybox ping -h 2>&1 | grep -q -i usage; then
	PING="busybox ping"
fi
RT=""
chrt -f 1 true 2>/dev/null && RT="chrt -f 1"
for d in 1 5; do
	if [ -z "$PING" ]; then
		ok "# SKIP ping absent (iputils-ping or busybox)"
		continue
	fi
	$NS up 2 $d 2>"$T/up.err"
	check $? "2 namespaces joined by the line at $d ms $(head -c 200 "$T/up.err")"
	# real-time like the line: the round trip of the line, not of the machine's load
	# shellcheck disable=SC2086
	ip netns exec "${NETDELAY_PREFIX}0" $RT $PING -c 5 -i 0.2 10.77.0.2 >"$T/ping.txt" 2>&1
	# min/avg/max: the fastest round trip is 2 D, plus at most 5 ms of scheduling
	rtt=$(sed -n 's/.*= \([0-9.]*\)\/\([0-9.]*\)\/.*/\1 \2/p' "$T/ping.txt")
	set -- $rtt
	[ $# = 2 ] && awk -v m="$1" -v d=$d 'BEGIN { exit !(m >= 2 * d && m <= 2 * d + 5) }'
	check $? "ping at $d ms each way: round trip min ${1:-?} ms, avg ${2:-?} ms (2 D = $((2 * d)))"
done

if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$ACTIVESWAP" 2>/dev/null | grep -q libmpi; then
	ok "# SKIP mpirun across namespaces: no mpirun or a CLI without MPI"
	echo "1..$n"
	exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
"$ACTIVESWAP_RELEASE" mkmodel -o "$T/g.gguf" --layers 2 --seed 7 >/dev/null 2>&1 &&
	"$ACTIVESWAP_RELEASE" convert "$T/g.gguf" -o "$T/g.asw" --quiet
check $? "generated model converted"
"$ACTIVESWAP" run -m "$T/g.asw" -p "Once upon a time" -n 8 --temp 0 -t 1 --sparsity 0 \
	>"$T/one.txt" 2>/dev/null
$NS up 2 5 2>"$T/up.err"
# rank 0 beside mpirun in namespace 0, rank 1 in namespace 1 through the rsh agent;
# TCP only (shared memory would bypass the line), yielding while it waits
timeout -k 5 120 $NS exec "${NETDELAY_PREFIX}0" mpirun -np 2 \
	--host "${NETDELAY_PREFIX}0,${NETDELAY_PREFIX}1" \
	--mca plm_rsh_agent "$AS_TOP/tests/netdelay/rsh.sh" --mca btl tcp,self \
	--mca btl_tcp_if_include nd0 --mca oob_tcp_if_include nd0 --mca mpi_yield_when_idle 1 \
	"$ACTIVESWAP" run -m "$T/g.asw" -p "Once upon a time" -n 8 --temp 0 -t 1 --sparsity 0 \
	--stats >"$T/two.txt" 2>"$T/two.err"
rc=$?
[ $rc = 0 ] && [ -s "$T/one.txt" ] && [ "$(cat "$T/one.txt")" = "$(cat "$T/two.txt")" ]
check $? "mpirun across 2 namespaces at 5 ms: one process's greedy text (rc $rc)"
ar=$(sed -n 's/.*allreduce \([0-9.]*\) ms\/token on rank 0, \([0-9.]*\) calls.*/\1 \2/p' \
	"$T/two.err")
set -- $ar
[ $# = 2 ] && awk -v ms="$1" -v c="$2" 'BEGIN { exit !(c > 0 && ms >= 5 * c) }'
check $? "the allreduce waits for the line: ${1:-?} ms/token for ${2:-?} calls/token (>= 5 ms each)"
echo "1..$n"
