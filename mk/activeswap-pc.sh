#!/bin/sh
# activeswap-pc.sh PREFIX VERSION: the pkg-config file of libactiveswap on stdout.
# The static library's private dependencies are in Libs.private (pkg-config --static).
set -eu
cat <<PC
prefix=$1
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: activeswap
Description: run LLMs larger than DRAM by swapping the active weights in from flash
Version: $2
Libs: -L\${libdir} -lactiveswap
Libs.private: -luring -lnuma -lm -lpthread
Cflags: -I\${includedir}
PC
