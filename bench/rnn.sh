#!/usr/bin/env bash
# bench/rnn.sh -- the recurrent-layer benchmark against the PyTorch peer (make bench-rnn).
# For ROUNDS rounds, for each of lstm, gru and rnn: our bench_rnn on 2 threads, then the
# peer's torch_rnn.py on 2 threads (T=50, 128 units, EPOCHS epochs each), alternating;
# collects every JSON line into one file next to the bench binary and prints medians per
# configuration, the ratio to PyTorch and the share of the sgemm-bound limit.
# usage: bash bench/rnn.sh BENCH_RNN_BIN [rounds=3] [epochs=1]
# env:   PEER_BENCH_DIR (default: ../shared/bench beside the repository), THREADS (2)
set -u

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: bash bench/rnn.sh BENCH_RNN_BIN [rounds=3] [epochs=1]" >&2
  exit 2
fi
bin=$1
rounds=${2:-3}
epochs=${3:-1}
threads=${THREADS:-2}
for v in "rounds=$rounds" "epochs=$epochs" "THREADS=$threads"; do
  case "${v#*=}" in ''|*[!0-9]*|0) echo "rnn.sh: ${v%%=*} must be a positive integer, not '${v#*=}'" >&2; exit 2 ;; esac
done
if [ ! -x "$bin" ]; then
  echo "rnn.sh: $bin is not an executable (build it with make build/bench/bench_rnn)" >&2
  exit 2
fi

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
peer_dir=${PEER_BENCH_DIR:-$root/../shared/bench}
python=/usr/bin/python3
[ -x "$python" ] || python=python3

outdir=$(cd "$(dirname "$bin")" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)-$$
results=$outdir/rnn-$stamp.jsonl
logs=$outdir/rnn-$stamp.log
: > "$results"
: > "$logs"

peer=1
if [ ! -f "$peer_dir/torch_rnn.py" ]; then
  echo "rnn.sh: no peer at $peer_dir/torch_rnn.py (set PEER_BENCH_DIR); running neurond only"
  peer=0
fi

# run LABEL COMMAND...: runs one configuration, appending its JSON lines to $results and
# its stderr to $logs; a failure is reported and the rounds go on.
run() {
  local label=$1; shift
  local out err start rc
  out=$(mktemp)
  err=$(mktemp)
  start=$(date +%s)
  printf '%-26s' "  $label"
  "$@" > "$out" 2> "$err"
  rc=$?
  grep '^{' "$out" >> "$results"
  { echo "=== $label (exit $rc): $*"; cat "$err"; } >> "$logs"
  if [ $rc -eq 0 ]; then
    echo "ok ($(( $(date +%s) - start )) s)"
  else
    echo "FAILED (exit $rc; its stderr is in $logs)"
    tail -n 3 "$err" | sed 's/^/      /'
  fi
  rm -f "$out" "$err"
}

echo "adding problem (T=50, 128 units, batch 64, 20,000 rows), $threads threads, $epochs epoch(s):"
echo "$rounds round(s); results in $results"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds"
  for kind in lstm gru rnn; do
    run "neurond $kind" "$bin" $kind "$threads" "$epochs"
    if [ $peer -eq 1 ]; then
      run "torch $kind" env OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
        OMP_WAIT_POLICY=passive "$python" "$peer_dir/torch_rnn.py" $kind "$threads" 50 \
        "$epochs" 128
    fi
  done
done

"$python" - "$results" <<'PY'
"""Medians per cell and side, the ratio to PyTorch and the sgemm fraction, from the JSON
lines of bench/rnn.sh."""
import json
import statistics
import sys

runs = {}                                   # (side, kind) -> metric -> [values]
with open(sys.argv[1]) as f:
    for line in f:
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if not isinstance(o.get("value"), (int, float)):
            continue
        side, kind = o["bench"].split()[:2]
        side = "neurond" if side == "neurond" else "torch"
        runs.setdefault((side, kind), {}).setdefault(o["metric"], []).append(o["value"])


def med(side, kind, metric):
    v = runs.get((side, kind), {}).get(metric)
    return statistics.median(v) if v else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


TRAIN = "train_samples_per_s_ep2-5"
print()
print("medians per cell (train/s: training samples/s, epoch 1 left out when there are more;")
print("limit/s: the sgemm-bound limit; fraction: ours over that limit)")
print(f"{'cell':<6}{'ours/s':>10}{'torch/s':>10}{'ratio':>8}{'our mse':>10}{'torch mse':>11}"
      f"{'limit/s':>10}{'fraction':>10}{'sgemm GF/s':>12}{'peak GF/s':>11}")
for kind in ("lstm", "gru", "rnn"):
    o, t = med("neurond", kind, TRAIN), med("torch", kind, TRAIN)
    ratio = o / t if o and t else None
    print(f"{kind:<6}{fmt(o, ',.0f'):>10}{fmt(t, ',.0f'):>10}{fmt(ratio, '.2f'):>8}"
          f"{fmt(med('neurond', kind, 'test_mse'), '.4f'):>10}"
          f"{fmt(med('torch', kind, 'test_mse'), '.4f'):>11}"
          f"{fmt(med('neurond', kind, 'sgemm_limit_samples_per_s'), ',.0f'):>10}"
          f"{fmt(med('neurond', kind, 'sgemm_fraction'), '.3f'):>10}"
          f"{fmt(med('neurond', kind, 'sgemm_step_gflops'), '.1f'):>12}"
          f"{fmt(med('neurond', kind, 'sgemm_peak_gflops'), '.1f'):>11}")
if not any(med("neurond", k, TRAIN) for k in ("lstm", "gru", "rnn")):
    print("no neurond run produced a training throughput: the benchmark failed")
    sys.exit(1)
PY
