# Sourced by scripts/gpu-check.sh and scripts/gpu-cli-check.sh: unpacks the Debian
# packages of .gpu-deps/ (scripts/gpu-deps.sh) under DEPS_ROOT (default
# /tmp/cohort-gpu-deps), never over / (they could break the image's own), and sets
#   deps_cmake_args   the CMake options that find them;
#   LD_LIBRARY_PATH   their libraries, for the built programs.
# Without .gpu-deps/ it does nothing (the system's packages are used).
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
