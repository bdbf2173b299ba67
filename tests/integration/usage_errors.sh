#!/bin/sh
# Every usage error exits 2 with exactly one line on stderr and nothing on stdout
# (tools/args.[ch] and the subcommands' own checks). One row per bad command line below:
# the expected status, then the arguments (M = a GGUF, S = a store, X = a text file).
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
T="$AS_TMP/usage_errors"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }

"$ACTIVESWAP" mkmodel -o "$T/m.gguf" --shape tiny --layers 2 --seed 1 >/dev/null 2>&1 &&
	"$ACTIVESWAP" convert "$T/m.gguf" -o "$T/m.asw" --quiet || {
	echo "1..0 # SKIP cannot make the tiny model and store"
	exit 0
}
echo "hello world" >"$T/x.txt"

while read -r want args; do
	case "$want" in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086
	set -- $(echo "$args" | sed "s|\bM\b|$T/m.gguf|g; s|\bS\b|$T/m.asw|g; s|\bX\b|$T/x.txt|g")
	"$ACTIVESWAP" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	lines=$(wc -l <"$T/err")
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && [ ! -s "$T/out" ]; then
		ok "$args: exit $rc, $(cat "$T/err")"
	else
		nok "$args: exit $rc (want $want), $lines lines on stderr"
		sed 's/^/# /' "$T/err" | head -n 5
	fi
done <<'EOF'
2 run -m S --dram-budget 200%
2 run -m S --dram-budget abc
2 run -m S --dram-budget -5%
2 run -m S --dram-budget 0
2 run -m S --dram-budget 0%
2 run -m S --dram-budget 12Q
2 run -m S --sparsity 1.5
2 run -m S --sparsity 0.995
2 run -m S --max-sparsity 1
2 run -m S --group 0
2 run -m S --policy nope
2 run -m S --expert-policy auto
2 run -m S --backend mmap
2 run -m S --gap 1X
2 run -m S --queue-depth 0
2 run -m S --latency-target 0
2 run -m S --latency-target -5
2 run -m S --latency-target abc
2 run -m S --latency-target 1e9
2 run -m S --latency-target
2 run -m S --latency-target 100 --sparsity 0.3
2 run -m S --latency-target 100 --sparsity-file X
2 run -m M --latency-target 100
2 chat -m S --template chatml --latency-target 0
2 chat -m S --template chatml --latency-target 100 --sparsity 0.2
2 run -m M --dram-budget 50%
2 run -m M --kv-type q8_0
2 run -m S --kv-type F16
2 run -m M --kv-type
2 chat -m M --kv-type f64
2 eval -m M -f X --kv-type bf16
2 eval -m S -f X --kv-type f8
2 bench decode -m M --kv-type 16
2 calibrate -m M -f X --sparsity 0.5 --kv-type half
2 run -m M -n -2
2 run -m M --top-p 2
2 run -m M --min-p 1.5
2 run -m M --repeat-penalty 0
2 run -m M -s abc
2 run -m M -t 0
2 run -m M --bogus
2 run -m M -p hi -f X
2 run -m M -p
2 run -p hi
2 eval -m M -f X --sparsity 0.995
2 eval -m S -f X --sparsity 0.995
2 eval -m M
2 eval -m M -f X --sparsity-ops qkv
2 convert M
2 convert -o S
2 convert M -o M
2 convert M -o T/x.asw --group 0
2 convert M -o T/x.asw --type q5_k
2 info
2 info --bogus
2 tokenize -p hi
2 mkmodel
2 mkmodel -o T/x.gguf --shape huge
2 calibrate -m M
2 calibrate -m M -f X --sparsity 2
2 chat -m M --template nope
2 bench nope
2 bench io -m S --bs abc
2 bench decode -m S --dram-budget 200%
2 bench kernels --sparsity 2
2 trace --interval -1
2 nope
EOF
echo "1..$n"
