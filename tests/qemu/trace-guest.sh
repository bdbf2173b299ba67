#!/bin/sh
# `activeswap trace` inside the QEMU guest (issue 5): the module's activeswap: tracepoints
# are seen by the same tool, and what its BPF maps counted equals the module's own
# statistics. Run by tests/qemu/init.sh (as /trace-guest.sh) with the module loaded and no
# other user of it; TAP lines go to $1 (the relay of tests/integration/kernel.sh).
#
# The workload is kmod_fetch (tests/bpf/kmod_fetch.c): COUNT extents submitted in batches,
# every third batch cancelled, every record reaped, then ACTIVESWAP_IOC_STATS printed with
# the tracer's field names and the records' latency histogram binned as the BPF side bins.
# The guest has busybox only (no jq): fields are cut out of the one-line JSON with sed.
T=${1:-/dev/ttyS1}
AS=/bin/activeswap
KF=/bin/kmod_fetch
tap() { echo "$1 - $2" >$T; }
skip() { tap ok "guest trace: $1 # SKIP $2"; exit 0; }

[ -x $AS ] || skip "module tracepoints" "the guest was built without the CLI"
[ -x $KF ] || skip "module tracepoints" "the guest was built without kmod_fetch"
if $AS trace --help 2>&1 | grep -q 'no BPF support'; then
	skip "module tracepoints" "the CLI was built without BPF support"
fi
[ -r /sys/kernel/btf/vmlinux ] || skip "module tracepoints" "guest kernel without BTF"
[ -d /sys/module/activeswap ] || skip "module tracepoints" "module not loaded"
mkdir -p /sys/fs/bpf
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf 2>/dev/null
P=/sys/fs/bpf/activeswap-guest
t0=$(date +%s)
rm -rf $P

# $1 file, $2 field: the number after "field": (first occurrence)
field() { sed -n 's/.*"'"$2"'":\([-0-9]*\).*/\1/p' "$1" | head -n 1; }
hist() { sed -n 's/.*"hist_log2_us":\[\([0-9,]*\)\].*/\1/p' "$1" | head -n 1; }

$AS trace --interval 0 --json --pin $P -- \
	sh -c "exec $KF /mnt/store.bin 400 11 >/tmp/kf.json 2>/tmp/kf.err" \
	>/tmp/kt.out 2>/tmp/kt.err
rc=$?
# the tracer's "kmod" object of its summary, alone on a line
sed -n '/"type":"summary"/{s/.*"kmod":{\([^}]*\)}.*/{\1}/p}' /tmp/kt.out >/tmp/kt.kmod
sed 's/^/# kmod_fetch (module stats): /' /tmp/kf.json >$T
sed 's/^/# trace kmod: /' /tmp/kt.kmod >$T
if [ $rc = 0 ] && grep -q '"kmod_attached":true' /tmp/kt.out && [ -s /tmp/kt.kmod ] &&
	[ -s /tmp/kf.json ]; then
	tap ok "guest trace: trace -- kmod_fetch exit 0, module tracepoints attached"
else
	tap "not ok" "guest trace: trace -- kmod_fetch exit $rc, module tracepoints attached"
	sed 's/^/# /' /tmp/kt.err /tmp/kf.err >$T
fi

bad=""
for f in fetch_submit fetch_complete errors complete_bytes fetch_cancel; do
	a=$(field /tmp/kf.json $f)
	b=$(field /tmp/kt.kmod $f)
	[ -n "$a" ] && [ "$a" = "$b" ] || bad="$bad $f(module ${a:-?}, trace ${b:-?})"
done
sub=$(field /tmp/kf.json fetch_submit)
if [ -z "$bad" ] && [ "${sub:-0}" = 400 ]; then
	tap ok "guest trace: BPF kmod_stats = ACTIVESWAP_IOC_STATS (submitted $sub, completed $(field /tmp/kf.json fetch_complete), cancelled $(field /tmp/kf.json fetch_cancel), bytes, errors)"
else
	tap "not ok" "guest trace: BPF kmod_stats = ACTIVESWAP_IOC_STATS:$bad"
fi

ha=$(hist /tmp/kf.json)
hb=$(hist /tmp/kt.kmod)
if [ -n "$ha" ] && [ "$ha" = "$hb" ]; then
	tap ok "guest trace: fetch_complete latency histogram = the completion records' latencies"
else
	tap "not ok" "guest trace: latency histogram: records [$ha], trace [$hb]"
fi

rcr=$(field /tmp/kt.kmod region_create)
sb=$(field /tmp/kt.kmod submit_bytes)
if [ "$rcr" = 1 ] && [ "${sb:-0}" -gt 0 ]; then
	tap ok "guest trace: one region created, $sb bytes submitted"
else
	tap "not ok" "guest trace: region_create $rcr (want 1), submit_bytes $sb"
fi

if [ -e $P/kmod_stats ] && [ -e $P/layer_stats ] && [ -e $P/totals ]; then
	tap ok "guest trace: maps pinned in $P"
else
	tap "not ok" "guest trace: maps pinned in $P"
fi
rm -rf $P
echo "# guest trace: $(($(date +%s) - t0)) s" >$T
# the module stays unloadable: the tracer's links (which hold a module reference) and the
# workload's context go away shortly after they exit
i=0
while [ "$(cat /sys/module/activeswap/refcnt)" != 0 ] && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
exit 0
