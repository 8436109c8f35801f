#!/bin/sh
# entrypoint.sh -- PostgreSQL in a container (docker/postgres/Dockerfile). On the first
# start, with PGDATA empty, makes the cluster the way the official postgres image does:
# its superuser POSTGRES_USER (default postgres) with the password POSTGRES_PASSWORD
# (required), the database POSTGRES_DB (default: the user's name), password logins
# (scram-sha-256) from any address that reaches the port -- the compose network's
# containers; the port is not published -- and no password on the container's own Unix
# socket. Then, and on every later start, runs postgres in the foreground with the
# arguments given (-c name=value ...).
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD is empty; set it to the neurond user's password" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # a server on the Unix socket only, long enough to make the database
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
    createdb -U "$user" "$db"
    pg_ctl -D "$PGDATA" -m fast -w -s stop
  fi
  echo "postgres-entrypoint: made the cluster in $PGDATA, user $user, database $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
