#!/usr/bin/env bash
# Kill soak: a 2-rank job under `cohort launch` while SIGKILLs hit random ranks at random
# times; then its final parameters are compared with an uninterrupted run's, and the
# steps redone per kill are counted from metrics.jsonl. Exits non-zero when the
# uninterrupted run or the launcher fails, when no kill landed, or when the parameters differ.
# Usage: bench/kill_soak.sh [KILLS (50)] [STEPS (12000)] [CHECKPOINT_EVERY (10)]
# (the job must outlast the kills: about 75 steps/s and 0.5-3 s between kills here)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-50}
steps=${2:-12000}
every=${3:-10}
cohort=$PWD/build/src/cohort
out=runs/kill-soak
rm -rf "$out"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset COHORT_RESTART
job=(--synthetic --set model.n_layer=2 --set model.n_embd=64 --set model.n_head=4
     --set model.context_length=32 --set model.vocab_size=128 --set model.dropout=0.1
     --seq-len 32 --batch-size 8 --threads 1 --steps "$steps" --set checkpoint_every="$every")
mpirun --oversubscribe -np 2 "$cohort" train "${job[@]}" --run-dir "$out/straight" >"$out/straight.log" 2>&1
start=$(date +%s)
"$cohort" launch --max-restarts $((kills * 3)) --backoff 0 -- mpirun --oversubscribe -np 2 \
  "$cohort" train "${job[@]}" --run-dir "$out/soak" >"$out/soak.log" 2>&1 &
launcher=$!
sent=0
while kill -0 "$launcher" 2>/dev/null && [ "$sent" -lt "$kills" ]; do
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + 2.5 * r / 32767 }')"
  # The ranks only: not the launcher (cohort launch) nor mpirun.
  mapfile -t ranks < <(pgrep -f "^$cohort train .*$out/soak")
  [ "${#ranks[@]}" -gt 0 ] || continue
  victim=${ranks[$((RANDOM % ${#ranks[@]}))]}
  kill -9 "$victim" 2>/dev/null && sent=$((sent + 1))
done
rc=0
wait "$launcher" || rc=$?
took=$(( $(date +%s) - start ))
restarts=$(grep -c "restart [0-9]* of" "$out/soak.log" || true)
KILLS=$kills python3 - "$out" "$steps" "$sent" "$restarts" "$took" "$rc" <<'PY'
import json, sys, filecmp, os
out, steps, sent, restarts, took, rc = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])
rows = [json.loads(l) for l in open(os.path.join(out, "soak", "metrics.jsonl"))]
train = [r["step"] for r in rows if r["kind"] == "train"]
# A restart redoes the steps after the checkpoint it resumed from: count repeats.
redone, seen, lost_per_restart, prev = 0, set(), [], -1
for s in train:
    if s <= prev:
        lost_per_restart.append(prev - s + 1)
    prev = s
redone = len(train) - len(set(train))
same = filecmp.cmp(os.path.join(out, "straight/checkpoints", f"step-{steps}/model.safetensors"),
                   os.path.join(out, "soak/checkpoints", f"step-{steps}/model.safetensors"),
                   shallow=False)
print(f"kill soak: {sent} SIGKILLs sent, {restarts} restarts, launcher exit {rc}, {took} s; "
      f"{redone} steps redone in all, at most {max(lost_per_restart, default=0)} per restart; "
      f"final parameters {'bit-identical to' if same else 'DIFFERENT from'} the uninterrupted run")
if rc != 0:
    sys.exit(f"kill soak: FAILED: the launcher exited {rc} (see {out}/soak.log)")
if sent == 0:
    sys.exit("kill soak: FAILED: no SIGKILL landed on a rank")
if sent < int(os.environ["KILLS"]):
    sys.exit(f"kill soak: FAILED: the job ended after {sent} of {os.environ['KILLS']} kills: give it more STEPS")
if not same:
    sys.exit("kill soak: FAILED: the final parameters differ from the uninterrupted run's")
PY
