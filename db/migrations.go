package db

import "strings"

// migration is one schema version. Its SQL is portable: placeholders
// {{id}}, {{ts}} and {{bytes}} become each dialect's types.
type migration struct {
	version int
	name    string
	sql     string
}

// sqliteMigrations replace a migration's SQL on SQLite, by version, for
// what SQLite's ALTER TABLE cannot do (drop a constraint: the table is
// rebuilt instead).
var sqliteMigrations = map[int]string{8: migration8SQLite}

// migrations are applied in order, each once. Never edit a released one:
// add the next.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE controllers (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	name TEXT NOT NULL,
	uuid TEXT NOT NULL,
	addresses TEXT NOT NULL,
	ca_cert TEXT NOT NULL,
	tls_server_name TEXT NOT NULL,
	admin_user TEXT NOT NULL,
	admin_password {{bytes}} NOT NULL,
	agent_version TEXT NOT NULL,
	cloud TEXT NOT NULL,
	cloud_type TEXT NOT NULL,
	regions TEXT NOT NULL,
	priority INTEGER NOT NULL DEFAULT 0,
	deprecated BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX controllers_name ON controllers (name);
CREATE UNIQUE INDEX controllers_uuid ON controllers (uuid);

CREATE TABLE models (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	uuid TEXT NOT NULL,
	name TEXT NOT NULL,
	owner TEXT NOT NULL,
	controller_id BIGINT NOT NULL REFERENCES controllers (id),
	cloud TEXT NOT NULL,
	region TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT 'iaas',
	life TEXT NOT NULL,
	machine_count INTEGER NOT NULL DEFAULT 0,
	core_count INTEGER NOT NULL DEFAULT 0,
	unit_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX models_uuid ON models (uuid);
CREATE UNIQUE INDEX models_owner_name ON models (owner, name);
CREATE INDEX models_controller ON models (controller_id);

CREATE TABLE identities (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	name TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	last_login {{ts}},
	disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX identities_name ON identities (name);

CREATE TABLE relations (
	id {{id}},
	created_at {{ts}} NOT NULL,
	subject TEXT NOT NULL,
	relation TEXT NOT NULL,
	object_kind TEXT NOT NULL,
	object_id TEXT NOT NULL
);
CREATE UNIQUE INDEX relations_tuple ON relations (subject, relation, object_kind, object_id);
CREATE INDEX relations_object ON relations (object_kind, object_id);

CREATE TABLE session_tokens (
	id {{id}},
	created_at {{ts}} NOT NULL,
	token_hash {{bytes}} NOT NULL,
	identity TEXT NOT NULL,
	expires_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX session_tokens_hash ON session_tokens (token_hash);
CREATE INDEX session_tokens_identity ON session_tokens (identity);

CREATE TABLE signing_keys (
	id {{id}},
	created_at {{ts}} NOT NULL,
	kid TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	private_key {{bytes}} NOT NULL,
	retire_at {{ts}}
);
CREATE UNIQUE INDEX signing_keys_kid ON signing_keys (kid);
`},
	{2, "settings", `
CREATE TABLE settings (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`},
	{3, "migrations", `
CREATE TABLE migrations (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	model_uuid TEXT NOT NULL,
	model_name TEXT NOT NULL,
	owner TEXT NOT NULL,
	source_controller_id BIGINT NOT NULL REFERENCES controllers (id),
	target_controller_id BIGINT NOT NULL REFERENCES controllers (id),
	controller_migration_id TEXT NOT NULL DEFAULT '',
	phase TEXT NOT NULL,
	message TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL,
	started_at {{ts}} NOT NULL,
	phase_changed_at {{ts}} NOT NULL,
	ended_at {{ts}},
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until {{ts}}
);
CREATE INDEX migrations_model ON migrations (model_uuid);
CREATE UNIQUE INDEX migrations_one_running ON migrations (model_uuid) WHERE result = 'running';
`},
	{4, "signing key activation", `
ALTER TABLE signing_keys ADD COLUMN activate_at {{ts}};
`},
	{5, "groups", `
CREATE TABLE groups (
	id {{id}},
	created_at {{ts}} NOT NULL,
	uuid TEXT NOT NULL,
	name TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_uuid ON groups (uuid);
CREATE UNIQUE INDEX groups_name ON groups (name);
`},
	{6, "audit events", `
CREATE TABLE audit_events (
	id {{id}},
	time {{ts}} NOT NULL,
	identity TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT '',
	model TEXT NOT NULL DEFAULT '',
	facade TEXT NOT NULL,
	method TEXT NOT NULL,
	result TEXT NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	duration_us BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_identity ON audit_events (identity, id);
CREATE INDEX audit_events_model ON audit_events (model, id);
CREATE INDEX audit_events_method ON audit_events (method, id);
`},
	{7, "cloud credentials and model defaults", `
CREATE TABLE cloud_credentials (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	cloud TEXT NOT NULL,
	owner TEXT NOT NULL,
	name TEXT NOT NULL,
	auth_type TEXT NOT NULL,
	attributes {{bytes}} NOT NULL
);
CREATE UNIQUE INDEX cloud_credentials_key ON cloud_credentials (cloud, owner, name);
CREATE TABLE model_defaults (
	id {{id}},
	updated_at {{ts}} NOT NULL,
	cloud TEXT NOT NULL,
	region TEXT NOT NULL DEFAULT '',
	key TEXT NOT NULL,
	value TEXT NOT NULL
);
CREATE UNIQUE INDEX model_defaults_key ON model_defaults (cloud, region, key);
ALTER TABLE models ADD COLUMN credential TEXT NOT NULL DEFAULT '';
`},
	{8, "model creations, leases, migration history outliving controllers", migration8Tables + `
ALTER TABLE migrations DROP CONSTRAINT IF EXISTS migrations_source_controller_id_fkey;
ALTER TABLE migrations DROP CONSTRAINT IF EXISTS migrations_target_controller_id_fkey;
ALTER TABLE migrations ADD COLUMN source_controller TEXT NOT NULL DEFAULT '';
ALTER TABLE migrations ADD COLUMN target_controller TEXT NOT NULL DEFAULT '';
UPDATE migrations SET source_controller = COALESCE((SELECT name FROM controllers WHERE controllers.id = migrations.source_controller_id), ''),
	target_controller = COALESCE((SELECT name FROM controllers WHERE controllers.id = migrations.target_controller_id), '');
`},
	{9, "fleet jobs (evacuations, rebalances) and migration plans", `
ALTER TABLE migrations ADD COLUMN plan TEXT NOT NULL DEFAULT '';
CREATE TABLE fleet_jobs (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	kind TEXT NOT NULL,
	controller TEXT NOT NULL DEFAULT '',
	measure TEXT NOT NULL DEFAULT '',
	parallel INTEGER NOT NULL,
	force BOOLEAN NOT NULL DEFAULT FALSE,
	state TEXT NOT NULL,
	ended_at {{ts}},
	plan TEXT NOT NULL DEFAULT ''
);
CREATE TABLE fleet_moves (
	id {{id}},
	updated_at {{ts}} NOT NULL,
	job_id BIGINT NOT NULL,
	seq INTEGER NOT NULL,
	model_uuid TEXT NOT NULL,
	model TEXT NOT NULL,
	source TEXT NOT NULL,
	target TEXT NOT NULL,
	agents INTEGER NOT NULL DEFAULT 0,
	estimate_ms BIGINT NOT NULL DEFAULT 0,
	state TEXT NOT NULL,
	migration_id BIGINT NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX fleet_moves_job ON fleet_moves (job_id, seq);
`},
	// Every replica purges expired sessions hourly (PurgeSessions); without
	// it, each purge read the whole table.
	{10, "session expiry index", `
CREATE INDEX session_tokens_expires ON session_tokens (expires_at);
`},
}

// dialectSQL fills a migration's placeholders for a dialect.
func dialectSQL(dialect, sql string) string {
	types := map[string][3]string{
		dialectPostgres: {"BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ", "BYTEA"},
		dialectSQLite:   {"INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "BLOB"},
	}[dialect]
	return strings.NewReplacer("{{id}}", types[0], "{{ts}}", types[1], "{{bytes}}", types[2]).Replace(sql)
}

// migration8Tables are migration 8's new tables, on both dialects.
const migration8Tables = `
CREATE TABLE model_creations (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	owner TEXT NOT NULL,
	name TEXT NOT NULL,
	cloud TEXT NOT NULL DEFAULT '',
	region TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	controllers TEXT NOT NULL DEFAULT '[]',
	model_uuid TEXT NOT NULL DEFAULT '',
	replica TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX model_creations_one ON model_creations (owner, name) WHERE state = 'creating';
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	expires_at {{ts}} NOT NULL
);
`

const migration8SQLite = migration8Tables + `
CREATE TABLE migrations_new (
	id {{id}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	model_uuid TEXT NOT NULL,
	model_name TEXT NOT NULL,
	owner TEXT NOT NULL,
	source_controller_id BIGINT NOT NULL,
	target_controller_id BIGINT NOT NULL,
	controller_migration_id TEXT NOT NULL DEFAULT '',
	phase TEXT NOT NULL,
	message TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL,
	started_at {{ts}} NOT NULL,
	phase_changed_at {{ts}} NOT NULL,
	ended_at {{ts}},
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until {{ts}},
	source_controller TEXT NOT NULL DEFAULT '',
	target_controller TEXT NOT NULL DEFAULT ''
);
INSERT INTO migrations_new SELECT id, created_at, updated_at, model_uuid, model_name, owner, source_controller_id, target_controller_id,
	controller_migration_id, phase, message, result, started_at, phase_changed_at, ended_at, lease_owner, lease_until,
	COALESCE((SELECT name FROM controllers WHERE controllers.id = migrations.source_controller_id), ''),
	COALESCE((SELECT name FROM controllers WHERE controllers.id = migrations.target_controller_id), '')
	FROM migrations;
DROP TABLE migrations;
ALTER TABLE migrations_new RENAME TO migrations;
CREATE INDEX migrations_model ON migrations (model_uuid);
CREATE UNIQUE INDEX migrations_one_running ON migrations (model_uuid) WHERE result = 'running';
`
