#!/usr/bin/env bash
# Prints how many tests ctest skipped, each with its reason. ctest's own summary names the
# skipped tests ("... (Skipped)"); the reasons are the `cohort-skip:` lines that
# tests/support/gtest_main.cc and the shell tests print, found in LastTest.log (which
# itself calls a skipped test "Passed"). A GoogleTest binary prints one line per skipped
# case: they are counted and the first reason shown. Tests that ran but skipped some
# cases are listed too.
# Usage: test-skips.sh CTEST_OUTPUT build/Testing/Temporary/LastTest.log
set -euo pipefail
summary=$1
log=$2
awk '
  FNR == 1 { file++ }
  file == 1 && /\(Skipped\)$/ { skipped[$3] = 1; order_skipped[++ns] = $3; next }
  file == 2 && /^[0-9]+\/[0-9]+ Test: / { name = $3; next }
  file == 2 && /^cohort-skip: / {
    sub(/^cohort-skip: /, "")
    if (!(name in first)) { first[name] = $0; order[++n] = name }
    cases[name]++
  }
  END {
    printf "test.sh: %d test(s) skipped\n", ns
    for (i = 1; i <= ns; i++) {
      t = order_skipped[i]
      why = (t in first) ? first[t] : "no reason printed"
      more = cases[t] > 1 ? sprintf("%d cases; the first: ", cases[t]) : ""
      printf "  %s: %s%s\n", t, more, why
    }
    for (i = 1; i <= n; i++) {
      t = order[i]
      if (!(t in skipped)) printf "  %s ran, and: %s\n", t, first[t]
    }
  }' "$summary" "$log"
