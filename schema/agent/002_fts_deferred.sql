-- 002_fts_deferred.sql - schema version 2: a transaction that adds many
-- tickets or timeline entries may index their text once, at its end.
--
-- Every statement that fires a trigger runs inside a statement savepoint,
-- and FTS5 (3.40) writes the terms it holds in memory to a new segment of
-- its index at every savepoint, then merges the segments back together.
-- Indexed by trigger, a page of pulled tickets written one statement at
-- a time made a segment for each ticket and each entry, and merging them
-- cost most of the page's time.
--
-- maintenance.fts_ticket_rid and fts_activity_rid are NULL except inside
-- such a transaction.  While one is set, the full-text triggers of its
-- table leave out rows whose rid is at or above it: rows added by the
-- transaction, since it sets the mark past the largest rid there is.  The
-- writer indexes those rows with one INSERT ... SELECT and clears the
-- mark before it commits, like the purge switch, so a crash rolls the
-- mark back with the rows.  Rows below the mark are indexed by trigger
-- as before, so the index always holds exactly the rows below the mark
-- and, once the mark is cleared, every row.

ALTER TABLE maintenance ADD COLUMN fts_ticket_rid INTEGER;
ALTER TABLE maintenance ADD COLUMN fts_activity_rid INTEGER;

DROP TRIGGER ticket_fts_insert;
DROP TRIGGER ticket_fts_delete;
DROP TRIGGER ticket_fts_update;
DROP TRIGGER activity_fts_insert;
DROP TRIGGER activity_fts_delete;

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
