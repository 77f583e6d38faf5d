#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, tests/fuzz/) in a build directory
# of their own and runs each for a bounded time, starting from a seed corpus of valid
# inputs made here. A crash, a leak, a sanitizer report or an allocation over
# -malloc_limit_mb fails it; the reproducer is left in the build directory.
# Usage: scripts/fuzz.sh [--seconds N (default 60)] [--build-dir DIR (default build-fuzz)]
#        [--only TARGET]
# Exit 77 (ctest: skipped) when clang++ is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
build=$root/build-fuzz
only=
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cxx=$(command -v clang++ || command -v clang++-14 || true)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "cohort-skip: fuzz.sh: clang++ not found (scripts/bootstrap.sh installs clang and libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCOHORT_FUZZ=ON -DCOHORT_CUDA=OFF \
  -DCOHORT_NATIVE=OFF >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target fuzz_targets >"$build/fuzz-build.log" 2>&1 || {
  tail -50 "$build/fuzz-build.log"; exit 1; }

# Seeds: one valid input per reader (and a few near-misses).
seeds=$build/seeds
rm -rf "$seeds"
python3 - "$seeds" "$root" <<'PY'
import json, os, struct, sys
seeds, root = sys.argv[1], sys.argv[2]
def put(target, name, data):
    os.makedirs(os.path.join(seeds, target), exist_ok=True)
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
def shard(version, tokens, width_field):
    header = [20240520, version, len(tokens), width_field] + [0] * 252
    fmt = "<%dH" % len(tokens) if version == 1 else "<%di" % len(tokens)
    return struct.pack("<256i", *header) + struct.pack(fmt, *tokens)
put("fuzz_token_shard", "v1", shard(1, [1, 2, 3, 65535, 0], 0))
put("fuzz_token_shard", "v2", shard(2, [1, 2, 70000], 4))
put("fuzz_token_shard", "short", shard(1, [1, 2, 3], 0)[:-2])
def safetensors(tensors, meta):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob
put("fuzz_safetensors", "f32", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))}, {"steps_taken": "3"}))
put("fuzz_safetensors", "mixed", safetensors({"a": ("I32", [3], struct.pack("<3i", 1, -2, 3)),
                                              "b": ("BF16", [2], b"\x80\x3f\x00\x40"),
                                              "c": ("F64", [1], struct.pack("<d", 0.5))}, {}))
for name in ("demo.toml", "brown-word.toml"):
    put("fuzz_run_config", name, open(os.path.join(root, "configs", name)).read())
put("fuzz_run_config", "dist", '[dist]\nstrategy = "ps"\nps_servers = 2\nstaleness = 4\n')
put("fuzz_tokenizer", "byte", '{"kind": "byte", "vocab_size": 256}')
put("fuzz_tokenizer", "word", json.dumps({"kind": "word", "words": ["<unk>", "the", "fox", ","], "vocab_size": 4}))
# Crashes found before, kept as seeds.
put("fuzz_tokenizer", "model-not-string", '{"kind":"sentencepiece-bpe","model":5}')
put("fuzz_tokenizer", "spm", '{"kind": "sentencepiece-bpe", "model": "sentencepiece.model"}\n--8<--\n\x0a\x05hello')
PY

status=0
for target in fuzz_token_shard fuzz_safetensors fuzz_run_config fuzz_tokenizer; do
  [ -n "$only" ] && [ "$only" != "$target" ] && continue
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  log=$build/$target.log
  set +e
  (cd "$build" && "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
     -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
     "$corpus" "$seeds/$target" >"$log" 2>&1)
  rc=$?
  set -e
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $target: FAILED after $runs executions (exit $rc):"
    grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written|runtime error|Assertion|terminate' "$log" | head -20
    status=1
  else
    echo "fuzz: $target: $runs executions in ${seconds} s, no crash, corpus $(ls "$corpus" | wc -l) inputs"
  fi
done
exit $status
