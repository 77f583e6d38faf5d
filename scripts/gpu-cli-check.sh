#!/usr/bin/env bash
# The cohort CLI end to end on a GPU machine (scripts/gpu-check.sh runs it last; docs/gpu.md).
# The GPU image has no MPI, SentencePiece, CLI11 or toml++: scripts/gpu-deps.sh downloads
# them here as .deb files into .gpu-deps/, which gpu-check.sh unpacks under $DEPS_ROOT; the
# CLI is built with -DCOHORT_MPI=OFF (one process). Then, on the demo's corpus (carried as
# data/corpora/brown):
#  1. cohort prepare brown;
#  2. cohort train, configs/demo.toml: a word-level GPT with dropout, stopped halfway with
#     a checkpoint (--stop-at) and resumed (--resume) to the end;
#  3. cohort eval and cohort generate from that run;
#  4. GPT-2 124M through the CLI (synthetic tokens, B=16, T=1024, no dropout: the
#     tensor-core attention, the fused LM-head loss and the MLP pair), 30 steps.
# Every command has a timeout; the exit status is 1 when any failed.
#   COHORT_CHECK_BACKEND=cpu scripts/gpu-cli-check.sh   # the same flow on the CPU (a dry run)
# Environment: OUT (log dir); the packages of .gpu-deps/ are unpacked (gpu-deps-env.sh),
# or without it the system's are used.
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${COHORT_CHECK_BACKEND:-cuda}
work=${CLI_CHECK_DIR:-/tmp/cohort-gpu-cli}
build=${CLI_BUILD_DIR:-build-gpu-cli}
out=${OUT:-runs/gpu-check}
logs=${TMPDIR:-/tmp}/cohort-gpu-check-logs  # build logs: not among the results (gpu-check.sh)
mkdir -p "$logs"
mkdir -p "$work" "$out"
status=0
step() {  # step NAME TIMEOUT COMMAND...: runs it, logs it, keeps going on failure
  local name=$1 limit=$2
  shift 2
  echo "gpu-cli-check: $name: $*"
  if ! timeout "$limit" "$@"; then
    echo "gpu-cli-check: $name FAILED"
    status=1
    return 1
  fi
}

# shellcheck source=scripts/gpu-deps-env.sh
. scripts/gpu-deps-env.sh
config=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCOHORT_MPI=OFF -DCOHORT_NATIVE=OFF "${deps_cmake_args[@]}")
[ "$backend" = cuda ] && config+=(-DCOHORT_CUDA=ON)
if [ -n "${DEPS_ROOT:-}" ]; then
  # The .pc files name /usr: the sysroot puts the unpacked tree in front of their paths.
  export PKG_CONFIG_LIBDIR=$DEPS_ROOT/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS_ROOT/usr/share/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=$DEPS_ROOT
  command -v pkg-config >/dev/null || config+=(-DPKG_CONFIG_EXECUTABLE="$DEPS_ROOT/usr/bin/pkgconf")
fi
start=$(date +%s)
if ! cmake -S . -B "$build" "${config[@]}" >"$logs/cli-configure.log" 2>&1; then
  echo "gpu-cli-check: configure failed"
  tail -20 "$logs/cli-configure.log"
  exit 1
fi
if ! cmake --build "$build" --target cohort -j"$(nproc)" >"$logs/cli-build.log" 2>&1; then
  echo "gpu-cli-check: build failed"
  grep -E "error" "$logs/cli-build.log" | head -20
  exit 1
fi
echo "gpu-cli-check: built the CLI in $(($(date +%s) - start)) s"
cohort=$build/src/cohort

run=$work/demo
rm -rf "$run" "$work/brown"
step prepare 120 "$cohort" prepare brown --corpus data/corpora/brown --out "$work/brown"
demo=(--config configs/demo.toml --data "$work/brown" --run-dir "$run" --backend "$backend"
  --steps 600)
step train-to-300 300 "$cohort" train "${demo[@]}" --stop-at 300 &&
  step resume-to-600 300 "$cohort" train "${demo[@]}" --resume
step eval 120 "$cohort" eval --checkpoint "$run" --split test --backend "$backend"
step generate 60 "$cohort" generate --checkpoint "$run" --prompt "The jury said" \
  --max-tokens 30 --seed 7 --backend "$backend"
if [ "$backend" = cuda ]; then
  step gpt2-124m 300 "$cohort" train --config configs/gpt2-124m.toml --synthetic \
    --backend cuda --batch-size 16 --seq-len 1024 --steps 30 --run-dir "$work/gpt2"
fi
echo "gpu-cli-check: done in $(($(date +%s) - start)) s, status $status"
exit $status
