#!/bin/sh
# make install / make uninstall into a scratch DESTDIR:
#  - the CLI, both libraries, libswap.h, every activeswap/*.h and linux/activeswap.h (the
#    module's ABI) are installed;
#  - a C++ file including every installed header compiles (g++ -fsyntax-only -Wall
#    -Wextra), and a C++ program calling the runtime links against the installed libraries
#    (extern "C": unmangled names) and runs; the same headers compile as C11;
#  - make uninstall leaves no file behind.
set -u
: "${AS_TOP:?}" "${AS_TMP:?}"
AS_BUILD=${AS_BUILD:-$AS_TOP/build}
T="$AS_TMP/install"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else nok "$2"; fi; }
command -v g++ >/dev/null 2>&1 || { echo "1..0 # SKIP g++ is not installed"; exit 0; }

R="$T/root"
P=/usr/local
make -s -C "$AS_TOP" BUILD="$AS_BUILD" DESTDIR="$R" PREFIX=$P install >"$T/make.out" 2>&1
rc=$?
I="$R$P/include"
nh=$(ls "$AS_TOP"/runtime/include/activeswap/*.h | wc -l)
[ $rc = 0 ] && [ -x "$R$P/bin/activeswap" ] && [ -f "$R$P/lib/libasrt.a" ] &&
	[ -f "$R$P/lib/libswap.a" ] && [ -f "$I/libswap.h" ] && [ -f "$I/linux/activeswap.h" ] &&
	[ "$(ls "$I"/activeswap/*.h | wc -l)" = "$nh" ]
check $? "make install: CLI, libraries, libswap.h, $nh activeswap/*.h, linux/activeswap.h (rc $rc)"
[ $rc = 0 ] || sed 's/^/# /' "$T/make.out" | tail -n 5

{
	for h in "$I"/activeswap/*.h; do echo "#include <activeswap/${h##*/}>"; done
	echo "#include <libswap.h>"
	echo "#include <linux/activeswap.h>"
} >"$T/all.h"
{ echo '#include "all.h"'; echo 'int main(void) { return 0; }'; } >"$T/all.cpp"
g++ -std=c++11 -fsyntax-only -Wall -Wextra -I"$I" -I"$T" "$T/all.cpp" 2>"$T/cxx.err"
check $? "every installed header compiles as C++11 (g++ -fsyntax-only -Wall -Wextra)"
sed 's/^/# /' "$T/cxx.err" | head -n 8
cp "$T/all.cpp" "$T/all.c"
${CC:-cc} -std=c11 -fsyntax-only -Wall -Wextra -I"$I" -I"$T" "$T/all.c" 2>"$T/c.err"
check $? "... and as C11"
sed 's/^/# /' "$T/c.err" | head -n 8

cat >"$T/use.cpp" <<'EOF'
#include <activeswap/sampler.h>
#include <libswap.h>
#include <cstdio>

int main()
{
	const float logits[4] = { 0.5f, 3.0f, -1.0f, 2.0f };
	as_sampler_params p = {};
	as_sampler *s = as_sampler_new(&p, 4);
	int best;

	if (!s)
		return 1;
	best = as_sample(s, logits);
	as_sampler_free(s);
	std::printf("%d %s %d\n", best, swap_kind_name(SWAP_FFN_IN),
		    swap_backend_from_name("pread"));
	return best == 1 ? 0 : 1;
}
EOF
g++ -std=c++11 -Wall -I"$I" -o "$T/use" "$T/use.cpp" "$R$P/lib/libasrt.a" "$R$P/lib/libswap.a" \
	-luring -lnuma -lm -lpthread 2>"$T/link.err" && out=$("$T/use")
check $? "a C++ program links the installed libraries and runs (${out:-$(head -n 1 "$T/link.err")})"

make -s -C "$AS_TOP" BUILD="$AS_BUILD" DESTDIR="$R" PREFIX=$P uninstall >"$T/un.out" 2>&1
rc=$?
left=$(find "$R" -type f | wc -l)
[ $rc = 0 ] && [ "$left" = 0 ] && [ ! -d "$I/activeswap" ]
check $? "make uninstall removes every installed file (rc $rc, $left left)"
find "$R" -type f | sed 's/^/# left: /' | head -n 5
echo "1..$n"
