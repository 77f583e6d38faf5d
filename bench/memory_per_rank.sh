#!/usr/bin/env bash
# Peak RSS per rank (GNU time's %M, every rank) for GPT-2 124M, B=4 T=256 per rank, 2
# steps, under each strategy at N = 1, 2, 4 ranks, with and without recompute = block,
# beside the memory planner's total (train's start-up line) and ZeRO's formulas for fp32
# AdamW (4 bytes of parameters, 4 of gradients, 8 of optimizer state per parameter):
# plain DP 16P, ZeRO-1 8P + 8P/N, ZeRO-2 4P + 12P/N, ZeRO-3 16P/N (model state only; the
# paper's mixed-precision versions are 16P, 4P + 12P/N, 2P + 14P/N, 16P/N).
# Usage: bench/memory_per_rank.sh COHORT [N...]   (default N: 1 2 4)
set -uo pipefail
c=$(realpath "$1")
shift
sizes=("${@:-1 2 4}")
[ $# -eq 0 ] && sizes=(1 2 4)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
gpt2=(--synthetic --set model.n_layer=12 --set model.n_head=12 --set model.n_embd=768
      --set model.vocab_size=50257 --set model.context_length=256 --batch-size 4 --seq-len 256
      --steps 2 --threads 1 --set eval_every=0)
P=124475904  # parameters with wte's padded rows (50304 x 768 + ...)
printf "%-10s %2s %-9s %10s %10s %10s %10s\n" strategy N recompute "plan MB" "rank0 MB" "max MB" "formula MB"
for n in "${sizes[@]}"; do
  for s in allreduce zero1 zero2 fsdp; do
    [ "$n" = 1 ] && [ "$s" != allreduce ] && continue
    for r in none block; do
      d=$(mktemp -d)
      timeout 900 mpirun --oversubscribe -np "$n" sh -c \
        "/usr/bin/time -f %M -o $d/rss.\$OMPI_COMM_WORLD_RANK $c train ${gpt2[*]} --strategy $s --recompute $r" \
        >"$d/out" 2>&1 || { echo "FAIL: $s N=$n $r"; tail -5 "$d/out"; }
      plan=$(grep -o "[0-9.]* MB total" "$d/out" | head -1 | cut -d' ' -f1)
      python3 - "$d" "$s" "$n" "$r" "$plan" "$P" <<'PY'
import glob, sys
d, s, n, r, plan, P = sys.argv[1:]
n, P = int(n), int(P)
rss = {int(f.rsplit(".", 1)[1]): int(open(f).read().split()[-1]) * 1024 / 1e6 for f in glob.glob(d + "/rss.*")}
formula = {"allreduce": 16 * P, "zero1": 8 * P + 8 * P / n, "zero2": 4 * P + 12 * P / n, "fsdp": 16 * P / n}[s]
print(f"{s:<10} {n:2} {r:<9} {plan:>10} {rss.get(0, 0):10.0f} {max(rss.values(), default=0):10.0f} {formula / 1e6:10.0f}")
PY
      rm -rf "$d"
    done
  done
done
