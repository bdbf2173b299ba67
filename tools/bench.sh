#!/bin/sh
# make bench: the standard benchmark set (numbers, not tests). Results go to build/bench/.
set -eu
AS="${1:-build/bin/activeswap}"
OUT="${AS_BENCH_DIR:-build/bench}"
mkdir -p "$OUT"
echo "== kernels (matvec bandwidth per SIMD level)"
"$AS" bench kernels --json | tee "$OUT/kernels.json"
