#!/bin/sh
# make demo: the README's main job. Generates a Llama model of about 1 GiB with RANDOM
# weights (AS_DEMO_SHAPE/AS_DEMO_LAYERS, default the 1b shape with 30 layers), converts it
# to a store and prints decode speed dense-in-DRAM vs mmap (in a memory cgroup) vs
# activeswap at 50% and 25% DRAM budgets, plus the plot's path. A few minutes: 32 tokens
# after a warm-up, 3 rounds (AS_DEMO_REPS) alternating activeswap and mmap per budget, so
# the rows' order holds on a busy machine; each figure with its range over the rounds.
set -eu
AS="${1:-build/bin/activeswap}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR="${AS_DEMO_DIR:-build/demo}"
echo "== activeswap demo: a generated ${AS_DEMO_SHAPE:-1b}-shaped Llama with RANDOM weights"
echo "   The text such a model writes is noise; what this demo shows is speed: tokens/s"
echo "   when only a DRAM budget's worth of the model may be in memory."
AS_BENCH_DIR="$DIR" AS_BENCH_SHAPE="${AS_DEMO_SHAPE:-1b}" \
	AS_BENCH_LAYERS="${AS_DEMO_LAYERS-30}" AS_BENCH_BUDGETS="${AS_DEMO_BUDGETS:-50 25}" \
	AS_BENCH_TOKENS="${AS_DEMO_TOKENS:-32}" AS_BENCH_REPS="${AS_DEMO_REPS:-3}" \
	AS_BENCH_DENSE=1 AS_BENCH_KERNELS=0 \
	sh "$TOP/tools/bench.sh" "$AS"
echo
echo "== models kept in $DIR (delete them with: rm -r $DIR)"
