#!/bin/sh
# The dense runtime against llama.cpp's reference results on stories260K.gguf
# ($AS_SHARED/golden/README.md):
#
#  - token ids of "Once upon a time" are [1, 403, 407, 261, 378];
#  - greedy continuations (BOS + prompt, temp 0, 64 new tokens) equal greedy-*.txt
#    byte for byte, with the sanitizer CLI and with the release CLI on 2 threads;
#  - perplexity with -c 128 on tinystories-dev.txt within 0.1% of 3.5064 (both CLIs);
#  - uniform Top-K sparsity: PPL, KL and top-1 of the README's table (0.3 .. 0.6) and the
#    per-op-group PPLs at 0.5;
#  - sampling with a seed is reproducible, --json carries the figures;
#  - bad flags exit 2, bad or truncated models exit 1, with one line and no crash.
#
# Each greedy-N.txt is the prompt followed by what llama-cli printed: the echo of the
# prompt tokens (" Once upon a time", the pieces keep the SentencePiece space), the
# 64 tokens, and the blank line llama-cli ends with ("\n\n"). The prompts are the
# first 4, 4 and 5 tokens of the files.
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
ACTIVESWAP_RELEASE=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/golden"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }

MODEL="${AS_SHARED:-/nonexistent}/models/stories260K.gguf"
GOLD="${AS_SHARED:-/nonexistent}/golden"
if [ ! -r "$MODEL" ] || [ ! -r "$GOLD/greedy-1.txt" ]; then
	echo "1..0 # SKIP no \$AS_SHARED/models/stories260K.gguf or golden data"
	exit 0
fi

# Relative difference |a - b| / b <= tol (awk, so no bc needed).
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
	exit !(a != "" && d <= t * b) }'; }
# Value of a numeric field in a one-line JSON object.
jfield() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p" "$2" | tail -n 1; }

# Tokenizer golden ids.
ids=$("$ACTIVESWAP" run -m "$MODEL" -p "Once upon a time" --print-token-ids 2>"$T/ids.err")
[ "$ids" = "[1, 403, 407, 261, 378]" ]
check $? "token ids of 'Once upon a time' are [1, 403, 407, 261, 378] (got $ids)"

# Greedy continuations, sanitizer CLI (1 thread) and release CLI (2 threads).
greedy() { # cli threads index prompt
	"$1" run -m "$MODEL" -p "$4" -n 64 --temp 0 -t "$2" >"$T/g$3.out" 2>"$T/g$3.err"
	rc=$?
	printf '\n\n' >>"$T/g$3.out"
	[ $rc -eq 0 ] && cmp -s "$T/g$3.out" "$GOLD/greedy-$3.txt"
}
for cli in asan release; do
	if [ $cli = asan ]; then bin=$ACTIVESWAP thr=1; else bin=$ACTIVESWAP_RELEASE thr=2; fi
	i=1
	for p in "Once upon a time" "Lily had a big" "The dog ran"; do
		greedy "$bin" $thr $i "$p"
		check $? "greedy-$i.txt matches llama.cpp ($cli CLI, -t $thr, prompt '$p')"
		if [ -n "${AS_VERBOSE:-}" ]; then diff "$T/g$i.out" "$GOLD/greedy-$i.txt" | sed 's/^/# /'; fi
		i=$((i + 1))
	done
done

# Perplexity, llama.cpp's method, both CLIs.
"$ACTIVESWAP" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 128 -t 1 --json \
	>"$T/ppl.json" 2>"$T/ppl.err"
ppl=$(jfield ppl "$T/ppl.json")
chunks=$(jfield chunks "$T/ppl.json")
near "$ppl" 3.5064 0.001 && [ "$chunks" = 5 ]
check $? "eval -c 128 PPL $ppl within 0.1% of 3.5064 over $chunks chunks (asan)"
"$ACTIVESWAP_RELEASE" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 128 -t 2 \
	>"$T/ppl.txt" 2>"$T/ppl2.err"
ppl2=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' "$T/ppl.txt")
# the running PPL after chunks 1 and 2 (llama.cpp: 2.4200, 2.7385; F16 cache 2.4199, F32 2.4202)
run1=$(sed -n 's/^\[1\]\([0-9.]*\),\[2\].*/\1/p' "$T/ppl.txt")
run2=$(sed -n 's/^\[1\][0-9.]*,\[2\]\([0-9.]*\),.*/\1/p' "$T/ppl.txt")
near "$ppl2" 3.5064 0.001 && near "$run1" 2.4200 0.001 && near "$run2" 2.7385 0.001
check $? "eval -c 128 PPL $ppl2 within 0.1% of 3.5064, running PPL $run1, $run2 printed (release, -t 2)"

# Top-K sparsity 0.5 against the README's table, which was computed in F32 throughout: so
# with an F32 KV cache (an F16 cache rounds K and V, which flips near-tie Top-K choices of
# this 64-wide model: PPL 8.10 at 0.5 instead of 7.70, with dense PPL the same to 1e-4).
"$ACTIVESWAP_RELEASE" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 128 -t 2 \
	--kv-type f32 --sparsity 0.5 --json >"$T/sp.json" 2>"$T/sp.err"
sp=$(jfield ppl "$T/sp.json") kl=$(jfield kl "$T/sp.json") top1=$(jfield top1_agreement "$T/sp.json")
near "$sp" 7.697 0.005 && near "$kl" 0.798 0.01 && near "$top1" 0.552 0.01
check $? "sparsity 0.5: PPL $sp, KL $kl, top-1 $top1 match 7.697 / 0.798 / 0.552"

# The rest of the README's table: other levels, then one op group at a time at 0.5.
# Top-K selection is discontinuous (a near-tie of two magnitudes flips with the last bit
# of the matvec, and keeping one more channel of 172 moves top-1 by 0.02 here), so these
# rows get 1% on PPL, 5% on KL and 0.01 on top-1: at 0.3 we get 3.711 / 0.0797 / 0.873
# against 3.698 / 0.078 / 0.876, the other rows agree to the printed digits.
for row in "0.3 3.698 0.078 0.876" "0.4 4.490 0.287 0.759" "0.6 28.47 1.942 0.302"; do
	set -- $row
	"$ACTIVESWAP_RELEASE" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 128 -t 2 \
		--kv-type f32 --sparsity "$1" --json >"$T/sp$1.json" 2>"$T/sp$1.err"
	sp=$(jfield ppl "$T/sp$1.json") kl=$(jfield kl "$T/sp$1.json")
	top1=$(jfield top1_agreement "$T/sp$1.json")
	near "$sp" "$2" 0.01 && near "$kl" "$3" 0.05 &&
		awk -v a="$top1" -v b="$4" 'BEGIN { d = a - b; exit !(a != "" && d * d <= 1e-4) }'
	check $? "sparsity $1: PPL $sp, KL $kl, top-1 $top1 match $2 / $3 / $4"
done
for row in "qkv 3.969" "gateup 5.466" "o 3.575" "down 3.564"; do
	set -- $row
	"$ACTIVESWAP_RELEASE" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 128 -t 2 \
		--kv-type f32 --sparsity 0.5 --sparsity-ops "$1" --json >"$T/op$1.json" 2>"$T/op$1.err"
	sp=$(jfield ppl "$T/op$1.json")
	near "$sp" "$2" 0.002
	check $? "sparsity 0.5 on $1 only: PPL $sp matches $2"
done

# Seeded sampling is reproducible; a different seed differs.
s1=$("$ACTIVESWAP" run -m "$MODEL" -p "Once" -n 48 --seed 7 2>/dev/null)
s2=$("$ACTIVESWAP_RELEASE" run -m "$MODEL" -p "Once" -n 48 --seed 7 -t 2 2>/dev/null)
s3=$("$ACTIVESWAP_RELEASE" run -m "$MODEL" -p "Once" -n 48 --seed 8 2>/dev/null)
[ -n "$s1" ] && [ "$s1" = "$s2" ] && [ "$s1" != "$s3" ]
check $? "--seed reproduces the same text (and another seed does not)"

# --json figures.
"$ACTIVESWAP" run -m "$MODEL" -p "Once upon a time" -n 8 --temp 0 --json >"$T/run.json" \
	2>"$T/run.err"
rc=$?
tail -n 1 "$T/run.json" >"$T/run.obj"
ngen=$(jfield n_generated "$T/run.obj")
[ $rc -eq 0 ] && [ "$ngen" = 8 ] && [ "$(jfield prompt_tokens "$T/run.obj")" = 5 ] &&
	[ -n "$(jfield tokens_per_s "$T/run.obj")" ] && [ -n "$(jfield load_s "$T/run.obj")" ] &&
	[ "$(jfield peak_rss_bytes "$T/run.obj")" -gt 0 ] &&
	grep -q 'decode 8 tokens' "$T/run.err" && grep -q '"kv_type": "f16"' "$T/run.obj" &&
	[ "$(jfield kv_bytes "$T/run.obj")" -gt 0 ]
check $? "run --json reports n_generated, prompt_tokens, tokens_per_s, load_s, peak RSS, kv_type f16"

# Bad input: usage errors exit 2, bad files exit 1, one line, no sanitizer report.
bad() { # expected-rc description args...
	want=$1 desc=$2
	shift 2
	"$ACTIVESWAP" "$@" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	lines=$(wc -l <"$T/bad.err")
	[ $rc -eq "$want" ] && [ "$lines" -eq 1 ] && ! grep -q Sanitizer "$T/bad.err"
	check $? "$desc (rc $rc, $lines line(s): $(head -n 1 "$T/bad.err"))"
}
head -c 100000 "$MODEL" >"$T/trunc.gguf"
bad 2 "run without -m is a usage error" run -p hi
bad 2 "run --temp abc is a usage error" run -m "$MODEL" --temp abc
bad 2 "eval -c 2 is a usage error" eval -m "$MODEL" -f "$GOLD/tinystories-dev.txt" -c 2
bad 2 "eval --sparsity-ops with an unknown group is a usage error" eval -m "$MODEL" \
	-f "$GOLD/tinystories-dev.txt" --sparsity 0.5 --sparsity-ops qkv,mlp
bad 1 "run on a missing model fails cleanly" run -m "$T/nope.gguf"
bad 1 "run on a truncated model fails cleanly" run -m "$T/trunc.gguf" -n 4
bad 1 "eval on a text shorter than one chunk fails cleanly" eval -m "$MODEL" \
	-f "$GOLD/greedy-1.txt" -c 128

echo "1..$n"
