#!/bin/sh
# activeswap info on a store: the fields agree with the GGUF it was converted from (incl.
# the head size and attention width, also for a qwen3 attention wider than dim); a
# damaged store gets one error line and exit 1.
set -u
AS="${ACTIVESWAP:?}"
T="$AS_TMP/info_store"
mkdir -p "$T"
n=0
check() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
if ! command -v jq >/dev/null 2>&1; then
	echo "1..0 # SKIP jq is not installed"
	exit 0
fi
"$AS" mkmodel --shape tiny --layers 3 --dim 128 --hidden 352 --heads 4 --kv-heads 2 \
	--type q8_0 -o "$T/m.gguf" >/dev/null 2>&1 &&
	"$AS" convert "$T/m.gguf" -o "$T/m.asw" --group 2 --quiet
check $? "mkmodel + convert"
"$AS" info "$T/m.gguf" --json >"$T/g.json" && "$AS" info "$T/m.asw" --json >"$T/s.json"
check $? "info --json on the GGUF and on the store"
ok=0
for f in dim hidden layers heads kv_heads ctx rope_freq_base; do
	a=$(jq -r ".hparams.$f" "$T/g.json") b=$(jq -r ".hparams.$f" "$T/s.json")
	[ -n "$a" ] && [ "$a" != null ] && [ "$a" = "$b" ] || { ok=1; echo "# $f: gguf $a store $b"; }
done
check $ok "store hyper-parameters equal the GGUF's"
l=$(jq -r .hparams.layers "$T/s.json") g=$(jq -r .group "$T/s.json")
[ "$l" = 3 ] && [ "$g" = 2 ]
check $? "layers $l, group $g (expected 3, 2)"
k=$(jq -r '[.kinds[] | .channels] | join(",")' "$T/s.json")
[ "$k" = "128,128,128,352" ]
check $? "bundle kinds' channels $k (expected 128,128,128,352)"
t=$(jq -r '[.kinds[].mats[].type] | unique | join(",")' "$T/s.json")
[ "$t" = "q8_0" ]
check $? "column type $t (expected q8_0)"
r=$(jq -r '[.resident[].name] | map(select(. == "token_embd.weight" or . == "output_norm.weight")) | length' "$T/s.json")
[ "$r" = 2 ]
check $? "resident tensors listed"
"$AS" info "$T/m.asw" >"$T/s.txt" 2>&1 && grep -q "layer group 2" "$T/s.txt"
check $? "text output names the layer group"
# The attention's geometry: head size from the metadata (key_length) or dim / heads.
# attn FILE: heads,kv_heads,head_dim,attn_width of an info --json
attn() { jq -r '[.hparams | .heads, .kv_heads, .head_dim, .attn_width] | join(",")' "$1"; }
hd=$(attn "$T/s.json")
[ "$hd" = "4,2,32,128" ] && [ "$(attn "$T/g.json")" = "$hd" ]
check $? "heads, kv_heads, head_dim, attn_width $hd (expected 4,2,32,128, as the GGUF's)"
"$AS" mkmodel --arch qwen3 --layers 2 --dim 128 --hidden 128 --heads 4 --kv-heads 2 \
	--head-dim 64 --type f16 -o "$T/q3.gguf" >/dev/null 2>&1 &&
	"$AS" convert "$T/q3.gguf" -o "$T/q3.asw" --quiet &&
	"$AS" info "$T/q3.gguf" --json >"$T/qg.json" && "$AS" info "$T/q3.asw" --json >"$T/qs.json"
check $? "qwen3 --head-dim 64 over dim 128: mkmodel, convert, info --json"
a=$(attn "$T/qg.json")
b=$(attn "$T/qs.json")
c=$(jq -r '.kinds[] | select(.kind == "attn_out") | .channels' "$T/qs.json")
[ "$a" = "4,2,64,256" ] && [ "$b" = "$a" ] && [ "$c" = 256 ]
check $? "wide attention: GGUF $a, store $b (expected 4,2,64,256; attn_out channels $c)"
"$AS" info "$T/q3.asw" >"$T/q.txt" 2>&1 &&
	grep -q "heads 4/2 kv, head_dim 64, attn_width 256" "$T/q.txt" &&
	"$AS" info "$T/q3.gguf" 2>&1 | grep -q "head_dim 64 attn_width 256"
check $? "text output: head_dim 64, attn_width 256 (store and GGUF)"
head -c 3000 "$T/m.asw" >"$T/trunc.asw"
"$AS" info "$T/trunc.asw" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -s "$T/out" ]
check $? "truncated store: exit $rc, one error line: $(cat "$T/err")"
echo "1..$n"
