-- 001_init.sql - schema version 1 of the hub database (PostgreSQL backend).
--
-- The same tables, columns and constraints as schema/hub/sqlite/001_init.sql,
-- so that the hub's SQL runs unchanged on both backends; that file and
-- schema/protocol.md explain what each table is for.  What differs is only
-- how PostgreSQL spells it:
--
--   * every integer is BIGINT (times are milliseconds since the Unix epoch,
--     and the hub binds its integer parameters as 64-bit);
--   * conflict.id, SQLite's INTEGER PRIMARY KEY (a rowid), is an identity
--     column;
--   * the append-only rule of activity and history is a trigger function
--     that raises an integrity violation, as SQLite's RAISE(ABORT) does,
--     and it also covers TRUNCATE, which skips row triggers;
--   * scope_exit is keyed by (seq, branch, assignee): one change that moves
--     a ticket to another branch leaves two scopes (the branch's managers,
--     '*', and its assignee) under one change number.
--
-- The hub applies this file in one transaction while holding an advisory
-- lock (hub/store_postgres.c), and records the version in hub_meta under
-- 'schema_version'.

CREATE TABLE hub_meta (
	key TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
);

-- The numbering of changes.  The row of 'change' is updated by every
-- transaction that makes a change a device may pull, and its row lock is
-- held to commit: protocol.md, "Why the cursor never skips".
CREATE TABLE counter (
	name TEXT PRIMARY KEY NOT NULL,
	value BIGINT NOT NULL
);

INSERT INTO counter (name, value) VALUES ('change', 0), ('ref', 0);

CREATE TABLE enroll_code (
	id TEXT PRIMARY KEY NOT NULL,
	hash TEXT NOT NULL,
	ca_mac TEXT NOT NULL,
	branch TEXT NOT NULL,
	staff TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('staff', 'manager')),
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms BIGINT,
	device_id TEXT
);

CREATE TABLE device (
	id TEXT PRIMARY KEY NOT NULL,
	public_key TEXT NOT NULL,           -- base64 DER SubjectPublicKeyInfo
	branch TEXT NOT NULL,
	staff TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('staff', 'manager')),
	code_id TEXT NOT NULL,
	enrolled_ms BIGINT NOT NULL,
	revoked_ms BIGINT,
	last_seen_ms BIGINT
);

CREATE TABLE nonce (
	device_id TEXT NOT NULL,
	nonce TEXT NOT NULL,
	expires_ms BIGINT NOT NULL,
	PRIMARY KEY (device_id, nonce)
);

CREATE INDEX nonce_expiry ON nonce (expires_ms);

CREATE TABLE customer (
	id TEXT PRIMARY KEY NOT NULL,
	name_masked TEXT NOT NULL DEFAULT '',
	phone_masked TEXT,
	id_number_masked TEXT,
	segment TEXT,
	branch TEXT,
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	seq BIGINT NOT NULL DEFAULT 0
);

-- A walk-in customer's own words for who they are: the full name and
-- phone a branch took at the counter.  Devices only ever see the masked
-- customer row; these go to the complaint system with the export.
CREATE TABLE contact (
	ticket_id TEXT PRIMARY KEY NOT NULL,
	customer_id TEXT NOT NULL,
	name TEXT,
	phone TEXT,
	device_id TEXT NOT NULL,
	received_ms BIGINT NOT NULL
);

CREATE TABLE customer_archive (
	id TEXT PRIMARY KEY NOT NULL,
	customer_id TEXT NOT NULL,
	ticket_id TEXT,
	ticket_ref TEXT,
	channel TEXT,
	received_ms BIGINT,
	closed_ms BIGINT,
	category_code TEXT,
	summary TEXT,
	outcome TEXT,
	branch TEXT
);

CREATE INDEX archive_by_customer ON customer_archive (customer_id);

CREATE TABLE ticket (
	id TEXT PRIMARY KEY NOT NULL,
	ref TEXT UNIQUE,
	external_ref TEXT,
	customer_id TEXT,
	channel TEXT NOT NULL,
	category_code TEXT,
	risk_class TEXT,
	priority TEXT NOT NULL DEFAULT 'normal',
	status TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	description TEXT,
	transcript TEXT,
	outcome TEXT,
	branch TEXT,
	assignee TEXT,
	merged_into TEXT,
	sla_profile TEXT,
	t0_ms BIGINT NOT NULL,
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	first_response_ms BIGINT,
	paused_ms_total BIGINT NOT NULL DEFAULT 0,
	paused_since_ms BIGINT,
	extension_level BIGINT NOT NULL DEFAULT 0,
	closed_ms BIGINT,
	review BIGINT NOT NULL DEFAULT 0,
	version BIGINT NOT NULL DEFAULT 1,
	seq BIGINT NOT NULL DEFAULT 0,
	scope_seq BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX ticket_branch_seq ON ticket (branch, seq);
CREATE INDEX ticket_assignee_seq ON ticket (branch, assignee, seq);
CREATE INDEX ticket_by_customer ON ticket (customer_id);

CREATE TABLE ticket_clock (
	ticket_id TEXT NOT NULL,
	field TEXT NOT NULL,
	hlc TEXT NOT NULL,
	node TEXT NOT NULL,
	PRIMARY KEY (ticket_id, field)
);

CREATE TABLE activity (
	id TEXT PRIMARY KEY NOT NULL,
	ticket_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	visibility TEXT NOT NULL DEFAULT 'internal',
	body TEXT,
	author TEXT NOT NULL,
	device_id TEXT,
	device_time_ms BIGINT NOT NULL,
	hub_time_ms BIGINT NOT NULL,
	hlc TEXT NOT NULL,
	from_status TEXT,
	to_status TEXT,
	detail TEXT,
	op_id TEXT,
	seq BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX activity_by_ticket ON activity (ticket_id, seq);

-- Refuses any change to an append-only table, with the SQLSTATE of an
-- integrity violation (the hub reads it as a constraint failure).
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
		USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER activity_no_update BEFORE UPDATE OR DELETE ON activity
	FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TRIGGER activity_no_truncate BEFORE TRUNCATE ON activity
	FOR EACH STATEMENT EXECUTE FUNCTION append_only();

CREATE TABLE catalogue (
	kind TEXT NOT NULL,
	id TEXT NOT NULL,
	doc TEXT NOT NULL,
	seq BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, id)
);

CREATE INDEX catalogue_seq ON catalogue (seq);

-- A ticket left a scope: the devices of that scope must purge it.
-- assignee '*' is the branch-wide scope (managers).
CREATE TABLE scope_exit (
	seq BIGINT NOT NULL,
	ticket_id TEXT NOT NULL,
	branch TEXT NOT NULL,
	assignee TEXT NOT NULL,
	reason TEXT NOT NULL,
	PRIMARY KEY (seq, branch, assignee)
);

CREATE INDEX scope_exit_by_scope ON scope_exit (branch, assignee, seq);

CREATE TABLE op (
	op_id TEXT PRIMARY KEY NOT NULL,
	device_id TEXT NOT NULL,
	ticket_id TEXT,
	result TEXT NOT NULL,
	answer TEXT NOT NULL,
	received_ms BIGINT NOT NULL
);

CREATE TABLE history (
	ticket_id TEXT NOT NULL,
	n BIGINT NOT NULL,
	op_id TEXT,
	action TEXT NOT NULL,
	author TEXT NOT NULL,
	device_id TEXT,
	device_time_ms BIGINT NOT NULL,
	hub_time_ms BIGINT NOT NULL,
	hlc TEXT,
	body TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	PRIMARY KEY (ticket_id, n)
);

CREATE TRIGGER history_no_update BEFORE UPDATE OR DELETE ON history
	FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history
	FOR EACH STATEMENT EXECUTE FUNCTION append_only();

CREATE TABLE conflict (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	ticket_id TEXT NOT NULL,
	field TEXT NOT NULL,
	kept TEXT,
	lost TEXT,
	kept_hlc TEXT,
	lost_hlc TEXT,
	lost_author TEXT,
	lost_device TEXT,
	op_id TEXT,
	created_ms BIGINT NOT NULL
);

CREATE INDEX conflict_by_ticket ON conflict (ticket_id);
