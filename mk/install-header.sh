#!/bin/sh
# install-header.sh SRC DEST: install a public C header for C and C++ users.
#
# The copy is the header with its declarations inside extern "C" when compiled as C++:
# the block opens at the first declaration after the include guard, closes before every
# #include (system headers must not get C linkage) and reopens after it, and closes before
# the guard's final #endif. The sources stay plain C (no merge churn in every header);
# tests/integration/install.sh compiles every installed header with g++ -fsyntax-only.
set -eu
src=$1
dst=$2
last=$(grep -n '^#endif' "$src" | tail -n 1 | cut -d: -f1)
[ -n "$last" ] || { echo "install-header.sh: $src has no include guard" >&2; exit 1; }
awk -v last="$last" '
function open_c() { if (!open) { print "#ifdef __cplusplus\nextern \"C\" {\n#endif"; open = 1 } }
function close_c() { if (open) { print "#ifdef __cplusplus\n}\n#endif"; open = 0 } }
NR == last { close_c(); print; next }
!guard && /^#define / { guard = 1; print; next }
!guard || /^[ \t]*$/ { print; next }
/^#include/ { close_c(); print; next }
{ open_c(); print }
' "$src" >"$dst.tmp"
chmod 0644 "$dst.tmp"
mv "$dst.tmp" "$dst"
