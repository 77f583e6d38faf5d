#!/usr/bin/env bash
# Fault tolerance, end to end (docs/fault-tolerance.md):
#   exact resume: 40 steps == 20 + stop + resume + 20, bit for bit, alone and on 2 ranks;
#   cohort launch: a rank SIGKILLed mid-run, the job restarted from its newest
#     checkpoint, final parameters bit-identical to the run that was never killed;
#   SIGTERM: the step finishes, a checkpoint is written, exit 0, and it resumes;
#   the watchdog names the rank that never arrived;
#   a non-finite step is skipped (parameters unchanged); K in a row stop the run;
#   a checkpoint that cannot be written (ulimit -f) leaves the previous one intact;
#   a damaged newest checkpoint falls back to the previous one with a warning.
# Usage: fault_test.sh path/to/cohort
set -euo pipefail
cohort=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset COHORT_RESTART
mpi() { timeout 120 mpirun --oversubscribe -np "$@"; }
model=(--synthetic --set model.n_layer=2 --set model.n_embd=32 --set model.n_head=4
       --set model.context_length=16 --set model.vocab_size=64 --set model.dropout=0.1
       --seq-len 16 --batch-size 4 --threads 1 --set train.warmup=4 --lr 3e-3)
fail() { echo "FAIL: $*"; exit 1; }
run() {
  local name=$1
  shift
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    echo "FAIL: $name: $*"; cat "$tmp/$name.log"; exit 1
  fi
}
same() {  # same checkpoint bytes: model and every optimizer file
  local a=$1 b=$2 f
  for f in "$a"/model.safetensors "$a"/optimizer*.safetensors; do
    cmp "$f" "$b/$(basename "$f")" || fail "$f differs from $b/$(basename "$f")"
  done
}

# --- exact resume ---------------------------------------------------------------------
run solo "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/solo"
run solo-split "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/solo-split" --stop-at 20
run solo-split "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/solo-split" --resume
same "$tmp/solo/checkpoints/step-40" "$tmp/solo-split/checkpoints/step-40"
echo "ok: one process: 40 steps == 20 + stop + resume + 20, bit for bit"
run two mpi 2 "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/two" --set checkpoint_every=5
run two-split mpi 2 "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/two-split" --stop-at 20
run two-split mpi 2 "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/two-split" --resume
same "$tmp/two/checkpoints/step-40" "$tmp/two-split/checkpoints/step-40"
echo "ok: mpirun -np 2: 40 steps == 20 + stop + resume + 20, bit for bit"

# --- cohort launch restarts a job whose rank was killed ---------------------------------
run launch "$cohort" launch --max-restarts 2 --backoff 0 -- mpirun --oversubscribe -np 2 \
  "$cohort" train "${model[@]}" --steps 40 --run-dir "$tmp/launch" --set checkpoint_every=5 \
  --test-kill-at 1:13
grep -q "restart 1 of 2" "$tmp/launch.log" || fail "launch: no restart"; 
grep -q "the job finished after 1 restart" "$tmp/launch.log" || fail "launch: did not finish"
same "$tmp/two/checkpoints/step-40" "$tmp/launch/checkpoints/step-40"
# docs/metrics.md: the restart is a resume line; steps 10-12, trained again, are marked.
python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
resumes = [r for r in rows if r["kind"] == "resume"]
assert len(resumes) == 1 and resumes[0]["step"] == 10 and resumes[0]["restart"] == 1, resumes
assert resumes[0]["world"] == 2 and resumes[0]["checkpoint_world"] == 2, resumes
again = sorted(r["step"] for r in rows if r["kind"] == "train" and r.get("retrained"))
assert again == [10, 11, 12], again
' "$tmp/launch/metrics.jsonl" || fail "launch: metrics.jsonl lacks the resume line or the retrained marks"
echo "ok: cohort launch: rank 1 SIGKILLed before step 13, restarted from step 10, final" \
     "parameters == the unbroken run's, bit for bit"
set +e
"$cohort" launch --max-restarts 3 -- "$cohort" train --steps 0 >"$tmp/launch-bad.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "not restarting" "$tmp/launch-bad.log" || fail "launch retried bad input"
echo "ok: cohort launch does not retry bad input (exit 2)"

# --- SIGTERM: checkpoint and exit 0 -----------------------------------------------------
"$cohort" train "${model[@]}" --steps 100000 --run-dir "$tmp/term" >"$tmp/term.log" 2>&1 &
pid=$!
for _ in $(seq 300); do  # up to 30 s for the first 5 steps
  [ -f "$tmp/term/metrics.jsonl" ] && [ "$(wc -l <"$tmp/term/metrics.jsonl")" -ge 5 ] && break
  sleep 0.1
done
kill -TERM "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat "$tmp/term.log"; fail "SIGTERM: exit $rc"; }
grep -q "stopped by SIGTERM after step" "$tmp/term.log" || fail "SIGTERM: no message"
[ -f "$tmp/term/checkpoints/latest" ] || fail "SIGTERM: no checkpoint"
echo "ok: SIGTERM: $(grep -o 'stopped by SIGTERM after step [0-9]*' "$tmp/term.log"), checkpoint written, exit 0"

# --- watchdog -------------------------------------------------------------------------
set +e
start=$(date +%s)
mpi 2 "$cohort" train "${model[@]}" --steps 20 --comm-timeout 2 --test-slow-worker 1:3:100000 \
  >"$tmp/hang.out" 2>"$tmp/hang.err"
rc=$?
set -e
took=$(( $(date +%s) - start ))
grep -q "at step 3: rank 0 waited [0-9.]* s (--comm-timeout 2) for rank 1, which never arrived" \
  "$tmp/hang.err" || { cat "$tmp/hang.err"; fail "watchdog message (exit $rc)"; }
[ "$rc" -ne 0 ] && [ "$took" -lt 60 ] || fail "watchdog: exit $rc after $took s"
echo "ok: watchdog after ${took} s: $(grep -o 'cohort: error: .*' "$tmp/hang.err" | head -1)"

# --- non-finite steps -----------------------------------------------------------------
run nan "$cohort" train "${model[@]}" --steps 8 --run-dir "$tmp/nan" --set checkpoint_every=1 \
  --set keep_checkpoints=20 \
  --test-nan-at 4
python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows if r["kind"] == "skipped"] == [4], rows
skipped = [r for r in rows if r["kind"] == "skipped"][0]
assert skipped["loss"] is None and skipped["nonfinite"] == ["loss"], skipped  # docs/metrics.md
' "$tmp/nan/metrics.jsonl" || fail "nan: metrics.jsonl lacks one skipped line for step 4"
cmp "$tmp/nan/checkpoints/step-4/model.safetensors" "$tmp/nan/checkpoints/step-5/model.safetensors" ||
  fail "nan: the skipped step changed the parameters"
echo "ok: a NaN loss at step 4: step skipped, parameters unchanged, training went on"
set +e
"$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/nan3" --set checkpoint_every=2 \
  --set train.max_bad_steps=3 --test-nan-at 5 --test-nan-at 6 --test-nan-at 7 \
  >"$tmp/nan3.out" 2>"$tmp/nan3.err"
rc=$?
set -e
[ "$rc" -eq 4 ] && grep -q "not finite 3 times in a row" "$tmp/nan3.err" ||
  { cat "$tmp/nan3.err"; fail "nan x3: exit $rc"; }
# step-6 came after the first skipped step: it holds the parameters of step 5.
[ "$(cat "$tmp/nan3/checkpoints/latest")" = "step-6" ] || fail "nan x3: latest is not step-6"
run nan3-resume "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/nan3" --resume \
  --set checkpoint_every=2
echo "ok: 3 NaN steps in a row: exit 4, $(grep -o 'steps [0-9-]*: [^;]*' "$tmp/nan3.err")"

# --- a checkpoint that cannot be written ------------------------------------------------
run disk "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/disk" --stop-at 10
set +e
(ulimit -f 16; "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/disk" --resume \
   >"$tmp/disk.out" 2>"$tmp/disk.err")
rc=$?
set -e
grep -q "cannot write checkpoint .*step-20.*File too large; the previous checkpoint (step-10) is intact" \
  "$tmp/disk.err" || { cat "$tmp/disk.err"; fail "full disk: exit $rc"; }
[ "$rc" -ne 0 ] && [ "$(cat "$tmp/disk/checkpoints/latest")" = "step-10" ] ||
  fail "full disk: latest moved"
[ ! -e "$tmp/disk/checkpoints/step-20" ] && [ ! -e "$tmp/disk/checkpoints/step-20.tmp" ] ||
  fail "full disk: a partial checkpoint was left"
run disk-resume "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/disk" --resume
echo "ok: a file-size limit while checkpointing: $(grep -o 'cohort: error: .*' "$tmp/disk.err" | cut -c1-60)..., step-10 intact and resumable"

# --- a damaged newest checkpoint --------------------------------------------------------
run damaged "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/damaged" --stop-at 10 \
  --set checkpoint_every=5
printf '\x01' | dd of="$tmp/damaged/checkpoints/step-10/model.safetensors" bs=1 seek=200 \
  conv=notrunc 2>/dev/null
run damaged-resume "$cohort" train "${model[@]}" --steps 20 --run-dir "$tmp/damaged" --resume
grep -q "warning: .*step-10/model.safetensors.*(skipping step-10)" "$tmp/damaged-resume.log" ||
  { cat "$tmp/damaged-resume.log"; fail "damaged: no warning"; }
grep -q "resumed from .*step-5 at step 5" "$tmp/damaged-resume.log" || fail "damaged: fallback"
echo "ok: damaged step-10: $(grep -o 'warning: .*' "$tmp/damaged-resume.log" | cut -c1-100)...; resumed from step-5"
