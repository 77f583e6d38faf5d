#!/usr/bin/env bash
# Bad corpora, shards, checkpoints and tokenizers: one line naming the file and what is
# wrong, exit code 2, and nothing half-written. Usage: bad_data_test.sh cohort SRC_DIR
set -u
cohort=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect_bad.sh"
brown=$src/data/corpora/brown

# Corpora.
expect_bad "Brown corpus directory not found" prepare brown --out "$tmp/b" --corpus "$tmp/nowhere"
setup mkdir -p "$tmp/few"
setup cp "$brown/ca01" "$tmp/few/"
expect_bad "expected 500: an incomplete download" prepare brown --out "$tmp/b" --corpus "$tmp/few"
expect_bad "$tmp/missing.txt: no such file" prepare text --input "$tmp/missing.txt" --out "$tmp/t"
: >"$tmp/empty.txt"
expect_bad "$tmp/empty.txt: empty file" prepare text --input "$tmp/empty.txt" --out "$tmp/t"
printf 'caf\xe9 au lait\n' >"$tmp/latin1.txt"
expect_bad "$tmp/latin1.txt: invalid UTF-8 at byte 3" prepare text --input "$tmp/latin1.txt" --out "$tmp/t"
expect_bad "unknown kind 'wordpiece'" prepare text --input "$brown/ca01" --out "$tmp/t" --tokenizer wordpiece
test ! -e "$tmp/t" || { echo "FAIL: a failed prepare left $tmp/t"; fails=$((fails + 1)); }

# A good dataset and checkpoint to break.
setup "$cohort" prepare text --input "$brown/ca01" --input "$brown/ca02" --out "$tmp/data" --tokenizer byte
tiny=(--set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 --set model.context_length=32
      --seq-len 32 --batch-size 2 --threads 2)
setup "$cohort" train --data "$tmp/data" "${tiny[@]}" --steps 2 --run-dir "$tmp/run"
ck=$tmp/run/checkpoints/step-2

# Overwrite the 4-byte magic (20240520) with other bytes.
setup cp -r "$tmp/data" "$tmp/magic"
printf '\x01\x02\x03\x04' | dd of="$tmp/magic/train_000000.bin" conv=notrunc status=none ||
  { echo "FAIL: set-up: could not overwrite the magic"; exit 1; }
expect_bad "$tmp/magic/train_000000.bin: wrong magic" train --data "$tmp/magic" "${tiny[@]}" --steps 1
setup cp -r "$tmp/data" "$tmp/trunc"
setup truncate -s -3 "$tmp/trunc/train_000000.bin"
expect_bad "$tmp/trunc/train_000000.bin:" train --data "$tmp/trunc" "${tiny[@]}" --steps 1
expect_bad "(truncated)" train --data "$tmp/trunc" "${tiny[@]}" --steps 1
setup cp -r "$tmp/data" "$tmp/big"
printf 'ab' >>"$tmp/big/val_000000.bin" || { echo "FAIL: set-up: could not append"; exit 1; }
expect_bad "(trailing bytes)" train --data "$tmp/big" "${tiny[@]}" --steps 1
expect_bad "$tmp/nodata/dataset.json: missing" train --data "$tmp/nodata" "${tiny[@]}" --steps 1
expect_bad "model.vocab_size is 300 but $tmp/data has a vocabulary of 256" train --data "$tmp/data" "${tiny[@]}" --set model.vocab_size=300

setup cp -r "$ck" "$tmp/ck-nostate"
setup rm "$tmp/ck-nostate/state.json"
expect_bad "$tmp/ck-nostate/state.json: missing" eval --checkpoint "$tmp/ck-nostate"
setup cp -r "$ck" "$tmp/ck-nomanifest"
setup rm "$tmp/ck-nomanifest/MANIFEST"
expect_bad "$tmp/ck-nomanifest/MANIFEST: missing" eval --checkpoint "$tmp/ck-nomanifest"
setup cp -r "$ck" "$tmp/ck-flip"
printf 'Z' | dd of="$tmp/ck-flip/model.safetensors" bs=1 seek=2000 conv=notrunc status=none ||
  { echo "FAIL: set-up: could not flip a byte"; exit 1; }
expect_bad "$tmp/ck-flip/model.safetensors: size or checksum differs" eval --checkpoint "$tmp/ck-flip"
expect_bad "$tmp/nothing: no such checkpoint" eval --checkpoint "$tmp/nothing"
expect_bad "--resume needs a run directory" train --data "$tmp/data" "${tiny[@]}" --resume
expect_bad "fresh/checkpoints: no such checkpoint" train --data "$tmp/data" "${tiny[@]}" --run-dir "$tmp/fresh" --resume

# A dataset made with another tokenizer than the checkpoint's.
setup "$cohort" prepare text --input "$brown/ca01" --input "$brown/ca02" --out "$tmp/words" --tokenizer word --min-count 1
expect_bad "checkpoint's model has 256" eval --checkpoint "$tmp/run" --data "$tmp/words"
setup "$cohort" train --data "$tmp/words" "${tiny[@]}" --steps 1 --run-dir "$tmp/wrun"
setup cp -r "$tmp/words" "$tmp/words2"
setup sed -i 's#"the/at"#"THE/at"#' "$tmp/words2/tokenizer/tokenizer.json"
setup grep -q '"THE/at"' "$tmp/words2/tokenizer/tokenizer.json"
expect_bad "$tmp/words2/tokenizer: differs from the checkpoint's tokenizer" eval --checkpoint "$tmp/wrun" --data "$tmp/words2"
expect_bad "--prompt is empty" generate --checkpoint "$tmp/wrun" --prompt "   "
exit $((fails > 0))

