#!/usr/bin/env bash
# Usage: env=$(bash .ci/env.sh LABEL [postgres] [tools]) && eval "$env"
#
# Provides what the tests need and the caller has not set, as the Makefile's
# test targets use it: prints `export NAME=value` lines on stdout, and one
# line on stderr, starting with LABEL (e.g. "make test"), saying where each
# thing comes from.
#   postgres  JIMM_TEST_DSN: kept when set; else bash .ci/postgres.sh (the
#             machine's server on 127.0.0.1:5432, else a throwaway cluster).
#             Without any PostgreSQL, a reachable Docker engine is enough:
#             the tests then start a postgres:16-alpine container themselves.
#   tools     the variables bash .ci/tools.sh prints (JIMM_DEX_BIN, ...):
#             those the caller set are kept; when any is missing, tools.sh
#             builds them (or takes them from its cache) and the rest come
#             from it.
# Exits non-zero, saying what is missing and how to provide it, when it
# cannot provide something asked for.
set -euo pipefail
cd "$(dirname "$0")/.."

label=${1:?usage: bash .ci/env.sh LABEL [postgres] [tools]}
shift
say=()

for want in "$@"; do
	case $want in
	postgres)
		if [ -n "${JIMM_TEST_DSN:-}" ]; then
			say+=("PostgreSQL at ${JIMM_TEST_DSN%%\?*} (JIMM_TEST_DSN)")
		elif dsn=$(bash .ci/postgres.sh); then
			printf 'export JIMM_TEST_DSN=%q\n' "$dsn"
			port=${dsn#postgres://*@*:}
			port=${port%%/*}
			if [ "$port" = "${JIMM_PG_THROWAWAY_PORT:-55432}" ]; then
				where="a throwaway cluster in ${JIMM_PG_DIR:-/tmp/jimm-pg-$(id -u)}, left running for the next run"
			else
				where="the machine's server"
			fi
			say+=("PostgreSQL at ${dsn%%\?*} ($where)")
		elif command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
			say+=("no PostgreSQL here (see above): the tests start a postgres:16-alpine container with Docker")
		else
			echo "$label: no PostgreSQL for the tests (see above), and no Docker engine answers for a container: set JIMM_TEST_DSN, or install PostgreSQL (or run Docker), then run it again" >&2
			exit 1
		fi
		;;
	tools)
		# The variables tools.sh prints, from its closing echo lines.
		names=$(sed -n 's/^echo "\(JIMM_[A-Z0-9_]*\)=.*/\1/p' .ci/tools.sh)
		missing=
		for n in $names; do
			[ -n "${!n:-}" ] || missing="$missing $n"
		done
		if [ -z "$missing" ]; then
			say+=("tools from the caller ($(echo $names | sed 's/ /, /g'))")
			continue
		fi
		out=$(bash .ci/tools.sh) || {
			echo "$label: .ci/tools.sh could not provide${missing} (see above)" >&2
			exit 1
		}
		kept=
		while IFS='=' read -r n v; do
			case $n in JIMM_*) ;; *) continue ;; esac
			if [ -n "${!n:-}" ]; then
				kept="$kept $n"
			else
				printf 'export %s=%q\n' "$n" "$v"
			fi
		done <<<"$out"
		cache=${JIMM_TOOLS_CACHE:-$HOME/.cache/jimm-tools}
		kept=${kept# }
		say+=("tools from ${cache/#$HOME/\~}${kept:+ (${kept// /, } as set by the caller)}")
		;;
	*)
		echo "env.sh: unknown need $want (want postgres or tools)" >&2
		exit 2
		;;
	esac
done

line=$(printf '%s; ' "${say[@]}")
echo "$label: ${line%; }" >&2
