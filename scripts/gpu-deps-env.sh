# Sourced by scripts/gpu-check.sh, gpu-kernel-report.sh and gpu-cli-check.sh: unpacks the
# Debian packages of .gpu-deps/ (scripts/gpu-deps.sh) under DEPS_ROOT (default
# /tmp/cohort-gpu-deps), never over / (they could break the image's own), and sets
#   deps_cmake_args   the CMake options that find them;
#   LD_LIBRARY_PATH   their libraries, for the built programs;
#   build_gpu_check   a function: builds the GPU check tree (build-gpu/), logs in $1.
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

# build_gpu_check LOG_DIR: core, backends, model, optim, io and their tests with CUDA;
# on failure prints the log's end and returns 1.
build_gpu_check() {
  local logs=$1
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOHORT_GPU_CHECK_ONLY=ON \
    -DCOHORT_CUDA=ON -DCOHORT_NATIVE=OFF "${deps_cmake_args[@]}" >"$logs/configure.log" 2>&1 ||
    { echo "configure failed"; tail -30 "$logs/configure.log"; return 1; }
  cmake --build build-gpu -j"$(nproc)" >"$logs/build.log" 2>&1 ||
    { echo "build failed"; grep -E "error" "$logs/build.log" | head -30; return 1; }
}
