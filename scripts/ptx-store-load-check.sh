#!/usr/bin/env bash
# Finds CUDA kernels whose loads wait behind stores (docs/gpu.md, "Where this session's
# gain came from"): a global store the compiler cannot prove apart from the next global
# load keeps that load from issuing until the store is done, so a row read and written
# element by element makes one trip to memory per element. The LayerNorm kernels had 23
# to 47 such turns a row until fe9f514 (and ran at half their bandwidth on an H200).
# Compiles each CUDA file of build/ to PTX for sm_90 and prints every kernel with more
# than LIMIT (default 5) store-to-load turns; exit 1 if any. Needs a configured build/
# (COHORT_CUDA=ON) and nvcc.
#   scripts/ptx-store-load-check.sh [build-dir] [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
limit=${2:-5}
[ -f "$build/build.ninja" ] || { echo "ptx-store-load-check: no $build/build.ninja (configure first)" >&2; exit 2; }
ptx=$(mktemp -d)
trap 'rm -rf "$ptx"' EXIT
objects=$(ninja -C "$build" -t targets all | grep -o '[^ ]*backend/cuda/[^ ]*\.cu\.o' | sort -u)
[ -n "$objects" ] || { echo "ptx-store-load-check: no CUDA objects in $build (COHORT_CUDA off?)" >&2; exit 2; }
for obj in $objects; do
  cmd=$(ninja -C "$build" -t commands "$obj" | tail -1)
  out="$ptx/$(basename "$obj" .o).ptx"
  # The object's own command, for PTX of sm_90 alone.
  cmd=$(echo "$cmd" | sed -E "s/-gencode[= ][^ ]*//g; s/--generate-code=[^ ]*//g; s|-o [^ ]*\\.o|-o $out|; s/ -c / -ptx -arch=sm_90 /")
  (cd "$build" && eval "$cmd")
done
python3 - "$limit" "$ptx"/*.ptx <<'PY'
import re, sys
limit, found = int(sys.argv[1]), 0
for path in sys.argv[2:]:
    text = open(path).read()
    for m in re.finditer(r"\.entry (\S+)\((.*?)\n\}\n", text, re.S):
        ops = re.findall(r"\b(ld\.global|st\.global)", m.group(2))
        turns = sum(a == "st.global" and b == "ld.global" for a, b in zip(ops, ops[1:]))
        if turns > limit:
            found += 1
            print(f"{turns:4d} store-to-load turns  {path.rsplit('/', 1)[-1]}  {m.group(1)[:100]}")
print(f"ptx-store-load-check: {found} kernel(s) over {limit} store-to-load turns")
sys.exit(1 if found else 0)
PY
