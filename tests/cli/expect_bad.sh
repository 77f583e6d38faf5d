# Sourced by the CLI tests. expect_bad "<substring of the message>" args...: runs
# $cohort with args and checks for exit code 2 and exactly one stderr line containing
# the substring (never a crash, never a stack of messages). Counts failures in $fails.
fails=0
expect_bad() {
  local want=$1
  shift
  "$cohort" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$want" "$tmp/err" || [ "$lines" -ne 1 ]; then
    echo "FAIL: cohort $* -> exit $rc, stderr:"; cat "$tmp/err"; echo "(wanted exit 2 and one line with: $want)"
    fails=$((fails + 1))
  else
    echo "ok: cohort $* -> $(cat "$tmp/err")"
  fi
}
# setup args...: runs a set-up command (a good dataset, a copy to damage); if it fails,
# the test stops here rather than checking messages against a set-up that never happened.
setup() {
  if ! "$@" >"$tmp/setup.out" 2>&1; then
    echo "FAIL: set-up command failed: $*"; cat "$tmp/setup.out"
    exit 1
  fi
}
