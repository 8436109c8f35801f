#!/usr/bin/env bash
# pg.sh -- a throwaway PostgreSQL 15 cluster for the tests: made in a temporary directory,
# listening on a Unix socket in that directory only (no TCP port), and removed with
# everything in it by stop. Its commits are durable (fsync on), as a deployment's: the
# suites then see the timings they see on SQLite, whose commits are too.
#
#   bash tests/pg.sh start          makes and starts a cluster with one database, neurond;
#                                   prints its directory
#   bash tests/pg.sh uri DIR [DB]   the libpq URI of database DB (neurond) of the cluster
#                                   in DIR: postgresql:///DB?host=DIR&user=postgres
#   bash tests/pg.sh stop DIR       stops the cluster in DIR and removes DIR
#   bash tests/pg.sh run TEST...    starts a cluster, runs the tests (tests/run.sh) with
#                                   NEUROND_TEST_DB its URI, and stops it, whatever they
#                                   did; without PostgreSQL 15, says so and runs nothing
#
# Debian's postgresql-15 (its initdb and pg_ctl in /usr/lib/postgresql/15/bin; PGBIN
# names another folder). The server refuses to run as root: run as root, the cluster is
# made and run as the postgres user (runuser), and clients connect as that user.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_owner() {   # runs a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
owner() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

case "${1:-}" in
  start)
    [ -x "$PGBIN/initdb" ] || { echo "pg.sh: no $PGBIN/initdb (Debian's postgresql-15)" >&2; exit 1; }
    dir=$(mktemp -d /tmp/neurond-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if ! as_owner "$PGBIN/initdb" -D "$dir/data" -U "$(owner)" -A trust --no-sync \
         -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1
    fi
    if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
         -o "-k $dir -c listen_addresses='' -c max_connections=200" \
         start >/dev/null; then
      cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1
    fi
    if ! as_owner "$PGBIN/createdb" -h "$dir" -U "$(owner)" neurond; then
      as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -s stop || true
      rm -rf "$dir"; exit 1
    fi
    echo "$dir"
    ;;
  uri)
    [ -n "${2:-}" ] || { echo "usage: $0 uri DIR [DB]" >&2; exit 2; }
    echo "postgresql:///${3:-neurond}?host=$2&user=$(owner)"
    ;;
  stop)
    dir=${2:-}
    case "$dir" in /tmp/neurond-pg.*) ;; *) echo "usage: $0 stop DIR (a directory start made)" >&2; exit 2 ;; esac
    [ -d "$dir" ] || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -s stop || \
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -s stop || true
    fi
    rm -rf "$dir"
    ;;
  run)
    shift
    if [ ! -x "$PGBIN/initdb" ]; then
      echo "PostgreSQL 15 is not installed ($PGBIN/initdb): the service suites ran on SQLite only"
      exit 0
    fi
    dir=$(bash "$0" start)
    trap 'bash "$0" stop "$dir"' EXIT
    trap 'exit 130' INT TERM
    echo "the service suites again, on PostgreSQL (a cluster in $dir):"
    NEUROND_TEST_DB=$(bash "$0" uri "$dir") bash "$(dirname "$0")/run.sh" "$@"
    ;;
  *)
    echo "usage: $0 start | uri DIR [DB] | stop DIR | run TEST..." >&2; exit 2 ;;
esac
