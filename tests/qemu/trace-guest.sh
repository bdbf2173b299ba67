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

# a hung trace must not eat the guest's time limit: 60 s each, then a failure
TO="timeout 60"
command -v timeout >/dev/null 2>&1 || TO=""
$TO $AS trace --interval 0 --json --pin $P -- \
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
# A decode through libswap's kmod backend, traced: on this kernel (6.1) the USDT probes
# give libswap's own per-layer counters exactly, the module's tracepoints see every extent
# libswap submitted end (completed or cancelled), and the block layer sees the disk reads.
# layer_lines FILE: "layer field value" for the compared fields of a JSON line's "layers"
layer_lines() {
	tr -d ' ' <"$1" | sed 's/"hist_log2_us":\[[0-9,]*\]//g; s/.*"layers":\[//; s/\].*//' |
		tr '}' '\n' | awk -F, '{
			delete v
			for (i = 1; i <= NF; i++) {
				n = split($i, kv, ":")
				k = kv[1]
				gsub(/[{"]/, "", k)
				if (n == 2)
					v[k] = kv[2]
			}
			if (!("layer" in v))
				next
			split("reads bytes hits misses evicts errors stall_ns", f, " ")
			for (j = 1; j <= 7; j++)
				print v["layer"], f[j], v[f[j]]
		}' | sort
}
M=/mnt/model.asw
if [ ! -f $M ]; then
	tap ok "guest trace: decode over the kmod backend # SKIP no $M"
else
	rm -rf $P
	# a fixed --gap: --gap auto would first time gap sizes through a second engine,
	# whose reads the trace sees but the run's stats do not count
	$TO $AS trace --interval 0 --json --pin $P --binary $AS -- sh -c "exec $AS run -m $M \
		-p 'once upon a time' -n 8 --temp 0 --sparsity 0.5 --group 1 --dram-budget 60% --gap 32K \
		--threads 2 --backend kmod --stats --json >/tmp/kr.out 2>/tmp/kr.err" \
		>/tmp/kd.out 2>/tmp/kd.err
	rc=$?
	tail -n 1 /tmp/kr.out >/tmp/kr.json
	grep '"type":"summary"' /tmp/kd.out >/tmp/kd.sum
	sed -n 's/.*"kmod":{\([^}]*\)}.*/{\1}/p' /tmp/kd.sum >/tmp/kd.kmod
	layer_lines /tmp/kr.json >/tmp/kr.layers
	layer_lines /tmp/kd.sum >/tmp/kd.layers
	reads=$(awk '$2 == "reads" { s += $3 } END { print s + 0 }' /tmp/kr.layers)
	if [ $rc = 0 ] && grep -q '"backend": "kmod"' /tmp/kr.json && [ "$reads" -gt 0 ] &&
		[ -s /tmp/kr.layers ] && cmp -s /tmp/kr.layers /tmp/kd.layers; then
		tap ok "guest trace: run --backend kmod: per-layer reads, bytes, hits, misses, evictions, errors, stall from USDT = libswap's stats ($reads reads)"
	else
		tap "not ok" "guest trace: run --backend kmod: USDT per-layer counts = libswap's stats (exit $rc)"
		diff /tmp/kr.layers /tmp/kd.layers 2>&1 | head -n 20 | sed 's/^/# /' >$T
		sed 's/^/# /' /tmp/kd.err /tmp/kr.err | tail -n 20 >$T
	fi
	ks=$(field /tmp/kd.kmod fetch_submit)
	kc=$(field /tmp/kd.kmod fetch_complete)
	kx=$(field /tmp/kd.kmod fetch_cancel)
	ke=$(field /tmp/kd.kmod errors)
	echo "# run --backend kmod traced: libswap $reads reads; module $ks extents submitted, $kc completed, $kx cancelled, $ke errors" >$T
	if [ -n "$ks" ] && [ "$ks" -ge "$reads" ] && [ "$ks" = $((kc + kx)) ] && [ "$ke" = 0 ]; then
		tap ok "guest trace: run --backend kmod: module tracepoints: $ks extents >= $reads libswap reads, each completed or cancelled"
	else
		tap "not ok" "guest trace: run --backend kmod: module tracepoints ($ks submitted, $kc completed, $kx cancelled, $ke errors; libswap $reads reads)"
	fi
	breq=$(sed -n 's/.*"block":\[\(.*\)/\1/p' /tmp/kd.sum | grep -o '"requests":[0-9]*' |
		cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
	if [ "${breq:-0}" -gt 0 ]; then
		tap ok "guest trace: block_rq_issue/complete on this kernel: $breq requests"
	else
		tap "not ok" "guest trace: block_rq_issue/complete on this kernel: no requests"
	fi
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
