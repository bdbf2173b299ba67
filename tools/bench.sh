#!/bin/sh
# make bench: the standard benchmark set (numbers, not tests). Results go to build/bench/.
#
#   sh tools/bench.sh [CLI] [--peer-llama-bench PATH]
#
# Decode tokens/s against DRAM budget (AS_BENCH_BUDGETS, default "100 75 50 25" percent
# of what holding the whole model takes) on a generated Q4_0 model (AS_BENCH_SHAPE,
# default 1b; 7b is the issue's reference shape, 3.4 GB; its store holds the row copy, 2x
# the GGUF on disk): activeswap with auto sparsity
# and group, and the same model dense through mmap inside a memory cgroup of the same
# size (tools/memcg.sh: both sides get budget + 10% + 24 MiB of process overhead); with --peer-llama-bench (or AS_PEER_LLAMA_BENCH) llama.cpp's
# llama-bench in the same cgroup too. Writes decode.json (one object per run),
# decode.dat, decode.png and decode.svg (gnuplot), and prints the table.
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
# with the row copy (convert --rows): the 100% row runs at sparsity 0 on the dense kernels
if [ ! -f "$store" ] || [ "$store" -ot "$gguf" ] ||
	! "$AS" info "$store" 2>/dev/null | grep -q "row copy:"; then
	echo "== converting to $store (group 1: gap-filled reads; --rows: the row copy)"
	"$AS" convert "$gguf" -o "$store" --group 1 --rows --quiet
fi

: >"$OUT/decode.json"
: >"$OUT/decode.dat"
echo "# pct budget_MiB activeswap_tps mmap_tps peer_tps flash_MB_tok stall_ms_tok hit sparsity group mmap_flash_MB_tok useful_MB_tok read_KiB fio_MBps" >>"$OUT/decode.dat"
if [ "${AS_BENCH_DENSE:-0}" = 1 ]; then
	echo "== dense, all in DRAM"
	"$AS" bench decode -m "$gguf" --backend dense -n "$N" -t "$T" --json --label dense \
		>"$OUT/dense.json"
	cat "$OUT/dense.json" >>"$OUT/decode.json"
fi
for pct in $BUDGETS; do
	echo "== budget $pct%"
	bud=$("$AS" bench decode -m "$store" --dram-budget "$pct%" --print-budget)
	# both sides get the same memory cgroup: budget + 10% + the process overhead
	lim=$(awk -v b="$bud" 'BEGIN { printf "%.0f", b * 1.1 + 24 * 1048576 }')
	rc=0
	sh "$TOP/tools/memcg.sh" "$lim" "$AS" bench decode -m "$store" --dram-budget "$bud" \
		-n "$N" -t "$T" --json --label activeswap >"$OUT/as-$pct.json" \
		2>"$OUT/as-$pct.err" || rc=$?
	if [ $rc = 77 ]; then
		"$AS" bench decode -m "$store" --dram-budget "$bud" -n "$N" -t "$T" --json \
			--label activeswap >"$OUT/as-$pct.json" 2>"$OUT/as-$pct.err" || rc=$?
	fi
	if [ $rc != 0 ] && [ $rc != 77 ]; then
		cat "$OUT/as-$pct.err" >&2
		continue
	fi
	cat "$OUT/as-$pct.json" >>"$OUT/decode.json"
	fiobw=0
	rdsz=$(awk -v r="$(jfield reads "$OUT/as-$pct.json")" -v b="$(jfield read_bytes "$OUT/as-$pct.json")" \
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
	rc=0
	sh "$TOP/tools/memcg.sh" "$lim" "$AS" bench decode -m "$gguf" --backend mmap \
		--dram-budget "$bud" -n "$N" --warmup 1 -t "$T" --json --label mmap \
		>"$OUT/mmap-$pct.json" 2>"$OUT/mmap-$pct.err" || rc=$?
	if [ $rc = 77 ]; then
		echo "   (no memory cgroup: mmap runs without a limit)"
		"$AS" bench decode -m "$gguf" --backend mmap -n "$N" --warmup 1 -t "$T" --json \
			--label mmap-unlimited >"$OUT/mmap-$pct.json"
	fi
	cat "$OUT/mmap-$pct.json" >>"$OUT/decode.json" 2>/dev/null || true
	peer=0
	if [ -n "$PEER" ]; then
		sh "$TOP/tools/memcg.sh" "$lim" "$PEER" -m "$gguf" -p 0 -n "$N" -t "$T" -o json \
			>"$OUT/peer-$pct.json" 2>/dev/null || true
		peer=$(sed -n 's/.*"avg_ts": *\([0-9.e+]*\).*/\1/p' "$OUT/peer-$pct.json" | tail -n 1)
		peer=${peer:-0}
	fi
	f="$OUT/as-$pct.json"
	mt=$(jfield tokens_per_s "$OUT/mmap-$pct.json"); mt=${mt:-0}
	mf=$(jfield flash_bytes_per_token "$OUT/mmap-$pct.json"); mf=${mf:-0}
	awk -v p="$pct" -v b="$bud" -v a="$(jfield tokens_per_s "$f")" -v m="$mt" -v q="$peer" \
		-v fb="$(jfield window_flash_bytes_per_token "$f")" \
		-v st="$(jfield window_stall_s_per_token "$f")" -v h="$(jfield window_hit_rate "$f")" \
		-v s="$(jfield sparsity "$f")" -v g="$(jfield group "$f")" -v mf="$mf" \
		-v ub="$(jfield window_useful_bytes_per_token "$f")" -v rk="$rdsz" -v fio="$fiobw" \
		'BEGIN { printf "%s %.1f %.4f %.4f %.4f %.1f %.1f %.3f %.2f %d %.1f %.1f %.0f %.0f\n", p,
			 b / 1048576, a, m, q, fb / 1e6, st * 1e3, h, s, g, mf / 1e6, ub / 1e6,
			 rk / 1024, fio / 1e6 }' >>"$OUT/decode.dat"
done

echo
echo "== decode tokens/s vs DRAM budget ($name, random weights, $T threads, $N tokens)"
awk 'NR == 1 { next }
     NR == 2 { printf "%6s %9s %11s %9s %7s %9s %8s %11s %10s %6s %5s %12s %11s %8s %8s %6s %6s\n",
	       "budget", "MiB", "activeswap", "mmap", "ratio", "llama.cpp", "sparsity",
	       "flash MB/t", "stall ms/t", "hit", "group", "mmap MB/t", "useful MB/t",
	       "read KiB", "fio MB/s", "eff", "eff-u" }
     { printf "%5s%% %9.1f %11.3f %9.3f %7.2f %9s %8.2f %11.1f %10.1f %5.1f%% %5d %12.1f %11.1f %8d %8s %6s %6s\n",
	      $1, $2, $3, $4, ($4 > 0 ? $3 / $4 : 0), ($5 > 0 ? sprintf("%.3f", $5) : "-"),
	      $9, $6, $7, 100 * $8, $10, $11, $12, $13, ($14 > 0 ? $14 : "-"),
	      ($14 > 0 ? sprintf("%.2f", $3 * $6 / $14) : "-"),
	      ($14 > 0 ? sprintf("%.2f", $3 * $12 / $14) : "-") }' \
	"$OUT/decode.dat"
[ -f "$OUT/dense.json" ] && echo "dense in DRAM: $(jfield tokens_per_s "$OUT/dense.json") tok/s"
peerplot=""
[ -n "$PEER" ] && peerplot=', "" using 1:5 with linespoints lw 2 title "llama.cpp (llama-bench)"'
if command -v gnuplot >/dev/null 2>&1; then
	for term in "pngcairo size 800,500" "svg size 800,500"; do
		ext=png
		case "$term" in svg*) ext=svg ;; esac
		gnuplot <<GP 2>/dev/null || gnuplot -e "set terminal png" >/dev/null 2>&1 || true
set terminal $term
set output "$OUT/decode.$ext"
set title "decode speed vs DRAM budget ($name, random weights, $T threads)"
set xlabel "DRAM budget (% of holding everything)"
set ylabel "tokens/s"
set key top left
set grid
set xrange [0:105]
set yrange [0:*]
plot "$OUT/decode.dat" using 1:3 with linespoints lw 2 title "activeswap (auto)", \
     "" using 1:4 with linespoints lw 2 title "mmap in a memory cgroup"$peerplot
GP
	done
	echo "plot: $OUT/decode.png $OUT/decode.svg"
else
	echo "gnuplot not installed: no plot (make deps-demo installs it)"
fi
echo "results: $OUT/decode.json"
