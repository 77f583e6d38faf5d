#!/usr/bin/env bash
# The encoder and encoder-decoder tasks end to end, on the real Brown corpus:
# prepare genre / translation (files never in two splits), masked-LM pretraining with
# stop + --resume bit-identical to an unbroken run, classification fine-tuned with
# --init-from, eval with its baselines, translation training, translate (BLEU, --input),
# and bad input refused with one line.
# Usage: task_pipeline_test.sh cohort SRC_DIR
set -euo pipefail
cohort=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
brown=$src/data/corpora/brown
fail() { echo "FAIL: $*"; exit 1; }
source "$(dirname "$0")/expect_bad.sh"

"$cohort" prepare genre --corpus "$brown" --out "$tmp/genre" >"$tmp/prep-genre.log"
grep -q "15 genres" "$tmp/prep-genre.log" || fail "prepare genre: $(cat "$tmp/prep-genre.log")"
"$cohort" prepare translation --corpus "$brown" --max-sentences 400 --vocab-size 600 \
  --out "$tmp/tr" >"$tmp/prep-tr.log" 2>&1 || fail "prepare translation: $(cat "$tmp/prep-tr.log")"
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
for ds in ("genre", "tr"):
    files = {}
    for split in ("train", "val", "test"):
        rows = [json.loads(l) for l in open(f"{tmp}/{ds}/{split}.jsonl")]
        assert rows, (ds, split)
        files[split] = {r["file"] for r in rows}
    for a in files:
        for b in files:
            assert a == b or not files[a] & files[b], (ds, a, b, files[a] & files[b])
    print(f"ok: {ds}: train/val/test share no file ({', '.join(f'{s} {len(f)} files' for s, f in files.items())})")
rows = [json.loads(l) for l in open(f"{tmp}/tr/test.jsonl")]
assert all(r["tgt_text"] and r["tgt_text"] != r["src_text"] for r in rows[:20] if len(r["src_text"].split()) > 4), rows[:3]
PY

enc=(--data "$tmp/genre" --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2
     --set model.dropout=0.1 --batch-size 4 --threads 2 --set eval_every=3)
"$cohort" train --task mlm "${enc[@]}" --steps 6 --run-dir "$tmp/mlm" >"$tmp/mlm.log"
"$cohort" train --task mlm "${enc[@]}" --steps 6 --run-dir "$tmp/mlm2" --stop-at 3 >/dev/null
"$cohort" train --task mlm "${enc[@]}" --steps 6 --run-dir "$tmp/mlm2" --resume >"$tmp/mlm2.log"
for f in model.safetensors optimizer.safetensors; do
  cmp "$tmp/mlm/checkpoints/step-6/$f" "$tmp/mlm2/checkpoints/step-6/$f" ||
    fail "mlm: resumed $f differs from the unbroken run's"
done
echo "ok: mlm: stop at 3 + resume == unbroken 6 steps, bit for bit"

"$cohort" train --task classify --init-from "$tmp/mlm" "${enc[@]}" --steps 4 \
  --run-dir "$tmp/cls" >"$tmp/cls.log"
grep -q "init: 16 tensors from .*mlm/checkpoints/step-6; newly initialized: pooler.weight, pooler.bias, classifier.weight, classifier.bias" "$tmp/cls.log" ||
  fail "classify --init-from: $(grep init "$tmp/cls.log")"
grep -q "accuracy .* macro-F1" "$tmp/cls.log" || fail "classify validation: $(tail -3 "$tmp/cls.log")"
"$cohort" eval --checkpoint "$tmp/cls" >"$tmp/eval-cls.log"
for what in "majority (" "naive Bayes (words)" "cohort encoder"; do
  grep -qF "$what" "$tmp/eval-cls.log" || fail "eval classify: no '$what' line: $(cat "$tmp/eval-cls.log")"
done
python3 - "$tmp/eval-cls.log" <<'PY'
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.startswith("RESULT ")][0][7:])
# Naive Bayes on words beats always answering the majority genre by a wide margin.
assert r["naive_bayes_accuracy"] > r["majority_accuracy"] + 0.1, r
assert 0 < r["majority_accuracy"] < 0.3 and r["samples"] > 500, r
print(f"ok: eval classify: majority {r['majority_accuracy']:.3f}, naive Bayes {r['naive_bayes_accuracy']:.3f}, encoder {r['accuracy']:.3f}")
PY

s2s=(--data "$tmp/tr" --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2
     --set model.dropout=0.1 --set model.context_length=96 --batch-size 4 --threads 2)
"$cohort" train --task translate "${s2s[@]}" --steps 6 --run-dir "$tmp/trans" >"$tmp/trans.log"
grep -q "decoder_layers=1" "$tmp/trans.log" || fail "translate: $(grep model: "$tmp/trans.log")"
"$cohort" translate --checkpoint "$tmp/trans" --limit 4 --beam 3 --show 1 >"$tmp/translate.log"
grep -q "split test: 4 sentences | BLEU" "$tmp/translate.log" || fail "translate: $(cat "$tmp/translate.log")"
grep -q "^Apertium: " "$tmp/translate.log" || fail "translate shows no example"
echo "The dog runs." | "$cohort" translate --checkpoint "$tmp/trans" --input - --beam 1 >"$tmp/stdin.log"
[ "$(wc -l <"$tmp/stdin.log")" -eq 1 ] || fail "translate --input -: $(cat "$tmp/stdin.log")"
"$cohort" eval --checkpoint "$tmp/trans" | grep -q "target tokens | loss" || fail "eval translate"
echo "ok: translate, eval and --input on a seq2seq checkpoint"

set +e
expect_bad "needs a translation (cohort prepare translation) dataset" train --task translate --data "$tmp/genre" --steps 1
expect_bad "is a genre dataset: train it with --task mlm or --task classify" train --data "$tmp/genre" --steps 1
expect_bad "train.task = classify needs model.arch = encoder" train --task classify --set model.arch=seq2seq --data "$tmp/genre"
expect_bad "train.task must be lm, mlm, classify or translate" train --task nope --data "$tmp/genre"
expect_bad "translate needs an encoder-decoder" translate --checkpoint "$tmp/cls"
expect_bad "generate samples from a GPT" generate --checkpoint "$tmp/cls" --prompt "The"
expect_bad "--beam must be at least 1" translate --checkpoint "$tmp/trans" --beam 0
expect_bad "differs from the checkpoint's tokenizer" eval --checkpoint "$tmp/cls" --data "$tmp/tr"
expect_bad "has another shape than the model's" train --task translate "${s2s[@]}" --steps 1 --init-from "$tmp/cls"
# Damaged task data: one line naming the file (and the line of a .jsonl).
cp -r "$tmp/genre" "$tmp/bad"
sed -i '2s/"label":[0-9]*/"label":99/' "$tmp/bad/train.jsonl"
expect_bad "bad/train.jsonl:2: label 99 is outside [0, 15)" train --task mlm --data "$tmp/bad" --steps 1
sed -i '2s/.*/{"file": "ca01", "label": 1, "ids": "nope"}/' "$tmp/bad/train.jsonl"
expect_bad "bad/train.jsonl:2: [json.exception.type_error" train --task mlm --data "$tmp/bad" --steps 1
sed -i 's/"task": "genre"/"task": "poetry"/' "$tmp/bad/tokenizer/task.json"
expect_bad "task.json: task must be genre or translation, got 'poetry'" train --task mlm --data "$tmp/bad" --steps 1
[ "$fails" -eq 0 ] || exit 1
