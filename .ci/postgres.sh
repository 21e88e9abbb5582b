#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable and prints a DSN for a fresh
# test database on it. Uses the machine's server on 127.0.0.1:5432 when it
# answers (starting the packaged cluster if it is installed but stopped);
# otherwise installs PostgreSQL if needed and starts a throwaway cluster.
# JIMM_PG_THROWAWAY=1 always uses the throwaway cluster.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

dsn_for() { echo "postgres://postgres@127.0.0.1:$1/$2?sslmode=disable"; }

ready() { pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null; }

port=5432
throwaway=${JIMM_PG_THROWAWAY:-0}
if [ "$throwaway" = 1 ]; then port=0; fi
if [ "$throwaway" != 1 ] && { ! command -v pg_isready >/dev/null 2>&1 || ! ready $port; }; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "starting the packaged PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
if [ "$throwaway" = 1 ] || ! command -v pg_isready >/dev/null 2>&1 || ! ready $port; then
  if ! command -v pg_config >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  port=55432
  dir=${JIMM_PG_DIR:-/tmp/jimm-ci-pg}
  if ! ready $port; then
    log "starting a throwaway cluster in $dir on port $port"
    rm -rf "$dir"; mkdir -p "$dir"; chown postgres:postgres "$dir"
    su postgres -c "$bin/initdb -D $dir/data -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8" >&2
    su postgres -c "$bin/pg_ctl -D $dir/data -l $dir/log -w -o '-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off' start" >&2
  fi
fi
ready $port || { log "PostgreSQL is not reachable on 127.0.0.1:$port"; exit 1; }
db=${JIMM_TEST_DB:-jimm_test}
psql -q -h 127.0.0.1 -p $port -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >&2
psql -q -h 127.0.0.1 -p $port -U postgres -d postgres -c "CREATE DATABASE $db" >&2
dsn_for $port "$db"
