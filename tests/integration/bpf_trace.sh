#!/bin/sh
# `activeswap trace` (issue 5): the BPF maps count exactly what libswap fired.
#
#  - libswap's USDT probes: a fetch storm's per-layer reads, bytes, hits, misses, evictions,
#    errors and stalls as counted by the BPF maps equal the program's own statistics; the
#    latency histogram's total equals the number of completed fetches;
#  - the same numbers through the pinned maps with bpftool;
#  - a store with experts: the expert_lookup probe's per-layer lookups and hits equal the
#    runtime's (run --stats --json), in the trace and the pinned map;
#  - block_rq_issue/complete: O_DIRECT reads of a file on a real disk are seen;
#  - without privileges: one clear message, non-zero exit.
# Needs root, a kernel with BTF and a CLI built with BPF support; skips with the reason
# otherwise. The module's tracepoints are tested in the QEMU guest (tests/qemu), not here.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AS_BUILD=${AS_BUILD:-$AS_TOP/build}
T="$AS_TMP/bpf_trace"
mkdir -p "$T"
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

skip_all() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root (needs CAP_BPF and CAP_PERFMON)"
[ -r /sys/kernel/btf/vmlinux ] || skip_all "kernel has no BTF (/sys/kernel/btf/vmlinux)"
command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"
if "$ACTIVESWAP" trace --help 2>&1 | grep -q 'no BPF support'; then
	skip_all "activeswap was built without BPF support (clang/bpftool/libbpf missing)"
fi
CC=${CC:-cc}

# 1. The tool starts, runs for --duration and prints one JSON summary.
"$ACTIVESWAP" trace --duration 0.3 --interval 0.1 --json >"$T/smoke.json" 2>"$T/smoke.err"
rc=$?
if [ $rc -ne 0 ] && grep -q -e 'loading the BPF programs failed' "$T/smoke.err" &&
	grep -q -e 'lockdown' "$T/smoke.err"; then
	skip_all "BPF refused by the kernel: $(head -n 1 "$T/smoke.err")"
fi
[ $rc -eq 0 ] && [ "$(jq -s 'map(select(.type == "summary")) | length' "$T/smoke.json")" = 1 ]
check $? "trace --duration runs and prints a JSON summary (rc=$rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$T/smoke.err"

# 2. Without privileges: a clear message naming what is missing, non-zero exit.
if command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$ACTIVESWAP" trace --duration 0.1 >/dev/null 2>"$T/noperm.err"
	rc=$?
	[ $rc -ne 0 ] && grep -q 'CAP_BPF' "$T/noperm.err" && [ "$(wc -l <"$T/noperm.err")" -le 2 ]
	check $? "unprivileged: exit $rc with '$(head -n 1 "$T/noperm.err")'"
else
	ok "unprivileged message # SKIP setpriv not installed"
fi

# 3. Bad options are usage errors, not crashes.
bad=0
for args in "--interval -1" "--duration 0" "--pin relative" "-p 0" "--bogus" "--"; do
	# shellcheck disable=SC2086
	"$ACTIVESWAP" trace $args >/dev/null 2>"$T/usage.err"
	rc=$?
	[ $rc -eq 2 ] || { echo "# trace $args: rc=$rc"; bad=1; }
done
check $bad "bad flags exit 2 with a message"

# Compare the per-layer counters a probe source reported ($1, JSON with "layers") with
# the tracer's summary ($2); prints one line per difference.
# $3: the fields to compare (a JSON array).
FAKE_FIELDS='["reads","bytes","hits","misses","evicts","completes","errors","stalls","stall_ns","passes"]'
SWAP_FIELDS='["reads","bytes","hits","misses","evicts","errors","stall_ns"]'
diff_layers() {
	jq -r -n --slurpfile a "$1" --slurpfile b "$2" --argjson f "$3" '
		($a[0].layers) as $x | ($b[0].layers) as $y |
		(if ($x | length) != ($y | length) then
			"layers: source has \($x | length), trace has \($y | length)" else empty end),
		($x[] | . as $l | ([$y[] | select(.layer == $l.layer)][0] // {}) as $m |
		 $f[] | select($l[.] != $m[.]) |
		 "layer \($l.layer) \(.): source \($l[.]), trace \($m[.])")'
}

# 4. libswap itself: tests/bpf/swap_storm.c runs a fetch storm through the engine
# (a generated store, a budget of about a quarter of it) and prints libswap's own stats.
PIN="/sys/fs/bpf/activeswap-test-$$"
trap 'rm -rf "$PIN" "$PIN-e" "$PIN-d" "$PIN-x"' EXIT INT TERM
SWAP_LIB="$AS_BUILD/lib/libswap.a"
if [ ! -f "$SWAP_LIB" ] || ! nm "$SWAP_LIB" 2>/dev/null | grep -q ' T swap_engine_create$'; then
	ok "libswap engine # SKIP $SWAP_LIB has no engine (swap_engine_create) in this build"
elif ! $CC -O2 -Wall -I"$AS_TOP/libswap/include" -o "$T/swap_storm" \
	"$AS_TOP/tests/bpf/swap_storm.c" "$SWAP_LIB" -luring -lnuma -lpthread -lm 2>"$T/cc.err"; then
	nok "build tests/bpf/swap_storm.c against libswap.a"
	sed 's/^/# /' "$T/cc.err"
else
	for be in auto fault; do
		"$ACTIVESWAP" trace --interval 0 --json --pin "$PIN-e" --binary "$T/swap_storm" -- \
			sh -c "exec '$T/swap_storm' '$T' 40 7 $be 5 >'$T/storm.json'" \
			>"$T/strace.json" 2>"$T/strace.err"
		rc=$?
		jq -c 'select(.type == "summary")' "$T/strace.json" >"$T/ssum.json" 2>/dev/null
		fetches=$(jq '.fetches' "$T/storm.json" 2>/dev/null)
		errs=$(jq '[.layers[].errors] | add' "$T/storm.json" 2>/dev/null)
		[ $rc -eq 0 ] && [ -s "$T/ssum.json" ] && [ -n "$fetches" ] && [ "$fetches" -gt 0 ]
		check $? "engine ($be backend): trace exit $rc, $fetches reads, $errs errors"
		sed 's/^/# /' "$T/strace.err"
		if [ "$be" = fault ] && [ "${errs:-0}" -eq 0 ]; then
			nok "engine (fault backend): injected EIO shows up as read errors"
		fi

		diff_layers "$T/storm.json" "$T/ssum.json" "$SWAP_FIELDS" >"$T/sdiff.txt" 2>&1
		[ $? -eq 0 ] && [ ! -s "$T/sdiff.txt" ] && [ "$(jq '.layers | length' "$T/storm.json")" = 6 ]
		check $? "engine ($be): per-layer reads, bytes, hits, misses, evictions, errors, stall = libswap's stats"
		sed 's/^/# /' "$T/sdiff.txt"

		htot=$(jq '[.layers[].hist_log2_us | add] | add' "$T/ssum.json")
		ctot=$(jq '.totals.fetch_complete' "$T/ssum.json")
		[ "$htot" = "$fetches" ] && [ "$ctot" = "$fetches" ]
		check $? "engine ($be): histogram total $htot = completed fetches $ctot = libswap reads $fetches"
	done
	bpftool -j map dump pinned "$PIN-e/layer_stats" 2>"$T/bpftool.err" |
		jq '{layers: [.[].formatted | .value + {layer: .key}]}' >"$T/epinned.json" 2>&1
	diff_layers "$T/storm.json" "$T/epinned.json" "$SWAP_FIELDS" >"$T/sdiff2.txt" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T/sdiff2.txt" ]
	check $? "engine: bpftool map dump pinned $PIN-e/layer_stats = libswap's stats"
	sed 's/^/# /' "$T/sdiff2.txt" "$T/bpftool.err"
fi

# 4b. A real decode: `activeswap run` over a store converted from a generated model, with a
# budget that makes it fetch and evict. run --stats --json settles the engine (no read queued
# or in flight) and prints libswap's own per-layer counters, tokens and total stall. A fixed
# --gap here; 4c runs with --gap auto, whose replay engine (the gap measurement) fires no
# probes.
if ! "$ACTIVESWAP" mkmodel -o "$T/dm.gguf" --shape tiny --layers 4 --type q4_0 --seed 5 \
	>"$T/dmk.err" 2>&1 || ! "$ACTIVESWAP" convert "$T/dm.gguf" -o "$T/dm.asw" --group 1 \
	--quiet >>"$T/dmk.err" 2>&1; then
	nok "decode: mkmodel + convert a tiny store"
	sed 's/^/# /' "$T/dmk.err"
else
	rm -rf "$PIN-d"
	"$ACTIVESWAP" trace --interval 0 --json --pin "$PIN-d" --binary "$ACTIVESWAP" -- \
		sh -c "exec '$ACTIVESWAP' run -m '$T/dm.asw' -p 'Once upon a time' -n 16 -c 40 \
		--temp 0 --sparsity 0.5 --dram-budget 50% --gap 32K --stats --json >'$T/drun.out' \
		2>'$T/drun.err'" >"$T/dtrace.json" 2>"$T/dtrace.err"
	rc=$?
	tail -n 1 "$T/drun.out" >"$T/drun.json"
	jq -c 'select(.type == "summary")' "$T/dtrace.json" >"$T/dsum.json" 2>/dev/null
	reads=$(jq '[.layers[].reads] | add' "$T/drun.json" 2>/dev/null)
	evicts=$(jq '[.layers[].evicts] | add' "$T/drun.json" 2>/dev/null)
	[ $rc -eq 0 ] && [ -s "$T/dsum.json" ] && [ "$(jq '.inflight' "$T/drun.json")" = 0 ] &&
		[ "${reads:-0}" -gt 0 ] && [ "${evicts:-0}" -gt 0 ]
	check $? "decode: trace -- run -m store.asw exit $rc, $reads reads, $evicts evictions"
	sed 's/^/# /' "$T/dtrace.err"
	[ $rc -eq 0 ] || sed 's/^/# /' "$T/drun.err"

	diff_layers "$T/drun.json" "$T/dsum.json" "$SWAP_FIELDS" >"$T/ddiff.txt" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T/ddiff.txt" ] && [ "$(jq '.layers | length' "$T/drun.json")" = 4 ]
	check $? "decode: per-layer reads, bytes, hits, misses, evictions, errors, stall = libswap's stats"
	sed 's/^/# /' "$T/ddiff.txt"

	htot=$(jq '[.layers[].hist_log2_us | add] | add' "$T/dsum.json")
	ctot=$(jq '.totals.fetch_complete' "$T/dsum.json")
	[ -n "$reads" ] && [ "$htot" = "$reads" ] && [ "$ctot" = "$reads" ]
	check $? "decode: histogram total $htot = completed fetches $ctot = libswap reads $reads"

	# Per token: one entry per forward pass (each batch of the prompt, each generated
	# token), and the I/O stall the tokens reported adds up to libswap's stall time after
	# the open (waits at the open, for pinned bundles, are in no token).
	ntok=$(jq '.tokens | length' "$T/dsum.json")
	passes=$(jq '.tokens - .prompt_tokens +
		(if .batch > 1 then ((.prompt_tokens + .batch - 1) / .batch | floor)
		 else .prompt_tokens end)' "$T/drun.json")
	st_tr=$(jq '[.tokens[].stall_ns] | add' "$T/dsum.json")
	st_lib=$(jq '.token_stall_ns' "$T/drun.json")
	badtok=$(jq '[.tokens[] | select((.wall_ns // 0) <= 0)] | length' \
		"$T/dsum.json" 2>/dev/null)
	[ -n "$ntok" ] && [ "$ntok" = "$passes" ] &&
		[ "$st_tr" = "$st_lib" ] && [ "$badtok" = 0 ]
	check $? "decode: $ntok forward passes ($passes expected), their I/O stall $st_tr ns = libswap's stall in tokens $st_lib ns"

	bpftool -j map dump pinned "$PIN-d/layer_stats" 2>"$T/bpftool.err" |
		jq '{layers: [.[].formatted | .value + {layer: .key}]}' >"$T/dpinned.json" 2>&1
	diff_layers "$T/drun.json" "$T/dpinned.json" "$SWAP_FIELDS" >"$T/ddiff2.txt" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T/ddiff2.txt" ]
	check $? "decode: bpftool map dump pinned $PIN-d/layer_stats = libswap's stats"
	sed 's/^/# /' "$T/ddiff2.txt" "$T/bpftool.err"

	# 4c. The same with default flags (--gap auto, sparsity auto): the gap replay's
	# measurement engine fires no probes, so the trace still equals --stats exactly.
	"$ACTIVESWAP" trace --interval 0 --json --binary "$ACTIVESWAP" -- \
		sh -c "exec '$ACTIVESWAP' run -m '$T/dm.asw' -p 'Once upon a time' -n 16 -c 40 \
		--temp 0 --dram-budget 50% --stats --json >'$T/arun.out' 2>'$T/arun.err'" \
		>"$T/atrace.json" 2>"$T/atrace.err"
	rc=$?
	tail -n 1 "$T/arun.out" >"$T/arun.json"
	jq -c 'select(.type == "summary")' "$T/atrace.json" >"$T/asum.json" 2>/dev/null
	replayed=$(jq '.gap_auto' "$T/arun.json" 2>/dev/null)
	diff_layers "$T/arun.json" "$T/asum.json" "$SWAP_FIELDS" >"$T/adiff.txt" 2>&1
	[ $rc -eq 0 ] && [ "$replayed" = true ] && [ -s "$T/asum.json" ] && [ ! -s "$T/adiff.txt" ] &&
		[ "$(jq '.layers | length' "$T/arun.json")" = 4 ]
	check $? "decode, default flags (gap replayed: $replayed): per-layer counters = libswap's stats"
	sed 's/^/# /' "$T/adiff.txt" "$T/atrace.err"
	[ $rc -eq 0 ] || sed 's/^/# /' "$T/arun.err"
fi


# 4d. Experts: a generated qwen3moe store under a budget that swaps them. The runtime
# counts, at each router decision, the chosen experts' bundles and those already in DRAM
# (run --stats --json: expert_lookups / expert_hits per layer); the expert_lookup probe
# carries the same counts, so the trace and the pinned map equal them.
XP_FIELDS='["expert_lookups","expert_hits"]'
if ! "$ACTIVESWAP" mkmodel -o "$T/xm.gguf" --arch qwen3moe --dim 128 --hidden 256 \
	--layers 4 --heads 4 --kv-heads 2 --vocab 512 --ctx 256 --experts 16 --experts-used 4 \
	--head-dim 64 --expert-hidden 64 --type f32 --seed 5 >"$T/xmk.err" 2>&1 ||
	! "$ACTIVESWAP" convert "$T/xm.gguf" -o "$T/xm.asw" --quiet >>"$T/xmk.err" 2>&1; then
	nok "experts: mkmodel + convert a qwen3moe store"
	sed 's/^/# /' "$T/xmk.err"
else
	rm -rf "$PIN-x"
	"$ACTIVESWAP" trace --interval 0 --json --pin "$PIN-x" --binary "$ACTIVESWAP" -- \
		sh -c "exec '$ACTIVESWAP' run -m '$T/xm.asw' -p 'Once upon a time' -n 16 -c 40 \
		--temp 0 --sparsity 0 --dram-budget 40% --stats --json >'$T/xrun.out' \
		2>'$T/xrun.err'" >"$T/xtrace.json" 2>"$T/xtrace.err"
	rc=$?
	tail -n 1 "$T/xrun.out" >"$T/xrun.json"
	jq -c 'select(.type == "summary")' "$T/xtrace.json" >"$T/xsum.json" 2>/dev/null
	lk=$(jq '[.layers[].expert_lookups] | add' "$T/xrun.json" 2>/dev/null)
	ht=$(jq '[.layers[].expert_hits] | add' "$T/xrun.json" 2>/dev/null)
	diff_layers "$T/xrun.json" "$T/xsum.json" "$XP_FIELDS" >"$T/xdiff.txt" 2>&1
	[ $rc -eq 0 ] && [ "${lk:-0}" -gt 0 ] && [ "${ht:-0}" -lt "${lk:-0}" ] &&
		[ ! -s "$T/xdiff.txt" ] &&
		[ "$(jq '.totals.expert_lookups' "$T/xsum.json")" = "$lk" ] &&
		[ "$(jq '[.layers[] | select(.expert_hit_rate != null)] | length' "$T/xsum.json")" = 4 ]
	check $? "experts: trace's per-layer expert lookups and hits = run's ($lk lookups, $ht hits, rc $rc)"
	sed 's/^/# /' "$T/xdiff.txt" "$T/xtrace.err"
	[ $rc -eq 0 ] || sed 's/^/# /' "$T/xrun.err"
	bpftool -j map dump pinned "$PIN-x/layer_stats" 2>"$T/bpftool.err" |
		jq '{layers: [.[].formatted | .value + {layer: .key}]}' >"$T/xpinned.json" 2>&1
	diff_layers "$T/xrun.json" "$T/xpinned.json" "$XP_FIELDS" >"$T/xdiff2.txt" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T/xdiff2.txt" ]
	check $? "experts: bpftool map dump pinned $PIN-x/layer_stats = run's expert counts"
	sed 's/^/# /' "$T/xdiff2.txt" "$T/bpftool.err"
fi
# 5. The USDT probes in every combination. The stand-in tests/bpf/usdt_fake.c fires the probes of
# Documentation/usdt.md in a fixed pattern and prints what it fired; traced with
# `-- COMMAND` so no event is lost or foreign.
if ! $CC -O2 -Wall -o "$T/usdt_fake" "$AS_TOP/tests/bpf/usdt_fake.c" 2>"$T/cc.err"; then
	nok "build tests/bpf/usdt_fake.c"
	sed 's/^/# /' "$T/cc.err"
else
	"$ACTIVESWAP" trace --interval 0.05 --json --pin "$PIN" --binary "$T/usdt_fake" -- \
		sh -c "exec '$T/usdt_fake' 3000 6 42 >'$T/fake.json'" >"$T/trace.json" \
		2>"$T/trace.err"
	rc=$?
	jq -c 'select(.type == "summary")' "$T/trace.json" >"$T/summary.json" 2>/dev/null
	[ $rc -eq 0 ] && [ -s "$T/summary.json" ] && [ -s "$T/fake.json" ]
	check $? "trace -- usdt_fake: exit $rc, summary and probe counts present"
	sed 's/^/# /' "$T/trace.err"

	diff_layers "$T/fake.json" "$T/summary.json" "$FAKE_FIELDS" >"$T/diff.txt" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T/diff.txt" ] && [ "$(jq '.layers | length' "$T/fake.json")" = 6 ]
	check $? "USDT: per-layer reads, bytes, hits, misses, evictions, errors, stalls equal what was fired"
	sed 's/^/# /' "$T/diff.txt"

	fetches=$(jq '.fetches' "$T/fake.json")
	htot=$(jq '[.layers[].hist_log2_us | add] | add' "$T/summary.json")
	ctot=$(jq '.totals.fetch_complete' "$T/summary.json")
	[ -n "$fetches" ] && [ "$fetches" -gt 0 ] && [ "$htot" = "$fetches" ] && [ "$ctot" = "$fetches" ]
	check $? "USDT: histogram total $htot = completed fetches $ctot = fired $fetches"

	bad=$(jq '[.layers[] | select((.hist_log2_us | add) != .completes)] | length' \
		"$T/summary.json")
	[ "$bad" = 0 ]
	check $? "USDT: every layer's histogram total equals its completions"

	ntok=$(jq '.tokens | length' "$T/summary.json")
	st_tr=$(jq '[.tokens[].stall_ns] | add' "$T/summary.json")
	st_src=$(jq '.token_stall_ns' "$T/fake.json")
	[ "$ntok" = 3000 ] && [ "$st_tr" = "$st_src" ]
	check $? "USDT: 3000 tokens with total stall $st_tr ns = fired $st_src ns"

	# Live reports are deltas: every token is reported in at most one interval and no
	# interval reports more misses than happened.
	jq -s '[.[] | select(.type == "interval") | .tokens[].token]' "$T/trace.json" \
		>"$T/itok.json"
	nint=$(jq -s '[.[] | select(.type == "interval")] | length' "$T/trace.json")
	all=$(jq 'length' "$T/itok.json")
	uniq=$(jq 'unique | length' "$T/itok.json")
	imiss=$(jq -s '[.[] | select(.type == "interval") | .totals.cache_miss] | add // 0' \
		"$T/trace.json")
	smiss=$(jq '.totals.cache_miss' "$T/summary.json")
	[ "$all" = "$uniq" ] && [ "$all" -le 3000 ] && [ "$imiss" -le "$smiss" ]
	check $? "interval reports ($nint): $all tokens, each once; $imiss of $smiss misses"

	# -p PID: attach to a process that is already running (it sleeps first, then execs
	# the stand-in, keeping its pid); the trace ends when it exits.
	sh -c "sleep 1; exec '$T/usdt_fake' 300 4 5 >'$T/pfake.json'" &
	tpid=$!
	"$ACTIVESWAP" trace -p "$tpid" --binary "$T/usdt_fake" --interval 0 --json \
		>"$T/ptrace.json" 2>"$T/ptrace.err"
	rc=$?
	wait "$tpid"
	jq -c 'select(.type == "summary")' "$T/ptrace.json" >"$T/psum.json" 2>/dev/null
	diff_layers "$T/pfake.json" "$T/psum.json" "$FAKE_FIELDS" >"$T/pdiff.txt" 2>&1
	drc=$?
	[ $rc -eq 0 ] && [ $drc -eq 0 ] && [ ! -s "$T/pdiff.txt" ] && [ -s "$T/psum.json" ] &&
		[ -s "$T/pfake.json" ]
	check $? "-p PID: trace exits with the process (rc=$rc), counts equal"
	sed 's/^/# /' "$T/pdiff.txt" "$T/ptrace.err"

	# 6. The pinned maps, read back with bpftool, hold the same numbers.
	if command -v bpftool >/dev/null 2>&1; then
		bpftool -j map dump pinned "$PIN/layer_stats" 2>"$T/bpftool.err" |
			jq '{layers: [.[].formatted | .value + {layer: .key}]}' \
			>"$T/pinned.json" 2>>"$T/bpftool.err"
		diff_layers "$T/fake.json" "$T/pinned.json" "$FAKE_FIELDS" >"$T/diff2.txt" 2>&1
		[ $? -eq 0 ] && [ ! -s "$T/diff2.txt" ] && [ -s "$T/pinned.json" ]
		check $? "bpftool map dump pinned $PIN/layer_stats shows the same counts"
		sed 's/^/# /' "$T/diff2.txt" "$T/bpftool.err"
		ptot=$(bpftool -j map dump pinned "$PIN/totals" | jq '.[0].formatted.value.fetch_complete')
		[ "$ptot" = "$fetches" ]
		check $? "pinned totals: fetch_complete $ptot"
	else
		ok "bpftool map dump # SKIP bpftool not installed"
	fi
fi

# 7. Block layer: O_DIRECT reads of a file on a disk show up in blk_stats. Other processes
# may do I/O at the same time, so the counts are lower bounds. A second trace only when the
# first fell short (once in a CI run on a shared machine: 55 of the 64 reads, before the
# tracer counted completions whose issue it missed); the first one's numbers are printed.
blk_trace() {
	"$ACTIVESWAP" trace --interval 0 --json -- \
		dd if="$f" of=/dev/null bs=64K iflag=direct status=none >"$T/blk.json" 2>"$T/blk.err"
	rc=$?
	sumof() { jq -s "[.[] | select(.type == \"summary\") | $1] | add // 0" "$T/blk.json"; }
	req=$(sumof '.block[].requests')
	byt=$(sumof '.block[].bytes')
	unt=$(sumof '.block[].untimed')
	hst=$(sumof '.block[].hist_log2_us | add')
	lost=$(sumof '.lost_events')
	blk_msg="$req requests, $byt bytes (>= 64, 4 MiB), histogram $hst + $unt untimed, $lost events lost"
	# Each of dd's 64 reads is counted, or the kernel said it skipped a program (lost);
	# every counted completion is in the histogram unless its issue was not seen.
	[ $rc -eq 0 ] && [ $((req + lost)) -ge 64 ] &&
		{ [ "$byt" -ge 4194304 ] || [ "$lost" -gt 0 ]; } && [ $((hst + unt)) = "$req" ]
}
f="$AS_TOP/build/.bpf_trace_blk.$$"
if dd if=/dev/urandom of="$f" bs=64K count=64 oflag=direct status=none 2>/dev/null &&
	[ "$(stat -f -c %T "$f")" != tmpfs ]; then
	blk_trace
	r=$?
	if [ $r -ne 0 ]; then
		echo "# block trace, first attempt (rc $rc): $blk_msg"
		sed 's/^/# /' "$T/blk.err"
		blk_trace
		r=$?
	fi
	check $r "block_rq_issue/complete: $blk_msg"
	sed 's/^/# /' "$T/blk.err"
else
	ok "block latency # SKIP cannot write an O_DIRECT file on a block device under build/"
fi
rm -f "$f"

echo "1..$n"
[ $fails -eq 0 ]
