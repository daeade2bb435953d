-- 001_init.sql - schema version 1 of the agent store.
--
-- The store on a tablet or laptop: the tickets in this device's scope,
-- their timelines, masked customers and their complaint archives, the
-- catalogue head office pushes, and the sync machinery (outbox, per-field
-- clocks, conflicts, cursor).  README.md beside this file explains the
-- choices; the rules every later migration follows are there too.
--
-- Conventions:
--   * Every table is STRICT: a column holds the type it declares.
--   * Times are INTEGER milliseconds since the Unix epoch (64-bit).
--   * Ids minted by devices and head office alike are UUIDv7 text,
--     36 lowercase characters (agent/core/uuid.h).
--   * Clock stamps are 16 lowercase hex digits (agent/core/hlc.h), so
--     text order is clock order.
--   * JSON is TEXT checked with json_valid(); a nullable column says
--     "x IS NULL OR json_valid(x)" because json_valid(NULL) is 0, not
--     NULL, on SQLite 3.40.
--   * Short fixed sets are CHECKed in place; lists that grow with the
--     protocol or the state machine are rows of a reference table, so a
--     later migration extends them with an INSERT instead of rebuilding
--     the table that uses them.
--   * Append-only tables refuse UPDATE and DELETE by trigger; rows leave
--     them only through the purge path (table maintenance).
--
-- Connections must run PRAGMA foreign_keys = ON; the migration runner
-- checks every migration with PRAGMA foreign_key_check before it commits.

-- ---------------------------------------------------------------------
-- Reference lists

-- The ticket states (schema/ holds the state machine that moves between
-- them).  open = 0 marks the end states that leave the working queue.
CREATE TABLE ticket_state (
	name TEXT PRIMARY KEY NOT NULL
		CHECK (name <> '' AND name NOT GLOB '*[^a-z_]*'),
	open INTEGER NOT NULL CHECK (open IN (0, 1))
) STRICT, WITHOUT ROWID;

INSERT INTO ticket_state (name, open) VALUES
	('received', 1),
	('dispatched', 1),
	('acknowledged', 1),
	('in_progress', 1),
	('pending_external', 1),
	('resolution_proposed', 1),
	('returned', 1),
	('transfer_requested', 1),
	('extension_requested', 1),
	('review', 1),
	('closed', 0),
	('merged', 0),
	('withdrawn', 0);

-- Kinds of timeline entries.  customer_reply is what the bank tells the
-- customer, customer_message what the customer told the bank through a
-- head-office channel, system an entry head office writes itself (an
-- assignment, an approved extension).
CREATE TABLE activity_kind (
	name TEXT PRIMARY KEY NOT NULL
		CHECK (name <> '' AND name NOT GLOB '*[^a-z_]*')
) STRICT, WITHOUT ROWID;

INSERT INTO activity_kind (name) VALUES
	('customer_reply'),
	('customer_message'),
	('internal_note'),
	('call_log'),
	('status_change'),
	('attachment'),
	('system');

-- ---------------------------------------------------------------------
-- Purge switch

-- One row.  purge = 1 lets rows leave the append-only tables (activity,
-- audit); the purge code (scope change, revocation, retention) sets it
-- and clears it inside the one transaction that deletes, so a crash
-- rolls the switch back with the deletions.  While it is set, nothing
-- can be appended to those tables, so a switch left on by mistake shows
-- at the next write instead of silently disabling the protection.
CREATE TABLE maintenance (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	purge INTEGER NOT NULL DEFAULT 0 CHECK (purge IN (0, 1))
) STRICT;

INSERT INTO maintenance (id, purge) VALUES (1, 0);

-- ---------------------------------------------------------------------
-- Customers (masked at head office before they reach a device)

CREATE TABLE customer (
	id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
	name_masked TEXT NOT NULL DEFAULT '',       -- 张*
	phone_masked TEXT,                          -- 138****1234
	id_number_masked TEXT,                      -- 110***********1234
	segment TEXT,
	branch TEXT,                                -- home branch code
	server_version INTEGER NOT NULL DEFAULT 0 CHECK (server_version >= 0),
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL
) STRICT;

-- The customer's earlier complaints from every touchpoint, so the
-- branch answers consistently.  Read-only on the device.
CREATE TABLE customer_archive (
	id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
	customer_id TEXT NOT NULL REFERENCES customer (id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	ticket_id TEXT,             -- NULL if it never was a branchsync ticket
	ticket_ref TEXT,
	channel TEXT,
	received_ms INTEGER,
	closed_ms INTEGER,          -- reached closed, merged or withdrawn
	category_code TEXT,
	summary TEXT,
	outcome TEXT,
	branch TEXT
) STRICT;

CREATE INDEX customer_archive_by_customer
	ON customer_archive (customer_id, received_ms);

-- ---------------------------------------------------------------------
-- Catalogue, directory and SLA profiles (pushed by head office)
--
-- Head office replaces these as a whole, in one transaction, and vouches
-- for their consistency; they carry no foreign keys so that a code
-- head office retires never blocks a push (a stale reference only
-- hides an entry).

CREATE TABLE catalogue_category (
	code TEXT PRIMARY KEY NOT NULL CHECK (code <> ''),
	parent TEXT,
	name TEXT NOT NULL,
	risk_class TEXT NOT NULL CHECK (risk_class IN ('personnel_service',
		'product_dispute', 'operational_risk', 'system_fault',
		'regulator_inquiry')),
	default_priority TEXT NOT NULL DEFAULT 'normal'
		CHECK (default_priority IN ('urgent', 'high', 'normal', 'low')),
	sla_profile TEXT,
	active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	sort_order INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX catalogue_category_by_parent
	ON catalogue_category (parent, sort_order);

-- Response templates; category_code NULL means "any category".  body
-- holds placeholders that the template code fills in.
CREATE TABLE catalogue_template (
	id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
	category_code TEXT,
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	language TEXT NOT NULL DEFAULT 'zh-CN',
	active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	sort_order INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX catalogue_template_by_category
	ON catalogue_template (category_code, language);

-- One row: which catalogue version the device holds.
CREATE TABLE catalogue_meta (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
	updated_ms INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO catalogue_meta (id, version, updated_ms) VALUES (1, 0, 0);

-- SLA profiles as data (China 2020, FCA, CFPB...), beside the ones built
-- into agent/core/sla.c.  rules is a JSON object holding the fields of
-- struct bs__sla_profile, e.g.
-- {"first_response_min":{"urgent":30,"high":60,"normal":120,"low":240},
--  "resolution_days":[15,30,60],"max_ext":2,"warn_pct":[50,80]}
CREATE TABLE sla_profile (
	id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
	name TEXT NOT NULL,
	rules TEXT NOT NULL CHECK (json_valid(rules)),
	version INTEGER NOT NULL DEFAULT 0,
	active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

-- Branches and staff this device may show and assign to.
CREATE TABLE branch (
	code TEXT PRIMARY KEY NOT NULL CHECK (code <> ''),
	name TEXT NOT NULL,
	parent TEXT,
	active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

CREATE TABLE staff (
	id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
	name TEXT NOT NULL,
	branch TEXT,
	role TEXT NOT NULL CHECK (role <> '' AND role NOT GLOB '*[^a-z_]*'),
	active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

CREATE INDEX staff_by_branch ON staff (branch, active);

-- ---------------------------------------------------------------------
-- Tickets

-- rid is a local integer key and never leaves the device: the full-text
-- index needs a rowid that VACUUM cannot renumber, which only an INTEGER
-- PRIMARY KEY guarantees.  id is the ticket's identity everywhere else
-- (wire, foreign keys).
--
-- Who owns what (merge rules): head office owns ref, customer,
-- classification, priority, branch, assignee, SLA profile and deadlines,
-- extension level and merged_into; the branch owns the status moves the
-- state machine allows it and first_response_ms; subject, description,
-- transcript and outcome are free text, last writer by clock wins.  The
-- clock of each field is in ticket_clock.
CREATE TABLE ticket (
	rid INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE CHECK (length(id) = 36
		AND substr(id, 9, 1) = '-' AND substr(id, 14, 1) = '-'
		AND substr(id, 19, 1) = '-' AND substr(id, 24, 1) = '-'
		AND length(replace(id, '-', '')) = 32
		AND id NOT GLOB '*[^0-9a-f-]*'),
	-- Reference number shown to people; NULL for a ticket registered
	-- offline until the hub assigns one.
	ref TEXT UNIQUE,
	external_ref TEXT,          -- complaint system's or regulator's number
	customer_id TEXT REFERENCES customer (id)
		DEFERRABLE INITIALLY DEFERRED,
	channel TEXT NOT NULL CHECK (channel IN ('phone', 'app', 'branch',
		'online', 'social', 'regulator')),
	category_code TEXT,         -- catalogue_category.code
	risk_class TEXT CHECK (risk_class IN ('personnel_service',
		'product_dispute', 'operational_risk', 'system_fault',
		'regulator_inquiry')),
	priority TEXT NOT NULL DEFAULT 'normal'
		CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
	status TEXT NOT NULL REFERENCES ticket_state (name),
	subject TEXT NOT NULL DEFAULT '',
	description TEXT,
	transcript TEXT,            -- speech-to-text of the call, desensitized
	outcome TEXT,               -- the resolution, in short
	branch TEXT,
	assignee TEXT,
	merged_into TEXT,           -- ticket id, when status is merged
	sla_profile TEXT,           -- sla_profile.id
	t0_ms INTEGER NOT NULL,     -- first receipt on any channel
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	first_response_due_ms INTEGER,
	resolution_due_ms INTEGER,
	first_response_ms INTEGER,
	paused_ms_total INTEGER NOT NULL DEFAULT 0
		CHECK (paused_ms_total >= 0),
	paused_since_ms INTEGER,    -- set while the SLA clock is paused
	extension_level INTEGER NOT NULL DEFAULT 0
		CHECK (extension_level >= 0),
	closed_ms INTEGER,          -- reached closed, merged or withdrawn
	-- The hub's version of the ticket this copy is based on; 0 for a
	-- ticket the hub has not seen yet.
	server_version INTEGER NOT NULL DEFAULT 0 CHECK (server_version >= 0),
	-- 1 while local changes wait in the outbox.
	local_dirty INTEGER NOT NULL DEFAULT 0 CHECK (local_dirty IN (0, 1)),
	-- Bits: 1 = an unresolved conflict, 2 = changed by head office and
	-- not yet opened on this device.  Others are reserved.
	flags INTEGER NOT NULL DEFAULT 0 CHECK (flags >= 0)
) STRICT;

-- The working queue: by state, then by the deadline that comes first.
CREATE INDEX ticket_queue_resolution ON ticket (status, resolution_due_ms);
CREATE INDEX ticket_queue_first_response
	ON ticket (status, first_response_due_ms)
	WHERE first_response_ms IS NULL;
CREATE INDEX ticket_by_assignee ON ticket (assignee, status);
CREATE INDEX ticket_by_branch ON ticket (branch, status);
CREATE INDEX ticket_by_customer ON ticket (customer_id, t0_ms);
CREATE INDEX ticket_dirty ON ticket (updated_ms) WHERE local_dirty = 1;

-- Hybrid-logical-clock stamp of each ticket field's current value, and
-- the node (device id, or the hub's) that wrote it, for the total order
-- of bs__hlc_cmp().  One row per field ever written: fields are added to
-- the protocol without touching this table.
CREATE TABLE ticket_clock (
	ticket_id TEXT NOT NULL REFERENCES ticket (id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	field TEXT NOT NULL
		CHECK (field <> '' AND field NOT GLOB '*[^a-z0-9_]*'),
	hlc TEXT NOT NULL CHECK (length(hlc) = 16
		AND hlc NOT GLOB '*[^0-9a-f]*'),
	node TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (ticket_id, field)
) STRICT, WITHOUT ROWID;

-- ---------------------------------------------------------------------
-- Timeline (append-only)

-- rid: as for ticket.  device_id is NULL for an entry written at head
-- office.  hub_time_ms is when the hub received it: NULL until synced,
-- then set once (regulators ask when a reply was written, and when it
-- reached head office).
CREATE TABLE activity (
	rid INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE CHECK (length(id) = 36
		AND substr(id, 9, 1) = '-' AND substr(id, 14, 1) = '-'
		AND substr(id, 19, 1) = '-' AND substr(id, 24, 1) = '-'
		AND length(replace(id, '-', '')) = 32
		AND id NOT GLOB '*[^0-9a-f-]*'),
	ticket_id TEXT NOT NULL REFERENCES ticket (id)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	kind TEXT NOT NULL REFERENCES activity_kind (name),
	visibility TEXT NOT NULL DEFAULT 'internal'
		CHECK (visibility IN ('internal', 'customer')),
	body TEXT,
	author TEXT NOT NULL,
	device_id TEXT,
	device_time_ms INTEGER NOT NULL,
	hub_time_ms INTEGER,
	hlc TEXT NOT NULL CHECK (length(hlc) = 16
		AND hlc NOT GLOB '*[^0-9a-f]*'),
	from_status TEXT REFERENCES ticket_state (name),
	to_status TEXT REFERENCES ticket_state (name),
	attachment_hash TEXT CHECK (length(attachment_hash) = 64
		AND attachment_hash NOT GLOB '*[^0-9a-f]*'),   -- SHA-256
	attachment_name TEXT,
	attachment_size INTEGER CHECK (attachment_size >= 0),
	attachment_mime TEXT,
	detail TEXT CHECK (detail IS NULL OR json_valid(detail)), -- extras
	CHECK ((kind = 'status_change') = (to_status IS NOT NULL)),
	CHECK (from_status IS NULL OR to_status IS NOT NULL),
	CHECK (kind <> 'attachment' OR (attachment_hash IS NOT NULL
		AND attachment_size IS NOT NULL))
) STRICT;

CREATE INDEX activity_by_ticket ON activity (ticket_id, hlc);

-- Only hub_time_ms may change, and only from NULL.  UPDATE OF lists every
-- other column: naming one in an UPDATE is refused even if the value
-- stays the same.  A later migration that adds a content column must
-- recreate this trigger with it.
CREATE TRIGGER activity_no_update
BEFORE UPDATE OF rid, id, ticket_id, kind, visibility, body, author,
	device_id, device_time_ms, hlc, from_status, to_status,
	attachment_hash, attachment_name, attachment_size, attachment_mime,
	detail ON activity
BEGIN
	SELECT RAISE(ABORT, 'activity is append-only');
END;

CREATE TRIGGER activity_hub_time_once
BEFORE UPDATE OF hub_time_ms ON activity
WHEN OLD.hub_time_ms IS NOT NULL
	AND NEW.hub_time_ms IS NOT OLD.hub_time_ms
BEGIN
	SELECT RAISE(ABORT, 'activity hub time is already set');
END;

CREATE TRIGGER activity_no_delete
BEFORE DELETE ON activity
WHEN (SELECT purge FROM maintenance WHERE id = 1) IS NOT 1
BEGIN
	SELECT RAISE(ABORT, 'activity is append-only');
END;

CREATE TRIGGER activity_no_insert_in_purge
BEFORE INSERT ON activity
WHEN (SELECT purge FROM maintenance WHERE id = 1) IS 1
BEGIN
	SELECT RAISE(ABORT, 'store is purging; activity is closed');
END;

-- Attachment contents by SHA-256, kept inside the encrypted store.
-- have_bytes and pushed_bytes let an interrupted download or upload
-- resume where it stopped (HTTP Range); data is NULL while nothing of
-- the file is here.
CREATE TABLE attachment_blob (
	hash TEXT PRIMARY KEY NOT NULL CHECK (length(hash) = 64
		AND hash NOT GLOB '*[^0-9a-f]*'),
	size INTEGER NOT NULL CHECK (size >= 0),
	mime TEXT,
	data BLOB,
	have_bytes INTEGER NOT NULL DEFAULT 0
		CHECK (have_bytes BETWEEN 0 AND size),
	pushed_bytes INTEGER NOT NULL DEFAULT 0
		CHECK (pushed_bytes BETWEEN 0 AND size),
	created_ms INTEGER NOT NULL,
	used_ms INTEGER NOT NULL
) STRICT;

-- ---------------------------------------------------------------------
-- Full-text search (trigram: substrings of 3 or more characters, any
-- script).  External content: the text lives once, in ticket and
-- activity; these tables hold only the index and are kept in step by the
-- triggers below.  Rows must therefore change through UPDATE or UPSERT,
-- never INSERT OR REPLACE (whose implicit delete fires no trigger unless
-- recursive triggers are on).  Queries of fewer than 3 characters cannot
-- use the index: see README.md.

CREATE VIRTUAL TABLE ticket_fts USING fts5 (
	subject, description, transcript,
	content = 'ticket', content_rowid = 'rid', tokenize = 'trigram'
);

CREATE TRIGGER ticket_fts_insert AFTER INSERT ON ticket
BEGIN
	INSERT INTO ticket_fts (rowid, subject, description, transcript)
	VALUES (NEW.rid, NEW.subject, NEW.description, NEW.transcript);
END;

CREATE TRIGGER ticket_fts_delete AFTER DELETE ON ticket
BEGIN
	INSERT INTO ticket_fts (ticket_fts, rowid, subject, description,
		transcript)
	VALUES ('delete', OLD.rid, OLD.subject, OLD.description,
		OLD.transcript);
END;

CREATE TRIGGER ticket_fts_update AFTER UPDATE OF rid, subject, description,
	transcript ON ticket
BEGIN
	INSERT INTO ticket_fts (ticket_fts, rowid, subject, description,
		transcript)
	VALUES ('delete', OLD.rid, OLD.subject, OLD.description,
		OLD.transcript);
	INSERT INTO ticket_fts (rowid, subject, description, transcript)
	VALUES (NEW.rid, NEW.subject, NEW.description, NEW.transcript);
END;

CREATE VIRTUAL TABLE activity_fts USING fts5 (
	body, attachment_name,
	content = 'activity', content_rowid = 'rid', tokenize = 'trigram'
);

-- activity's content never changes (see its triggers), so inserts and
-- purges are all there is to follow.
CREATE TRIGGER activity_fts_insert AFTER INSERT ON activity
BEGIN
	INSERT INTO activity_fts (rowid, body, attachment_name)
	VALUES (NEW.rid, NEW.body, NEW.attachment_name);
END;

CREATE TRIGGER activity_fts_delete AFTER DELETE ON activity
BEGIN
	INSERT INTO activity_fts (activity_fts, rowid, body, attachment_name)
	VALUES ('delete', OLD.rid, OLD.body, OLD.attachment_name);
END;

-- ---------------------------------------------------------------------
-- Sync

-- Every local change is written in the same transaction as its row here.
-- seq is AUTOINCREMENT so that a number is never handed out twice, even
-- after answered operations are deleted: op_id = device id ":" seq is
-- the key the hub deduplicates replays by, and it is derived, so it can
-- never drift from the row's own numbers.
--
-- sensitive holds what only head office may keep (the full phone number
-- of a walk-in customer); it is pushed with the operation and must be
-- gone once the hub has answered, which the CHECK enforces.
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id TEXT NOT NULL CHECK (device_id <> ''),
	op_id TEXT GENERATED ALWAYS AS (device_id || ':' || seq) STORED
		UNIQUE,
	entity TEXT NOT NULL
		CHECK (entity <> '' AND entity NOT GLOB '*[^a-z_]*'),
	entity_id TEXT NOT NULL,
	ticket_id TEXT,             -- the ticket it concerns, if any
	op TEXT NOT NULL CHECK (op <> '' AND op NOT GLOB '*[^a-z_]*'),
	fields TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields)),
	sensitive TEXT CHECK (sensitive IS NULL OR json_valid(sensitive)),
	hlc TEXT NOT NULL CHECK (length(hlc) = 16
		AND hlc NOT GLOB '*[^0-9a-f]*'),
	base_version INTEGER CHECK (base_version >= 0),  -- NULL: creation
	author TEXT NOT NULL,
	device_time_ms INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'sent', 'answered')),
	attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	sent_ms INTEGER,
	last_error TEXT,
	result TEXT CHECK (result IN ('applied', 'merged', 'rejected')),
	answer TEXT CHECK (answer IS NULL OR json_valid(answer)),
	answered_ms INTEGER,
	CHECK ((state = 'answered') = (result IS NOT NULL)),
	CHECK (state <> 'answered' OR sensitive IS NULL)
) STRICT;

CREATE INDEX outbox_pending ON outbox (state, seq)
	WHERE state <> 'answered';
CREATE INDEX outbox_by_ticket ON outbox (ticket_id, seq)
	WHERE state <> 'answered';

-- Device settings and sync progress: device_id, hub_url, pull cursor,
-- last_sync_ms, hub_clock_offset_ms, hlc_last, scope, max_offline_days,
-- locked...  value keeps its own type (integer, text, JSON text).
CREATE TABLE sync_state (
	key TEXT PRIMARY KEY NOT NULL CHECK (key <> ''),
	value ANY,
	updated_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What merging or the hub did not accept, kept until someone decides.
-- No foreign key to ticket: when the hub refuses a change because the
-- ticket went out of scope, the ticket is purged but the user's text
-- must stay here, with an action offered.  field is NULL when a whole
-- operation was refused.  mine and theirs are JSON values.
CREATE TABLE conflict (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	ticket_id TEXT,
	entity TEXT NOT NULL DEFAULT 'ticket',
	entity_id TEXT,
	op_id TEXT,                 -- the outbox operation concerned
	field TEXT,
	mine TEXT CHECK (mine IS NULL OR json_valid(mine)),
	theirs TEXT CHECK (theirs IS NULL OR json_valid(theirs)),
	mine_hlc TEXT CHECK (length(mine_hlc) = 16
		AND mine_hlc NOT GLOB '*[^0-9a-f]*'),
	theirs_hlc TEXT CHECK (length(theirs_hlc) = 16
		AND theirs_hlc NOT GLOB '*[^0-9a-f]*'),
	theirs_author TEXT,
	reason TEXT NOT NULL CHECK (reason <> ''),  -- machine-readable
	detail TEXT,                                -- one line for people
	created_ms INTEGER NOT NULL,
	resolved_ms INTEGER,
	resolution TEXT
		CHECK (resolution <> '' AND resolution NOT GLOB '*[^a-z_]*'),
	resolved_by TEXT,
	CHECK ((resolved_ms IS NULL) = (resolution IS NULL))
) STRICT;

CREATE INDEX conflict_open ON conflict (ticket_id, created_ms)
	WHERE resolved_ms IS NULL;

-- ---------------------------------------------------------------------
-- Local audit log (append-only)

CREATE TABLE audit (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action <> ''),
	entity TEXT,
	entity_id TEXT,
	detail TEXT CHECK (detail IS NULL OR json_valid(detail))
) STRICT;

CREATE INDEX audit_by_entity ON audit (entity, entity_id, id);
CREATE INDEX audit_by_time ON audit (at_ms);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

CREATE TRIGGER audit_no_delete
BEFORE DELETE ON audit
WHEN (SELECT purge FROM maintenance WHERE id = 1) IS NOT 1
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

CREATE TRIGGER audit_no_insert_in_purge
BEFORE INSERT ON audit
WHEN (SELECT purge FROM maintenance WHERE id = 1) IS 1
BEGIN
	SELECT RAISE(ABORT, 'store is purging; audit is closed');
END;
