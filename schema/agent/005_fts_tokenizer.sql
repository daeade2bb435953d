-- 005_fts_tokenizer.sql - schema version 5: both full-text indexes use
-- the store's own trigram tokenizer, bs_trigram (agent/store/trigram.c).
--
-- It cuts text into the same trigrams as SQLite's "trigram" tokenizer
-- but reads each character once, where the built-in one decodes and
-- case-folds every character three times; that was half of what
-- indexing a pulled page cost.  It folds ASCII letters only.  Search
-- checks every row the index finds with LIKE, which ignores the case of
-- ASCII letters only, so what a search returns does not change (README.md).
--
-- The options are those of version 3; the triggers of version 2 name
-- the tables only in their bodies and go on working.  Every connection
-- to a store registers the tokenizer before migrating it.

DROP TABLE ticket_fts;
DROP TABLE activity_fts;

CREATE VIRTUAL TABLE ticket_fts USING fts5 (
	subject, description, transcript,
	content = 'ticket', content_rowid = 'rid', tokenize = 'bs_trigram',
	detail = none, columnsize = 0
);

CREATE VIRTUAL TABLE activity_fts USING fts5 (
	body, attachment_name,
	content = 'activity', content_rowid = 'rid', tokenize = 'bs_trigram',
	detail = none, columnsize = 0
);

INSERT INTO ticket_fts (ticket_fts) VALUES ('rebuild');
INSERT INTO activity_fts (activity_fts) VALUES ('rebuild');
