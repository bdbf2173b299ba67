#!/bin/sh
# memcg.sh LIMIT_BYTES CMD [ARGS...]
#
# Run CMD in a fresh memory cgroup (a child of this shell's own) limited to LIMIT_BYTES:
# cgroup v2 memory.max, or v1 memory.limit_in_bytes. Page cache and mapped file pages are
# charged to it, so an mmap'ed model under it really has only LIMIT_BYTES of DRAM. On
# exit prints "memcg: limit L peak P oom_kill K" on stderr and returns CMD's status;
# returns 77 when no memory cgroup can be made (not root, no controller).
set -u
limit=$1
shift
v2=/sys/fs/cgroup
if [ -f "$v2/cgroup.controllers" ] && grep -qw memory "$v2/cgroup.controllers"; then
	parent="$v2$(sed -n 's/^0:://p' /proc/self/cgroup)"
	mode=2
elif [ -d "$v2/memory" ]; then
	parent="$v2/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)"
	mode=1
else
	echo "memcg: no memory cgroup controller" >&2
	exit 77
fi
cg="$parent/activeswap-memcg-$$"
if ! mkdir "$cg" 2>/dev/null; then
	echo "memcg: cannot create $cg" >&2
	exit 77
fi
if [ $mode = 2 ]; then
	echo "$limit" >"$cg/memory.max" && echo 0 >"$cg/memory.swap.max" 2>/dev/null
	ok=$?
	[ -f "$cg/memory.max" ] && ok=0
else
	echo "$limit" >"$cg/memory.limit_in_bytes"
	ok=$?
	echo 0 >"$cg/memory.swappiness" 2>/dev/null
fi
if [ $ok != 0 ]; then
	rmdir "$cg"
	exit 77
fi
# The command joins the cgroup itself (its own pid), then execs; this shell stays outside.
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" &
pid=$!
wait $pid
rc=$?
if [ $mode = 2 ]; then
	peak=$(cat "$cg/memory.peak" 2>/dev/null || echo 0)
	oom=$(sed -n 's/^oom_kill //p' "$cg/memory.events" 2>/dev/null)
else
	peak=$(cat "$cg/memory.max_usage_in_bytes")
	oom=$(sed -n 's/^oom_kill //p' "$cg/memory.oom_control" 2>/dev/null)
fi
echo "memcg: limit $limit peak $peak oom_kill ${oom:-0}" >&2
rmdir "$cg" 2>/dev/null
exit $rc
