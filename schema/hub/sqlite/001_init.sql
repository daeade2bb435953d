-- 001_init.sql - schema version 1 of the hub database (SQLite backend).
--
-- The head office's copy of everything: enrolled devices and their
-- one-time codes, seen request nonces, tickets with their per-field
-- clocks, timelines, masked customers and archives, the catalogue, the
-- operations devices pushed (for idempotent replay), the hash-chained
-- history per ticket, conflicts, and the change numbering that pull
-- cursors follow.  schema/protocol.md explains each of these; the
-- PostgreSQL schema (schema/hub/postgres/) has the same tables and
-- columns, so the hub's SQL runs unchanged on both.
--
-- Conventions: times are INTEGER milliseconds since the Unix epoch;
-- ids are the protocol's text ids; JSON is TEXT; a value that is not
-- set is NULL.  Every change a device may pull carries a number from
-- counter 'change' (column seq), taken as the last write of its
-- transaction: see protocol.md, "Why the cursor never skips".

CREATE TABLE hub_meta (
	key TEXT PRIMARY KEY NOT NULL,
	value TEXT NOT NULL
) STRICT;

CREATE TABLE counter (
	name TEXT PRIMARY KEY NOT NULL,
	value INTEGER NOT NULL
) STRICT;

INSERT INTO counter (name, value) VALUES ('change', 0), ('ref', 0);

-- One-time enrollment codes.  The code's secret part is not kept: only
-- a hash of the code (to check it at enrollment) and the MAC of the CA
-- certificate keyed by the secret (handed to the device, which checks
-- it with the code it was given), both computed when the code is made.
CREATE TABLE enroll_code (
	id TEXT PRIMARY KEY NOT NULL,
	hash TEXT NOT NULL,
	ca_mac TEXT NOT NULL,
	branch TEXT NOT NULL,
	staff TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('staff', 'manager')),
	created_ms INTEGER NOT NULL,
	expires_ms INTEGER NOT NULL,
	used_ms INTEGER,
	device_id TEXT
) STRICT;

CREATE TABLE device (
	id TEXT PRIMARY KEY NOT NULL,
	public_key TEXT NOT NULL,           -- base64 DER SubjectPublicKeyInfo
	branch TEXT NOT NULL,
	staff TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('staff', 'manager')),
	code_id TEXT NOT NULL,
	enrolled_ms INTEGER NOT NULL,
	revoked_ms INTEGER,
	last_seen_ms INTEGER
) STRICT;

-- Request nonces seen within the time window, per device.
CREATE TABLE nonce (
	device_id TEXT NOT NULL,
	nonce TEXT NOT NULL,
	expires_ms INTEGER NOT NULL,
	PRIMARY KEY (device_id, nonce)
) STRICT, WITHOUT ROWID;

CREATE INDEX nonce_expiry ON nonce (expires_ms);

CREATE TABLE customer (
	id TEXT PRIMARY KEY NOT NULL,
	name_masked TEXT NOT NULL DEFAULT '',
	phone_masked TEXT,
	id_number_masked TEXT,
	segment TEXT,
	branch TEXT,
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	seq INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A walk-in customer's own words for who they are: the full name and
-- phone a branch took at the counter.  Devices only ever see the masked
-- customer row; these go to the complaint system with the export.
CREATE TABLE contact (
	ticket_id TEXT PRIMARY KEY NOT NULL,
	customer_id TEXT NOT NULL,
	name TEXT,
	phone TEXT,
	device_id TEXT NOT NULL,
	received_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE customer_archive (
	id TEXT PRIMARY KEY NOT NULL,
	customer_id TEXT NOT NULL,
	ticket_id TEXT,
	ticket_ref TEXT,
	channel TEXT,
	received_ms INTEGER,
	closed_ms INTEGER,
	category_code TEXT,
	summary TEXT,
	outcome TEXT,
	branch TEXT
) STRICT;

CREATE INDEX archive_by_customer ON customer_archive (customer_id);

-- seq: the change number of the ticket's latest change; scope_seq: of
-- its latest change of branch or assignee (a device that enters its
-- scope after that needs the whole timeline).
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
	t0_ms INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	first_response_ms INTEGER,
	paused_ms_total INTEGER NOT NULL DEFAULT 0,
	paused_since_ms INTEGER,
	extension_level INTEGER NOT NULL DEFAULT 0,
	closed_ms INTEGER,
	review INTEGER NOT NULL DEFAULT 0,
	version INTEGER NOT NULL DEFAULT 1,
	seq INTEGER NOT NULL DEFAULT 0,
	scope_seq INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX ticket_branch_seq ON ticket (branch, seq);
CREATE INDEX ticket_assignee_seq ON ticket (branch, assignee, seq);
CREATE INDEX ticket_by_customer ON ticket (customer_id);

CREATE TABLE ticket_clock (
	ticket_id TEXT NOT NULL,
	field TEXT NOT NULL,
	hlc TEXT NOT NULL,
	node TEXT NOT NULL,
	PRIMARY KEY (ticket_id, field)
) STRICT, WITHOUT ROWID;

CREATE TABLE activity (
	id TEXT PRIMARY KEY NOT NULL,
	ticket_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	visibility TEXT NOT NULL DEFAULT 'internal',
	body TEXT,
	author TEXT NOT NULL,
	device_id TEXT,
	device_time_ms INTEGER NOT NULL,
	hub_time_ms INTEGER NOT NULL,
	hlc TEXT NOT NULL,
	from_status TEXT,
	to_status TEXT,
	detail TEXT,
	op_id TEXT,
	seq INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX activity_by_ticket ON activity (ticket_id, seq);

CREATE TRIGGER activity_no_update BEFORE UPDATE ON activity
BEGIN
	SELECT RAISE(ABORT, 'activity is append-only');
END;

CREATE TRIGGER activity_no_delete BEFORE DELETE ON activity
BEGIN
	SELECT RAISE(ABORT, 'activity is append-only');
END;

CREATE TABLE catalogue (
	kind TEXT NOT NULL,
	id TEXT NOT NULL,
	doc TEXT NOT NULL,
	seq INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, id)
) STRICT;

CREATE INDEX catalogue_seq ON catalogue (seq);

-- A ticket left a scope: the devices of that scope must purge it.
-- assignee '*' is the branch-wide scope (managers).
-- One change can take a ticket out of several scopes at once (a move to
-- another branch leaves the staff member's and the branch's), so the key
-- is the change and the scope.
CREATE TABLE scope_exit (
	seq INTEGER NOT NULL,
	ticket_id TEXT NOT NULL,
	branch TEXT NOT NULL,
	assignee TEXT NOT NULL,
	reason TEXT NOT NULL,
	PRIMARY KEY (seq, branch, assignee)
) STRICT, WITHOUT ROWID;

CREATE INDEX scope_exit_by_scope ON scope_exit (branch, assignee, seq);

-- Every pushed operation and the answer given, for idempotent replay.
CREATE TABLE op (
	op_id TEXT PRIMARY KEY NOT NULL,
	device_id TEXT NOT NULL,
	ticket_id TEXT,
	result TEXT NOT NULL,
	answer TEXT NOT NULL,
	received_ms INTEGER NOT NULL
) STRICT;

-- The append-only, hash-chained history of each ticket.  hash is the
-- hex SHA-256 of the entry's canonical text, which includes prev_hash
-- (protocol.md, "History").
CREATE TABLE history (
	ticket_id TEXT NOT NULL,
	n INTEGER NOT NULL,
	op_id TEXT,
	action TEXT NOT NULL,
	author TEXT NOT NULL,
	device_id TEXT,
	device_time_ms INTEGER NOT NULL,
	hub_time_ms INTEGER NOT NULL,
	hlc TEXT,
	body TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	PRIMARY KEY (ticket_id, n)
) STRICT;

CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

-- Text that lost a last-writer-wins merge, kept.
CREATE TABLE conflict (
	id INTEGER PRIMARY KEY,
	ticket_id TEXT NOT NULL,
	field TEXT NOT NULL,
	kept TEXT,
	lost TEXT,
	kept_hlc TEXT,
	lost_hlc TEXT,
	lost_author TEXT,
	lost_device TEXT,
	op_id TEXT,
	created_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX conflict_by_ticket ON conflict (ticket_id);
