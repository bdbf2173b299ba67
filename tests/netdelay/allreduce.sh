#!/bin/sh
# Open MPI's allreduce algorithms across the delay line (Documentation/tensor-parallel.md,
# benchmarks.md "Tensor parallelism"): for each one-way delay, N namespaces joined by
# netdelay (netns.sh), one rank in each (TCP BTL over the line), and for each round every
# algorithm in turn (alternated, so that the machine's load falls on all of them alike):
#
#   allreduce.sh ACTIVESWAP STORE.asw NP "DELAYS_MS" "ALGORITHMS" ROUNDS TOKENS [run flags]
#
# prints one line per run: np, delay, algorithm (0 = Open MPI's own choice), round,
# rank 0's allreduce ms/token and the decode tok/s that `run --stats` reports. Root only.
# ALLREDUCE_LOGS=DIR keeps each run's stderr (the whole --stats) as DIR/np-delay-alg-round.
# ALLREDUCE_TIMEOUT=S ends a run after S seconds (default 600).
set -u
[ $# -ge 7 ] || { echo "usage: allreduce.sh ACTIVESWAP STORE NP DELAYS ALGS ROUNDS TOKENS [flags]" >&2; exit 2; }
cli=$1 store=$2 np=$3 delays=$4 algs=$5 rounds=$6 tokens=$7
shift 7
here=$(cd "$(dirname "$0")" && pwd)
P=${NETDELAY_PREFIX:-asnd}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
job=""
# a job left running would spin on a deleted namespace: end it before the namespaces
trap '[ -n "$job" ] && kill $job 2>/dev/null; wait; sh "$here/netns.sh" down' EXIT
trap 'exit 1' INT TERM
hosts=${P}0 i=1
while [ $i -lt "$np" ]; do
	hosts="$hosts,$P$i"
	i=$((i + 1))
done
out=$(mktemp)
echo "np delay_ms alg round allreduce_ms_per_token decode_tok_s"
for d in $delays; do
	sh "$here/netns.sh" up "$np" "$d" || exit 1
	r=1
	while [ $r -le "$rounds" ]; do
		for a in $algs; do
			timeout -k 5 "${ALLREDUCE_TIMEOUT:-600}" sh "$here/netns.sh" exec "${P}0" mpirun -np "$np" \
				--host "$hosts" --mca plm_rsh_agent "$here/rsh.sh" \
				--mca btl tcp,self --mca btl_tcp_if_include nd0 \
				--mca oob_tcp_if_include nd0 --mca mpi_yield_when_idle 1 \
				--mca coll_tuned_use_dynamic_rules 1 \
				--mca coll_tuned_allreduce_algorithm "$a" \
				"$cli" run -m "$store" -p "Once upon a time" -n "$tokens" --temp 0 \
				-t 1 --stats "$@" >/dev/null 2>"$out" &
			job=$!
			wait $job
			job=""
			ms=$(sed -n 's/.*allreduce \([0-9.]*\) ms\/token.*/\1/p' "$out")
			tps=$(sed -n 's/.*decode [0-9]* tokens \([0-9.]*\) tok\/s.*/\1/p' "$out")
			echo "$np $d $a $r ${ms:-failed} ${tps:-failed}"
			[ -n "${ALLREDUCE_LOGS:-}" ] && cp "$out" "$ALLREDUCE_LOGS/$np-$d-$a-$r"
			[ -n "$ms" ] || tail -3 "$out" >&2
		done
		r=$((r + 1))
	done
	sh "$here/netns.sh" down
done
rm -f "$out"
