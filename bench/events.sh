#!/usr/bin/env bash
# bench/events.sh -- the event stream benchmark (make bench-events). Starts the service
# (one worker), uploads a small synthetic dataset and then:
#   latency: N clients (build/bench/events) follow a job of 40 short epochs from its start,
#            then one of 20 epochs of a network four times larger;
#            the delay from each epoch's end (its ended_at) to its event at each client;
#   idle:    job A trains while job B waits behind it; N clients hold B's stream, which
#            carries only heartbeats, for S seconds, and the service's CPU outside the
#            training threads is measured; then the same S seconds with no clients.
# The clients share the machine's cores with the service, as they would on one host.
# usage: bash bench/events.sh BUILD_DIR [clients=200] [seconds=30]   (seconds=0: latency only)
set -u
build=${1:-build}
n=${2:-200}
secs=${3:-30}
bin=$build/neurond
ev=$build/bench/events
port=${PORT:-18182}
dir=$(mktemp -d)
pid=
rc=0
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port

# n clients from this one address, on one job: past the defaults' caps per address and job
"$bin" --port "$port" --db "$dir/neurond.db" --workers 1 --max-streams-per-client "$n" \
  --max-streams-per-job "$n" --max-connections-per-ip $((n + 16)) 2> "${LOG:-$dir/neurond.log}" &
pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done
curl -sf "$base/healthz" > /dev/null || { echo "neurond did not start:"; cat "$dir/neurond.log"; exit 1; }

id_of() { python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])'; }
state_of() { curl -sf "$base/v1/jobs/$1" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4; }

# 3 classes of 24,000 rows, 32 features: class c around 2c, uniform noise
python3 -c '
import json, random
r = random.Random(0)
x = [[round(2 * (i % 3) + r.random(), 3) for _ in range(32)] for i in range(24000)]
print(json.dumps({"name": "blobs", "features": x, "labels": [i % 3 for i in range(24000)]}))
' > "$dir/blobs.json"
ds=$(curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$dir/blobs.json" \
     "$base/v1/datasets" | id_of)
[ -n "$ds" ] || { echo "the dataset upload failed"; exit 1; }
# MLP 32-U-U-3, U=512: 281,091 parameters, a checkpoint of 3.4 MB with Adam's moments;
# U=1024: 1,087,491 parameters, 13 MB
net() {
  echo "{\"inputs\": 32, \"layers\": [{\"type\": \"dense\", \"units\": $1, \"activation\": \"relu\"},
    {\"type\": \"dense\", \"units\": $1, \"activation\": \"relu\"},
    {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],
    \"loss\": \"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}"
}
job() {   # job EPOCHS [UNITS]
  curl -sf -X POST -H 'Content-Type: application/json' "$base/v1/jobs" -d "{\"network\": $(net "${2:-512}"),
    \"dataset\": \"$ds\", \"epochs\": $1, \"batch_size\": 32, \"seed\": 0}" | id_of
}
latency() {   # latency EPOCHS UNITS
  echo "latency: $n clients follow a job of $1 epochs (24,000 rows, MLP 32-$2-$2-3) from its start"
  local j
  j=$(job "$1" "$2")
  "$ev" latency "$port" "$j" "$n" 600 || rc=1
  echo "  job $j: $(state_of "$j"); $(curl -sf "$base/v1/jobs/$j/metrics" | python3 -c '
import sys, json, statistics
s = [r["seconds"] for r in json.load(sys.stdin)["epochs"]]
print("epochs of %.2f s (median, %.2f to %.2f)" % (statistics.median(s), min(s), max(s)))')"
}

latency 40 512
latency 20 1024

if [ "$secs" -gt 0 ]; then
echo "idle: $n clients on a queued job's stream for $secs s while another job trains"
a=$(job 100000)
b=$(job 100000)
for _ in $(seq 100); do [ "$(state_of "$a")" = running ] && break; sleep 0.1; done
[ "$(state_of "$b")" = queued ] || { echo "job $b should wait behind $a"; rc=1; }
"$ev" idle "$port" "$b" "$pid" "$n" "$secs" || rc=1
# the service notices the closed streams at its next heartbeat tick (a second)
for _ in $(seq 50); do
  curl -sf "$base/metrics" | grep -q '^neurond_stream_subscribers 0$' && break
  sleep 0.2
done
echo "baseline: no clients for $secs s, the same job training"
"$ev" idle "$port" "$b" "$pid" 0 "$secs" || rc=1
echo "  job $a: $(state_of "$a"), job $b: $(state_of "$b")"
curl -sf -X POST "$base/v1/jobs/$b/cancel" > /dev/null
curl -sf -X POST "$base/v1/jobs/$a/cancel" > /dev/null
fi
kill "$pid"
wait "$pid" || { echo "neurond did not stop cleanly:"; tail -5 "$dir/neurond.log"; rc=1; }
pid=
exit $rc
