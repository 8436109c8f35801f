#!/usr/bin/env bash
# Runs each test binary given, prints its Check summary, and ends with the failures again
# (so that the end of a long log names them) and one line of totals.
# Exits non-zero when any test failed or a binary crashed.
passed=0 failed=0 status=0 failures=()
for t in "$@"; do
  name=$(basename "$t")
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^Running suite' | sed "s|^|$name: |"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
  if [ -z "$line" ]; then
    echo "$name: no Check summary (exit $rc)"; failed=$((failed + 1)); status=1
    failures+=("$name: no Check summary (exit $rc)")
    continue
  fi
  n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$line")
  f=$((f))
  passed=$((passed + n - f)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && status=1
  # Check's failure lines: file:line:F|E:suite:test:...
  while IFS= read -r l; do failures+=("$name: $l"); done \
    < <(printf '%s\n' "$out" | grep -E '^[^:]+:[0-9]+:[FE]:' || true)
done
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status" || exit 1
