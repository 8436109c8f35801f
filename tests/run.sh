#!/usr/bin/env bash
# Runs each test binary given, prints its Check summary, and ends with one line of totals.
# Exits non-zero when any test failed or a binary crashed.
passed=0 failed=0 status=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^Running suite' | sed "s|^|$(basename "$t"): |"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
  if [ -z "$line" ]; then
    echo "$(basename "$t"): no Check summary (exit $rc)"; failed=$((failed + 1)); status=1; continue
  fi
  n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$line")
  f=$((f))
  passed=$((passed + n - f)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status" || exit 1
