#!/bin/sh
# make demo: generate a model, run it. (The swapping comparison joins this script with the
# active-weight swapping issue; until then it shows the dense runtime on a generated model.)
set -eu
AS="${1:-build/bin/activeswap}"
DIR="${AS_DEMO_DIR:-build/demo}"
SHAPE="${AS_DEMO_SHAPE:-1b}"
mkdir -p "$DIR"
model="$DIR/demo-$SHAPE-q4_0.gguf"
echo "== activeswap demo: a generated $SHAPE-shaped Llama with RANDOM weights"
echo "   (the text it prints is noise; what the demo shows is speed)"
if [ ! -f "$model" ]; then
	"$AS" mkmodel --shape "$SHAPE" --type q4_0 --seed 1 -o "$model"
fi
"$AS" info "$model" | head -n 20
echo "== dense, all in DRAM, 2 threads"
"$AS" run -m "$model" -p "Once upon a time" -n 32 -t 2 --temp 0
echo
echo "== model kept at $model (delete it with: rm -r $DIR)"
