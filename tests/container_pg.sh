#!/usr/bin/env bash
# container_pg.sh -- docker/compose.postgres.yaml as a user runs it (part of make
# test-container, after tests/container.sh): PostgreSQL and three neurond nodes brought up
# with podman-compose, all four healthy; a dataset and a job posted through node 1 are seen
# through nodes 2 and 3; six jobs queued through the three nodes in turn all succeed, every
# epoch trained once (the nodes' neurond_epochs_trained_total add up to the jobs' epochs),
# and by more than one node; then compose down, its volume removed.
# This machine pulls from no registry: PostgreSQL's image is neurond-postgres:15, built
# from Debian's package (docker/postgres/Dockerfile) on the same base as neurond's;
# POSTGRES_IMAGE=postgres:15 takes the official one instead. neurond's image is built
# first (docker/image.sh; its layers are cached when tests/container.sh just built it).
# environment: IMAGE (default neurond:latest), POSTGRES_IMAGE, BASE (podman only: the
# compose file is run with podman-compose)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. docker/engine.sh
for tool in jq curl podman-compose; do
  command -v "$tool" >/dev/null || { echo "container_pg.sh: $tool is missing" >&2; exit 1; }
done
[ "$ENGINE" = podman ] || { echo "container_pg.sh: runs the compose file with podman-compose (ENGINE=podman)" >&2; exit 1; }
IMAGE=${IMAGE:-neurond:latest}
base=${BASE:-neurond-base:bookworm}
pgimage=${POSTGRES_IMAGE:-neurond-postgres:15}
tag=neurond-pgtest-$$
proj=$tag
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
tokdir=$(mktemp -d) && chmod 755 "$tokdir"
printf '%s write ci\n' "$token" > "$tokdir/tokens"
chmod 444 "$tokdir/tokens"
passed=0 failed=0
e() { "$ENGINE" "${ENGINE_OPTS[@]}" "$@"; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
start_time=$(now)
finish() {
  echo "$passed passed, $failed failed ($(since "$start_time") s)"
  [ "$failed" -eq 0 ]
  exit
}
# A step the rest depends on failed: show the containers' logs and stop here.
fatal() {
  bad "$1"
  for c in postgres neurond-1 neurond-2 neurond-3; do
    e logs "${proj}_${c}_1" 2>&1 | tail -n 8 | sed "s/^/  $c: /"
  done
  finish
}

# free loopback ports for the three nodes
ports=()
while [ ${#ports[@]} -lt 3 ]; do
  p=$(free_port)
  [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
compose=(podman-compose -p "$proj" -f docker/compose.postgres.yaml)
[ ${#ENGINE_OPTS[@]} -gt 0 ] && compose+=(--podman-args "${ENGINE_OPTS[*]}")
[ ${#RUN_OPTS[@]} -gt 0 ] && compose+=(--podman-run-args "${RUN_OPTS[*]}")
export NEUROND_TOKENS=$tokdir/tokens NEUROND_PG_PASSWORD=$password \
       NEUROND_POSTGRES_IMAGE=$pgimage NEUROND_BASE=$base \
       NEUROND_PUBLISH_1=127.0.0.1:${ports[0]} NEUROND_PUBLISH_2=127.0.0.1:${ports[1]} \
       NEUROND_PUBLISH_3=127.0.0.1:${ports[2]}
cleanup() {
  "${compose[@]}" down -v >/dev/null 2>&1
  e volume rm -f "${proj}_postgres-data" >/dev/null 2>&1
  e network rm -f "${proj}_default" >/dev/null 2>&1
  rm -rf "$tokdir" "/tmp/$tag.log"
}
trap cleanup EXIT

# ---- the images ----
t0=$(now)
if ! IMAGE=$IMAGE BASE=$base bash docker/image.sh > "/tmp/$tag.log" 2>&1; then
  tail -n 30 "/tmp/$tag.log"; fatal "neurond's image builds"
fi
ok "neurond's image builds ($(since "$t0") s)"
if [ -z "${POSTGRES_IMAGE:-}" ]; then
  t0=$(now)
  if ! e build --format docker --build-arg "BASE=$base" -t "$pgimage" docker/postgres \
       > "/tmp/$tag.log" 2>&1; then
    tail -n 30 "/tmp/$tag.log"; fatal "PostgreSQL's image builds"
  fi
  ok "PostgreSQL's image $pgimage builds from Debian's package ($(since "$t0") s)"
fi

# ---- up: four healthy containers ----
t0=$(now)
"${compose[@]}" up -d > "/tmp/$tag.log" 2>&1 || { tail -n 20 "/tmp/$tag.log"; fatal "podman-compose up"; }
# Waits until container $1 is healthy. Podman runs health checks from systemd timers;
# where there is no systemd it cannot schedule them, so this runs the check itself, as the
# timer would. A node that started before PostgreSQL was ready stops and is restarted
# (restart: unless-stopped), so a stopped container is waited for too.
healthy() {
  local deadline=$(($(date +%s) + 90))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    e healthcheck run "$1" >/dev/null 2>&1
    [ "$(e inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ] && return 0
    sleep 0.3
  done
  return 1
}
for c in postgres neurond-1 neurond-2 neurond-3; do
  healthy "${proj}_${c}_1" || fatal "$c becomes healthy"
done
ok "PostgreSQL and the three nodes are healthy ($(since "$t0") s after up)"

auth=(-H "Authorization: Bearer $token")
api() { echo "http://127.0.0.1:${ports[$1 - 1]}"; }
get() { curl -sf "${auth[@]}" "$(api "$1")$2"; }
post() { curl -sf "${auth[@]}" -H "Content-Type: ${4:-application/json}" --data-binary "$3" "$(api "$1")$2"; }
# Waits for job $2 (through node $1) to reach a final state; prints the job.
wait_job() {
  local j deadline=$(($(date +%s) + 120))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    j=$(get "$1" "/v1/jobs/$2") || return 1
    case $(jq -r .state <<<"$j") in succeeded|failed|cancelled) echo "$j"; return 0 ;; esac
    sleep 0.3
  done
  return 1
}
epochs_trained() { get "$1" /metrics | awk '$1 == "neurond_epochs_trained_total" {print $2}'; }

check "the nodes answer without a token 401 and with it 200" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$(api 2)/v1/jobs")/$(curl -s -o /dev/null \
        -w '%{http_code}' "${auth[@]}" "$(api 2)/v1/jobs")" = 401/200
check "PostgreSQL's port is not published" \
  test -z "$(e port "${proj}_postgres_1" 2>/dev/null)"
check "the password stays out of the nodes' logs" \
  test -z "$(e logs "${proj}_neurond-1_1" 2>&1 | grep -F "$password")"

# ---- one node's work, seen through the others ----
ds=$(post 1 "/v1/datasets?name=iris-sample" @api/examples/dataset_iris.csv text/csv | jq -r .id)
[ "${ds#ds_}" != "$ds" ] || fatal "a dataset uploads through node 1"
net=$(post 1 /v1/networks @api/examples/network_iris.json | jq -r .id)
[ "${net#net_}" != "$net" ] || fatal "a network is stored through node 1"
job=$(jq -c --arg n "$net" --arg d "$ds" '.network = $n | .dataset = $d' api/examples/job_iris.json |
      post 1 /v1/jobs @- | jq -r .id)
[ "${job#job_}" != "$job" ] || fatal "a job is queued through node 1"
ok "a dataset, a network and a job posted through node 1 ($ds, $net, $job)"
for n in 2 3; do
  check "node $n sees the dataset ($(get $n "/v1/datasets/$ds" | jq -r '.rows // "?"') rows)" \
    test "$(get $n "/v1/datasets/$ds" | jq -r .id)" = "$ds"
  check "node $n sees the job" test "$(get $n "/v1/jobs/$job" | jq -r .id)" = "$job"
done
j=$(wait_job 3 "$job") || fatal "the job ends"
first_epochs=$(jq -r .epoch <<<"$j")
check "the job succeeds, as node 3 sees it ($(jq -r .state <<<"$j"), $first_epochs epochs)" \
  test "$(jq -r .state <<<"$j")" = succeeded
model=$(jq -r .model <<<"$j")
check "its model predicts through node 2 ($(post 2 "/v1/models/$model/predict" @api/examples/predict_iris.json | jq -c .predictions))" \
  test "$(post 2 "/v1/models/$model/predict" @api/examples/predict_iris.json | jq -c .predictions)" = '["setosa","virginica"]'

# ---- six jobs through the three nodes ----
# 100 epochs of batches of 4 rows: a second or more each, as long as a node needs to notice
# queued work it did not take itself (a worker polls every second)
jobs=() via=()
for i in 1 2 3 4 5 6; do
  n=$(( (i - 1) % 3 + 1 ))
  id=$(jq -nc --arg n "$net" --arg d "$ds" --argjson s "$i" '{name: "spread", network: $n,
         dataset: $d, epochs: 100, batch_size: 4, seed: $s}' | post $n /v1/jobs @- | jq -r .id)
  [ "${id#job_}" != "$id" ] || fatal "job $i is queued through node $n"
  jobs+=("$id") via+=("$n")
done
ok "six jobs queued through nodes 1, 2, 3, 1, 2, 3"
t0=$(now) all=1 nodes=()
for i in "${!jobs[@]}"; do
  j=$(wait_job "${via[$i]}" "${jobs[$i]}") || { all=0; continue; }
  [ "$(jq -r .state <<<"$j")" = succeeded ] && [ "$(jq -r .epoch <<<"$j")" = 100 ] || all=0
  nodes+=("$(jq -r '.node // empty' <<<"$j")")
done
check "all six succeed with 100 epochs ($(since "$t0") s)" test "$all" = 1
rows=0
for id in "${jobs[@]}"; do
  rows=$((rows + $(get 1 "/v1/jobs/$id/metrics" | jq '[.epochs[].epoch] | unique | length')))
done
check "every job has one metrics row per epoch ($rows rows)" test "$rows" = 600
e1=$(epochs_trained 1) e2=$(epochs_trained 2) e3=$(epochs_trained 3)
check "the nodes trained $e1 + $e2 + $e3 epochs, each epoch once" \
  test $((e1 + e2 + e3)) = $((600 + first_epochs))
busy=0
for x in "$e1" "$e2" "$e3"; do [ "$x" -gt 0 ] && busy=$((busy + 1)); done
check "more than one node trained ($busy of 3)" test "$busy" -gt 1
# the jobs' own answers name their node (where the service reports it)
named=$(printf '%s\n' "${nodes[@]}" | awk 'NF' | sort -u)
if [ -n "$named" ]; then
  check "the jobs name more than one node ($(echo $named))" test "$(wc -l <<<"$named")" -gt 1
fi

# ---- down, with the volume ----
t0=$(now)
"${compose[@]}" down -v > "/tmp/$tag.log" 2>&1
check "compose down stops and removes the containers ($(since "$t0") s)" \
  test -z "$(e ps -a --format '{{.Names}}' | grep -F "$proj")"
check "and PostgreSQL's volume" \
  test -z "$(e volume ls --format '{{.Name}}' | grep -F "$proj")"
finish
