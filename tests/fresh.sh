#!/usr/bin/env bash
# fresh.sh -- the README's two commands on a bare Debian (make test-fresh; not part of make
# test: every package comes from the mirror, 8 to 10 minutes here). In a container of the
# debootstrapped base (docker/base.sh, made when missing), on a clone of HEAD: apt-get
# install make, then make run, the README's curl loop against it (the iris sample
# uploaded, a network, a job followed over its event stream to its end, a prediction),
# then make test. The node suites run on Debian's own Node.js there (18 on bookworm).
# A host whose HTTPS goes through a proxy with a CA of its own (NODE_EXTRA_CA_CERTS names
# its file) lends that file to npm in the container.
# environment: ENGINE (podman or docker), BASE (default neurond-base:bookworm), KEEP=1
# keeps the clone and make test's log
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. docker/engine.sh
base=${BASE:-neurond-base:bookworm}
e() { "$ENGINE" "${ENGINE_OPTS[@]}" "$@"; }

if [ "$base" = neurond-base:bookworm ] && ! e image inspect "$base" >/dev/null 2>&1; then
  ENGINE=$ENGINE bash docker/base.sh "$base" || exit 1
fi
work=$(mktemp -d /tmp/neurond-fresh.XXXXXX)
name=neurond-fresh-$$
cleanup() {
  e rm -f "$name" >/dev/null 2>&1
  if [ "${KEEP:-0}" = 1 ]; then echo "fresh.sh: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
git clone -q . "$work/p" || exit 1
echo "fresh.sh: $(git -C "$work/p" log --oneline -1) in $base"

ca=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  ca=(-v "$NODE_EXTRA_CA_CERTS:/etc/ssl/host-ca.crt:ro"
      -e NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca.crt -e npm_config_cafile=/etc/ssl/host-ca.crt)
fi

# What runs inside: each step prints "ok: ..." or "FAIL: ...", then the totals.
cat > "$work/inside.sh" <<'EOF'
set -u
cd /p
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
id_of() { sed -n "s/.*\"id\": *\"\($1_[a-z0-9]*\)\".*/\1/p"; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq make >/dev/null 2>&1 || { bad "apt-get install make"; finish; }
t0=$(date +%s)
setsid make run > /tmp/run.log 2>&1 &
run=$!
up=0
for _ in $(seq 1 900); do
  if command -v curl >/dev/null && curl -sf http://127.0.0.1:8080/healthz >/dev/null; then
    up=1; break
  fi
  kill -0 "$run" 2>/dev/null || break
  sleep 1
done
if [ $up = 0 ]; then bad "make run: the service answers /healthz"; tail -n 20 /tmp/run.log; finish; fi
ok "make run: the service answers /healthz ($(( $(date +%s) - t0 )) s after make run began)"
H=http://127.0.0.1:8080
ds=$(curl -s -H 'Content-Type: text/csv' --data-binary @api/examples/iris.csv "$H/v1/datasets?name=iris" | id_of ds)
net=$(curl -s -H 'Content-Type: application/json' -d @api/examples/network_iris.json $H/v1/networks | id_of net)
job=$(curl -s -H 'Content-Type: application/json' $H/v1/jobs -d "{\"network\": \"$net\",
  \"dataset\": \"$ds\", \"validation\": {\"split\": 0.2}, \"epochs\": 60, \"batch_size\": 16,
  \"optimizer\": {\"type\": \"adam\", \"learning_rate\": 0.01}}" | id_of job)
[ -n "$ds" ] && [ -n "$net" ] && [ -n "$job" ] && ok "a dataset, a network and a job: $ds $net $job" ||
  bad "a dataset, a network and a job: '$ds' '$net' '$job'"
epochs=$(curl -sN --max-time 120 "$H/v1/jobs/$job/events" | grep -c '^event: epoch')
[ "$epochs" = 60 ] && ok "the job's event stream: 60 epochs, then its end" || bad "the job's event stream: $epochs epochs"
model=$(curl -s "$H/v1/jobs/$job" | sed -n 's/.*"model": *"\(mdl_[a-z0-9]*\)".*/\1/p')
answer=$(curl -s -H 'Content-Type: application/json' "$H/v1/models/$model/predict" \
  -d '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}')
case "$answer" in
  *'"predictions":["setosa","virginica"]'*) ok "the model predicts: $answer" ;;
  *) bad "the model predicts: $answer" ;;
esac
kill -- -"$run"; wait "$run" 2>/dev/null
t0=$(date +%s)
make test > /p/test.log 2>&1
rc=$?
grep -E '^[0-9]+ passed, [0-9]+ failed$|^failed:|^  [^ ]+: ' /p/test.log | sed 's/^/  /'
[ $rc = 0 ] && ok "make test ($(( $(date +%s) - t0 )) s)" || { bad "make test: exit $rc"; tail -n 5 /p/test.log; }
finish
EOF

e run --rm "${RUN_OPTS[@]}" --name "$name" --shm-size 1g "${ca[@]}" -v "$work/p:/p" \
  -v "$work/inside.sh:/inside.sh:ro" "$base" bash /inside.sh
