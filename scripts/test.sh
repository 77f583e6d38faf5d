#!/usr/bin/env bash
# Builds (through bootstrap) and runs the test suite; prints a failing test's output, then
# how many tests were skipped and why. A build that fails fails this script.
#   scripts/test.sh               the default suite (under 20 minutes on 2 cores)
#   scripts/test.sh --extended    also the tests labelled `extended` (larger matrices)
# Other arguments go to ctest (-R NAME, -L LABEL, ...). Env: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
extended=0
ctest_args=()
for a in "$@"; do
  case $a in
    --extended) extended=1 ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ctest_args+=("$a") ;;
  esac
done
scripts/bootstrap.sh
build=${BUILD_DIR:-build}
if ((extended == 0)); then ctest_args=(-LE extended "${ctest_args[@]}"); fi
start=$(date +%s)
status=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "${ctest_args[@]}" | tee "$summary" ||
  status=$?
echo "test.sh: ctest took $(($(date +%s) - start)) s (build excluded); extended: $([ $extended = 1 ] && echo included || echo not run, --extended runs them)"
scripts/test-skips.sh "$summary" "$build/Testing/Temporary/LastTest.log"
exit "$status"
