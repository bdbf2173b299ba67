#!/bin/sh
# The installed C library (include/activeswap.h, libactiveswap):
#  - make install into a scratch DESTDIR puts libactiveswap.so.0.3.0 (SONAME
#    libactiveswap.so.0, symlinks .so.0 and .so), libactiveswap.a, activeswap.h,
#    activeswap.pc and the man page there;
#  - the .so exports exactly the functions the header declares (nm -D: every defined
#    symbol is asw_*, every ASW_API function of the header is there);
#  - the installed header compiles as C++11;
#  - examples/simple.c builds against the installed copy through
#    `pkg-config --cflags --libs activeswap` (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR
#    for the DESTDIR) with -std=c11 -Wall -Wextra -Werror, and statically from
#    libactiveswap.a;
#  - its greedy text equals `activeswap run --temp 0`'s on a generated model, on its
#    store, and on stories260K.gguf from $AS_SHARED (skipped when absent);
#  - make uninstall removes it all again.
set -u
: "${AS_TOP:?}" "${AS_TMP:?}" "${ACTIVESWAP:?}"
AS_BUILD=${AS_BUILD:-$AS_TOP/build}
AR=${ACTIVESWAP_RELEASE:-$ACTIVESWAP}
T="$AS_TMP/api"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
for tool in pkg-config nm readelf; do
	command -v $tool >/dev/null 2>&1 || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
CC=${CC:-cc}

R="$T/root"
P=/usr/local
L="$R$P/lib"
make -s -C "$AS_TOP" BUILD="$AS_BUILD" DESTDIR="$R" PREFIX=$P install >"$T/make.out" 2>&1
rc=$?
soname=$(readelf -d "$L/libactiveswap.so.0.3.0" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ $rc = 0 ] && [ "$soname" = libactiveswap.so.0 ] &&
	[ "$(readlink "$L/libactiveswap.so.0")" = libactiveswap.so.0.3.0 ] &&
	[ "$(readlink "$L/libactiveswap.so")" = libactiveswap.so.0 ] &&
	[ -f "$L/libactiveswap.a" ] && [ -f "$R$P/include/activeswap.h" ] &&
	[ -f "$L/pkgconfig/activeswap.pc" ] && [ -f "$R$P/share/man/man3/activeswap.3" ]
check $? "make install: libactiveswap.so.0.3.0 (SONAME ${soname:-none}), .so.0, .so, .a, activeswap.h, activeswap.pc, man3 (rc $rc)"
[ $rc = 0 ] || { sed 's/^/# /' "$T/make.out" | tail -n 5; echo "1..$n"; exit 1; }

# Exported: the header's functions, nothing else.
nm -D --defined-only "$L/libactiveswap.so.0.3.0" | awk '$2 == "T" || $2 == "D" || $2 == "B" ||
	$2 == "R" || $2 == "W" { sub(/@.*/, "", $3); print $3 }' | sort >"$T/exported"
sed -n 's/^ASW_API [^(]*[ *]\(asw_[a-z_0-9]*\)(.*/\1/p' "$AS_TOP/include/activeswap.h" |
	sort >"$T/declared"
other=$(grep -cv '^asw_' "$T/exported")
[ -s "$T/declared" ] && [ "$other" = 0 ] && cmp -s "$T/exported" "$T/declared"
check $? "nm -D: the .so exports the header's $(wc -l <"$T/declared") functions and nothing else ($other others)"
diff "$T/declared" "$T/exported" | head -n 5 | sed 's/^/# /'

if command -v g++ >/dev/null 2>&1; then
	printf '#include <activeswap.h>\nint main() { asw_params p; asw_params_init(&p); return 0; }\n' \
		>"$T/use.cpp"
	g++ -std=c++11 -fsyntax-only -Wall -Wextra -I"$R$P/include" "$T/use.cpp" 2>"$T/cxx.err"
	check $? "the installed activeswap.h compiles as C++11 (g++ -fsyntax-only -Wall -Wextra)"
	sed 's/^/# /' "$T/cxx.err" | head -n 5
else
	skip "g++ is not installed"
fi

export PKG_CONFIG_PATH="$L/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$R"
flags=$(pkg-config --cflags --libs activeswap 2>"$T/pc.err")
# shellcheck disable=SC2086
$CC -std=c11 -Wall -Wextra -Werror -o "$T/simple" "$AS_TOP/examples/simple.c" $flags \
	2>"$T/cc.err"
check $? "examples/simple.c builds with pkg-config --cflags --libs activeswap ($flags)"
sed 's/^/# /' "$T/cc.err" "$T/pc.err" | head -n 5
[ -x "$T/simple" ] && LD_LIBRARY_PATH="$L" ldd "$T/simple" | grep -q "$L/libactiveswap.so.0"
check $? "... and loads the installed libactiveswap.so.0"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror -o "$T/simple-static" "$AS_TOP/examples/simple.c" \
	-I"$R$P/include" "$L/libactiveswap.a" $(pkg-config --libs-only-other --static activeswap) \
	-luring -lnuma -lm -lpthread 2>"$T/ccs.err"
check $? "... and statically from libactiveswap.a"
sed 's/^/# /' "$T/ccs.err" | head -n 5

# simple's text against run's (greedy, same prompt and length)
same() { # label model prompt n [run flags...]
	label=$1 model=$2 prompt=$3 np=$4
	shift 4
	LD_LIBRARY_PATH="$L" "$T/simple" -m "$model" -p "$prompt" -n "$np" >"$T/s.out" 2>"$T/s.err"
	src=$?
	"$AR" run -m "$model" -p "$prompt" -n "$np" --temp 0 "$@" >"$T/r.out" 2>"$T/r.err"
	[ $src = 0 ] && [ -s "$T/s.out" ] && cmp -s "$T/s.out" "$T/r.out"
	check $? "simple's text equals activeswap run's: $label ($(wc -c <"$T/s.out") bytes)"
	[ $src = 0 ] || sed 's/^/# /' "$T/s.err" | head -n 3
}
if "$AR" mkmodel -o "$T/m.gguf" --shape tiny --type q4_0 --seed 5 >/dev/null 2>"$T/mk.err" &&
	"$AR" convert "$T/m.gguf" -o "$T/m.asw" --quiet 2>>"$T/mk.err"; then
	same "generated GGUF" "$T/m.gguf" "hello there" 24
	cp "$T/s.out" "$T/gguf.out"
	same "its store" "$T/m.asw" "hello there" 24
	"$ACTIVESWAP" run -m "$T/m.gguf" -p "hello there" -n 24 --temp 0 >"$T/ra.out" 2>/dev/null
	cmp -s "$T/ra.out" "$T/gguf.out"
	check $? "... and the sanitizer CLI's"
else
	nok "generated model and store: $(head -n 1 "$T/mk.err")"
fi
MODEL="${AS_SHARED:-/nonexistent}/models/stories260K.gguf"
if [ -r "$MODEL" ]; then
	same "stories260K.gguf" "$MODEL" "Once upon a time" 64
else
	skip "no \$AS_SHARED/models/stories260K.gguf"
fi
LD_LIBRARY_PATH="$L" "$T/simple" -m "$T/missing.gguf" >/dev/null 2>"$T/miss.err"
rc=$?
[ $rc = 1 ] && grep -q 'missing.gguf' "$T/miss.err" && [ "$(wc -l <"$T/miss.err")" = 1 ]
check $? "a missing model: exit 1 and one line naming it (rc $rc)"

make -s -C "$AS_TOP" BUILD="$AS_BUILD" DESTDIR="$R" PREFIX=$P uninstall >"$T/un.out" 2>&1
rc=$?
left=$(find "$R" -type f -o -type l | wc -l)
[ $rc = 0 ] && [ "$left" = 0 ]
check $? "make uninstall removes the library, header, .pc, man page and links (rc $rc, $left left)"
echo "1..$n"
