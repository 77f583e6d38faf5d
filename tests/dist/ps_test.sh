#!/usr/bin/env bash
# The parameter server under a real mpirun (--ps-servers S: the last S ranks serve).
#   sync: the losses of 1 rank x batch 12 (within 1e-5, dropout on) with 1 and 2
#     servers; bit-identical to allreduce's parameters; stop + resume == unbroken.
#   async (staleness s): a worker stalled on purpose lets the other run exactly s + 1
#     steps ahead and no further, where sync makes it wait; every applied gradient's
#     staleness is logged; checkpoint + resume works; validation sees a snapshot that
#     every worker shares.
#   bad input: no workers, no servers, more servers than tensors: one line, exit 2.
# Usage: ps_test.sh path/to/cohort
set -euo pipefail
cohort=$1
source "$(dirname "$0")/dist_test_common.sh"
fail() { echo "FAIL: $*"; exit 1; }

# --- synchronous: equal to all-reduce -------------------------------------------------
run solo "$cohort" train --batch-size 12
run allreduce-2 mpi 2 "$cohort" train --batch-size 6
run ps1-2 mpi 3 "$cohort" train --batch-size 6 --ps-servers 1
run ps2-2 mpi 4 "$cohort" train --batch-size 6 --ps-servers 2
run ps1-3 mpi 4 "$cohort" train --batch-size 4 --ps-servers 1
grep -q "replicas: 2 ranks hold bit-identical parameters" "$tmp/ps2-2.log" || fail "ps2-2 replicas"
grep -q "server rank 3: params \[" "$tmp/ps2-2.log" || fail "ps2-2 lacks server 3's summary"
cmp "$tmp/allreduce-2/checkpoints/step-20/model.safetensors" \
    "$tmp/ps1-2/checkpoints/step-20/model.safetensors" ||
  fail "sync parameter server's parameters differ from allreduce's"
echo "ok: sync parameter server (1 server + 2 workers) == allreduce on 2 ranks, bit for bit"
for f in optimizer-rank-2-of-4.safetensors optimizer-rank-3-of-4.safetensors; do
  [ -f "$tmp/ps2-2/checkpoints/step-20/$f" ] || fail "ps2-2 checkpoint lacks $f"
done

# Stop at 10 and resume: the unbroken run's bytes (model and both servers' shards).
run ps2-2-stop mpi 4 "$cohort" train --batch-size 6 --ps-servers 2 --stop-at 10
cp -r "$tmp/ps2-2-stop" "$tmp/ps-to-allreduce"
run ps2-2-stop mpi 4 "$cohort" train --batch-size 6 --ps-servers 2 --resume
for f in model.safetensors optimizer-rank-2-of-4.safetensors optimizer-rank-3-of-4.safetensors; do
  cmp "$tmp/ps2-2/checkpoints/step-20/$f" "$tmp/ps2-2-stop/checkpoints/step-20/$f" ||
    fail "sync ps: stop + resume: $f differs from the unbroken run"
done
echo "ok: sync parameter server: stop at 10 + resume == unbroken, bit for bit"
# A parameter server's checkpoint resumes under all-reduce (the shards cover the buffer).
run ps-to-allreduce mpi 2 "$cohort" train --batch-size 6 --resume

python3 "$(dirname "$0")/compare_losses.py" "$tmp" allreduce-2 ps1-2 ps2-2 ps1-3 ps2-2-stop \
  ps-to-allreduce

# --- a straggler: async keeps going, sync waits -----------------------------------------
# Worker 1 sleeps 1.5 s before its first step; a step here takes milliseconds. In the
# async run worker 0 first waits 0.3 s, so that worker 1's initial pull is served before
# any update (on a loaded machine it could come after some), which fixes the staleness
# of worker 1's first gradient at 5.
run sync-slow mpi 3 "$cohort" train --batch-size 6 --ps-servers 1 --test-slow-worker 1:0:1500
run async-slow mpi 3 "$cohort" train --batch-size 6 --ps-servers 1 --staleness 4 \
  --test-slow-worker 1:0:1500 --test-slow-worker 0:0:300
grep -q "server rank 2: .* max lead 4 steps" "$tmp/async-slow.log" || fail "async lead"
python3 - "$tmp" <<'PY'
import json, sys, os, re
tmp = sys.argv[1]
def applied(name):
    return [json.loads(l) for l in open(os.path.join(tmp, name, "ps-server-2.jsonl"))]
def ahead(rows):
    """Worker 0's gradients applied before worker 1's first one."""
    first = next(i for i, r in enumerate(rows) if r["worker"] == 1)
    return [r["step"] for r in rows[:first] if r["worker"] == 0]
def seconds(name, steps):
    """Worker 0's wall time for these steps (metrics.jsonl is rank 0's)."""
    rows = [json.loads(l) for l in open(os.path.join(tmp, name, "metrics.jsonl"))]
    return sum(r["seconds"] for r in rows if r["kind"] == "train" and r["step"] in steps)
sync, asyn = applied("sync-slow"), applied("async-slow")
assert len(sync) == 40 and len(asyn) == 40, (len(sync), len(asyn))
# sync: worker 0's step 0 waits in the server for worker 1's; it applies together.
assert ahead(sync) == [0], ahead(sync)
assert all(r["staleness"] == 0 for r in sync)
assert seconds("sync-slow", [0]) > 1.0, seconds("sync-slow", [0])
print(f"ok: sync: worker 0 made no progress past step 0 while worker 1 slept "
      f"(its step 0 took {seconds('sync-slow', [0]):.2f} s)")
# async s=4: worker 0 ran steps 0..4 meanwhile, then the bound held it.
assert ahead(asyn) == [0, 1, 2, 3, 4], ahead(asyn)
assert seconds("async-slow", range(4)) < 1.0, seconds("async-slow", range(4))
w1_first = next(r for r in asyn if r["worker"] == 1)
assert w1_first["staleness"] == 5, w1_first
assert max(r["lead"] for r in asyn) <= 4
stale = [r["staleness"] for r in asyn]
print(f"ok: async s=4: worker 0 ran steps 0-4 while worker 1 slept (steps 0-3 in "
      f"{seconds('async-slow', range(4)):.2f} s; step 4 then waited for it), never more than 4 "
      f"ahead; staleness of the 40 applied gradients: max {max(stale)}, "
      f"mean {sum(stale) / len(stale):.2f}")
PY

# --- async: checkpoints, resume, a shared validation snapshot --------------------------
run async-stop mpi 4 "$cohort" train --batch-size 6 --ps-servers 2 --staleness 2 --stop-at 10 \
  --set checkpoint_every=5
for f in model.safetensors optimizer-rank-2-of-4.safetensors optimizer-rank-3-of-4.safetensors; do
  [ -f "$tmp/async-stop/checkpoints/step-10/$f" ] || fail "async checkpoint lacks $f"
done
run async-stop mpi 4 "$cohort" train --batch-size 6 --ps-servers 2 --staleness 2 --resume
grep -q "resumed from .*step-10 at step 10" "$tmp/async-stop.log" || fail "async resume"
grep -q "replicas: 2 ranks hold bit-identical parameters" "$tmp/async-stop.log" ||
  fail "async: workers do not share the final snapshot"
python3 - "$tmp" <<'PY'
import json, sys, os
rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], "async-stop", "metrics.jsonl"))]
train = [r for r in rows if r.get("kind") == "train"]
assert [r["step"] for r in train] == list(range(20)), [r["step"] for r in train]
assert train[-1]["loss"] < train[0]["loss"] - 0.5, (train[0]["loss"], train[-1]["loss"])
assert all("staleness_max" in r for r in train)
print(f"ok: async s=2 on 2 servers: stop at 10, resume, loss {train[0]['loss']:.3f} -> "
      f"{train[-1]['loss']:.3f}")
PY

# --- bad input ------------------------------------------------------------------------
bad() {
  local want=$1 np=$2
  shift 2
  set +e
  mpi "$np" "$cohort" train "${model[@]}" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"
  local rc=$?
  set -e
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$want" "$tmp/bad.err" ||
     [ "$(grep -c 'cohort: error' "$tmp/bad.err")" -ne 1 ]; then
    echo "FAIL: --ps-servers on $np ranks $* -> exit $rc:"; cat "$tmp/bad.err"; exit 1
  fi
  echo "ok: $np ranks $* -> $(grep -F 'cohort: error' "$tmp/bad.err")"
}
bad "--ps-servers 2 with 2 ranks leaves no workers" 2 --ps-servers 2
bad "--ps-servers 3 with 2 ranks leaves no workers" 2 --ps-servers 3
bad "needs dist.ps_servers >= 1" 2 --ps-servers 0
bad "dist.staleness must be >= 0" 3 --ps-servers 1 --staleness -1
bad "--ps-servers 17: the model has only 16 parameter tensors" 18 \
  --ps-servers 17 --set model.n_layer=1
# Refused before any rank serves: one line, not one a worker.
bad "train.backend = cuda does not run the parameter server yet" 3 --ps-servers 1 --backend cuda
set +e
"$cohort" train "${model[@]}" --ps-servers 1 >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -qF "leaves no workers" "$tmp/bad.err" || fail "ps without mpirun: exit $rc"
echo "ok: one process with --ps-servers 1 -> $(cat "$tmp/bad.err")"
