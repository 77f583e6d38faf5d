#!/usr/bin/env bash
# Resume on another number of ranks and another strategy keeps the global batch: zero1 on
# 2 ranks to step 8, allreduce on 1 rank to step 12, zero1 on 3 ranks to step 20 (batch
# 6, then 6 x 2 accumulated, then 4, per rank) follows 1 rank x batch 12 step by step
# (losses within 1e-5, compare_losses.py). The same from fsdp's shard sets: fsdp on 4 ranks
# to step 8, allreduce on 1 to step 12, fsdp on 3 to step 20. A global batch that the new
# rank count does not divide is refused with exit 2 and the rank counts that would work.
#   resume_world_test.sh COHORT
cohort=$1
source "$(dirname "$0")/dist_test_common.sh"
run solo "$cohort" train --batch-size 12
every=(--set checkpoint_every=4 --batch-size 6)
run chain mpi 2 "$cohort" train "${every[@]}" --strategy zero1 --stop-at 8
run chain "$cohort" train "${every[@]}" --resume --stop-at 12
grep -q "written by 2 ranks, now 1: the global batch of 12 kept as batch_size 6 x grad_accum 2" \
  "$tmp/chain.log" || { cat "$tmp/chain.log"; echo "FAIL: 2 -> 1 ranks"; exit 1; }
run chain mpi 3 "$cohort" train "${every[@]}" --strategy zero1 --resume
grep -q "written by 1 ranks, now 3: the global batch of 12 kept as batch_size 4 x grad_accum 1" \
  "$tmp/chain.log" || { cat "$tmp/chain.log"; echo "FAIL: 1 -> 3 ranks"; exit 1; }
run fsdp-chain mpi 4 "$cohort" train --set checkpoint_every=4 --batch-size 3 --strategy fsdp \
  --stop-at 8
[ -f "$tmp/fsdp-chain/checkpoints/step-8/model.index.json" ] || { echo "FAIL: no shard set"; exit 1; }
run fsdp-chain "$cohort" train "${every[@]}" --resume --stop-at 12
grep -q "written by 4 ranks, now 1: the global batch of 12 kept as batch_size 6 x grad_accum 2" \
  "$tmp/fsdp-chain.log" || { cat "$tmp/fsdp-chain.log"; echo "FAIL: fsdp 4 -> 1 ranks"; exit 1; }
run fsdp-chain mpi 3 "$cohort" train "${every[@]}" --strategy fsdp --resume
python3 - "$tmp" <<'PY'
import json, sys
def losses(name):
    rows = [json.loads(l) for l in open(f"{sys.argv[1]}/{name}/metrics.jsonl")]
    return {r["step"]: r["loss"] for r in rows if r.get("kind") == "train"}
ref = losses("solo")
for name, chain in (("chain", "zero1 x 2 -> allreduce x 1 -> zero1 x 3"),
                    ("fsdp-chain", "fsdp x 4 -> allreduce x 1 -> fsdp x 3")):
    got = losses(name)
    assert sorted(got) == sorted(ref) and len(ref) == 20, (sorted(ref), sorted(got))
    rel = max(abs(ref[s] - got[s]) / abs(ref[s]) for s in ref)
    print(f"ok: {chain}: 20 losses within {rel:.2e} of 1 rank x batch 12")
    assert rel < 1e-6, rel
PY
set +e
mpi 5 "$cohort" train "${model[@]}" "${every[@]}" --set train.steps=24 --resume --run-dir "$tmp/chain" \
  >"$tmp/five.log" 2>&1
rc=$?
set -e
grep -q "cannot be split over 5 ranks; rank counts that can: 1, 2, 3, 4, 6, 12" "$tmp/five.log" &&
  [ "$rc" -eq 2 ] || { cat "$tmp/five.log"; echo "FAIL: 5 ranks: exit $rc"; exit 1; }
echo "ok: 5 ranks refused: $(grep -o 'its global batch.*' "$tmp/five.log" | head -1)"
