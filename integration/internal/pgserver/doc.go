// Package pgserver finds the PostgreSQL server the integration tests share,
// trying in order:
//
//  1. JIMM_TEST_DSN, when set (used as given);
//  2. the machine's server on 127.0.0.1:$JIMM_PG_PORT (default 5432), when
//     it lets user postgres in without a password (not tried with
//     JIMM_PG_THROWAWAY=1);
//  3. a throwaway cluster of the installed PostgreSQL (pgproc: initdb and
//     pg_ctl from $JIMM_PG_BINDIR or the newest installed);
//  4. a postgres:16-alpine container, where the docker CLI reaches a Docker
//     engine.
//
// What it starts (3, 4) is removed by Server.Release. With none of these,
// Find's error says why each failed and how to provide a server.
// .ci/postgres.sh, which make test uses, tries 2 and 3 in the same way (its
// throwaway cluster outlives the run, so the next run reuses it).
package pgserver
