-- 003_fts_lean.sql - schema version 3: the full-text indexes keep which
-- rows hold each trigram, not where in them.
--
-- Search needs only "which tickets contain this text" (agent/tickets/
-- search.c cuts its own snippets and does not rank).  With detail=full a
-- trigram index stored the position of every trigram of every text,
-- several times the size of the text itself, and writing it was most of
-- what indexing cost; columnsize=0 drops the per-row size table, a
-- second write for every row indexed, which only ranking reads.
--
-- What changes for queries: with detail=none, FTS5 refuses phrase
-- queries, and a quoted string of four or more characters is a phrase of
-- trigrams.  A term is therefore looked up as the AND of its trigrams,
-- which finds every row holding them all, anywhere, in any column; the
-- rows found are then checked against the text itself (LIKE on the
-- content table).  README.md has the rules.
--
-- The triggers of version 2 name the tables only in their bodies, so
-- they go on working with the new tables; 'rebuild' indexes every row
-- there is (no deferral mark is set outside a writer's transaction).

DROP TABLE ticket_fts;
DROP TABLE activity_fts;

CREATE VIRTUAL TABLE ticket_fts USING fts5 (
	subject, description, transcript,
	content = 'ticket', content_rowid = 'rid', tokenize = 'trigram',
	detail = none, columnsize = 0
);

CREATE VIRTUAL TABLE activity_fts USING fts5 (
	body, attachment_name,
	content = 'activity', content_rowid = 'rid', tokenize = 'trigram',
	detail = none, columnsize = 0
);

INSERT INTO ticket_fts (ticket_fts) VALUES ('rebuild');
INSERT INTO activity_fts (activity_fts) VALUES ('rebuild');
