#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU (issue 8; docs/gpu.md), under 8
# minutes: builds the backends with CUDA (COHORT_BACKENDS_ONLY: the GPU image lacks most
# Debian packages; .gpu-deps/ from scripts/gpu-deps.sh supplies OpenBLAS, fmt and
# GoogleTest), runs every CUDA op against the CPU backend (tests/backend/cuda_ops_test.cc),
# then times PyTorch 2's GPT-2 124M (bf16, B=16, T=1024) on the same GPU: the figure the
# CUDA backend's model path must beat once the models run on the device.
# Writes logs to $OUT when set (the device tool), else to runs/gpu-check/.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu-check}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || status=1
if [ -d .gpu-deps ]; then
  for f in .gpu-deps/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvcc --version | tail -1
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOHORT_BACKENDS_ONLY=ON \
  -DCOHORT_CUDA=ON -DCOHORT_NATIVE=OFF >"$out/configure.log" 2>&1 ||
  { echo "gpu-check: configure failed"; tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" >"$out/build.log" 2>&1 ||
  { echo "gpu-check: build failed"; grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "gpu-check: built in $(( $(date +%s) - start )) s"
timeout 300 ./build-gpu/tests/backend/cuda_ops_test || status=1
timeout 120 ./build-gpu/tests/backend/cpu_mha_test --gtest_brief=1 || status=1
PYTHONUNBUFFERED=1 timeout 240 python3 bench/gpu/gpt2_torch.py --batch 16 --seq 1024 --steps 10 ||
  status=1
exit $status
