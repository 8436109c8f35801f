#!/usr/bin/env bash
# container.sh -- the image as a user runs it (make test-container; not part of make test,
# since the first build takes minutes). Builds the image (docker/image.sh), runs it with a
# named volume and a published port, waits for its health check to say healthy, uploads
# the iris sample from api/examples with curl, trains, predicts, queues a long job, stops
# the container with its stop signal (SIGTERM: exit 0 within seconds), starts a new one on
# the same volume and checks that the dataset, model, finished job and its predictions are
# still there and that the long job resumes from its checkpoint; checks the process runs
# as a non-root uid. The image listens on 0.0.0.0, so it wants tokens: the test gives it a
# token file as a podman secret (docker: a bind mount), checks that it refuses to start
# without one, that requests without a token are refused, that a read token may not write,
# and that no token reaches its log. Then it tries docker/compose.yaml (the file as a
# compose secret) with podman-compose when it is installed. Removes every container,
# volume, secret and network it made; keeps the image.
# environment: ENGINE (podman or docker), IMAGE (default neurond:latest), BASE
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. docker/engine.sh
command -v jq >/dev/null || { echo "container.sh: jq is missing (apt-get install jq)" >&2; exit 1; }
command -v curl >/dev/null || { echo "container.sh: curl is missing (apt-get install curl)" >&2; exit 1; }
IMAGE=${IMAGE:-neurond:latest}
tag=neurond-test-$$
vol=$tag-data c1=$tag-1 c2=$tag-2 proj=$tag-compose secret=$tag-tokens
# the tokens: random, one that writes and one that reads; the file readable by uid 10001
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
reader=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
tokdir=$(mktemp -d) && chmod 755 "$tokdir"
printf '%s write ci\n%s read viewer\n' "$token" "$reader" > "$tokdir/tokens"
chmod 444 "$tokdir/tokens"
passed=0 failed=0
e() { "$ENGINE" "${ENGINE_OPTS[@]}" "$@"; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
# A step the rest depends on failed: show the container's log and stop here.
fatal() {
  bad "$1"
  [ -n "${2:-}" ] && e logs "$2" 2>&1 | tail -n 20 | sed 's/^/  log: /'
  finish
}
cleanup() {
  rm -f "/tmp/$tag.err"
  e rm -f "$c1" "$c2" "$tag-bare" >/dev/null 2>&1
  e volume rm -f "$vol" >/dev/null 2>&1
  [ "$ENGINE" = podman ] && e secret rm "$secret" >/dev/null 2>&1
  if [ -n "${compose:-}" ]; then
    NEUROND_TOKENS=$tokdir/tokens "${compose[@]}" down >/dev/null 2>&1
    e volume rm -f "${proj}_neurond-data" >/dev/null 2>&1
    e network rm -f "${proj}_default" >/dev/null 2>&1
  fi
  rm -rf "$tokdir"
}
trap cleanup EXIT

# ---- the image ----
t0=$(now)
if ! IMAGE=$IMAGE bash docker/image.sh > "/tmp/$tag-build.log" 2>&1; then
  tail -n 30 "/tmp/$tag-build.log"; rm -f "/tmp/$tag-build.log"
  fatal "the image builds"
fi
rm -f "/tmp/$tag-build.log"
ok "the image builds ($(since "$t0") s)"
size=$(e image inspect -f '{{.Size}}' "$IMAGE")
echo "  image $IMAGE: $((size / 1000000)) MB"
check "the image has a health check" \
  test -n "$(e image inspect -f '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$IMAGE")"
check "the image stops with SIGTERM" \
  test "$(e image inspect -f '{{.Config.StopSignal}}' "$IMAGE")" = SIGTERM
user=$(e image inspect -f '{{.Config.User}}' "$IMAGE")
check "the image runs as a non-root user ($user)" test -n "$user" -a "${user%%:*}" != 0 -a "${user%%:*}" != root

# ---- helpers on a running container ----
# The token file as the container sees it: a podman secret (copied into podman's store,
# owned by the service's uid), or a read-only bind mount where the engine has none.
if [ "$ENGINE" = podman ]; then
  e secret create "$secret" "$tokdir/tokens" >/dev/null || fatal "podman secret create"
  TOKENS=(--secret "$secret,target=neurond-tokens,uid=10001,gid=10001,mode=0400")
else
  TOKENS=(-v "$tokdir/tokens:/run/secrets/neurond-tokens:ro")
fi
# Starts container $1 on the volume with the tokens, the port published on a free
# loopback port.
start() {
  e run -d --name "$1" "${RUN_OPTS[@]}" -v "$vol:/var/lib/neurond" -p 127.0.0.1::8080 \
    "${TOKENS[@]}" "$IMAGE" >/dev/null 2>"/tmp/$tag.err" || { cat "/tmp/$tag.err"; return 1; }
  port=$(e port "$1" 8080 | head -n 1 | sed 's/.*://')
  api=http://127.0.0.1:$port
}
# Waits until the engine reports container $1 healthy. Podman runs health checks from
# systemd timers; where there is no systemd it cannot schedule them, so this runs the
# image's check itself (podman healthcheck run), as the timer would.
healthy() {
  local status deadline=$(($(date +%s) + 60))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ "$(e inspect -f '{{.State.Running}}' "$1")" = true ] || return 1
    [ "$ENGINE" = podman ] && e healthcheck run "$1" >/dev/null 2>&1
    status=$(e inspect -f '{{.State.Health.Status}}' "$1")
    [ "$status" = healthy ] && return 0
    sleep 0.2
  done
  return 1
}
auth=(-H "Authorization: Bearer $token")
get() { curl -sf "${auth[@]}" "$api$1"; }
have() { curl -sf -o /dev/null "${auth[@]}" "$api$1"; }
# (grep reads the whole log, not -q: with pipefail, a grep that quits at its match leaves
# the writer a broken pipe, and the pipeline fails on a long log)
logged() { e logs "$1" 2>&1 | grep -- "$2" > /dev/null; }
post() { curl -sf "${auth[@]}" -H "Content-Type: ${3:-application/json}" --data-binary "$2" "$api$1"; }
# The status of a request with these curl arguments (no token unless they give one).
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# Whether container $1's log holds none of the tokens.
tokenless() { ! e logs "$1" 2>&1 | grep -F -e "$token" -e "$reader" > /dev/null; }
# Waits for job $1 to reach a final state; prints the job.
wait_job() {
  local j deadline=$(($(date +%s) + 120))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    j=$(get "/v1/jobs/$1") || return 1
    case $(jq -r .state <<<"$j") in succeeded|failed|cancelled) echo "$j"; return 0 ;; esac
    sleep 0.2
  done
  return 1
}

# ---- without tokens it does not start ----
# (run in the foreground: its exit code and its one line)
e run --name "$tag-bare" "${RUN_OPTS[@]}" "$IMAGE" >"/tmp/$tag.err" 2>&1; code=$?
out=$(grep '^neurond' "/tmp/$tag.err")
e rm -f "$tag-bare" >/dev/null 2>&1
check "without a token file the container stops at start (exit $code: $out)" \
  test "$code" -ne 0 -a -n "$(grep -F 'cannot read the token file /run/secrets/neurond-tokens' <<<"$out")"
e run --name "$tag-bare" "${RUN_OPTS[@]}" -e NEUROND_TOKEN_FILE= "$IMAGE" >"/tmp/$tag.err" 2>&1
code=$?
out=$(grep '^neurond' "/tmp/$tag.err")
e rm -f "$tag-bare" >/dev/null 2>&1
check "with no token file at all it refuses 0.0.0.0 (exit $code: $out)" \
  test "$code" = 2 -a -n "$(grep -F 'refusing to serve 0.0.0.0 without tokens' <<<"$out")"

# ---- first container: train and predict ----
t0=$(now)
start "$c1" || fatal "the container starts"
healthy "$c1" || fatal "the container becomes healthy" "$c1"
ok "the container becomes healthy ($(since "$t0") s after run)"
check "GET /healthz answers 200" have /healthz
check "GET /v1/jobs without a token answers 401" test "$(status "$api/v1/jobs")" = 401
check "GET /v1/jobs with the token answers 200" test "$(status "${auth[@]}" "$api/v1/jobs")" = 200
check "a read token may not queue a job (403)" test "$(status -H "Authorization: Bearer $reader" \
  -H 'Content-Type: application/json' -d '{}' "$api/v1/jobs")" = 403
check "another site may not queue a job (403)" test "$(status "${auth[@]}" \
  -H 'Origin: https://evil.example' -H 'Content-Type: application/json' -d '{}' "$api/v1/jobs")" = 403
check "a name rebound to it gets 421" test "$(status "${auth[@]}" -H 'Host: evil.example' \
  "$api/v1/jobs")" = 421

check "the container's user is not root (id -u: $(e exec "$c1" id -u))" \
  test "$(e exec "$c1" id -u)" != 0
pid=$(e inspect -f '{{.State.Pid}}' "$c1")
huid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
check "neurond's process on the host has uid ${huid:-?}, not 0" test -n "$huid" -a "$huid" != 0

ds=$(post "/v1/datasets?name=iris-sample" @api/examples/dataset_iris.csv text/csv | jq -r .id)
check "a CSV dataset uploads ($ds)" test "${ds#ds_}" != "$ds"
net=$(post /v1/networks @api/examples/network_iris.json | jq -r .id)
check "a network is stored ($net)" test "${net#net_}" != "$net"
job=$(jq -c --arg n "$net" --arg d "$ds" '.network = $n | .dataset = $d' api/examples/job_iris.json |
      post /v1/jobs @- | jq -r .id)
[ "${job#job_}" != "$job" ] || fatal "a job is queued" "$c1"
ok "a job is queued ($job)"
j=$(wait_job "$job") || fatal "the job ends" "$c1"
model=$(jq -r .model <<<"$j")
check "the job succeeds with a model (state $(jq -r .state <<<"$j"), epoch $(jq -r .epoch <<<"$j"), $model)" \
  test "$(jq -r .state <<<"$j")" = succeeded -a "${model#mdl_}" != "$model"
pred=$(post "/v1/models/$model/predict" @api/examples/predict_iris.json)
check "the model predicts setosa and virginica ($(jq -c .predictions <<<"$pred"))" \
  test "$(jq -c .predictions <<<"$pred")" = '["setosa","virginica"]'

# A long job, running when the container stops: it must resume from its checkpoint.
long=$(jq -nc --arg n "$net" --arg d "$ds" '{name: "long", network: $n, dataset: $d,
         epochs: 100000, batch_size: 4, seed: 1}' | post /v1/jobs @- | jq -r .id)
deadline=$(($(date +%s) + 30)) epoch=0
while [ "$epoch" -lt 5 ] && [ "$(date +%s)" -lt "$deadline" ]; do
  epoch=$(get "/v1/jobs/$long" | jq -r '.epoch // 0'); sleep 0.1
done
check "a long job is running (epoch $epoch)" test "$epoch" -ge 5

# ---- stop: SIGTERM, a clean exit ----
t0=$(now)
e stop -t 10 "$c1" >/dev/null 2>&1
took=$(since "$t0")
code=$(e inspect -f '{{.State.ExitCode}}' "$c1")
check "the container stops on SIGTERM with exit 0 (exit $code, ${took} s)" test "$code" = 0
check "it stopped within 5 s" awk -v t="$took" 'BEGIN { exit !(t < 5) }'
check "neurond logged the signal and its stop" logged "$c1" 'SIGTERM, stopping'
check "its access log names the tokens" logged "$c1" ' token=viewer$'
check "no token reaches its log" tokenless "$c1"

e rm "$c1" >/dev/null 2>&1
stopped=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)

# ---- a new container on the same volume ----
t0=$(now)
start "$c2" || fatal "a second container starts on the volume"
healthy "$c2" || fatal "the second container becomes healthy" "$c2"
ok "the second container becomes healthy ($(since "$t0") s after run)"
check "the dataset is still there" have "/v1/datasets/$ds"
check "the finished job is still there" test "$(get "/v1/jobs/$job" | jq -r .state)" = succeeded
check "the model is still there" have "/v1/models/$model"
pred2=$(post "/v1/models/$model/predict" @api/examples/predict_iris.json)
check "it predicts exactly as before" test "$(jq -c .outputs <<<"$pred2")" = "$(jq -c .outputs <<<"$pred")"
# The long job carries on from the epoch it had reached: k epochs ended before the stop,
# epoch k+1 after the restart, and every epoch is recorded once.
deadline=$(($(date +%s) + 30)) k=0 next=""
while [ -z "$next" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  rows=$(get "/v1/jobs/$long/metrics" | jq -c '[.epochs[] | {epoch, ended_at}]')
  k=$(jq --arg t "$stopped" '[.[] | select(.ended_at < $t)] | length' <<<"$rows")
  next=$(jq -r --arg t "$stopped" --argjson k "$k" '.[$k] | select(.ended_at > $t) | .epoch' <<<"$rows")
  sleep 0.1
done
check "the long job resumes at epoch ${next:-?} after $k epochs before the stop ($(get "/v1/jobs/$long" | jq -r .state))" \
  test "$k" -ge "$epoch" -a "${next:-0}" = $((k + 1))
post "/v1/jobs/$long/cancel" '' >/dev/null
j=$(wait_job "$long")
rows=$(get "/v1/jobs/$long/metrics" | jq '[.epochs[].epoch]')
check "its epochs run 1..$(jq length <<<"$rows") with none repeated" \
  test "$(jq -c '. == [range(1; length + 1)]' <<<"$rows")" = true
check "the cancelled job kept a model" test "$(jq -r '.model // ""' <<<"$j")" != ""
e stop -t 10 "$c2" >/dev/null 2>&1
check "the second container stops with exit 0" test "$(e inspect -f '{{.State.ExitCode}}' "$c2")" = 0

# ---- compose.yaml, with podman-compose where it is installed ----
if [ "$ENGINE" = podman ] && command -v podman-compose >/dev/null; then
  cport=$(free_port)
  compose=(podman-compose -p "$proj" -f docker/compose.yaml)
  [ ${#ENGINE_OPTS[@]} -gt 0 ] && compose+=(--podman-args "${ENGINE_OPTS[*]}")
  [ ${#RUN_OPTS[@]} -gt 0 ] && compose+=(--podman-run-args "${RUN_OPTS[*]}")
  t0=$(now)
  if NEUROND_PUBLISH=127.0.0.1:$cport NEUROND_TOKENS=$tokdir/tokens "${compose[@]}" up -d \
       >"/tmp/$tag.compose" 2>&1; then
    api=http://127.0.0.1:$cport
    if healthy "${proj}_neurond_1"; then
      ok "compose.yaml: the service becomes healthy ($(since "$t0") s)"
      check "compose.yaml: the port answers on 127.0.0.1:$cport" have /readyz
      check "compose.yaml: the token file is its secret (401 without, 200 with)" \
        test "$(status "$api/v1/jobs")/$(status "${auth[@]}" "$api/v1/jobs")" = 401/200
      check "compose.yaml: the database is on the named volume" \
        test -n "$(e volume inspect -f '{{.Name}}' "${proj}_neurond-data" 2>/dev/null)"
    else
      bad "compose.yaml: the service becomes healthy"
      e inspect -f '  state: {{.State.Status}}, exit {{.State.ExitCode}}, health {{.State.Health.Status}} {{.State.Error}}' \
        "${proj}_neurond_1" 2>&1
      e logs "${proj}_neurond_1" 2>&1 | tail -n 20 | sed 's/^/  log: /'
    fi
  else
    tail -n 20 "/tmp/$tag.compose"; bad "compose.yaml: podman-compose up"
  fi
  rm -f "/tmp/$tag.compose"
else
  echo "skip: compose.yaml (no podman-compose)"
fi
finish
