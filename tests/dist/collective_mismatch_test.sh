#!/usr/bin/env bash
# Mismatched collectives under fsdp: rank 1 of 3 skips the first all-gather of step 2 (the
# embeddings' unit; --test-skip-all-gather, a decorator of the strategy's communicator).
# The watchdog's notes name rank 1 at once (exit 5), with no timeout to wait out, and so does
# dist.check_collectives, which compares before each collective. Without either, the
# job would hang (ranks 0 and 2 wait for an all-gather rank 1 never joins).
cohort=$1
source "$(dirname "$0")/dist_test_common.sh"
for how in "watchdog" "check_collectives"; do
  extra=()
  [ "$how" = check_collectives ] && extra=(--set dist.check_collectives=true)
  set +e
  SECONDS=0
  mpi 3 "$cohort" train "${model[@]}" --batch-size 4 --strategy fsdp --test-skip-all-gather 1:2 \
    "${extra[@]}" >"$tmp/$how.log" 2>&1
  rc=$?
  set -e
  line=$(grep -a -o "cohort: error: collective .*" "$tmp/$how.log" | head -1)
  if [ "$rc" -ne 5 ] || ! grep -q "rank 1 is in all-gather of .* where ranks 0, 2 are in all-gather" <<<"$line"; then
    echo "FAIL: $how: exit $rc"; cat "$tmp/$how.log"; exit 1
  fi
  echo "ok: $how named the rank in ${SECONDS} s (exit 5): $line"
done
