#!/usr/bin/env bash
# Data parallelism under a real mpirun: N ranks x batch B/N give the losses and global
# gradient norms of 1 rank x batch B (within 1e-5 relative, 1e-6 for the ZeRO stages,
# dropout on) for allreduce, zero1, zero2 and fsdp with N = 2 (with `extended`: also 3,
# uneven shards, and 4); every replica ends with bit-identical parameters; accumulation
# equals a bigger batch; zero1 and fsdp checkpoints resume bit for bit; a zero1 checkpoint
# resumes on 3 ranks; an fsdp shard set, exported, is zero2's model.safetensors byte for
# byte and allreduce's within 1e-6; a rank with a different config is refused.
# Usage: equivalence_test.sh path/to/cohort [extended]
set -euo pipefail
cohort=$1
sizes=(2)
[ "${2:-}" = extended ] && sizes=(2 3 4)
source "$(dirname "$0")/dist_test_common.sh"

run solo "$cohort" train --batch-size 12
run accum "$cohort" train --batch-size 4 --grad-accum 3
run accum-2 mpi 2 "$cohort" train --batch-size 3 --grad-accum 2 --rank-logs "$tmp/rank-logs"
for r in 0 1; do
  grep -q "step 20/20" "$tmp/rank-logs/rank-$r.log" || { echo "FAIL: rank-$r.log"; exit 1; }
done
compared=(accum accum-2 zero1-3-resume)
zero=()
for s in allreduce zero1 zero2 fsdp; do
  for n in "${sizes[@]}"; do
    run "$s-$n" mpi "$n" "$cohort" train --batch-size $((12 / n)) --strategy "$s"
    if [ "$s" = allreduce ]; then compared+=("$s-$n"); else zero+=("$s-$n"); fi
    held="replicas: $n ranks hold bit-identical parameters"
    [ "$s" = fsdp ] && held="shards: $n ranks hold a shard of the parameters each"
    grep -q "$held" "$tmp/$s-$n.log" || { echo "FAIL: $s-$n: $held"; cat "$tmp/$s-$n.log"; exit 1; }
  done
done
# recompute = block under fsdp: a recomputed block reads the next block's LayerNorm.
run fsdp-2-recompute mpi 2 "$cohort" train --batch-size 6 --strategy fsdp --recompute block
# Accumulation under fsdp (each micro-batch gathers again; only the last reduce-scatters),
# with the attention probabilities recomputed.
run fsdp-2-accum mpi 2 "$cohort" train --batch-size 3 --grad-accum 2 --strategy fsdp \
  --recompute attention
zero+=(fsdp-2-recompute fsdp-2-accum)

# fsdp writes a shard set (each rank its own range, no gather onto rank 0); it resumes bit
# for bit, and its consolidated export is what the other strategies write.
ck=checkpoints/step-20
for r in 0 1; do
  [ -f "$tmp/fsdp-2/$ck/model-rank-$r-of-2.safetensors" ] ||
    { echo "FAIL: fsdp checkpoint lacks rank $r's model shard"; ls "$tmp/fsdp-2/$ck"; exit 1; }
done
[ ! -e "$tmp/fsdp-2/$ck/model.safetensors" ] || { echo "FAIL: fsdp gathered the model"; exit 1; }
run fsdp-2-stop mpi 2 "$cohort" train --batch-size 6 --strategy fsdp --stop-at 10
run fsdp-2-stop mpi 2 "$cohort" train --batch-size 6 --strategy fsdp --resume
for f in model-rank-0-of-2 model-rank-1-of-2 optimizer-rank-0-of-2 optimizer-rank-1-of-2; do
  cmp "$tmp/fsdp-2/$ck/$f.safetensors" "$tmp/fsdp-2-stop/$ck/$f.safetensors" ||
    { echo "FAIL: fsdp stop + resume: $f differs from the unbroken run"; exit 1; }
done
echo "ok: fsdp on 2 ranks: stop at 10 + resume == unbroken, bit for bit"
"$cohort" export --checkpoint "$tmp/fsdp-2" --out "$tmp/fsdp-2-hf" >/dev/null
cmp "$tmp/fsdp-2-hf/model.safetensors" "$tmp/zero2-2/$ck/model.safetensors" ||
  { echo "FAIL: fsdp's export differs from zero2's model.safetensors"; exit 1; }
echo "ok: fsdp's export == zero2's model.safetensors, byte for byte"
# A shard set with one shard gone is not a checkpoint.
rm "$tmp/fsdp-2-stop/$ck/model-rank-1-of-2.safetensors"
if "$cohort" export --checkpoint "$tmp/fsdp-2-stop" --out "$tmp/gone" 2>"$tmp/gone.err" ||
   ! grep -q "model-rank-1-of-2.safetensors: missing (listed in MANIFEST)" "$tmp/gone.err" ||
   [ -e "$tmp/gone" ]; then
  echo "FAIL: a shard set missing a shard"; cat "$tmp/gone.err"; exit 1
fi
echo "ok: $(cat "$tmp/gone.err")"
python3 - "$tmp/fsdp-2-hf/model.safetensors" "$tmp/allreduce-2/$ck/model.safetensors" <<'PY'
import array, json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__": continue
        b, e = t["data_offsets"]
        out[name] = array.array("f", data[8 + n + b:8 + n + e])
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys()
worst = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
print(f"ok: fsdp's parameters after 20 steps within {worst:.2e} of allreduce's")
assert worst < 1e-6, worst
PY

# bf16 on the wire: half the bytes; the losses stay close to fp32's.
run allreduce-2-bf16 mpi 2 "$cohort" train --batch-size 6 --set dist.wire=bf16

# ZeRO-1 checkpoints resume exactly on the same N and also on a different N.
run zero1-2-stop mpi 2 "$cohort" train --batch-size 6 --strategy zero1 --stop-at 10
for r in 0 1; do
  [ -f "$tmp/zero1-2-stop/checkpoints/step-10/optimizer-rank-$r-of-2.safetensors" ] ||
    { echo "FAIL: zero1 checkpoint lacks rank $r's optimizer shard"; exit 1; }
done
cp -r "$tmp/zero1-2-stop" "$tmp/zero1-3-resume"
run zero1-2-stop mpi 2 "$cohort" train --batch-size 6 --strategy zero1 --resume
cmp "$tmp/zero1-2/checkpoints/step-20/model.safetensors" \
    "$tmp/zero1-2-stop/checkpoints/step-20/model.safetensors" ||
  { echo "FAIL: zero1 stop + resume on 2 ranks differs from the unbroken run"; exit 1; }
for r in 0 1; do
  f=optimizer-rank-$r-of-2.safetensors
  cmp "$tmp/zero1-2/checkpoints/step-20/$f" "$tmp/zero1-2-stop/checkpoints/step-20/$f" ||
    { echo "FAIL: zero1 resumed optimizer shard $r differs"; exit 1; }
done
echo "ok: zero1 on 2 ranks: stop at 10 + resume == unbroken, bit for bit"
run zero1-3-resume mpi 3 "$cohort" train --batch-size 4 --strategy zero1 --resume
grep -q "resumed from .*step-10 at step 10" "$tmp/zero1-3-resume.log" ||
  { echo "FAIL: resume on 3 ranks"; cat "$tmp/zero1-3-resume.log"; exit 1; }

python3 "$(dirname "$0")/compare_losses.py" "$tmp" "${compared[@]}"
python3 "$(dirname "$0")/compare_losses.py" --tol 1e-6 "$tmp" "${zero[@]}"
python3 - "$tmp" "$(dirname "$0")" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from compare_losses import losses
tmp = sys.argv[1]
ref = losses(tmp, "solo")
assert ref[-1] < ref[0] - 0.5, ref  # and it learned
bf16 = losses(tmp, "allreduce-2-bf16")
rel = max(abs(a - b) / abs(a) for a, b in zip(ref, bf16))
print(f"ok: allreduce-2 with bf16 on the wire: 20 losses within {rel:.2e} of fp32's")
assert 0 < rel < 1e-2, rel  # rounded gradients: close, but not identical
PY

# A rank whose config differs is refused with one line naming the field and the rank.
set +e
mpi 2 sh -c "\"$cohort\" train --synthetic --steps 2 --set model.n_layer=\$((1 + OMPI_COMM_WORLD_RANK))" \
  >"$tmp/mismatch.out" 2>"$tmp/mismatch.err"
rc=$?
set -e
want="cohort: error: rank 1: config differs from rank 0's: [model] 'n_layer = 2' (rank 0: 'n_layer = 1')"
if [ "$rc" -eq 0 ] || ! grep -qF "$want" "$tmp/mismatch.err" || [ "$(grep -c 'cohort: error' "$tmp/mismatch.err")" -ne 1 ]; then
  echo "FAIL: mismatch: exit $rc"; cat "$tmp/mismatch.err"; exit 1
fi
echo "ok: $(grep -F 'cohort: error' "$tmp/mismatch.err")"
