-- 004_ticket_checks.sql - schema version 4: the ticket table's CHECKs
-- of fixed sets are written as comparisons.
--
-- SQLite (3.40) evaluates "x IN (a, b, c, ...)" of three values or more
-- by building a temporary b-tree of the list, and an INSERT's CHECK does
-- so again for every row: channel, risk class and priority cost three
-- such b-trees per ticket written, about half of what inserting a ticket
-- cost a pull.  "x = a OR x = b ..." accepts and refuses exactly the same
-- values (NULL included: a NULL risk class passes both) with a few
-- comparisons.  Nothing else in the table changes: columns, their order,
-- rids, indexes and the full-text triggers of version 2 are as before.
--
-- SQLite cannot change a CHECK in place, so the table is rebuilt by its
-- documented procedure: the new table, a copy of every row (rid
-- included, so the full-text index stays valid), the old table dropped,
-- the new one renamed.  Foreign keys are off around migrations
-- (migrate.c) and checked before this commits; activity and ticket_clock
-- refer to ticket by name and so to the new table.

CREATE TABLE ticket_v4 (
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

INSERT INTO ticket_v4 SELECT * FROM ticket;
DROP TABLE ticket;
ALTER TABLE ticket_v4 RENAME TO ticket;

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
