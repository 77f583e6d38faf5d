# Sourced by scripts/gpu-check.sh, gpu-kernel-report.sh and gpu-cli-check.sh: unpacks the
# Debian packages of .gpu-deps/ (scripts/gpu-deps.sh) under DEPS_ROOT (default
# /tmp/cohort-gpu-deps), never over / (they could break the image's own), and sets
#   deps_cmake_args   the CMake options that find them;
#   LD_LIBRARY_PATH   their libraries, for the built programs;
#   start_gpu_log     a function: a GPU script's output folder and log;
#   build_gpu_check   a function: builds the GPU check tree (build-gpu/);
#   run_gpu_op_tests  a function: its CUDA op tests and the GPT fixture on the GPU.
# Without .gpu-deps/ the system's packages are used.
deps_cmake_args=()
if [ -d .gpu-deps ]; then
  export DEPS_ROOT=${DEPS_ROOT:-/tmp/cohort-gpu-deps}
  mkdir -p "$DEPS_ROOT/openblas-cmake"
  for f in .gpu-deps/*.deb; do dpkg -x "$f" "$DEPS_ROOT"; done
  deps_lib=$DEPS_ROOT/usr/lib/x86_64-linux-gnu
  # Debian's OpenBLASConfig.cmake names absolute /usr paths: point one at the copy.
  cat >"$DEPS_ROOT/openblas-cmake/OpenBLASConfig.cmake" <<CFG
set(OpenBLAS_VERSION "0.3.21")
set(OpenBLAS_INCLUDE_DIRS $DEPS_ROOT/usr/include/x86_64-linux-gnu/openblas-openmp)
set(OpenBLAS_LIBRARIES $deps_lib/openblas-openmp/libopenblas.so)
CFG
  export LD_LIBRARY_PATH=$deps_lib:$deps_lib/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  deps_cmake_args=(-DCMAKE_PREFIX_PATH="$DEPS_ROOT/usr" -DOpenBLAS_DIR="$DEPS_ROOT/openblas-cmake")
fi

# cuDNN for the cuDNN attention routes (src/backend/cuda/cuda_cudnn.h): PyTorch's wheel
# (nvidia-cudnn-cu13) where the image has it: its headers for the build, and its library
# directory (cuDNN's libraries alone, the ones PyTorch loads too) first on the library
# path for cohort to open at run time; else whatever the toolkit has. No other CUDA
# directory joins the path: the wheels' or the toolkit's would swap one side's cuBLAS for
# the other's under the benchmarks (this cuDNN finds its NVRTC by its own run path).
nvidia_root=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)
if [ -n "$nvidia_root" ]; then
  cudnn_header=$(find "$nvidia_root" -name cudnn_graph.h 2>/dev/null | head -1)
  [ -n "$cudnn_header" ] && deps_cmake_args+=(-DCOHORT_CUDNN_INCLUDE_DIR="$(dirname "$cudnn_header")")
  cudnn_lib=$(find "$nvidia_root" -name 'libcudnn.so.9' 2>/dev/null | head -1)
  [ -n "$cudnn_lib" ] && export LD_LIBRARY_PATH=$(dirname "$cudnn_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

# start_gpu_log NAME DEFAULT_OUT: sets out to $OUT (the device tool's) or DEFAULT_OUT, and
# logs to a folder for build logs, kept out of $out (the device tool brings back eight
# files at most, which go to the results); from here on the output also goes to
# $out/NAME.log.
start_gpu_log() {
  out=${OUT:-$2}
  logs=${TMPDIR:-/tmp}/cohort-gpu-check-logs
  mkdir -p "$out" "$logs"
  exec > >(tee "$out/$1.log") 2>&1
}

# build_gpu_check LOG_DIR NAME: core, backends, model, optim, io and their tests with
# CUDA, saying how long it took; on failure prints the log's end and returns 1.
build_gpu_check() {
  local logs=$1 name=$2 start
  start=$(date +%s)
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOHORT_GPU_CHECK_ONLY=ON \
    -DCOHORT_CUDA=ON -DCOHORT_NATIVE=OFF "${deps_cmake_args[@]}" >"$logs/configure.log" 2>&1 ||
    { echo "configure failed"; tail -30 "$logs/configure.log"; return 1; }
  cmake --build build-gpu -j"$(nproc)" >"$logs/build.log" 2>&1 ||
    { echo "build failed"; grep -E "error" "$logs/build.log" | head -30; return 1; }
  echo "$name: built in $(( $(date +%s) - start )) s"
}

# run_gpu_op_tests OUT_DIR: every CUDA op against the CPU, the MLP's routes, cuDNN's plans
# for the attention graphs (with the real driver: their workspaces), then the PyTorch
# fixture on the GPU (its JSON report, each tensor's error, in OUT_DIR); returns 1 if any
# fails.
run_gpu_op_tests() {
  local rc=0
  timeout 90 ./build-gpu/tests/backend/cuda_ops_test --gtest_brief=1 || rc=1
  timeout 60 ./build-gpu/tests/backend/cuda_mlp_test --gtest_brief=1 || rc=1
  timeout 60 ./build-gpu/tests/backend/cudnn_attention_graph_test --gtest_brief=1 || rc=1
  timeout 90 ./build-gpu/tests/model/gpt_reference_test --gtest_brief=1 \
    --gtest_output=json:"$1/gpt_reference.json" || rc=1
  return $rc
}
