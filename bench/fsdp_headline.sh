#!/usr/bin/env bash
# The headline of issue 12: a GPT whose training state does not fit one rank's 4 GiB.
# GPT-2 medium's blocks (24 layers, 1024 wide, 16 heads) over a vocabulary of 512: 303M
# parameters, 16 bytes each with AdamW in fp32 = 4.85 GB > 4 GiB; synthetic data (each token
# has 4 successors, so the loss can fall within 20 steps), B=1 T=128 per rank. Every
# rank runs in a memory cgroup of its own limited to 4 GiB (bench/in_memory_cgroup.sh),
# so a wrong planner shows as a kill, not as a number.
#   1. allreduce on 4 ranks: refused at start-up (exit 2, one line).
#   2. fsdp with recompute = block on 4 ranks: 20 steps, a checkpoint at step 20 (--stop-at),
#      then --resume to step 24; tokens/s and each rank's peak RSS and cgroup peak.
# Usage: bench/fsdp_headline.sh COHORT [OUT_DIR]
set -uo pipefail
c=$(realpath "$1")
out=${2:-$(mktemp -d)}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
model=(--synthetic --set model.n_layer=24 --set model.n_embd=1024 --set model.n_head=16
       --set model.vocab_size=512 --set model.context_length=128 --batch-size 1 --seq-len 128
       --steps 24 --threads 1 --set train.warmup=4 --lr 6e-4 --set eval_every=0
       --set checkpoint_every=0 --memory-limit 4G)
ranks() {  # ranks NAME N ARGS...: mpirun in per-rank 4 GiB cgroups, logs in $out/NAME
  local name=$1 n=$2
  shift 2
  mkdir -p "$out/$name"
  timeout 3000 mpirun --oversubscribe -np "$n" "$here/in_memory_cgroup.sh" 4G "$out/$name" -- \
    sh -c "/usr/bin/time -f %M -o $out/$name/rss.\$OMPI_COMM_WORLD_RANK $c train $* --rank-logs $out/$name/logs" \
    >"$out/$name.log" 2>&1
}
echo "== allreduce, 4 ranks"
ranks allreduce 4 "${model[*]}" --strategy allreduce --run-dir "$out/allreduce-run"
echo "exit $?"; grep "cohort: error" "$out/allreduce.log" | sort -u
echo "== fsdp, recompute = block, 4 ranks, steps 1-20"
ranks fsdp 4 "${model[*]}" --strategy fsdp --recompute block --run-dir "$out/run" --stop-at 20
echo "exit $?"; grep -E "memory plan|^dist:" "$out/fsdp.log"
tr '\r' '\n' <"$out/fsdp.log" | grep -E "^step (1|10|20)/" | sed 's/\x1b\[K//'
cat "$out"/fsdp/cgroup.*
for f in "$out"/fsdp/rss.*; do echo "rank ${f##*.}: peak RSS $(( $(cat "$f") / 1024 )) MiB"; done
echo "== fsdp, resumed: steps 21-24"
ranks resume 4 "${model[*]}" --strategy fsdp --recompute block --run-dir "$out/run" --resume
echo "exit $?"; grep -E "resumed from" "$out/resume.log"
tr '\r' '\n' <"$out/resume.log" | grep -E "^step 2[1-4]/" | sed 's/\x1b\[K//'
cat "$out"/resume/cgroup.*
ls "$out/run/checkpoints/step-20"
