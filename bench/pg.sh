#!/usr/bin/env bash
# bench/pg.sh -- neurond on PostgreSQL (make bench-pg): nodes on this machine sharing one
# throwaway PostgreSQL 15 cluster (tests/pg.sh: durable commits, a Unix socket), each
# measurement on a database of its own. Prints what it measures as it goes, then a table.
#   (a) training: one job (24,000 rows of 32 features, MLP 32-512-512-3, 281,091
#       parameters, a checkpoint of 3.4 MB with Adam's moments; 5 epochs) through one
#       node, on SQLite and on PostgreSQL in turn, ROUNDS rounds; the medians of the job's
#       time from started_at to finished_at, and PostgreSQL's speed as a share of
#       SQLite's. Each PostgreSQL round first trains the same job for 1 epoch, and from
#       the two jobs' costs to the database tells an epoch's from the rest of a job's
#       (loading, the model): commits and rows inserted and updated (pg_stat_database),
#       WAL written (pg_current_wal_lsn) and the database's growth (pg_database_size).
#   (b) an epoch's end to its event: node 1 trains a job of 40 short epochs (MLP
#       32-128-128-3); 200 clients (build/bench/events) follow it through node 2, the
#       delay from each epoch's ended_at to its event at each client, median and p99.
#       When node 2 relays no event of a job another node trains, it says so and measures
#       the followers on node 1 instead. FOLLOWERS=same measures only that.
#   (c) takeover after SIGKILL: two nodes with --lease 5; the node training a job is
#       killed with SIGKILL; the time until the job names the other node, and until the
#       next epoch's row lands, against lease + 2 s. Needs --lease (said and left out
#       when the build has none).
#   (d) tiny jobs: 100 jobs of one epoch on 30 rows queued in turn through 3 nodes, the
#       time from the first request until all succeeded; then through 1 node, on
#       PostgreSQL and on SQLite.
#   (e) PostgreSQL alone: 4 pgbench clients rewriting 3.4 MB bytea rows (a checkpoint's
#       size here, stored uncompressed) for 15 s: the rewrites a second and the WAL this
#       cluster takes on this machine; then rows of 1 kB inserted one a commit for 10 s:
#       the commits a second. The ceilings that (a)'s figures are set against.
# The nodes share the machine's cores with each other, the database and the clients.
# usage: bash bench/pg.sh BUILD_DIR [rounds=3]
set -u
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
rounds=${2:-3}
bin=$build/neurond
ev=$build/bench/events
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
base_port=${PORT:-18190}
tmp=$(mktemp -d)
pgdir=
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null
      [ -n "$pgdir" ] && bash tests/pg.sh stop "$pgdir"; rm -rf "$tmp"' EXIT
[ -x "$PGBIN/initdb" ] || { echo "bench-pg: PostgreSQL 15 is not installed ($PGBIN/initdb)"; exit 1; }
pgdir=$(bash tests/pg.sh start) || { echo "bench-pg: the PostgreSQL cluster did not start"; exit 1; }
echo "PostgreSQL 15 in $pgdir (Unix socket, fsync on); $(nproc) cores"

# ---- helpers ----
# SQL on database $1 of the cluster; prints unaligned rows, fields split by spaces
sql() { "$PGBIN/psql" -X -q -At -F ' ' "$(bash tests/pg.sh uri "$pgdir" "$1")" -c "$2"; }
newdb() { sql postgres "CREATE DATABASE $1" && bash tests/pg.sh uri "$pgdir" "$1"; }
# node N DB [flags...]: starts a node on port base_port+N; its pid goes in pid[N]
declare -A pid
node() {
  local n=$1 db=$2; shift 2
  "$bin" --port $((base_port + n)) --db "$db" --workers 1 --threads 2 \
    --max-streams-per-client 200 --max-streams-per-job 256 --max-connections-per-ip 300 \
    "$@" 2> "$tmp/node$n.log" &
  pid[$n]=$! pids+=($!)
  for _ in $(seq 100); do curl -sf "$(url "$n")/readyz" > /dev/null && return 0; sleep 0.1; done
  echo "node $n did not start:"; tail -5 "$tmp/node$n.log"; return 1
}
stop() { for n in "$@"; do kill "${pid[$n]}" 2>/dev/null; wait "${pid[$n]}" 2>/dev/null; done; }
url() { echo "http://127.0.0.1:$((base_port + $1))"; }
get() { curl -sf "$(url "$1")$2"; }
post() { curl -sf -X POST -H 'Content-Type: application/json' --data-binary "$3" "$(url "$1")$2"; }
field() { python3 -c "import sys, json; v = json.load(sys.stdin).get('$1'); print('' if v is None else v)"; }
state_of() { get "$1" "/v1/jobs/$2" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4; }
wait_end() {   # wait_end NODE JOB: polls lightly until the job ends; prints its state
  local s
  while :; do
    s=$(state_of "$1" "$2")
    case $s in succeeded|failed|cancelled|"") echo "$s"; return ;; esac
    sleep 0.2
  done
}
epochs_trained() { get "$1" /metrics | awk '$1 == "neurond_epochs_trained_total" {print $2}'; }
mb() { python3 -c "print('%.2f' % ($1 / 1e6))"; }
# PARTS (default "a b c d e") picks the measurements to run
part() { [[ " ${PARTS:-a b c d e} " == *" $1 "* ]]; }
median() { python3 -c 'import sys, statistics; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# 3 classes of 24,000 rows, 32 features: class c around 2c, uniform noise (bench/events.sh's)
python3 -c '
import json, random
r = random.Random(0)
x = [[round(2 * (i % 3) + r.random(), 3) for _ in range(32)] for i in range(24000)]
print(json.dumps({"name": "blobs", "features": x, "labels": [i % 3 for i in range(24000)]}))
' > "$tmp/blobs.json"
dataset() { post "$1" /v1/datasets @"$tmp/blobs.json" | field id; }
net() {
  echo "{\"inputs\": 32, \"layers\": [{\"type\": \"dense\", \"units\": $1, \"activation\": \"relu\"},
    {\"type\": \"dense\", \"units\": $1, \"activation\": \"relu\"},
    {\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}],
    \"loss\": \"categorical_crossentropy\", \"metrics\": [\"accuracy\"]}"
}
job() {   # job NODE DATASET EPOCHS UNITS: queues a job, prints its id
  post "$1" /v1/jobs "{\"network\": $(net "$4"), \"dataset\": \"$2\", \"epochs\": $3,
    \"batch_size\": 32, \"seed\": 0}" | field id
}
# seconds from the job's started_at to its finished_at
job_seconds() {
  get "$1" "/v1/jobs/$2" | python3 -c '
import sys, json, datetime
j = json.load(sys.stdin)
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
print("%.3f" % (t(j["finished_at"]) - t(j["started_at"])).total_seconds())'
}
# the database's counters: commits, rows inserted, rows updated, WAL position, size
counters() {
  sleep 1.5   # each connection reports its statistics within a second of going idle
  sql "$1" "SELECT pg_stat_clear_snapshot()" > /dev/null
  sql "$1" "SELECT xact_commit, tup_inserted, tup_updated,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
                   pg_database_size(current_database())
            FROM pg_stat_database WHERE datname = current_database()"
}

# ---- (a) training, SQLite and PostgreSQL in turn ----
if part a; then
epochs=5
echo "(a) training: 24,000 rows, MLP 32-512-512-3, $epochs epochs, batches of 32; $rounds rounds"
declare -a lite_s pg_s lite_o pg_o cost
for r in $(seq "$rounds"); do
  for backend in sqlite postgresql; do
    if [ "$backend" = sqlite ]; then db=$tmp/train$r.db; else db=$(newdb "train$r") || exit 1; fi
    node 1 "$db" || exit 1
    ds=$(dataset 1)
    if [ "$backend" = postgresql ]; then
      # what a job of 1 epoch costs the database, then one of $epochs: the difference is
      # what the epochs after the first cost, the rest what a job costs besides
      c0=$(counters "train$r")
      j=$(job 1 "$ds" 1 512)
      [ "$(wait_end 1 "$j")" = succeeded ] || { echo "  job $j on $backend failed"; exit 1; }
      c1=$(counters "train$r")
    fi
    j=$(job 1 "$ds" "$epochs" 512)
    s=$(wait_end 1 "$j")
    [ "$backend" = postgresql ] && c2=$(counters "train$r")
    secs=$(job_seconds 1 "$j")
    read -r ep sum <<<"$(get 1 "/v1/jobs/$j/metrics" | python3 -c '
import sys, json, statistics
s = [r["seconds"] for r in json.load(sys.stdin)["epochs"]]
print("%.2f %.3f" % (statistics.median(s), sum(s)))')"
    outside=$(python3 -c "print('%.2f' % ($secs - $sum))")
    stop 1
    if [ "$s" != succeeded ]; then echo "  job $j on $backend: $s"; exit 1; fi
    printf '  round %d %-10s %6.2f s, %5.0f samples/s; epochs of %s s (median), %s s outside them\n' \
      "$r" "$backend" "$secs" "$(python3 -c "print(24000 * $epochs / $secs)")" "$ep" "$outside"
    if [ "$backend" = sqlite ]; then lite_s+=("$secs") lite_o+=("$outside"); else
      pg_s+=("$secs") pg_o+=("$outside")
      # commits, rows inserted, rows updated, WAL bytes, growth: per epoch, and per job
      # besides its epochs
      c=$(python3 -c "
c0, c1, c2 = ([int(x) for x in c.split()] for c in ('$c0', '$c1', '$c2'))
one = [b - a for a, b in zip(c0, c1)]
per = [((z - y) - o) / ($epochs - 1) for y, z, o in zip(c1, c2, one)]
job = [o - p for o, p in zip(one, per)]
print(' '.join('%.1f' % v for v in per + job))")
      cost+=("$c")
      read -r commits ins upd wal grow jcommits jins jupd jwal jgrow <<<"$c"
      printf '    per epoch: %s commits, %s rows inserted, %s updated, %s MB of WAL, database +%s MB\n' \
        "$commits" "$ins" "$upd" "$(mb "$wal")" "$(mb "$grow")"
      printf '    per job besides: %s commits, %s rows inserted, %s updated, %s MB of WAL, database +%s MB\n' \
        "$jcommits" "$jins" "$jupd" "$(mb "$jwal")" "$(mb "$jgrow")"
    fi
  done
done
lite_med=$(median "${lite_s[@]}")
pg_med=$(median "${pg_s[@]}")
lite_out=$(median "${lite_o[@]}")
pg_out=$(median "${pg_o[@]}")
share=$(python3 -c "print('%.0f' % (100 * $lite_med / $pg_med))")
read -r m_commits m_ins m_upd m_wal m_grow j_commits j_ins j_upd j_wal j_grow <<<"$(python3 -c "
import statistics
rows = [list(map(float, c.split())) for c in '''$(printf '%s\n' "${cost[@]}")'''.split('\n') if c]
print(' '.join('%.1f' % statistics.median(col) for col in zip(*rows)))")"

fi
# ---- (b) an epoch's end to its event, followers on another node ----
if part b; then
lat_epochs=40
lat_units=128
latency() {   # latency FOLLOWER_NODE: one job trained by node 1, 200 followers on node N
  local j out before
  before=$(epochs_trained 1)
  j=$(job 1 "$lds" "$lat_epochs" "$lat_units")
  out=$("$ev" latency $((base_port + $1)) "$j" 200 "$2" 2>&1)
  echo "$out" | sed 's/^/    /'
  [ "$(wait_end 1 "$j")" = succeeded ] || { echo "    job $j did not succeed"; return 1; }
  local by=$(( $(epochs_trained 1) - before ))
  echo "    node 1 trained $by of its $lat_epochs epochs"
  lat_med=$(echo "$out" | sed -n 's/.*: median \([0-9.]*\) ms.*/\1/p')
  lat_p99=$(echo "$out" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  [ -n "$lat_med" ] && [ "$by" = "$lat_epochs" ]
}
echo "(b) an epoch's end to its event: node 1 trains $lat_epochs epochs (MLP 32-$lat_units-$lat_units-3), 200 followers"
db=$(newdb latency) || exit 1
node 1 "$db" && node 2 "$db" || exit 1
lds=$(dataset 1)
lat_where=
# Does node 2 follow a job node 1 trains to its end? One stream of a 3-epoch job, 15 s
# (and node 2 must not have trained it itself).
relays() {
  local j mine
  mine=$(epochs_trained 2)
  j=$(job 1 "$lds" 3 "$lat_units")
  curl -sfN --max-time 15 "$(url 2)/v1/jobs/$j/events" > "$tmp/probe" 2>/dev/null &&
    [ "$(epochs_trained 2)" = "$mine" ]
}
if [ "${FOLLOWERS:-other}" != same ]; then
  if relays; then
    echo "  followers on node 2:"
    latency 2 300 && lat_where="node 2 (not the trainer)"
  else
    echo "  node 2's stream of a job node 1 trains did not end with the job: this build relays"
    echo "  no events between nodes; the followers on node 1 instead"
  fi
fi
if [ -z "$lat_where" ]; then
  echo "  followers on node 1:"
  latency 1 300 && lat_where="node 1 (the trainer)"
fi
stop 1 2

fi
# ---- (c) takeover after SIGKILL ----
if part c; then
lease=5
take_node= take_epoch=
echo "(c) takeover: two nodes with --lease $lease, SIGKILL to the one training a job"
if ! "$bin" --help 2>&1 | grep -q -- '--lease'; then
  echo "  left out: this neurond has no --lease flag"
else
  db=$(newdb takeover) || exit 1
  node 1 "$db" --lease "$lease" --node-id bench-1 && node 2 "$db" --lease "$lease" --node-id bench-2 || exit 1
  tds=$(dataset 1)
  j=$(job 1 "$tds" 100000 128)
  # wait for two epochs, then find the trainer by the job's node
  for _ in $(seq 300); do
    jj=$(get 1 "/v1/jobs/$j")
    [ "$(field epoch <<<"$jj")" -ge 2 ] 2>/dev/null && break
    sleep 0.1
  done
  trainer=$(field node <<<"$jj")
  attempt=$(field attempt <<<"$jj")
  case $trainer in bench-1) k=1 o=2 ;; bench-2) k=2 o=1 ;; *) k= ;; esac
  if [ -z "$k" ]; then echo "  the job names no node ($trainer)"; else
    t0=$(date +%s.%N)
    kill -9 "${pid[$k]}"
    done_rows=$(get "$o" "/v1/jobs/$j/metrics" | python3 -c 'import sys, json; print(len(json.load(sys.stdin)["epochs"]))')
    echo "  node $k ($trainer, attempt $attempt) killed after $done_rows epochs"
    deadline=$(python3 -c "print($t0 + $lease + 30)")
    while [ -z "$take_epoch" ] && python3 -c "import time, sys; sys.exit(time.time() > $deadline)"; do
      jj=$(get "$o" "/v1/jobs/$j")
      if [ -z "$take_node" ] && [ "$(field node <<<"$jj")" = "bench-$o" ]; then
        take_node=$(python3 -c "import time; print('%.2f' % (time.time() - $t0))")
        echo "  $take_node s: the job names bench-$o, attempt $(field attempt <<<"$jj")"
      fi
      if [ -n "$take_node" ] && [ "$(field epoch <<<"$jj")" -gt "$done_rows" ] 2>/dev/null; then
        take_epoch=$(python3 -c "import time; print('%.2f' % (time.time() - $t0))")
        echo "  $take_epoch s: epoch $(field epoch <<<"$jj") is stored, trained by bench-$o"
      fi
      sleep 0.05
    done
    post "$o" "/v1/jobs/$j/cancel" '' > /dev/null
    wait_end "$o" "$j" > /dev/null
  fi
  stop 1 2
fi

fi
# ---- (d) tiny jobs ----
if part d; then
tiny=100
iris='{"inputs": 4, "layers": [{"type": "dense", "units": 8, "activation": "relu"},
  {"type": "dense", "units": 3, "activation": "softmax"}],
  "loss": "categorical_crossentropy", "metrics": ["accuracy"]}'
tiny_run() {   # tiny_run NODES...: queues the jobs through the nodes in turn; prints
               # seconds, jobs/s and how many requests were refused (they are named on stderr)
  local ds t0 i n code nodes=("$@") done=0 queued=0 refused=0
  ds=$(curl -sf -H 'Content-Type: text/csv' --data-binary @api/examples/dataset_iris.csv \
       "$(url "${nodes[0]}")/v1/datasets?name=iris" | field id)
  t0=$(date +%s.%N)
  for i in $(seq "$tiny"); do
    n=${nodes[$(( (i - 1) % ${#nodes[@]} ))]}
    code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
      "$(url "$n")/v1/jobs" -d "{\"network\": $iris, \"dataset\": \"$ds\", \"epochs\": 1, \"batch_size\": 8}")
    if [ "$code" = 202 ]; then queued=$((queued + 1)); else
      refused=$((refused + 1))
      echo "  job $i through node $n answered $code: $(head -c 200 "$tmp/answer")" >&2
      grep -v '^time=' "$tmp/node$n.log" | tail -n 1 | sed 's/^/    node log: /' >&2
    fi
  done
  while [ "$done" -lt "$queued" ]; do
    done=$(get "${nodes[0]}" /metrics | awk '$1 == "neurond_jobs{state=\"succeeded\"}" {print $2}'); done=${done:-0}
    sleep 0.05
  done
  python3 -c "import time; s = time.time() - $t0; print('%.2f %.1f $refused' % (s, $queued / s))"
}
echo "(d) $tiny tiny jobs (1 epoch, 30 rows, MLP 4-8-3), queued in turn through the nodes"
db=$(newdb tiny3) || exit 1
node 1 "$db" && node 2 "$db" && node 3 "$db" || exit 1
out=$(tiny_run 1 2 3) || exit 1
read -r tiny3_s tiny3_r tiny3_x <<<"$out"
echo "  3 nodes, PostgreSQL: $tiny3_s s, $tiny3_r jobs/s, $tiny3_x refused (each node trained $(epochs_trained 1), $(epochs_trained 2), $(epochs_trained 3))"
stop 1 2 3
db=$(newdb tiny1) || exit 1
node 1 "$db" || exit 1
out=$(tiny_run 1) || exit 1
read -r tiny1_s tiny1_r tiny1_x <<<"$out"
echo "  1 node, PostgreSQL: $tiny1_s s, $tiny1_r jobs/s, $tiny1_x refused"
stop 1
node 1 "$tmp/tiny.db" || exit 1
out=$(tiny_run 1) || exit 1
read -r tinyl_s tinyl_r tinyl_x <<<"$out"
echo "  1 node, SQLite: $tinyl_s s, $tinyl_r jobs/s, $tinyl_x refused"
stop 1

fi
# ---- (e) the database alone: how many checkpoints a second it takes ----
if part e; then
echo "(e) PostgreSQL alone: 4 clients (pgbench) rewriting 3.4 MB bytea rows, uncompressed, 15 s;"
echo "    then inserting rows of 1 kB, one a commit, 10 s"
db=$(newdb ceiling) && {
  sql ceiling "CREATE TABLE ck (id int PRIMARY KEY, data bytea);
               ALTER TABLE ck ALTER data SET STORAGE EXTERNAL;
               INSERT INTO ck SELECT i, (SELECT string_agg(decode(md5(random()::text), 'hex'), ''::bytea)
                                        FROM generate_series(1, 212500)) FROM generate_series(1, 4) i"
  echo '\set id random(1, 4)
UPDATE ck SET data = data || '"''"'::bytea WHERE id = :id;' > "$tmp/ck.sql"
  w0=$(sql ceiling "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
  tps=$("$PGBIN/pgbench" -n -c 4 -j 2 -T 15 -f "$tmp/ck.sql" "$db" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  w1=$(sql ceiling "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
  ceil_tps=$(python3 -c "print('%.1f' % $tps)")
  ceil_wal=$(python3 -c "print('%.0f' % (($w1 - $w0) / 15 / 1e6))")
  echo "  $ceil_tps rewrites/s, $ceil_wal MB/s of WAL"
  # and small commits: one row of 1 kB inserted per transaction, as an epoch's row
  sql ceiling "CREATE TABLE rows_ (id bigserial PRIMARY KEY, body text)"
  echo "INSERT INTO rows_ (body) VALUES (repeat('x', 1000));" > "$tmp/row.sql"
  tps=$("$PGBIN/pgbench" -n -c 4 -j 2 -T 10 -f "$tmp/row.sql" "$db" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  ceil_commits=$(python3 -c "print('%.0f' % $tps)")
  echo "  $ceil_commits commits/s of one 1 kB row each"
}
fi

# ---- the table ----
refused() { [ "$1" = 0 ] || echo ", $1 of $tiny refused"; }
echo
printf '%-58s %s\n' "measure" "result"
if [ -n "${pg_med:-}" ]; then
printf '%-58s %s\n' "(a) training, $epochs epochs, median of $rounds: SQLite" "$lite_med s"
printf '%-58s %s\n' "    PostgreSQL" "$pg_med s = ${share}% of SQLite's speed (target >= 90%)"
printf '%-58s %s\n' "    outside the epochs (loading, the model; medians)" "SQLite $lite_out s, PostgreSQL $pg_out s"
printf '%-58s %s\n' "    on PostgreSQL, per epoch (medians)" "$m_commits commits, $m_ins rows inserted, $m_upd updated,"
printf '%-58s %s\n' "" "$(mb "$m_wal") MB of WAL, database +$(mb "$m_grow") MB"
printf '%-58s %s\n' "    per job besides its epochs" "$j_commits commits, $j_ins rows inserted, $j_upd updated,"
printf '%-58s %s\n' "" "$(mb "$j_wal") MB of WAL, database +$(mb "$j_grow") MB"
fi
if [ -n "${lat_where:-}" ]; then
  printf '%-58s %s\n' "(b) epoch end to event, 200 followers" "on $lat_where:"
  printf '%-58s %s\n' "" "median $lat_med ms, p99 $lat_p99 ms (target median < 50 ms)"
else
  printf '%-58s %s\n' "(b) epoch end to event" "not measured"
fi
if [ -n "${take_node:-}" ]; then
  printf '%-58s %s\n' "(c) takeover after SIGKILL, --lease $lease" "the job on the other node ${take_node} s, its next epoch ${take_epoch:-?} s (target < $((lease + 2)) s)"
else
  printf '%-58s %s\n' "(c) takeover after SIGKILL" "not measured"
fi
if [ -n "${tinyl_r:-}" ]; then
printf '%-58s %s\n' "(d) $tiny tiny jobs through 3 nodes, PostgreSQL" "$tiny3_s s, $tiny3_r jobs/s$(refused "$tiny3_x")"
printf '%-58s %s\n' "    through 1 node, PostgreSQL" "$tiny1_s s, $tiny1_r jobs/s$(refused "$tiny1_x")"
printf '%-58s %s\n' "    through 1 node, SQLite" "$tinyl_s s, $tinyl_r jobs/s$(refused "$tinyl_x")"
fi
if [ -n "${ceil_tps:-}" ]; then
printf '%-58s %s\n' "(e) PostgreSQL alone, 4 clients rewriting 3.4 MB rows" "$ceil_tps rewrites/s, $ceil_wal MB/s of WAL"
printf '%-58s %s\n' "    inserting 1 kB rows, one a commit" "$ceil_commits commits/s"
fi
