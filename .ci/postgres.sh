#!/usr/bin/env bash
# Finds or starts a PostgreSQL server for the tests and prints, on stdout, a
# DSN for a database of this checkout's own on it (the tests connect there
# and create a database per test; they never use this one's contents).
#
# Where the server comes from, in order:
#   1. the machine's server on 127.0.0.1:$JIMM_PG_PORT (default 5432), when
#      it answers pg_isready and lets user postgres in without a password
#      (on 5432, a packaged cluster that is installed but stopped is started
#      first when running as root);
#   2. otherwise a throwaway cluster of the installed PostgreSQL in
#      $JIMM_PG_DIR (default /tmp/jimm-pg-<uid>) on port
#      $JIMM_PG_THROWAWAY_PORT (default 55432), made with initdb (as the
#      postgres user when running as root), reused while it runs and left
#      running for the next run;
#   3. with no PostgreSQL installed: with JIMM_PG_INSTALL=1 (as .ci/run sets)
#      it installs Debian's postgresql package first; otherwise it fails,
#      saying how to provide a server.
# JIMM_PG_THROWAWAY=1 skips 1. JIMM_PG_BINDIR names the directory of initdb
# and pg_ctl (default: the newest /usr/lib/postgresql/*/bin, else initdb's
# directory on PATH).
#
# The database: $JIMM_TEST_DB when set, else jimm_ci_<hash of this
# checkout's path>, so two checkouts sharing a server never share one. It is
# created when missing and never dropped: nothing here drops a database.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd -P)
port=${JIMM_PG_PORT:-5432}
tport=${JIMM_PG_THROWAWAY_PORT:-55432}
tdir=${JIMM_PG_DIR:-/tmp/jimm-pg-$(id -u)}
how="Provide one: set JIMM_TEST_DSN=postgres://user@host:port/db?sslmode=disable to a server's DSN, run a server on 127.0.0.1:$port that lets user postgres in without a password, or install PostgreSQL for a throwaway cluster (apt-get install postgresql; JIMM_PG_INSTALL=1 makes this script do it)"

# bindir prints the directory of initdb and pg_ctl, or nothing.
bindir() {
	if [ -n "${JIMM_PG_BINDIR:-}" ]; then
		[ -x "$JIMM_PG_BINDIR/initdb" ] && echo "$JIMM_PG_BINDIR"
		return 0
	fi
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
	return 0
}

# tool NAME prints the path of a PostgreSQL client program: from the server's
# bin directory when there is one, else from PATH.
tool() {
	local d
	d=$(bindir)
	if [ -n "$d" ] && [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
	command -v "$1" 2>/dev/null || return 1
}

# psql_at PORT ARGS...: psql as user postgres on 127.0.0.1:PORT, database
# postgres, never prompting for a password.
psql_at() {
	local p=$1
	shift
	"$psql" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$p" -U postgres -d postgres "$@"
}

# usable PORT: a server answers there and lets user postgres in.
usable() {
	"$pg_isready" -q -h 127.0.0.1 -p "$1" >/dev/null 2>&1 && psql_at "$1" -Atc 'SELECT 1' >/dev/null 2>&1
}

# as_owner CMD: runs a shell command as the cluster's owner (the postgres
# user when running as root: PostgreSQL refuses to run as root).
as_owner() {
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

if [ -z "$(bindir)" ] && ! command -v psql >/dev/null 2>&1; then
	if [ "${JIMM_PG_INSTALL:-0}" = 1 ]; then
		log "installing PostgreSQL from Debian's packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
	else
		fail "no PostgreSQL: none of its programs (psql, initdb, pg_ctl) is installed. Set JIMM_TEST_DSN=postgres://user@host:port/db?sslmode=disable to a server's DSN, or install PostgreSQL (apt-get install postgresql; JIMM_PG_INSTALL=1 makes this script do it)"
	fi
fi
psql=$(tool psql) || fail "no psql (PostgreSQL's client) on PATH or beside initdb"
pg_isready=$(tool pg_isready) || fail "no pg_isready (PostgreSQL's client) on PATH or beside initdb"

use=
if [ "${JIMM_PG_THROWAWAY:-0}" != 1 ]; then
	if ! usable "$port" && [ "$port" = 5432 ] && [ "$(id -u)" = 0 ] &&
		command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1 &&
		! "$pg_isready" -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
		log "starting the packaged PostgreSQL cluster"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >&2 || true
	fi
	if usable "$port"; then
		use=$port
	elif "$pg_isready" -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
		log "the server on 127.0.0.1:$port does not let user postgres in without a password; using a throwaway cluster (set JIMM_TEST_DSN to use that server)"
	fi
fi
if [ -z "$use" ]; then
	if ! usable "$tport"; then
		"$pg_isready" -q -h 127.0.0.1 -p "$tport" >/dev/null 2>&1 &&
			fail "something on 127.0.0.1:$tport answers but does not let user postgres in; set JIMM_PG_THROWAWAY_PORT to a free port"
		bin=$(bindir)
		[ -n "$bin" ] || fail "no PostgreSQL: none usable on 127.0.0.1:$port${JIMM_PG_THROWAWAY:+ (JIMM_PG_THROWAWAY=$JIMM_PG_THROWAWAY)}, and no server programs (initdb, pg_ctl${JIMM_PG_BINDIR:+ in JIMM_PG_BINDIR=$JIMM_PG_BINDIR}) for a throwaway cluster. $how"
		# Only this script's own throwaway directory is ever removed: one it
		# made earlier (its marker file) whose server no longer runs.
		if [ -e "$tdir" ]; then
			[ -e "$tdir/.jimm-throwaway" ] || fail "$tdir exists and is not a throwaway cluster this script made; set JIMM_PG_DIR elsewhere"
			if as_owner "'$bin/pg_ctl' -D '$tdir/data' status" >/dev/null 2>&1; then
				fail "the throwaway cluster in $tdir runs, but not on port $tport: stop it ($bin/pg_ctl -D $tdir/data stop) or set JIMM_PG_THROWAWAY_PORT to its port"
			fi
			rm -rf "$tdir"
		fi
		log "starting a throwaway cluster in $tdir on 127.0.0.1:$tport (kept running for the next run; stop it with: $bin/pg_ctl -D $tdir/data stop)"
		mkdir -p "$tdir"
		touch "$tdir/.jimm-throwaway"
		if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$tdir"; fi
		as_owner "'$bin/initdb' -D '$tdir/data' -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8" >"$tdir/initdb.log" 2>&1 ||
			fail "initdb of the throwaway cluster failed: $(cat "$tdir/initdb.log")"
		as_owner "'$bin/pg_ctl' -D '$tdir/data' -l '$tdir/log' -w -o \"-k '$tdir' -p $tport -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" start" >/dev/null ||
			fail "the throwaway cluster did not start; its log, $tdir/log, ends: $(tail -5 "$tdir/log" 2>/dev/null)"
	fi
	use=$tport
fi
usable "$use" || fail "PostgreSQL on 127.0.0.1:$use does not let user postgres in"

if [ -n "${JIMM_TEST_DB:-}" ]; then
	db=$JIMM_TEST_DB
else
	db=jimm_ci_$(printf '%s' "$root" | sha256sum | cut -c1-12)
fi
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || fail "database name $db: want lower-case letters, digits and underscores"
exists() { [ "$(psql_at "$use" -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ]; }
# Another run of this checkout may create it at the same moment.
if ! exists && ! psql_at "$use" -c "CREATE DATABASE $db" >&2 && ! exists; then
	fail "create database $db on 127.0.0.1:$use failed"
fi
echo "postgres://postgres@127.0.0.1:$use/$db?sslmode=disable"
