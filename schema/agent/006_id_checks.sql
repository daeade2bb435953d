-- 006_id_checks.sql - schema version 6: ticket and activity check their
-- ids, clocks and hashes with two small functions instead of GLOB.
--
-- "id NOT GLOB '*[^0-9a-f-]*'" tries the pattern at every character of
-- the id, and with the length, substr and replace calls around it a
-- UUID's CHECK cost about 2.5 microseconds: three of them (ticket id,
-- activity id and clock) were about 8 % of what applying a pulled
-- ticket cost.  bs_is_uuid(x) and bs_is_hex(x, n) (agent/store/
-- schema_fns.c) accept and refuse the same values as the expressions
-- they replace, NULL included, and every store connection registers
-- them before migrating.  Other tables keep their GLOB checks: nothing
-- writes them in bulk.
--
-- Both tables are rebuilt by the procedure of version 4: the new table,
-- a copy of every row (rid included, so the full-text indexes stay
-- valid), the old table dropped, the new one renamed, and its indexes
-- and triggers made again as versions 1, 2 and 4 made them.  Foreign
-- keys are off around migrations (migrate.c) and checked before this
-- commits.

CREATE TABLE ticket_v6 (
	rid INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE CHECK (bs_is_uuid(id)),
	-- Reference number shown to people; NULL for a ticket registered
	-- offline until the hub assigns one.
	ref TEXT UNIQUE,
	external_ref TEXT,          -- complaint system's or regulator's number
	customer_id TEXT REFERENCES customer (id)
		DEFERRABLE INITIALLY DEFERRED,
	channel TEXT NOT NULL CHECK (channel = 'phone' OR channel = 'app'
		OR channel = 'branch' OR channel = 'online'
		OR channel = 'social' OR channel = 'regulator'),
	category_code TEXT,         -- catalogue_category.code
	risk_class TEXT CHECK (risk_class = 'personnel_service'
		OR risk_class = 'product_dispute'
		OR risk_class = 'operational_risk'
		OR risk_class = 'system_fault'
		OR risk_class = 'regulator_inquiry'),
	priority TEXT NOT NULL DEFAULT 'normal'
		CHECK (priority = 'urgent' OR priority = 'high'
			OR priority = 'normal' OR priority = 'low'),
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

INSERT INTO ticket_v6 SELECT * FROM ticket;
DROP TABLE ticket;
ALTER TABLE ticket_v6 RENAME TO ticket;

-- The working queue: by state, then by the deadline that comes first.
CREATE INDEX ticket_queue_resolution ON ticket (status, resolution_due_ms);
CREATE INDEX ticket_queue_first_response
	ON ticket (status, first_response_due_ms)
	WHERE first_response_ms IS NULL;
CREATE INDEX ticket_by_assignee ON ticket (assignee, status);
CREATE INDEX ticket_by_branch ON ticket (branch, status);
CREATE INDEX ticket_by_customer ON ticket (customer_id, t0_ms);
CREATE INDEX ticket_dirty ON ticket (updated_ms) WHERE local_dirty = 1;

CREATE TRIGGER ticket_fts_insert AFTER INSERT ON ticket
WHEN (SELECT NEW.rid >= fts_ticket_rid FROM maintenance WHERE id = 1)
	IS NOT 1
BEGIN
	INSERT INTO ticket_fts (rowid, subject, description, transcript)
	VALUES (NEW.rid, NEW.subject, NEW.description, NEW.transcript);
END;

CREATE TRIGGER ticket_fts_delete AFTER DELETE ON ticket
WHEN (SELECT OLD.rid >= fts_ticket_rid FROM maintenance WHERE id = 1)
	IS NOT 1
BEGIN
	INSERT INTO ticket_fts (ticket_fts, rowid, subject, description,
		transcript)
	VALUES ('delete', OLD.rid, OLD.subject, OLD.description,
		OLD.transcript);
END;

-- Each half on its own: a row moved across the mark (rid changed) leaves
-- the index by trigger and comes back with the writer's INSERT, or the
-- other way round.
CREATE TRIGGER ticket_fts_update AFTER UPDATE OF rid, subject, description,
	transcript ON ticket
BEGIN
	INSERT INTO ticket_fts (ticket_fts, rowid, subject, description,
		transcript)
	SELECT 'delete', OLD.rid, OLD.subject, OLD.description,
		OLD.transcript
	WHERE (SELECT OLD.rid >= fts_ticket_rid FROM maintenance
		WHERE id = 1) IS NOT 1;
	INSERT INTO ticket_fts (rowid, subject, description, transcript)
	SELECT NEW.rid, NEW.subject, NEW.description, NEW.transcript
	WHERE (SELECT NEW.rid >= fts_ticket_rid FROM maintenance
		WHERE id = 1) IS NOT 1;
END;

-- Timeline

CREATE TABLE activity_v6 (
	rid INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE CHECK (bs_is_uuid(id)),
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
	hlc TEXT NOT NULL CHECK (bs_is_hex(hlc, 16)),
	from_status TEXT REFERENCES ticket_state (name),
	to_status TEXT REFERENCES ticket_state (name),
	attachment_hash TEXT CHECK (bs_is_hex(attachment_hash, 64)),  -- SHA-256
	attachment_name TEXT,
	attachment_size INTEGER CHECK (attachment_size >= 0),
	attachment_mime TEXT,
	detail TEXT CHECK (detail IS NULL OR json_valid(detail)), -- extras
	CHECK ((kind = 'status_change') = (to_status IS NOT NULL)),
	CHECK (from_status IS NULL OR to_status IS NOT NULL),
	CHECK (kind <> 'attachment' OR (attachment_hash IS NOT NULL
		AND attachment_size IS NOT NULL))
) STRICT;

INSERT INTO activity_v6 SELECT * FROM activity;
DROP TABLE activity;
ALTER TABLE activity_v6 RENAME TO activity;

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

CREATE TRIGGER activity_fts_insert AFTER INSERT ON activity
WHEN (SELECT NEW.rid >= fts_activity_rid FROM maintenance WHERE id = 1)
	IS NOT 1
BEGIN
	INSERT INTO activity_fts (rowid, body, attachment_name)
	VALUES (NEW.rid, NEW.body, NEW.attachment_name);
END;

CREATE TRIGGER activity_fts_delete AFTER DELETE ON activity
WHEN (SELECT OLD.rid >= fts_activity_rid FROM maintenance WHERE id = 1)
	IS NOT 1
BEGIN
	INSERT INTO activity_fts (activity_fts, rowid, body, attachment_name)
	VALUES ('delete', OLD.rid, OLD.body, OLD.attachment_name);
END;
