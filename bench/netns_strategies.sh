#!/usr/bin/env bash
# Throughput of the data-parallel strategies between two network "hosts" (namespaces on a
# bridge, TCP over veth links shaped to RATE Mbit/s by tc tbf; scripts/netns-hosts.sh):
# `cohort bench train` at config C or B of bench/compare_train.py, global batch as there,
# 1 thread per rank, RUNS runs each of allreduce, zero2 and fsdp, in rotation; prints
# each run's tokens/s and bytes sent per rank per step. Needs root.
# Usage: bench/netns_strategies.sh COHORT [C|B] [RATE_MBIT] [RUNS]
set -uo pipefail
c=$(realpath "$1")
config=${2:-C} rate=${3:-1000} runs=${4:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap '"$src/scripts/netns-hosts.sh" down; rm -rf "$tmp" "${TMPDIR:-/tmp}"/cohort-netns-h*' EXIT
"$src/scripts/netns-hosts.sh" up 2 0 "$rate" >/dev/null
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$tmp/hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
net=(--hostfile "$tmp/hosts" -np 2 --bind-to none --mca rtc ^hwloc --mca plm_rsh_agent "$src/scripts/netns-agent.sh"
     --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
     -x OMP_NUM_THREADS)
case $config in
  C) shape=(--layers 6 --heads 6 --channels 384 --vocab 8192 --batch 4 --seq 256) ;;
  B) shape=(--layers 6 --heads 6 --channels 384 --vocab 50304 --batch 2 --seq 256) ;;
esac
echo "config $config, 2 hosts at $rate Mbit/s, batch per rank ${shape[9]}"
for ((i = 0; i < runs; ++i)); do
  for s in allreduce zero2 fsdp; do
    line=$(timeout 600 mpirun "${net[@]}" "$c" bench train "${shape[@]}" --threads 1 --steps 5 \
      --warmup 1 --strategy "$s" 2>&1 | grep '^RESULT' | cut -d' ' -f2-)
    python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"{sys.argv[2]:<10} {r['tok_s_median']:8.1f} tokens/s  {r['bytes_sent_per_step']/1e6:6.1f} MB sent a step per rank\")" "$line" "$s"
  done
done
