/*
 * search.c - offline full-text search over subject, description,
 * transcript and the timeline, in any script.
 *
 * The query is cut into terms at white space (ASCII or the ideographic
 * space a Chinese input method types).  A ticket matches when every term
 * occurs somewhere in its text or its timeline.  Terms of 3 or more
 * characters use the trigram indexes (ticket_fts, activity_fts): they
 * know which rows hold a trigram but not where (schema version 3), so a
 * term is looked up as the AND of its trigrams, each quoted so that user
 * input is never FTS5 syntax, and the rows found are checked with LIKE
 * against the text itself.  Shorter terms, which a trigram index cannot
 * hold (two Chinese characters such as 燃气), are found by the LIKE scan
 * alone, which is fast enough for the few thousand tickets a device
 * keeps (schema/agent/README.md measures it).  Hits come newest first,
 * each with a snippet around the first term found.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/utf8.h"
#include "tickets_internal.h"

#define QUERY_MAX 400
#define MAX_TERMS 8
#define SNIP_BEFORE 12 /* characters of context before the match */
#define SNIP_AFTER 24  /* and after it */

struct term {
	const char *p;
	size_t len;
	int indexed; /* 3 or more characters */
	char *like;  /* "%...%", for LIKE ... ESCAPE '\\' */
	char *match; /* "\"abc\" AND \"bcd\" ...", if indexed */
};

/* Length of a white-space separator at p (0 if none). */
static size_t space_at(const char *p)
{
	if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		return 1;
	if ((unsigned char)p[0] == 0xe3 && (unsigned char)p[1] == 0x80 &&
	    (unsigned char)p[2] == 0x80)
		return 3; /* U+3000 IDEOGRAPHIC SPACE */
	return 0;
}

static int split(struct term *t, size_t *n, const char *q)
{
	size_t sp;

	*n = 0;
	while (*q != '\0') {
		if ((sp = space_at(q)) != 0) {
			q += sp;
			continue;
		}
		if (*n == MAX_TERMS)
			return bs__error(BS_EINVAL,
					 "the query has more than %d words",
					 MAX_TERMS);
		t[*n].p = q;
		while (*q != '\0' && space_at(q) == 0)
			q++;
		t[*n].len = (size_t)(q - t[*n].p);
		t[*n].indexed = bs__utf8_chars(t[*n].p, t[*n].len) >= 3;
		t[*n].like = t[*n].match = NULL;
		(*n)++;
	}
	if (*n == 0)
		return bs__error(BS_EINVAL, "the query is empty");
	return BS_OK;
}

/* The LIKE pattern for t: "%term%" with %, _ and \ escaped. */
static int make_like(struct term *t)
{
	size_t i, o = 0;
	char *b = bs__malloc(2 * t->len + 3);

	if (b == NULL)
		return bs__error_code(BS_ENOMEM);
	b[o++] = '%';
	for (i = 0; i < t->len; i++) {
		char c = t->p[i];

		if (c == '%' || c == '_' || c == '\\')
			b[o++] = '\\';
		b[o++] = c;
	}
	b[o++] = '%';
	b[o] = '\0';
	t->like = b;
	return BS_OK;
}

/*
 * The FTS5 query for an indexed term: each of its trigrams as a string,
 * inner " doubled, joined by AND.  The term is valid UTF-8 (checked with
 * the query) of 3 or more characters.
 */
static int make_match(struct term *t)
{
	size_t *starts, nc = 0, off = 0, i, k, o = 0, end, n;
	uint32_t cp;
	char *b;

	if ((starts = bs__malloc((t->len + 1) * sizeof(*starts))) == NULL)
		return bs__error_code(BS_ENOMEM);
	while (off < t->len) {
		starts[nc++] = off;
		n = bs__utf8_decode(&cp, t->p + off, t->len - off);
		off += n ? n : 1;
	}
	starts[nc] = t->len;
	/* A byte is in 3 trigrams at most and doubled at worst; each
	 * trigram has its quotes and " AND " before it. */
	b = bs__malloc(6 * t->len + 7 * nc + 1);
	if (b == NULL) {
		bs__free(starts);
		return bs__error_code(BS_ENOMEM);
	}
	for (i = 0; i + 3 <= nc; i++) {
		if (i > 0) {
			memcpy(b + o, " AND ", 5);
			o += 5;
		}
		b[o++] = '"';
		end = starts[i + 3];
		for (k = starts[i]; k < end; k++) {
			if (t->p[k] == '"')
				b[o++] = '"';
			b[o++] = t->p[k];
		}
		b[o++] = '"';
	}
	b[o] = '\0';
	bs__free(starts);
	t->match = b;
	return BS_OK;
}

/* The rows holding an indexed term: those the trigram indexes find
 * (the FTS5 query, first parameter), checked against the text itself
 * (the LIKE pattern, every other parameter). */
static const char fts_set[] =
	"t.id IN (SELECT x.id FROM ticket x WHERE x.rid IN (SELECT rowid FROM "
	"ticket_fts WHERE ticket_fts MATCH ?%d) AND (x.subject LIKE ?%d "
	"ESCAPE '\\' OR x.description LIKE ?%d ESCAPE '\\' OR x.transcript "
	"LIKE ?%d ESCAPE '\\') UNION SELECT a.ticket_id FROM activity a WHERE "
	"a.rid IN (SELECT rowid FROM activity_fts WHERE activity_fts MATCH "
	"?%d) AND (a.body LIKE ?%d ESCAPE '\\' OR a.attachment_name LIKE "
	"?%d ESCAPE '\\'))";

/* A short term: the LIKE scan alone. */
static const char like_set[] =
	"t.id IN (SELECT x.id FROM ticket x WHERE x.subject LIKE ?%d ESCAPE "
	"'\\' OR x.description LIKE ?%d ESCAPE '\\' OR x.transcript LIKE "
	"?%d ESCAPE '\\' UNION SELECT a.ticket_id FROM activity a WHERE "
	"a.body LIKE ?%d ESCAPE '\\' OR a.attachment_name LIKE ?%d ESCAPE "
	"'\\')";

/* The statement text for n terms, in a new buffer. */
static int build_sql(char **out, const struct term *t, size_t n)
{
	static const char head[] =
		"SELECT " BS__TK_SUMMARY_COLS
		", t.description, t.transcript" BS__TK_SUMMARY_FROM "WHERE ";
	static const char tail[] =
		" ORDER BY t.t0_ms DESC, t.id LIMIT ?1";
	size_t cap = sizeof(head) + sizeof(tail) +
		     n * (sizeof(fts_set) + 40);
	size_t len;
	char *sql = bs__malloc(cap);
	size_t i;
	int l, m;

	*out = NULL;
	if (sql == NULL)
		return bs__error_code(BS_ENOMEM);
	len = (size_t)snprintf(sql, cap, "%s", head);
	for (i = 0; i < n; i++) {
		l = 2 * (int)i + 2; /* see bs_ticket_search's binding */
		m = l + 1;
		if (i > 0)
			len += (size_t)snprintf(sql + len, cap - len, " AND ");
		if (t[i].indexed)
			len += (size_t)snprintf(sql + len, cap - len, fts_set,
						m, l, l, l, m, l, l);
		else
			len += (size_t)snprintf(sql + len, cap - len,
						like_set, l, l, l, l, l);
	}
	snprintf(sql + len, cap - len, "%s", tail);
	*out = sql;
	return BS_OK;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Offset of the first occurrence of t in s (ASCII letters compared
 * without case), or -1. */
static long find(const char *s, const struct term *t)
{
	size_t n = strlen(s), i, j;

	for (i = 0; i + t->len <= n; i++) {
		for (j = 0; j < t->len; j++)
			if (lower(s[i + j]) != lower(t->p[j]))
				break;
		if (j == t->len)
			return (long)i;
	}
	return -1;
}

/* Move back (or forward) over chars characters of valid UTF-8 text. */
static size_t back_chars(const char *s, size_t off, int chars)
{
	while (chars-- > 0 && off > 0)
		off = bs__utf8_floor(s, off - 1);
	return off;
}

static size_t fwd_chars(const char *s, size_t len, size_t off, int chars)
{
	uint32_t cp;
	size_t n;

	while (chars-- > 0 && off < len) {
		n = bs__utf8_decode(&cp, s + off, len - off);
		off += n ? n : 1;
	}
	return off;
}

/* Append s[0..n) with line breaks and tabs as spaces. */
static size_t put_flat(char *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' '
								       : s[i];
	return n;
}

/*
 * A snippet of s around the match at m (len bytes): some context on
 * each side, "…" where it is cut, the match in [brackets].
 */
static int snippet(char **out, const char *s, size_t m, size_t len)
{
	size_t n = strlen(s);
	size_t a = back_chars(s, m, SNIP_BEFORE);
	size_t b = fwd_chars(s, n, m + len, SNIP_AFTER);
	char *p = bs__malloc((b - a) + 2 * 3 + 3);
	size_t o = 0;

	*out = NULL;
	if (p == NULL)
		return bs__error_code(BS_ENOMEM);
	if (a > 0) {
		memcpy(p, "\xe2\x80\xa6", 3);
		o = 3;
	}
	o += put_flat(p + o, s + a, m - a);
	p[o++] = '[';
	o += put_flat(p + o, s + m, len);
	p[o++] = ']';
	o += put_flat(p + o, s + m + len, b - (m + len));
	if (b < n) {
		memcpy(p + o, "\xe2\x80\xa6", 3);
		o += 3;
	}
	p[o] = '\0';
	*out = p;
	return BS_OK;
}

/* Put "match" {field, activity_id, snippet} for the first term found in
 * one of the texts. */
static int put_match(cJSON *o, const char *field, const char *activity_id,
		     const char *text, const struct term *t, size_t nt,
		     int *found)
{
	cJSON *m;
	char *snip = NULL;
	long at;
	size_t i;
	int rc;

	*found = 0;
	if (text == NULL)
		return BS_OK;
	for (i = 0; i < nt; i++) {
		if ((at = find(text, &t[i])) < 0)
			continue;
		if ((rc = snippet(&snip, text, (size_t)at, t[i].len)))
			return rc;
		m = cJSON_CreateObject();
		if ((rc = bs__json_put(o, "match", m)) == BS_OK &&
		    (rc = bs__json_put_str(m, "field", field)) == BS_OK &&
		    (rc = bs__json_put_str(m, "activity_id", activity_id)) ==
			    BS_OK)
			rc = bs__json_put_str(m, "snippet", snip);
		bs__free(snip);
		*found = 1;
		return rc;
	}
	return BS_OK;
}

static int match_of(struct bs__tk *tk, cJSON *o, sqlite3_stmt *row,
		    const struct term *t, size_t nt)
{
	static const char *const fields[] = { "subject", "description",
					      "transcript" };
	static const int cols[] = { 9, BS__TK_SUMMARY_NCOLS,
				    BS__TK_SUMMARY_NCOLS + 1 };
	sqlite3_stmt *s = NULL;
	size_t i;
	int found = 0, rc, src;

	for (i = 0; i < BS__ARRAY_LEN(fields) && !found; i++) {
		rc = put_match(o, fields[i], NULL,
			       (const char *)sqlite3_column_text(row, cols[i]),
			       t, nt, &found);
		if (rc != BS_OK)
			return rc;
	}
	if (found)
		return BS_OK;
	rc = bs__tk_prepare(tk, &s,
			    "SELECT id, coalesce(body, '') || ' ' || "
			    "coalesce(attachment_name, '') FROM activity "
			    "WHERE ticket_id = ?1 ORDER BY hlc DESC");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, (const char *)sqlite3_column_text(row, 0), -1,
			  SQLITE_TRANSIENT);
	while (!found && (src = sqlite3_step(s)) == SQLITE_ROW) {
		rc = put_match(o, "activity",
			       (const char *)sqlite3_column_text(s, 0),
			       (const char *)sqlite3_column_text(s, 1), t, nt,
			       &found);
		if (rc != BS_OK)
			goto cleanup;
	}
	/* Found by the index under a case folding the snippet code does
	 * not know (non-ASCII letters): say where without a snippet. */
	if (!found)
		rc = bs__json_put_null(o, "match");
cleanup:
	sqlite3_finalize(s);
	return rc;
}

int bs_ticket_search(bs_store *st, const char *query, unsigned limit,
		     char **json_out)
{
	struct term terms[MAX_TERMS];
	struct bs__tk tk;
	sqlite3_stmt *s = NULL;
	char *sql = NULL;
	cJSON *arr = NULL, *o;
	size_t n = 0, i;
	int rc, src;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if ((rc = bs__tk_check_text("query", query, QUERY_MAX, 0)) ||
	    (rc = split(terms, &n, query)))
		return rc;
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = make_like(&terms[i])) != BS_OK ||
		    (terms[i].indexed && (rc = make_match(&terms[i])) != BS_OK))
			goto cleanup;
	if ((rc = build_sql(&sql, terms, n)) ||
	    (rc = bs__tk_prepare(&tk, &s, sql)))
		goto cleanup;
	sqlite3_bind_int64(s, 1, limit ? (int64_t)limit : -1);
	/* Term i: its LIKE pattern at 2i+2, its FTS5 query at 2i+3. */
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(s, 2 * (int)i + 2, terms[i].like, -1,
				  SQLITE_STATIC);
		if (terms[i].match != NULL)
			sqlite3_bind_text(s, 2 * (int)i + 3, terms[i].match,
					  -1, SQLITE_STATIC);
	}
	if ((arr = cJSON_CreateArray()) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = bs__tk_summary(&tk, s, &o, NULL, NULL)) ||
		    (rc = bs__json_push(arr, o)) ||
		    (rc = match_of(&tk, o, s, terms, n)))
			goto cleanup;
	}
	if (src != SQLITE_DONE) {
		rc = bs__tk_sqlerr(&tk, src, "search");
		goto cleanup;
	}
	rc = bs__json_print(json_out, arr);
cleanup:
	for (i = 0; i < n; i++) {
		bs__free(terms[i].like);
		bs__free(terms[i].match);
	}
	sqlite3_finalize(s);
	bs__free(sql);
	cJSON_Delete(arr);
	return rc;
}
