#!/usr/bin/env bash
# bench/http.sh -- the service benchmark (make bench-http): trains the Fashion-MNIST MLP
# through the REST API and compares its samples/s with the engine benchmark's, run in the
# same script; then one-row predictions under wrk -t2 -c64 -d30s, without tokens and then
# with the service restarted on a token file and every request carrying a bearer token;
# between them, the prediction protocols (TF Serving, Open Inference Protocol v2, MLflow,
# each addressing the model by name) and the native route in alternating rounds, with
# each protocol's median requests/s as a share of the native route's; then prediction
# batching off and on in alternating rounds, with nginx serving a small static file as
# the yardstick (bench/nginx.conf) and nginx answering the same POST with no work, and
# again for a 784-2048-2048-10 MLP.
# usage: bash bench/http.sh BUILD_DIR [wrk_seconds=30] [protocol_rounds=3]
set -u
build=${1:-build}
secs=${2:-30}
rounds=${3:-3}
bin=$build/neurond
port=${PORT:-18181}
dir=$(mktemp -d)
npid=
trap 'kill $pid $npid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port

echo "engine alone (bench_fmnist, 2 threads):"
engine=$("$build/bench/bench_fmnist" 2 5 2>/dev/null | python3 -c '
import sys, json
for l in sys.stdin:
    d = json.loads(l)
    if d["metric"] == "train_samples_per_s_ep2-5": print(round(d["value"]))')
echo "  $engine samples/s over epochs 2-5"

"$build/bench/fmnist_csv" > "$dir/train.csv" || exit 1
"$bin" --port "$port" --db "$dir/neurond.db" --threads 2 2> "$dir/neurond.log" &
pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done

t0=$(date +%s.%N)
ds=$(curl -sf -X POST -H 'Content-Type: text/csv' --data-binary @"$dir/train.csv" \
     "$base/v1/datasets?name=fashion&label=label" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
t1=$(date +%s.%N)
echo "upload of $(du -m "$dir/train.csv" | cut -f1) MB of CSV: $(python3 -c "print(round($t1 - $t0, 2))") s"
net='{"inputs": 784, "layers": [{"type": "dense", "units": 256, "activation": "relu"},
  {"type": "dense", "units": 128, "activation": "relu"},
  {"type": "dense", "units": 10, "activation": "softmax"}],
  "loss": "categorical_crossentropy", "metrics": ["accuracy"]}'
# Queues the job whose body is $1 and waits for it to end; sets job, state and model.
# It is polled lightly (no interpreter per poll): the job shares the machine's 2 cores.
run_job() {
  job=$(curl -sf -X POST -H 'Content-Type: application/json' "$base/v1/jobs" -d "$1" |
        python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  [ -n "$job" ] || { echo "the service refused the job $1" >&2; exit 1; }
  while :; do
    state=$(curl -sf "$base/v1/jobs/$job" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4)
    case $state in succeeded|failed|cancelled) break ;; esac
    sleep 2
  done
  model=$(curl -sf "$base/v1/jobs/$job" | python3 -c 'import sys,json; print(json.load(sys.stdin).get("model"))')
}
run_job "{\"network\": $net, \"dataset\": \"$ds\", \"epochs\": 5, \"batch_size\": 128,
  \"standardize\": false, \"model_name\": \"fashion\", \"seed\": 0,
  \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.001, \"epsilon\": 1e-8}}"
echo "job $job: $state"
service=$(curl -sf "$base/v1/jobs/$job/metrics" | python3 -c '
import sys, json
e = json.load(sys.stdin)["epochs"]
print(round(60000 * (len(e) - 1) / sum(r["seconds"] for r in e[1:])))')
echo "through the service: $service samples/s over epochs 2-5"
python3 -c "print('  service / engine = %.1f%% (target 90%%)' % (100.0 * $service / $engine))"

echo "predictions: wrk -t2 -c64 -d${secs}s, one row of 784 inputs per request"
wrk -t2 -c64 -d"${secs}s" --latency -s bench/predict.lua "$base/v1/models/$model/predict" |
  grep -E "Requests/sec|Non-2xx|Socket errors|requests in|  50%|  99%"

# the protocols, by name, against the native route (by id), alternating: the body each
# protocol's client sends (bench/predict.lua), one row of 784 inputs
echo "protocols and the native route, alternating, $rounds rounds of wrk -t2 -c64 -d${secs}s:"
protocols="native tfserving kserve mlflow"
declare -A path=([native]="/v1/models/$model/predict" [tfserving]="/v1/models/fashion:predict"
                 [kserve]="/v2/models/fashion/infer" [mlflow]="/invocations?model=fashion")
declare -A got
for r in $(seq "$rounds"); do
  for p in $protocols; do
    out=$(NEUROND_PROTOCOL=$p wrk -t2 -c64 -d"${secs}s" -s bench/predict.lua "$base${path[$p]}")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    got[$p]="${got[$p]:-} $rps"
    printf '  round %d %-10s %10s requests/s%s\n' "$r" "$p" "$rps" "${bad:+ ($bad not 2xx)}"
  done
done
for p in $protocols; do echo "$p ${got[$p]}"; done | python3 -c '
import sys, statistics
med = {}
for line in sys.stdin:
    name, *v = line.split()
    med[name] = statistics.median(float(x) for x in v)
for name, m in med.items():
    if name != "native":
        print("  %-10s median %9.0f requests/s = %5.1f%% of the native route'"'"'s %.0f (target 85%%)"
              % (name, m, 100 * m / med["native"], med["native"]))'

# batching off (--max-batch 0) and on (the defaults), alternating, each on a restarted
# service: wrk -c64 for throughput and p99, then one connection for the median latency;
# nginx serving the route's own answer as a static file is the yardstick, in each round;
# then nginx answering the prediction's POST with the same text: what a server doing no
# work gets from the same client on the same cores
echo "batching off and on, alternating, $rounds rounds of wrk -t2 -c64 -d${secs}s and wrk -t1 -c1 -d${secs}s:"
restart() {
  kill $pid; wait $pid 2>/dev/null
  "$bin" --port "$port" --db "$dir/neurond.db" --threads 2 "$@" 2>> "$dir/neurond.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done
}
nport=$((port + 1))
mkdir -p "$dir/nginx/www" "$dir/nginx/tmp"
python3 -c 'print("{\"inputs\": [[" + ",".join("%.3f" % ((i % 17) / 17) for i in range(1, 785)) + "]]}", end="")' \
  > "$dir/body.json"   # the body of bench/predict.lua
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$dir/body.json" \
  "$base/v1/models/$model/predict" > "$dir/nginx/www/answer.json"
printf "return 200 '%s';\n" "$(cat "$dir/nginx/www/answer.json")" > "$dir/nginx/answer.conf"
sed -e "s|@PORT@|$nport|g" -e "s|@ROOT@|$dir/nginx|g" bench/nginx.conf > "$dir/nginx/nginx.conf"
nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" &
npid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nport/answer.json" > /dev/null && break; sleep 0.1; done
: > "$dir/batching"
for r in $(seq "$rounds"); do
  for mode in off on; do
    if [ $mode = off ]; then restart --max-batch 0; else restart; fi
    out=$(wrk -t2 -c64 -d"${secs}s" --latency -s bench/predict.lua "$base/v1/models/$model/predict")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    one=$(wrk -t1 -c1 -d"${secs}s" --latency -s bench/predict.lua "$base/v1/models/$model/predict" |
          awk '$1 == "50%" {print $2}')
    rows=$(curl -sf "$base/metrics" | awk '/^neurond_predict_batch_rows_sum/ {s=$2} /^neurond_predict_batch_rows_count/ {c=$2} END {if (c > 0) printf "%.2f", s / c; else print "-"}')
    printf '  round %d batching %-3s %10s requests/s  p99 %8s  one connection p50 %8s  rows a pass %s%s\n' \
      "$r" "$mode" "$rps" "$p99" "$one" "$rows" "${bad:+ ($bad not 2xx)}"
    echo "$mode $rps $p99 $one" >> "$dir/batching"
  done
  out=$(wrk -t2 -c64 -d"${secs}s" "http://127.0.0.1:$nport/answer.json")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  printf '  round %d nginx        %10s requests/s (a static file of %d bytes)\n' "$r" "$rps" \
    "$(stat -c %s "$dir/nginx/www/answer.json")"
  echo "nginx $rps" >> "$dir/batching"
  out=$(wrk -t2 -c64 -d"${secs}s" -s bench/predict.lua "http://127.0.0.1:$nport/predict")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '  round %d nginx POST   %10s requests/s (the prediction'"'"'s request, the same answer)%s\n' \
    "$r" "$rps" "${bad:+ ($bad not 2xx)}"
  echo "ceiling $rps" >> "$dir/batching"
done
kill $npid 2>/dev/null; wait $npid 2>/dev/null
python3 - "$dir/batching" <<'PY'
import sys, statistics as st
def secs(t):   # wrk's 1.50ms, 812.00us, 1.02s
    for unit, f in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if t.endswith(unit):
            return float(t[:-len(unit)]) * f
rps, p99, one = {}, {}, {}
for line in open(sys.argv[1]):
    v = line.split()
    rps.setdefault(v[0], []).append(float(v[1]))
    if len(v) == 4:
        p99.setdefault(v[0], []).append(secs(v[2]))
        one.setdefault(v[0], []).append(secs(v[3]))
m = {k: st.median(x) for k, x in rps.items()}
print("  medians: off %.0f, on %.0f, nginx %.0f requests/s" % (m["off"], m["on"], m["nginx"]))
print("  on / off = %.2fx (target 3x); on / nginx = %.0f%% (target 50%%)"
      % (m["on"] / m["off"], 100 * m["on"] / m["nginx"]))
print("  nginx answering the same POST with no work: %.0f requests/s = %.2fx off"
      % (m["ceiling"], m["ceiling"] / m["off"]))
print("  p99 on %.2f ms, off %.2f ms (target under 10 ms)"
      % (1e3 * st.median(p99["on"]), 1e3 * st.median(p99["off"])))
print("  one connection's median: on %.0f us, off %.0f us, %+.1f%% (target at most +10%%)"
      % (1e6 * st.median(one["on"]), 1e6 * st.median(one["off"]),
         100 * (st.median(one["on"]) / st.median(one["off"]) - 1)))
PY

# the same for a model whose forward pass is most of a request: a 784-2048-2048-10 MLP
# (5.8M parameters) trained one epoch, off and on alternating, wrk -c64
echo "batching off and on for a 784-2048-2048-10 MLP, $rounds rounds of wrk -t2 -c64 -d${secs}s:"
big='{"inputs": 784, "layers": [{"type": "dense", "units": 2048, "activation": "relu"},
  {"type": "dense", "units": 2048, "activation": "relu"},
  {"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy"}'
small=$model
run_job "{\"network\": $big, \"dataset\": \"$ds\", \"epochs\": 1, \"batch_size\": 256,
  \"standardize\": false, \"seed\": 0}"
bmodel=$model
model=$small
: > "$dir/big"
for r in $(seq "$rounds"); do
  for mode in off on; do
    if [ $mode = off ]; then restart --max-batch 0; else restart; fi
    out=$(wrk -t2 -c64 -d"${secs}s" --latency -s bench/predict.lua "$base/v1/models/$bmodel/predict")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    rows=$(curl -sf "$base/metrics" | awk '/^neurond_predict_batch_rows_sum/ {s=$2} /^neurond_predict_batch_rows_count/ {c=$2} END {if (c > 0) printf "%.2f", s / c; else print "-"}')
    printf '  round %d batching %-3s %10s requests/s  p99 %8s  rows a pass %s\n' \
      "$r" "$mode" "$rps" "$p99" "$rows"
    echo "$mode $rps" >> "$dir/big"
  done
done
python3 - "$dir/big" <<'PY'
import sys, statistics as st
rps = {}
for line in open(sys.argv[1]):
    v = line.split()
    rps.setdefault(v[0], []).append(float(v[1]))
m = {k: st.median(x) for k, x in rps.items()}
print("  medians: off %.0f, on %.0f requests/s; on / off = %.2fx" % (m["off"], m["on"], m["on"] / m["off"]))
PY

# the same with tokens: a file of ten, the request's the last one
for i in $(seq 10); do echo "bench-token-$i-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_') write t$i"; done > "$dir/tokens"
kill $pid; wait $pid 2>/dev/null
"$bin" --port "$port" --db "$dir/neurond.db" --threads 2 --token-file "$dir/tokens" 2>> "$dir/neurond.log" &
pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done
echo "predictions with a bearer token (ten in the file): wrk -t2 -c64 -d${secs}s"
NEUROND_TOKEN=$(tail -n 1 "$dir/tokens" | cut -d' ' -f1) \
  wrk -t2 -c64 -d"${secs}s" --latency -s bench/predict.lua "$base/v1/models/$model/predict" |
  grep -E "Requests/sec|Non-2xx|Socket errors|requests in|  50%|  99%"
