#!/usr/bin/env bash
# bench/run.sh -- the Fashion-MNIST engine benchmark against the PyTorch peer (make bench).
# Runs, alternating, for ROUNDS rounds: our bench on 2 threads and on 1, then the peer's
# torch_mlp.py on 1 and 2 threads; collects every JSON line into one file next to the
# bench binary and prints medians per configuration and whether each target holds.
# usage: bash bench/run.sh BENCH_BIN [rounds=3]
# env:   PEER_BENCH_DIR (default: ../shared/bench beside the repository), FMNIST_DIR
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: bash bench/run.sh BENCH_BIN [rounds=3]" >&2
  exit 2
fi
bin=$1
rounds=${2:-3}
case "$rounds" in ''|*[!0-9]*|0) echo "run.sh: rounds must be a positive integer, not '$rounds'" >&2; exit 2 ;; esac
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin is not an executable (build it with make build/bench/bench_fmnist)" >&2
  exit 2
fi

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
peer_dir=${PEER_BENCH_DIR:-$root/../shared/bench}
python=/usr/bin/python3
[ -x "$python" ] || python=python3

outdir=$(cd "$(dirname "$bin")" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)-$$
results=$outdir/fmnist-$stamp.jsonl
logs=$outdir/fmnist-$stamp.log
: > "$results"
: > "$logs"

peer=1
if [ ! -f "$peer_dir/torch_mlp.py" ]; then
  echo "run.sh: no peer at $peer_dir/torch_mlp.py (set PEER_BENCH_DIR); running neurond only"
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

echo "fashion-mnist MLP benchmark: $rounds round(s); results in $results"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds"
  run "neurond 2 threads" "$bin" 2 5
  run "neurond 1 thread" "$bin" 1 5
  if [ $peer -eq 1 ]; then
    for t in 1 2; do
      run "torch $t thread(s)" env OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t \
        OMP_WAIT_POLICY=passive "$python" "$peer_dir/torch_mlp.py" $t 5
    done
  fi
done

"$python" - "$results" <<'EOF'
"""Medians per configuration, and the targets, from the JSON lines of bench/run.sh."""
import json
import statistics
import sys

runs = {}                                   # bench tag -> metric -> [values]
with open(sys.argv[1]) as f:
    for line in f:
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if isinstance(o.get("value"), (int, float)):
            runs.setdefault(o["bench"], {}).setdefault(o["metric"], []).append(o["value"])


def med(tag, metric):
    v = runs.get(tag, {}).get(metric)
    return statistics.median(v) if v else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


TRAIN = "train_samples_per_s_ep2-5"
ours = sorted(t for t in runs if t.startswith("neurond"))
torch = sorted(t for t in runs if t.startswith("torch"))
cols = [("train/s", TRAIN, ",.0f"), ("test acc", "test_acc", ".4f"),
        ("b1 med us", "infer_b1_latency_median_us", ".1f"),
        ("b1 p99 us", "infer_b1_latency_p99_us", ".1f"),
        ("b1024/s", "infer_b1024_samples_per_s", ",.0f"),
        ("RSS MiB", "peak_rss_mb", ".1f"),
        ("sgemm lim/s", "sgemm_limit_samples_per_s", ",.0f"),
        ("gemm eff", "gemm_efficiency", ".3f")]
print()
print("medians per configuration (train/s: samples/s over epochs 2-5; sgemm lim/s: the")
print("better of the two GEMM-only limits; gemm eff: train/s over that limit)")
print(f"{'configuration':<37}{'runs':>5}" + "".join(f"{c[0]:>12}" for c in cols))
for tag in ours + torch:
    n = max((len(v) for v in runs[tag].values()), default=0)
    print(f"{tag:<37}{n:>5}" + "".join(f"{fmt(med(tag, m), s):>12}" for _, m, s in cols))
for tag in ours:
    sp, bl = med(tag, "sgemm_limit_split_samples_per_s"), med(tag, "sgemm_limit_blas_samples_per_s")
    print(f"  {tag}: sgemm limit split across threads {fmt(sp, ',.0f')}/s, "
          f"one OpenBLAS call per GEMM {fmt(bl, ',.0f')}/s")


def best(tags):
    scored = [(med(t, TRAIN), t) for t in tags if med(t, TRAIN) is not None]
    return max(scored)[1] if scored else None


ob, tb = best(ours), best(torch)
print()
if ob is None:
    print("no neurond run produced a training throughput: the benchmark failed")
    sys.exit(1)
results = []


def target(name, ok, detail):
    results.append(ok)
    verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
    print(f"  [{verdict}] {name}: {detail}")


print(f"best neurond: {ob}" + (f"; best torch: {tb}" if tb else "; no torch results"))
if tb:
    ratio = med(ob, TRAIN) / med(tb, TRAIN)
    target(">= 2x torch's training throughput", ratio >= 2.0,
           f"{med(ob, TRAIN):,.0f} / {med(tb, TRAIN):,.0f} = {ratio:.2f}x")
else:
    target(">= 2x torch's training throughput", None, "no peer results")
eff = med(ob, "gemm_efficiency")
target(">= 60% of the sgemm-bound limit", None if eff is None else eff >= 0.6,
       "-" if eff is None else f"{med(ob, TRAIN):,.0f} / {med(ob, 'sgemm_limit_samples_per_s'):,.0f}"
       f" = {eff:.1%}")
oa, ta = med(ob, "test_acc"), (med(tb, "test_acc") if tb else None)
if oa is None or ta is None:
    target("test accuracy >= torch's - 0.005", None, f"neurond {fmt(oa, '.4f')}, torch {fmt(ta, '.4f')}")
else:
    target("test accuracy >= torch's - 0.005", oa >= ta - 0.005, f"{oa:.4f} vs {ta:.4f}")
rss = [(med(t, "peak_rss_mb"), med(t, "rss_target_mb"), t) for t in ours]
rss = [x for x in rss if x[0] is not None and x[1] is not None]
if rss:
    target("peak RSS under 1.25 x data + 64 MiB", all(r <= g for r, g, _ in rss),
           ", ".join(f"{t}: {r:.1f} of {g:.1f} MiB" for r, g, t in rss))
else:
    target("peak RSS under 1.25 x data + 64 MiB", None, "no measurement")
na = sum(1 for r in results if r is None)
print(f"\n{sum(1 for r in results if r)} of {len(results)} targets hold"
      + (f" ({na} could not be checked)" if na else ""))
EOF
