#!/bin/sh
# make bench: the standard benchmark set (numbers, not tests). Results go to build/bench/.
#
#   sh tools/bench.sh [CLI] [--peer-llama-bench PATH]
#
# Decode tokens/s against DRAM budget (AS_BENCH_BUDGETS, default "100 75 50 25" percent
# of what holding the whole model takes) on a generated Q4_0 model (AS_BENCH_SHAPE,
# default 1b; 7b is the issue's reference shape, 3.4 GB; its store holds the row copy, 2x
# the GGUF on disk; the MoE shapes mixtral-8x7b, qwen3-30b-a3b, mixtral-tiny and
# qwen3moe-tiny are stored with experts as swap units and get an expert hit rate line): activeswap with auto sparsity
# and group, and the same model dense through mmap inside a memory cgroup of the same
# size (tools/memcg.sh: both sides get budget + 10% + 24 MiB of process overhead); with --peer-llama-bench (or AS_PEER_LLAMA_BENCH) llama.cpp's
# llama-bench in the same cgroup too. Writes decode.jsonl (one JSON object per run and
# line), decode.dat, decode.png and decode.svg (gnuplot: the medians with their range, the
# dense speed as a line, the legend beside the plot), and prints the table with one line
# explaining each column. AS_BENCH_REPS rounds (default 1; make demo 3), each over every
# budget with activeswap and mmap alternated; the table gives medians and ranges.
# Other knobs: AS_BENCH_DIR, AS_BENCH_TOKENS (8), AS_BENCH_THREADS (2), AS_BENCH_LAYERS
# (override the shape's layer count), AS_BENCH_DENSE=1 (add a dense-in-DRAM row),
# AS_BENCH_KERNELS=0 (skip the kernel benchmark), AS_BENCH_FIO=1 (after each activeswap
# run, fio random reads of the store at that run's mean read size, queue depth 32,
# O_DIRECT, io_uring, 3 s: the I/O efficiency columns, tokens/s x flash bytes per token /
# fio's bandwidth, on the bytes the device read and on the useful bytes).
set -eu
AS="${1:-build/bin/activeswap}"
[ $# -gt 0 ] && shift
PEER="${AS_PEER_LLAMA_BENCH:-}"
while [ $# -gt 0 ]; do
	case "$1" in
	--peer-llama-bench) PEER="$2"; shift 2 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT="${AS_BENCH_DIR:-build/bench}"
SHAPE="${AS_BENCH_SHAPE:-1b}"
BUDGETS="${AS_BENCH_BUDGETS:-100 75 50 25}"
N="${AS_BENCH_TOKENS:-8}"
REPS="${AS_BENCH_REPS:-1}"
T="${AS_BENCH_THREADS:-2}"
LAYERS="${AS_BENCH_LAYERS:-}"
mkdir -p "$OUT"
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }

if [ "${AS_BENCH_KERNELS:-1}" = 1 ]; then
	echo "== kernels (matvec bandwidth per SIMD level; the sparse column kernel and the memory reads alone beside it)"
	"$AS" bench kernels --sparsity 0,0.5 --json >"$OUT/kernels.json" &&
		grep '"vs_dense":[0-9.]*[1-9]' "$OUT/kernels.json" || true
fi

name="model-$SHAPE${LAYERS:+-${LAYERS}l}"
gguf="$OUT/$name-q4_0.gguf"
store="$OUT/$name-q4_0.asw"
if [ ! -f "$gguf" ]; then
	echo "== generating $gguf (random weights)"
	"$AS" mkmodel --shape "$SHAPE" ${LAYERS:+--layers $LAYERS} --type q4_0 --seed 1 \
		--threads "$T" -o "$gguf"
fi
# with the row copy (convert --rows): the 100% row runs at sparsity 0 on the dense kernels;
# a mixture-of-experts shape has no row copy (its experts are the swap units)
moe=0
case "$SHAPE" in mixtral*|qwen3moe*|qwen3-30b-a3b) moe=1 ;; esac
if [ $moe = 1 ]; then
	if [ ! -f "$store" ] || [ "$store" -ot "$gguf" ]; then
		echo "== converting to $store (group 1; experts as swap units)"
		"$AS" convert "$gguf" -o "$store" --group 1 --quiet
	fi
elif [ ! -f "$store" ] || [ "$store" -ot "$gguf" ] ||
	! "$AS" info "$store" 2>/dev/null | grep -q "row copy:"; then
	echo "== converting to $store (group 1: gap-filled reads; --rows: the row copy)"
	"$AS" convert "$gguf" -o "$store" --group 1 --rows --quiet
fi

: >"$OUT/decode.jsonl"
: >"$OUT/decode.dat"
echo "# pct budget_MiB activeswap_tps mmap_tps peer_tps flash_MB_tok stall_ms_tok hit sparsity group mmap_flash_MB_tok useful_MB_tok read_KiB fio_MBps as_min as_max mmap_min mmap_max" >>"$OUT/decode.dat"
if [ "${AS_BENCH_DENSE:-0}" = 1 ]; then
	echo "== dense, all in DRAM"
	"$AS" bench decode -m "$gguf" --backend dense -n "$N" -t "$T" --json --label dense \
		>"$OUT/dense.json"
	cat "$OUT/dense.json" >>"$OUT/decode.jsonl"
fi
# the budgets' bytes and cgroup limits (both sides: budget + 10% + the process overhead)
for pct in $BUDGETS; do
	bud=$("$AS" bench decode -m "$store" --dram-budget "$pct%" --print-budget)
	echo "$pct $bud $(awk -v b="$bud" 'BEGIN { printf "%.0f", b * 1.1 + 24 * 1048576 }')"
done >"$OUT/budgets.txt"
# Rounds: in each, every budget, activeswap then mmap right after (alternated, so that a
# busy machine slows both alike); the table gives each figure's median and its range.
r=1
while [ $r -le "$REPS" ]; do
	while read -r pct bud lim; do
		echo "== round $r/$REPS, budget $pct%"
		rc=0
		sh "$TOP/tools/memcg.sh" "$lim" "$AS" bench decode -m "$store" --dram-budget "$bud" \
			-n "$N" -t "$T" --json --label activeswap >"$OUT/as-$pct-$r.json" \
			2>"$OUT/as-$pct.err" || rc=$?
		if [ $rc = 77 ]; then
			rc=0
			"$AS" bench decode -m "$store" --dram-budget "$bud" -n "$N" -t "$T" --json \
				--label activeswap >"$OUT/as-$pct-$r.json" 2>"$OUT/as-$pct.err" || rc=$?
		fi
		if [ $rc != 0 ]; then
			cat "$OUT/as-$pct.err" >&2
			rm -f "$OUT/as-$pct-$r.json"
		fi
		cat "$OUT/as-$pct-$r.json" >>"$OUT/decode.jsonl" 2>/dev/null || true
		rc=0
		sh "$TOP/tools/memcg.sh" "$lim" "$AS" bench decode -m "$gguf" --backend mmap \
			--dram-budget "$bud" -n "$N" -t "$T" --json --label mmap \
			>"$OUT/mmap-$pct-$r.json" 2>"$OUT/mmap-$pct.err" || rc=$?
		if [ $rc = 77 ]; then
			echo "   (no memory cgroup: mmap runs without a limit)"
			"$AS" bench decode -m "$gguf" --backend mmap -n "$N" -t "$T" --json \
				--label mmap-unlimited >"$OUT/mmap-$pct-$r.json"
		fi
		cat "$OUT/mmap-$pct-$r.json" >>"$OUT/decode.jsonl" 2>/dev/null || true
	done <"$OUT/budgets.txt"
	r=$((r + 1))
done
# median min max of the numbers on stdin
stats() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "0 0 0"; exit }
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }
# the run whose tokens/s is the median (its flash, stall, hit figures go in the table)
median_run() { # files...
	for f in "$@"; do [ -s "$f" ] && echo "$(jfield tokens_per_s "$f") $f"; done | sort -g |
		awk '{ f[NR] = $2 } END { if (NR) print f[int((NR + 1) / 2)] }'
}
while read -r pct bud lim; do
	set -- $(for f in "$OUT"/as-"$pct"-*.json; do [ -s "$f" ] && jfield tokens_per_s "$f"; done | stats)
	am=$1 alo=$2 ahi=$3
	set -- $(for f in "$OUT"/mmap-"$pct"-*.json; do [ -s "$f" ] && jfield tokens_per_s "$f"; done | stats)
	mm=$1 mlo=$2 mhi=$3
	f=$(median_run "$OUT"/as-"$pct"-*.json)
	if [ -z "$f" ]; then
		echo "   budget $pct%: no activeswap run succeeded" >&2
		continue
	fi
	mf=$(jfield flash_bytes_per_token "$(median_run "$OUT"/mmap-"$pct"-*.json)"); mf=${mf:-0}
	fiobw=0
	rdsz=$(awk -v r="$(jfield reads "$f")" -v b="$(jfield read_bytes "$f")" \
		'BEGIN { if (r > 0) printf "%d", int(b / r / 4096 + 0.5) * 4096; else print 0 }')
	if [ "${AS_BENCH_FIO:-0}" = 1 ] && [ "$rdsz" -gt 0 ] && command -v fio >/dev/null 2>&1; then
		# random reads of the existing store only (no --size/--offset: fio would
		# lay out, i.e. overwrite, a file shorter than what it is asked to read)
		# fio splits --filename at ':' unless escaped (as bench io does)
		fname=$(printf '%s' "$store" | sed 's/:/\\:/g')
		fiobw=$(fio --name=eff --filename="$fname" --readonly --rw=randread --bs="$rdsz" \
			--iodepth=32 --direct=1 --ioengine=io_uring --runtime=3 --time_based \
			--output-format=terse --terse-version=3 2>/dev/null |
			awk -F';' 'NR == 1 { printf "%.0f", $7 * 1024 }')
		fiobw=${fiobw:-0}
	fi
	peer=0
	if [ -n "$PEER" ]; then
		sh "$TOP/tools/memcg.sh" "$lim" "$PEER" -m "$gguf" -p 0 -n "$N" -t "$T" -o json \
			>"$OUT/peer-$pct.json" 2>/dev/null || true
		peer=$(sed -n 's/.*"avg_ts": *\([0-9.e+]*\).*/\1/p' "$OUT/peer-$pct.json" | tail -n 1)
		peer=${peer:-0}
	fi
	awk -v p="$pct" -v b="$bud" -v a="$am" -v m="$mm" -v q="$peer" \
		-v fb="$(jfield window_flash_bytes_per_token "$f")" \
		-v st="$(jfield window_stall_s_per_token "$f")" -v h="$(jfield window_hit_rate "$f")" \
		-v s="$(jfield sparsity "$f")" -v g="$(jfield group "$f")" -v mf="$mf" \
		-v ub="$(jfield window_useful_bytes_per_token "$f")" -v rk="$rdsz" -v fio="$fiobw" \
		-v alo="$alo" -v ahi="$ahi" -v mlo="$mlo" -v mhi="$mhi" \
		'BEGIN { printf "%s %.1f %.4f %.4f %.4f %.1f %.1f %.3f %.2f %d %.1f %.1f %.0f %.0f %.4f %.4f %.4f %.4f\n", p,
			 b / 1048576, a, m, q, fb / 1e6, st * 1e3, h, s, g, mf / 1e6, ub / 1e6,
			 rk / 1024, fio / 1e6, alo, ahi, mlo, mhi }' >>"$OUT/decode.dat"
done <"$OUT/budgets.txt"

echo
echo "== decode tokens/s vs DRAM budget ($name, random weights, $T threads, $N tokens after" \
	"a warm-up, median of $REPS rounds [range])"
# Columns that are all "-" (no llama.cpp, no fio) are left out.
peercol=0 fiocol=0
[ -n "$PEER" ] && peercol=1
awk 'NR > 1 && $14 > 0 { f = 1 } END { exit !f }' "$OUT/decode.dat" && fiocol=1
awk -v pc=$peercol -v fc=$fiocol '
     function rng(lo, hi) { return sprintf("[%.2f-%.2f]", lo, hi) }
     NR == 1 { next }
     NR == 2 { printf "%6s %8s %-27s %-27s %6s", "budget", "MiB", "activeswap tok/s",
	       "mmap tok/s", "ratio"
	       if (pc) printf " %9s", "llama.cpp"
	       printf " %8s %10s %10s %6s %5s %9s %10s %8s", "sparsity", "flash MB/t",
	       "stall ms/t", "hit", "group", "mmap MB/t", "useful MB/t", "read KiB"
	       if (fc) printf " %8s %6s %6s", "fio MB/s", "eff", "eff-u"
	       printf "\n" }
     { printf "%5s%% %8.1f %9.3f %-17s %9.3f %-17s %6.2f", $1, $2, $3, rng($15, $16), $4,
	      rng($17, $18), ($4 > 0 ? $3 / $4 : 0)
       if (pc) printf " %9s", ($5 > 0 ? sprintf("%.3f", $5) : "-")
       printf " %8.2f %10.1f %10.1f %5.1f%% %5d %9.1f %10.1f %8d", $9, $6, $7, 100 * $8, $10,
	      $11, $12, $13
       if (fc) printf " %8s %6s %6s", ($14 > 0 ? $14 : "-"),
	      ($14 > 0 ? sprintf("%.2f", $3 * $6 / $14) : "-"),
	      ($14 > 0 ? sprintf("%.2f", $3 * $12 / $14) : "-")
       printf "\n" }' "$OUT/decode.dat"
cat <<'LEGEND'
  budget, MiB    DRAM budget: % of what holding the whole model takes, and in MiB
  activeswap     decode tokens/s of activeswap (auto sparsity and group) under the budget
  mmap           the GGUF used in place through mmap, in a memory cgroup of the same size
  ratio          activeswap / mmap
  sparsity       Top-K sparsity auto chose (share of each op's input channels left out)
  flash MB/t     bytes read from flash per generated token (activeswap)
  stall ms/t     time per token waiting for reads (activeswap)
  hit            share of the needed weight columns found in the DRAM cache
  group          layers preloaded ahead from one Top-K selection
  mmap MB/t      bytes the mmap run read from the device per token
  useful MB/t    the flash bytes of columns the kernels used (the rest: gap fill)
  read KiB       mean read size of activeswap's flash reads
LEGEND
[ $peercol = 1 ] && echo "  llama.cpp      llama-bench's tokens/s in the same cgroup"
[ $fiocol = 1 ] && cat <<'LEGEND'
  fio MB/s       fio's random-read bandwidth of the store at that read size, depth 32
  eff, eff-u     tok/s x flash (eff) or useful (eff-u) bytes per token / fio's bandwidth
LEGEND
if [ $moe = 1 ]; then
	# the expert cache of each budget's median run (random routers: about the cached
	# fraction of the experts, plus what repeated tokens reuse)
	while read -r pct bud lim; do
		f=$(median_run "$OUT"/as-"$pct"-*.json)
		[ -n "$f" ] && echo "  experts at $pct%: hit rate $(jfield expert_hit_rate "$f")," \
			"prediction precision $(jfield expert_prediction_precision "$f")," \
			"recall $(jfield expert_prediction_recall "$f")"
	done <"$OUT/budgets.txt"
fi
dense=""
[ -f "$OUT/dense.json" ] && dense=$(jfield tokens_per_s "$OUT/dense.json") &&
	echo "dense in DRAM: $dense tok/s"
peerplot=""
[ -n "$PEER" ] && peerplot=', "" using 1:5 with linespoints lw 2 title "llama.cpp (llama-bench)"'
denseplot=""
[ -n "$dense" ] && denseplot=", $dense with lines dt 2 lw 2 title \"dense, all in DRAM\""
if command -v gnuplot >/dev/null 2>&1; then
	for term in "pngcairo size 900,500" "svg size 900,500"; do
		ext=png
		case "$term" in svg*) ext=svg ;; esac
		gnuplot <<GP 2>/dev/null || gnuplot -e "set terminal png" >/dev/null 2>&1 || true
set terminal $term
set output "$OUT/decode.$ext"
set title "decode speed vs DRAM budget ($name, random weights, $T threads)"
set xlabel "DRAM budget (% of holding everything)"
set ylabel "tokens/s"
set key outside right top
set grid
set xrange [0:105]
set yrange [0:*]
plot "$OUT/decode.dat" using 1:3:15:16 with yerrorlines lw 2 title "activeswap (auto)", \
     "" using 1:4:17:18 with yerrorlines lw 2 title "mmap in a memory cgroup"$peerplot$denseplot
GP
	done
	echo "plot: $OUT/decode.png $OUT/decode.svg"
else
	echo "gnuplot not installed: no plot (make deps-demo installs it)"
fi
echo "results: $OUT/decode.jsonl (one JSON object per run and line)"
