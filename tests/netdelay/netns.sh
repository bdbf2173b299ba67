#!/bin/sh
# N network namespaces joined by the userspace delay line (netdelay.c), standing in for
# `tc netem` on a kernel without sch_netem (Documentation/tensor-parallel.md):
#
#   netns.sh up N DELAY_MS [JITTER_MS [RATE_MBIT]]   namespaces ${P}0 .. ${P}N-1, host i
#                                                    at $NET.(i+1)/24 on device nd0
#   netns.sh down                                    stop the line, delete the namespaces
#   netns.sh exec HOST CMD...                        CMD in the namespace HOST, under its
#                                                    own hostname (mpirun's place)
#   netns.sh rsh HOST CMD...                         the same for a shell command line:
#                                                    Open MPI's rsh agent (rsh.sh)
#
# Spanning the namespaces with mpirun (rank 0 beside mpirun in ${P}0):
#   netns.sh exec ${P}0 mpirun -np 2 --host ${P}0,${P}1 --mca plm_rsh_agent rsh.sh \
#       --mca btl tcp,self --mca btl_tcp_if_include nd0 --mca oob_tcp_if_include nd0 CMD
#
# Environment: NETDELAY (the binary; default build/tests/netdelay of this tree),
# NETDELAY_PREFIX P (default asnd; namespace and device names, <= 10 characters),
# NETDELAY_NET (default 10.77.0), NETDELAY_STATE (default /run/netdelay-$P: the line's pid
# and log). Needs root, `ip`, `unshare` and /dev/net/tun. A ping between two hosts takes
# 2 DELAY_MS.
set -u
P=${NETDELAY_PREFIX:-asnd}
NET=${NETDELAY_NET:-10.77.0}
STATE=${NETDELAY_STATE:-/run/netdelay-$P}
here=$(cd "$(dirname "$0")" && pwd)
NETDELAY=${NETDELAY:-$here/../../build/tests/netdelay}

die() {
	echo "netns.sh: $*" >&2
	exit 1
}

down() {
	if [ -f "$STATE/pid" ]; then
		kill "$(cat "$STATE/pid")" 2>/dev/null
		# the TUN devices go with the process; wait so that a new `up` finds none
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$(cat "$STATE/pid")" 2>/dev/null || break
			sleep 0.1
		done
		rm -f "$STATE/pid"
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		case "$ns" in "$P"[0-9] | "$P"[0-9][0-9]) ip netns del "$ns" ;; esac
	done
	return 0
}

up() {
	n=$1 d=$2 j=${3:-0} r=${4:-0}
	case "$n" in [2-9] | 1[0-6]) ;; *) die "up: N is 2 to 16" ;; esac
	[ -x "$NETDELAY" ] || die "$NETDELAY: not built (make tests)"
	[ -c /dev/net/tun ] || die "/dev/net/tun absent"
	down
	mkdir -p "$STATE" || die "$STATE: cannot create"
	rm -f "$STATE/ready"
	devs="" i=0
	while [ $i -lt "$n" ]; do
		devs="$devs ${P}t$i=$NET.$((i + 1))"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	"$NETDELAY" -d "$d" -j "$j" -r "$r" -R "$STATE/ready" $devs 2>"$STATE/log" &
	echo $! >"$STATE/pid"
	# the line is the wire: real-time priority keeps the other jobs' load out of the delay
	chrt -f -p 1 "$(cat "$STATE/pid")" 2>/dev/null
	for _ in $(seq 50); do
		[ -f "$STATE/ready" ] && break
		kill -0 "$(cat "$STATE/pid")" 2>/dev/null || break
		sleep 0.1
	done
	[ -f "$STATE/ready" ] || { down; die "netdelay did not start: $(cat "$STATE/log")"; }
	i=0
	while [ $i -lt "$n" ]; do
		ns=$P$i
		ip netns add "$ns" && ip link set "${P}t$i" netns "$ns" &&
			ip -n "$ns" link set "${P}t$i" name nd0 &&
			ip -n "$ns" addr add "$NET.$((i + 1))/24" dev nd0 &&
			ip -n "$ns" link set nd0 up && ip -n "$ns" link set lo up ||
			{ down; die "namespace $ns: setup failed"; }
		i=$((i + 1))
	done
}

case "${1:-}" in
up)
	[ $# -ge 3 ] || die "usage: netns.sh up N DELAY_MS [JITTER_MS [RATE_MBIT]]"
	shift
	up "$@"
	;;
down) down ;;
rsh)
	# Open MPI's plm_rsh_agent (rsh.sh): HOST CMD, CMD a shell command line. Every namespace
	# gets its own UTS namespace named after it, so that Open MPI sees N hosts, not one.
	[ $# -ge 3 ] || die "usage: netns.sh rsh HOST CMD..."
	host=$2
	shift 2
	exec ip netns exec "$host" unshare --uts sh -c 'hostname "$1" && exec sh -c "$2"' sh \
		"$host" "$*"
	;;
exec)
	# CMD with its arguments as they are, in the namespace HOST under its hostname
	[ $# -ge 3 ] || die "usage: netns.sh exec HOST CMD..."
	host=$2
	shift 2
	exec ip netns exec "$host" unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh \
		"$host" "$@"
	;;
*) die "usage: netns.sh up N DELAY_MS [JITTER_MS [RATE_MBIT]] | down | rsh|exec HOST CMD..." ;;
esac
