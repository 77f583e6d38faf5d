#!/usr/bin/env bash
# A user's journey end to end: prepare -> train (validation, checkpoints) -> stop and
# --resume (bit-identical to an unbroken run) -> eval -> generate.
# Usage: pipeline_test.sh cohort SRC_DIR
set -euo pipefail
cohort=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
brown=$src/data/corpora/brown
fail() { echo "FAIL: $*"; exit 1; }

"$cohort" prepare text --input "$brown/ca01" --input "$brown/ca02" --out "$tmp/data" --tokenizer byte \
  --val-fraction 0.1 --test-fraction 0.1
tiny=(--data "$tmp/data" --set model.n_layer=2 --set model.n_embd=32 --set model.n_head=2
      --set model.context_length=32 --seq-len 32 --batch-size 4 --threads 2
      --set model.dropout=0.1 --set eval_every=3 --set eval_tokens=256 --set checkpoint_every=4)

# Unbroken 8 steps, and 5 + stop + resume 3: the same bytes (params and AdamW state).
"$cohort" train "${tiny[@]}" --steps 8 --run-dir "$tmp/straight" >"$tmp/straight.log"
"$cohort" train "${tiny[@]}" --steps 8 --run-dir "$tmp/resumed" --stop-at 5 >"$tmp/first.log"
grep -q "stopped after step 5" "$tmp/first.log" || fail "--stop-at: $(cat "$tmp/first.log")"
[ "$(cat "$tmp/resumed/checkpoints/latest")" = step-5 ] || fail "latest should name step-5"
"$cohort" train "${tiny[@]}" --steps 8 --run-dir "$tmp/resumed" --resume >"$tmp/second.log"
grep -q "resumed from .*step-5 at step 5" "$tmp/second.log" || fail "resume: $(cat "$tmp/second.log")"
for f in model.safetensors optimizer.safetensors; do
  cmp "$tmp/straight/checkpoints/step-8/$f" "$tmp/resumed/checkpoints/step-8/$f" ||
    fail "resumed $f differs from the unbroken run's"
done
echo "ok: stop at 5 + resume == unbroken 8 steps, bit for bit"

# metrics.jsonl: every line has step and loss; validation lines have val_loss.
python3 - "$tmp/straight/metrics.jsonl" <<'PY' || fail "metrics.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all("step" in r and "loss" in r for r in rows), rows
assert sum(1 for r in rows if r.get("kind") == "train") == 8
vals = [r for r in rows if "val_loss" in r]
assert len(vals) == 3, vals  # steps 3, 6 and the end
PY
echo "ok: metrics.jsonl"

# Checkpoints: step-4 and step-8 kept (keep_checkpoints=3), latest and best point at real ones.
for c in step-4 step-8; do [ -f "$tmp/straight/checkpoints/$c/MANIFEST" ] || fail "missing $c"; done
[ -d "$tmp/straight/checkpoints/$(cat "$tmp/straight/checkpoints/best")" ] || fail "best"
echo "ok: checkpoints"

out=$("$cohort" eval --checkpoint "$tmp/straight" --split test)
echo "$out" | grep -q "split test: .* | perplexity [0-9.]* | word perplexity" || fail "eval: $out"
echo "ok: $(echo "$out" | head -1)"

a=$("$cohort" generate --checkpoint "$tmp/straight" --prompt "The jury" --max-tokens 24 --seed 5 2>/dev/null)
b=$("$cohort" generate --checkpoint "$tmp/straight" --prompt "The jury" --max-tokens 24 --seed 5 2>/dev/null)
c=$("$cohort" generate --checkpoint "$tmp/straight" --prompt "The jury" --max-tokens 24 --seed 6 2>/dev/null)
[ "$a" = "$b" ] || fail "same seed, different samples"
[ "$a" != "$c" ] || fail "different seeds, same sample"
[[ $a == "The jury"* ]] && [ ${#a} -gt 8 ] || fail "generate: '$a'"
echo "ok: generate: $a"

# Word tokenizer on the Brown split: word perplexity equals token perplexity.
"$cohort" prepare brown --out "$tmp/brown" --corpus "$brown" | tee "$tmp/brown.log"
grep -q "test      161170 words ->     161170 tokens" "$tmp/brown.log" || fail "brown split counts"
grep -q "vocabulary 14114" "$tmp/brown.log" || fail "brown vocabulary"
"$cohort" train --data "$tmp/brown" --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 \
  --set model.context_length=16 --seq-len 16 --batch-size 4 --steps 2 --run-dir "$tmp/wrun" >/dev/null
out=$("$cohort" eval --checkpoint "$tmp/wrun" --split val --seq-len 16 --batch-size 64)
ppl=$(echo "$out" | sed -n 's/.* | perplexity \([0-9.]*\) | word perplexity \([0-9.]*\) .*/\1 \2/p')
read -r tok word <<<"$ppl"
[ -n "$tok" ] && [ "$tok" = "$word" ] || fail "word tokenizer: token and word perplexity differ: $out"
echo "ok: word tokenizer perplexity $tok == word perplexity $word"

# GPT-2 BPE and SentencePiece datasets prepare and train.
for kind in gpt2 sentencepiece-unigram; do
  "$cohort" prepare text --input "$brown/ca01" --input "$brown/ca02" --out "$tmp/$kind" \
    --tokenizer "$kind" --vocab-size 400 --gpt2-bpe "$src/data/gpt2-bpe" >/dev/null
  "$cohort" train --data "$tmp/$kind" --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 \
    --set model.context_length=16 --seq-len 16 --batch-size 2 --steps 1 --run-dir "$tmp/r-$kind" >/dev/null
  "$cohort" generate --checkpoint "$tmp/r-$kind" --prompt "The jury" --max-tokens 4 >/dev/null 2>&1 ||
    fail "$kind generate"
  echo "ok: $kind dataset trains and generates"
done
