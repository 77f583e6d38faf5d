#!/usr/bin/env bash
# Two ranks on two network "hosts" (namespaces joined by a bridge, TCP between them,
# scripts/netns-hosts.sh), launched by mpirun through scripts/netns-agent.sh: losses
# equal one rank's with the global batch, for allreduce, zero1 and fsdp, over 1 Gbit/s links. Skipped (exit 77) where namespaces cannot be made (not root,
# or a sandbox that refuses them). Usage: netns_test.sh path/to/cohort SRC_DIR
set -uo pipefail
cohort=$1
src=$2
if [[ $(id -u) -ne 0 ]] || ! ip netns add cohort-probe 2>/dev/null; then
  echo "cohort-skip: cannot create network namespaces here (needs root and CAP_SYS_ADMIN)"
  exit 77
fi
ip netns del cohort-probe
tmp=$(mktemp -d)
trap '"$src/scripts/netns-hosts.sh" down; rm -rf "$tmp" "${TMPDIR:-/tmp}"/cohort-netns-h*' EXIT
set -e
"$src/scripts/netns-hosts.sh" up 2 0 1000  # 1 Gbit/s links (tbf)
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$tmp/hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# --bind-to none: each "host" thinks it owns every core and would pin its rank to core
# 0. --mca rtc ^hwloc: several orted daemons on one machine sometimes crashed (SIGSEGV
# in hwloc_shmem_topology_write) while sharing their topology; without it, 8/8 runs pass.
net=(--hostfile "$tmp/hosts" -np 2 --bind-to none --mca rtc ^hwloc --mca plm_rsh_agent "$src/scripts/netns-agent.sh"
     --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
     -x OMP_NUM_THREADS)
model=(--synthetic --set model.n_layer=2 --set model.n_embd=48 --set model.n_head=4
       --set model.context_length=16 --set model.vocab_size=96 --set model.dropout=0.1
       --seq-len 16 --steps 10 --threads 1 --set train.warmup=3 --lr 3e-3)
"$cohort" train "${model[@]}" --batch-size 8 --run-dir "$tmp/solo" >"$tmp/solo.log"
for s in allreduce zero1 fsdp; do
  timeout 120 mpirun "${net[@]}" "$cohort" train "${model[@]}" --batch-size 4 --strategy "$s" \
    --run-dir "$tmp/$s" >"$tmp/$s.log" 2>&1 || { cat "$tmp/$s.log"; exit 1; }
  held="replicas: 2 ranks hold bit-identical parameters"
  [ "$s" = fsdp ] && held="shards: 2 ranks hold a shard of the parameters each"
  grep -q "$held" "$tmp/$s.log"
done
python3 - "$tmp" <<'PY'
import json, os, sys
def losses(name):
    rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], name, "metrics.jsonl"))]
    return [r["loss"] for r in rows if r.get("kind") == "train"]
ref = losses("solo")
for name in ("allreduce", "zero1", "fsdp"):
    rel = max(abs(a - b) / abs(a) for a, b in zip(ref, losses(name)))
    print(f"ok: 2 hosts over TCP, {name}: 10 losses within {rel:.2e} of 1 rank")
    assert len(losses(name)) == 10 and rel < 1e-5
PY
