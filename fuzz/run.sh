#!/usr/bin/env bash
# Runs each libFuzzer target given for SECONDS, one after the other, starting from its
# seeds in fuzz/corpus/<target>/ (read only; what it finds goes to build-fuzz/corpus/),
# and prints one line per target: its executions, coverage and the size of its corpus.
# Exits non-zero when any target found a crash, a leak, undefined behaviour, a timeout or
# a broken property; the input that did it is saved as build-fuzz/artifacts/<target>-*.
# usage: fuzz/run.sh SECONDS build-fuzz/fuzz/fuzz_csv ...
set -u
seconds=$1; shift
status=0
out=build-fuzz
mkdir -p "$out/artifacts" "$out/logs"
for bin in "$@"; do
  t=$(basename "$bin")
  mkdir -p "$out/corpus/$t"
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log="$out/logs/$t.log"
  nice "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" "${dict[@]}" \
    "$out/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')
  if [ "$rc" -ne 0 ]; then
    echo "$t: FAILED (exit $rc) after ${runs:-?} runs; see $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property broken|.*runtime error|artifact_prefix|Test unit written)' "$log" | head -n 8 | sed 's/^/  /'
    status=1
  else
    echo "$t: ${runs:-?} runs in ${seconds}s, $cov"
  fi
done
exit $status
