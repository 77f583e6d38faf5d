#!/usr/bin/env bash
# The cohort binary on bad input: one line on stderr naming the field, exit code 2,
# never a crash. Usage: bad_input_test.sh path/to/cohort
set -u
cohort=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect_bad.sh"

printf '[model]\nn_embd = 100\nn_head = 3\n' >"$tmp/heads.toml"
printf '[model]\nn_layerz = 2\n' >"$tmp/unknown.toml"
printf '[train]\nsteps = "ten"\n' >"$tmp/type.toml"
printf '[model\n' >"$tmp/syntax.toml"

expect_bad "must be divisible by model.n_head" train --synthetic --config "$tmp/heads.toml"
expect_bad "unknown key 'model.n_layerz'" train --synthetic --config "$tmp/unknown.toml"
expect_bad "train.steps: expected an integer, got a string" train --synthetic --config "$tmp/type.toml"
expect_bad "$tmp/syntax.toml" train --synthetic --config "$tmp/syntax.toml"
expect_bad "cannot open config file" train --synthetic --config "$tmp/missing.toml"
expect_bad "model.n_layer must be positive" train --synthetic --set model.n_layer=0
expect_bad "model.n_embd must be positive" train --synthetic --set model.n_embd=-8
expect_bad "train.seq_len (300) exceeds model.context_length (256)" train --synthetic --seq-len 300
expect_bad "--steps (train.steps): cannot parse value 'ten' as integer" train --synthetic --steps ten
expect_bad "unknown key 'train.stepz'" train --synthetic --set train.stepz=3
expect_bad "no training data" train
expect_bad "must be divisible" bench train --layers 1 --heads 5 --channels 64 --vocab 100 --steps 1
expect_bad "--steps must be positive" bench train --layers 1 --heads 2 --channels 64 --vocab 100 --steps 0
expect_bad "unknown optimizer" train --synthetic --set optim.name=lion
expect_bad "train.backend 'gpu': expected cpu or cuda" train --synthetic --backend gpu
expect_bad "train.precision = bf16 needs train.backend = cuda" train --synthetic --precision bf16
expect_bad "train.precision 'fp8': expected auto, fp32, bf16 or fp16" train --synthetic --backend cuda --precision fp8
expect_bad "--backend 'gpu': expected cpu or cuda" eval --checkpoint "$tmp/none" --backend gpu
expect_bad "--precision 'fp8': expected auto" generate --checkpoint "$tmp/none" --prompt a --precision fp8
expect_bad "--precision = bf16 needs --backend = cuda" translate --checkpoint "$tmp/none" --precision bf16
if ! command -v nvidia-smi >/dev/null; then
  # "no CUDA device" here, or "built without the CUDA backend" where nvcc was missing.
  expect_bad "CUDA" train --synthetic --backend cuda --steps 1
fi
expect_bad "unknown strategy 'zero3' (expected allreduce, zero1, zero2, fsdp or ps)" train --synthetic --strategy zero3
# export: the format, the size, the destination and the checkpoint are checked before
# anything is written.
expect_bad "--format gguf2: unknown format (expected hf)" export --checkpoint "$tmp/none" --out "$tmp/x" --format gguf2
expect_bad "--max-shard-size 5X: expected bytes" export --checkpoint "$tmp/none" --out "$tmp/x" --max-shard-size 5X
mkdir -p "$tmp/full" && touch "$tmp/full/f"
expect_bad "--out $tmp/full: exists and is not an empty directory" export --checkpoint "$tmp/none" --out "$tmp/full"
expect_bad "$tmp/none: no such checkpoint or run directory" export --checkpoint "$tmp/none" --out "$tmp/x"
test ! -e "$tmp/x" || { echo "FAIL: a refused export left $tmp/x"; fails=$((fails + 1)); }

# And the good path works: a two-step run exits 0 and reports a held-out loss.
if "$cohort" train --synthetic --steps 2 --set model.n_layer=1 --set model.n_embd=32 >"$tmp/out" 2>&1 &&
   grep -q "held-out loss" "$tmp/out"; then
  echo "ok: a tiny run trains"
else
  echo "FAIL: tiny run:"; cat "$tmp/out"; fails=$((fails + 1))
fi
exit $((fails > 0))
