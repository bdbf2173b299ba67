#!/bin/sh
# `activeswap bench kernels` (numbers, not tests): the command runs on tiny shapes at every
# SIMD level and layout, prints well-formed table and JSON lines with positive figures, and
# rejects bad flags with exit status 2 and one message. No timing is checked here.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
T="$AS_TMP/bench_kernels"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
small="--rows 40 --cols 512 --seconds 0.01 --working-set 256K -t 2"

"$ACTIVESWAP" bench kernels $small >"$T/table.txt" 2>"$T/table.err"
rc=$?
# one line per level for each layout (q4_0: plain and x16) + dispatch line
lines=$(grep -c '^q4_0 ' "$T/table.txt")
levels=$(grep -c -E '^q4_0 +plain ' "$T/table.txt")
[ $rc -eq 0 ] && [ "$levels" -ge 1 ] && [ "$lines" -eq $((levels * 2)) ] &&
	grep -q 'thread-pool dispatch (2 threads)' "$T/table.txt"
check $? "table: plain and x16 rows for each of $levels SIMD levels (rc=$rc)"

"$ACTIVESWAP" bench kernels $small --type q6_K --json >"$T/k.json" 2>"$T/k.err"
rc=$?
bad=$(grep -v -c -E '^\{"bench":"(kernels|threadpool)",.*\}$' "$T/k.json")
pos=$(grep -E '"gbps":[0-9]*\.?[0-9]*[1-9]' "$T/k.json" | grep -E '"gbps_best":[0-9]*\.?[0-9]*[1-9]' |
	grep -c -E '"gflops":[0-9]*\.?[0-9]*[1-9]')
[ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$pos" -ge 1 ] && ! grep -q '"layout":"x16"' "$T/k.json"
check $? "--json: one object per line, positive GB/s and GFLOP/s, no x16 for q6_K"

for t in f32 f16 bf16 q8_0 q4_K; do
	"$ACTIVESWAP" bench kernels --rows 3 --cols 256 --seconds 0.001 --working-set 1K \
		--type $t --simd scalar -t 1 >"$T/t.txt" 2>&1 &&
		grep -q "^$t " "$T/t.txt" || { nok "type $t runs"; continue; }
	ok "type $t runs"
done

# ACTIVESWAP_SIMD selects the active level (clamped to what the CPU has)
ACTIVESWAP_SIMD=scalar "$ACTIVESWAP" bench kernels --rows 16 --cols 32 --seconds 0.001 \
	--working-set 1K -t 1 --simd scalar >"$T/env.txt" 2>&1
grep -q 'active: scalar ' "$T/env.txt"
check $? "ACTIVESWAP_SIMD=scalar makes scalar the active level"
det=$(sed -n 's/^# SIMD detected: \([a-z0-9]*\),.*/\1/p' "$T/env.txt")
ACTIVESWAP_SIMD=avx512 "$ACTIVESWAP" bench kernels --rows 16 --cols 32 --seconds 0.001 \
	--working-set 1K -t 1 --simd scalar >"$T/env.txt" 2>&1
[ -n "$det" ] && case "$det" in
	avx512) grep -q 'active: avx512 ' "$T/env.txt" ;;
	*) grep -q "active: $det " "$T/env.txt" ;; # clamped
	esac
check $? "ACTIVESWAP_SIMD=avx512 is clamped to the detected level ($det)"

# the sparse column kernel beside the dense one: one "cols" line per level and sparsity
"$ACTIVESWAP" bench kernels --rows 300 --cols 96 --seconds 0.001 --working-set 1K -t 2 \
	--sparsity 0,0.5 --json >"$T/sp.json" 2>"$T/sp.err"
check $? "bench kernels --sparsity 0,0.5 runs"
nl=$(grep -c '"layout":"cols"' "$T/sp.json")
nd=$(grep -c '"layout":"plain"' "$T/sp.json")
[ "$nl" -eq $((2 * nd)) ] && [ "$nd" -ge 1 ]
check $? "one sparse result per level and sparsity ($nl for $nd levels)"
grep '"layout":"cols"' "$T/sp.json" | grep -q '"sparsity":0.500,"selected":48,' &&
	grep '"layout":"cols"' "$T/sp.json" | grep -q '"sparsity":0.000,"selected":96,' &&
	! grep '"layout":"cols"' "$T/sp.json" | grep -q '"us":0.00,'
check $? "sparse results name the sparsity, the selected columns and a time"
grep '"layout":"cols"' "$T/sp.json" | tail -1 | grep -q '"vs_dense":[1-9]\|"vs_dense":0\.[0-9]*[1-9]'
check $? "the best level's sparse result carries its ratio to dense"
# the K-quant columns (codes per column, the scales in a table), 100 rows: a partial tile
for t in q4_K q5_K q6_K; do
	"$ACTIVESWAP" bench kernels --rows 100 --cols 512 --seconds 0.001 --working-set 1K \
		-t 2 --type $t --sparsity 0,0.5 --json >"$T/kq.json" 2>"$T/kq.err"
	rc=$?
	nl=$(grep -c "\"type\":\"$t\",\"layout\":\"cols\"" "$T/kq.json")
	nd=$(grep -c '"layout":"plain"' "$T/kq.json")
	[ $rc -eq 0 ] && [ "$nd" -ge 1 ] && [ "$nl" -eq $((2 * nd)) ] &&
		grep '"layout":"cols"' "$T/kq.json" | grep -q '"sparsity":0.500,"selected":256,' &&
		! grep '"layout":"cols"' "$T/kq.json" | grep -q '"us":0.00,'
	check $? "$t: --sparsity times the K column kernel ($nl results for $nd levels, rc=$rc)"
done

# --batch: the matrix-matrix product per level and layout, and with AMX tiles where the
# CPU has them (one more x16 line at avx512, "amx":true); every line a positive rate
"$ACTIVESWAP" bench kernels --rows 40 --cols 96 --seconds 0.001 --working-set 1K -t 2 \
	--batch 19 --json >"$T/mm.json" 2>"$T/mm.err"
rc=$?
np=$(grep -c '"layout":"plain","simd":"[a-z0-9]*","amx":false,"batch":19,' "$T/mm.json")
nx=$(grep -c '"layout":"x16","simd":"[a-z0-9]*","amx":false,"batch":19,' "$T/mm.json")
na=$(grep -c '"layout":"x16","simd":"avx512","amx":true,"batch":19,' "$T/mm.json")
nr=$(grep '"batch":19' "$T/mm.json" | grep -c -E '"tokens_per_s":[0-9]*\.?[0-9]*[1-9]')
case "$(sed -n 's/.*"amx":\(true\).*/\1/p' "$T/mm.json" | head -n 1)" in
true) want_amx=1 ;;
*) want_amx=0 ;;
esac
[ $rc -eq 0 ] && [ "$np" -ge 1 ] && [ "$nx" -eq "$np" ] && [ "$na" -eq $want_amx ] &&
	[ "$nr" -eq $((np + nx + na)) ]
check $? "--batch 19: plain $np, x16 $nx, x16 with AMX $na products, positive tokens/s (rc=$rc)"

bad_flag() {
	"$ACTIVESWAP" bench kernels "$@" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/bad.err")" -ge 1 ] && [ ! -s "$T/bad.out" ]
	check $? "rejects $* (rc=$rc)"
}
bad_flag --rows 0 --cols 32
bad_flag --rows 16
bad_flag --rows 16 --cols 33 --type q4_0
bad_flag --type q8_K
bad_flag --simd sse9
bad_flag --layout weird
bad_flag -t 0
bad_flag --bogus
bad_flag --sparsity 1.5
bad_flag --sparsity 0,x
bad_flag --sparsity ,
bad_flag --batch 0
# five 60-character values: longer than the parser's buffer, refused rather than cut
long=0.125$(printf '0%.0s' $(seq 1 55))
bad_flag --rows 16 --cols 32 --seconds 0.001 --working-set 1K \
	--sparsity "$long,$long,$long,$long,$long"
"$ACTIVESWAP" bench nothing >/dev/null 2>"$T/bad.err"
[ $? -eq 2 ]
check $? "bench with an unknown benchmark exits 2"
echo "1..$n"
