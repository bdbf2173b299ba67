#!/bin/sh
# libswap end to end through the CLI: convert a generated model, fetch storms with every
# bundle's crc32c checked for each backend, a too-small budget, a corrupted store,
# an interrupted conversion, the USDT notes and the fio comparison of bench io.
set -u
: "${ACTIVESWAP:?}" "${AS_TMP:?}"
REL=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
# AS_CLI_ELF: the binary behind REL when REL is a wrapper (qemu-aarch64, arm64.sh)
T="$AS_TMP/swap_io"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
echo "1..13"

"$ACTIVESWAP" mkmodel -o "$T/m.gguf" --shape tiny --layers 8 >/dev/null 2>&1
"$ACTIVESWAP" convert "$T/m.gguf" -o "$T/m.asw" --group 2 --quiet 2>"$T/conv.err"
check "convert a generated q4_0 model" '[ -s "$T/m.asw" ] && ! ls "$T"/m.asw.tmp.* >/dev/null 2>&1'
check "convert --verify accepts it" '"$ACTIVESWAP" convert --verify "$T/m.asw" >/dev/null 2>&1'

for be in uring pread; do
	"$ACTIVESWAP" bench io -m "$T/m.asw" --backend $be --qd 8 --bs 32K --budget 50% \
		--seconds 1 --rounds 1 --check --no-fio --json >"$T/$be.json" 2>"$T/$be.err"
	rc=$?
	if [ $be = uring ] && grep -q "io_uring" "$T/$be.err" && [ $rc -ne 0 ]; then
		skip "fetch storm, $be backend, every bundle checked" "io_uring unavailable"
		skip "fetch storm, $be backend, reads issued" "io_uring unavailable"
		continue
	fi
	check "fetch storm, $be backend, every bundle checked (exit $rc)" \
		'[ $rc -eq 0 ] && grep -q "\"bad_bundles\": 0," "$T/$be.json"'
	check "fetch storm, $be backend, reads issued through it" \
		'grep -q "\"backend\": \"$( [ $be = uring ] && echo io_uring || echo pread)\"" "$T/$be.json" && ! grep -q "\"reads\": 0," "$T/$be.json"'
done

"$ACTIVESWAP" bench io -m "$T/m.asw" --budget 64K --no-fio --seconds 0.2 >/dev/null 2>"$T/small.err"
rc=$?
check "a budget below one layer group is refused with a clear error" \
	'[ $rc -eq 1 ] && grep -q "smaller than one layer group" "$T/small.err" && [ $(wc -l <"$T/small.err") -eq 1 ]'

cp "$T/m.asw" "$T/bad.asw"
sz=$(stat -c %s "$T/bad.asw")
# flip one byte three quarters into the file (inside the bundle data)
off=$((sz * 3 / 4 + 123))
printf '\377' | dd of="$T/bad.asw" bs=1 seek=$off conv=notrunc 2>/dev/null
"$ACTIVESWAP" convert --verify "$T/bad.asw" >/dev/null 2>"$T/bad.err"
rc=$?
check "convert --verify finds a flipped byte" \
	'[ $rc -eq 1 ] && grep -q "checksum mismatch" "$T/bad.err"'
"$ACTIVESWAP" bench io -m "$T/bad.asw" --backend pread --budget 100% --seconds 1 --rounds 1 \
	--check --no-fio >/dev/null 2>"$T/bad2.err"
rc=$?
check "engine with crc checks reports the corrupted bundle (exit $rc)" '[ $rc -ne 0 ]'

# An interrupted conversion leaves neither the store nor its temporary file.
"$REL" mkmodel -o "$T/big.gguf" --shape tiny --layers 24 --dim 1024 --hidden 2816 \
	--heads 16 --kv-heads 16 >/dev/null 2>&1
"$ACTIVESWAP" convert "$T/big.gguf" -o "$T/big.asw" --quiet 2>"$T/int.err" &
pid=$!
sleep 0.5
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc -eq 0 ]; then
	skip "interrupted conversion leaves no file" "conversion finished within 0.5 s"
else
	check "interrupted conversion leaves no file (exit $rc)" \
		'[ ! -e "$T/big.asw" ] && ! ls "$T"/big.asw.tmp.* >/dev/null 2>&1'
fi
rm -f "$T/big.gguf" "$T/big.asw"

if command -v readelf >/dev/null 2>&1; then
	readelf -n "${AS_CLI_ELF:-$REL}" >"$T/notes" 2>/dev/null
	miss=""
	for p in fetch_submit fetch_complete bundle_bytes cache_hit cache_miss cache_evict \
		stall token_begin token_end layer_begin; do
		grep -q "Name: $p\$" "$T/notes" || miss="$miss $p"
	done
	check "USDT probes in the binary (missing:${miss:- none})" '[ -z "$miss" ]'
else
	skip "USDT probes in the binary" "readelf not installed"
fi

if command -v fio >/dev/null 2>&1; then
	"$REL" bench io -m "$T/m.asw" --qd 8 --bs 32K --budget 50% --seconds 1 --rounds 1 --json \
		>"$T/fio.json" 2>"$T/fio.err"
	check "bench io runs fio and reports the ratio" \
		'grep -q "\"fio_bandwidth_bytes_per_s\": [0-9]" "$T/fio.json" && grep -q "\"ratio\": [0-9]" "$T/fio.json" && grep -q "\"bs\": 32768, \"qd\": 8" "$T/fio.json"'
	# the path goes to fio as one argument: no shell, fio's ':' separator escaped
	odd="$T/it's a:store.asw"
	cp "$T/m.asw" "$odd"
	"$REL" bench io -m "$odd" --qd 4 --seconds 1 --rounds 1 --json >"$T/odd.json" 2>"$T/odd.err"
	check "bench io hands a path with a quote and a colon to fio intact" \
		'grep -q "\"fio_bandwidth_bytes_per_s\": [1-9]" "$T/odd.json"'
else
	skip "bench io runs fio and reports the ratio" "fio not installed"
	skip "bench io hands a path with a quote and a colon to fio intact" "fio not installed"
fi
rm -rf "$T"
