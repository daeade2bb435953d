/*
 * test_import.c - bs_import() and the format of schema/import.md: a good
 * export of every record type, upserts, the catalogue replaced as a
 * whole, masking on the way in, the generator's exports, standard input;
 * and every kind of bad line, each reported with its line number and
 * what is wrong, each leaving the store exactly as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "branchsync/tickets.h"
#include "gen.h"
#include "platform/os.h"
#include "testutil.h"

#define HDR                                                                  \
	"{\"type\":\"header\",\"format\":\"branchsync-export\","           \
	"\"version\":1}\n"
#define TID "01890000-0000-7000-8000-000000000001"
#define TID2 "01890000-0000-7000-8000-000000000002"
#define AID "01890000-0000-7000-8000-0000000000a1"
#define T0 "1750000000000"

/* A good ticket line with one field replaced by extra (may be ""). */
#define TICKET(extra)                                                        \
	"{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":\"phone\","    \
	"\"status\":\"dispatched\",\"subject\":\"s\",\"t0_ms\":" T0 extra "}\n"

struct fx {
	char dir[512];
	bs_store *st;
};

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static int import_text(struct fx *x, const char *text, bs_import_report *r)
{
	const char *path = tu_path(x->dir, "in.jsonl");

	write_text(path, text, strlen(text));
	return bs_import(x->st, path, r);
}

/* What the store holds, in one line: every table an import touches. */
static char *fingerprint(bs_store *st)
{
	static const char sql[] =
		"SELECT (SELECT count(*) FROM ticket) || '/' || "
		"(SELECT count(*) FROM activity) || '/' || "
		"(SELECT count(*) FROM customer) || '/' || "
		"(SELECT count(*) FROM customer_archive) || '/' || "
		"(SELECT group_concat(code) FROM catalogue_category) || '/' || "
		"(SELECT group_concat(id) FROM catalogue_template) || '/' || "
		"(SELECT count(*) FROM ticket_clock) || '/' || "
		"(SELECT count(*) FROM audit) || '/' || "
		"(SELECT version FROM catalogue_meta) || '/' || "
		"(SELECT group_concat(subject || status) FROM ticket) || '/' "
		"|| (SELECT group_concat(name_masked) FROM customer) || '/' || "
		"coalesce((SELECT value FROM sync_state WHERE key = "
		"'hlc_last'), '-')";
	sqlite3_stmt *s = NULL;
	char *out;

	assert_int_equal(sqlite3_prepare_v2(bs_store_db(st), sql, -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	out = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bs_import_report r;

	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "%s", tu_tempdir());
	x->st = tu_create(tu_path(x->dir, "store"), 0);
	if (bs_tickets_init(x->st, "s1", "BR001", "staff") != BS_OK)
		fail_msg("init: %s", bs_last_error());
	/* Something in the store for a bad import to leave alone. */
	if (import_text(x,
			HDR "{\"type\":\"customer\",\"id\":\"C-0\","
			    "\"name_masked\":\"李*\"}\n"
			    "{\"type\":\"ticket\",\"id\":\"" TID "\","
			    "\"ref\":\"VOC-1\",\"customer_id\":\"C-0\","
			    "\"channel\":\"phone\",\"status\":\"dispatched\","
			    "\"subject\":\"原有投诉\",\"t0_ms\":" T0 "}\n",
			&r) != BS_OK)
		fail_msg("base: %s", bs_last_error());
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	bs__alloc_fail_after(0, 0);
	bs_store_close(x->st);
	tu_rmrf(x->dir);
	free(x);
	return 0;
}

/*
 * Import text, expect BS_EINVAL (or rc) at line with a message that
 * contains want, and the store unchanged.
 */
static void bad(struct fx *x, const char *text, size_t len, int rc,
		unsigned long line, const char *want)
{
	bs_import_report r;
	char *before = fingerprint(x->st), *after;
	const char *path = tu_path(x->dir, "bad.jsonl");
	int got;

	write_text(path, text, len);
	memset(&r, 0xab, sizeof(r));
	got = bs_import(x->st, path, &r);
	if (got != rc)
		fail_msg("rc %d, want %d: %s", got, rc, bs_last_error());
	if (strstr(bs_last_error(), want) == NULL)
		fail_msg("message '%s' lacks '%s'", bs_last_error(), want);
	assert_int_equal(r.bad_line, line);
	assert_int_equal(r.tickets + r.activities + r.customers + r.archive +
				 r.categories + r.templates,
			 0);
	after = fingerprint(x->st);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void bads(struct fx *x, const char *text, unsigned long line,
		 const char *want)
{
	bad(x, text, strlen(text), BS_EINVAL, line, want);
}

/* --- good imports ------------------------------------------------------ */

static const char good[] =
	HDR
	"{\"type\":\"category\",\"code\":\"PAY\",\"name\":\"生活缴费\","
	"\"risk_class\":\"system_fault\"}\n"
	"{\"type\":\"category\",\"code\":\"PAY-GAS\",\"parent\":\"PAY\","
	"\"name\":\"燃气费代缴\",\"risk_class\":\"system_fault\","
	"\"default_priority\":\"high\",\"sla_profile\":\"cn2020\","
	"\"active\":true,\"sort_order\":2}\n"
	"{\"type\":\"template\",\"id\":\"T-GAS\",\"category\":\"PAY-GAS\","
	"\"title\":\"燃气\",\"body\":\"尊敬的{customer}\"}\n"
	"\n"
	"{\"type\":\"customer\",\"id\":\"C-1\",\"name_masked\":\"张三\","
	"\"phone_masked\":\"13812345678\",\"id_number_masked\":"
	"\"110101199001011234\",\"segment\":\"retail\",\"branch\":\"BR001\","
	"\"server_version\":4}\r\n"
	"{\"type\":\"archive\",\"id\":\"AR-1\",\"customer_id\":\"C-1\","
	"\"ticket_ref\":\"VOC-2023-1\",\"channel\":\"app\",\"received_ms\":"
	"1600000000000,\"closed_ms\":1600100000000,\"category\":\"PAY-GAS\","
	"\"summary\":\"燃气费重复扣款\",\"outcome\":\"已退款\",\"branch\":"
	"\"BR001\"}\n"
	"{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"ref\":\"VOC-2\","
	"\"external_ref\":\"监管-2025-17\",\"customer_id\":\"C-1\","
	"\"channel\":\"regulator\",\"category\":\"PAY-GAS\",\"status\":"
	"\"in_progress\",\"subject\":\"燃气费代扣失败\",\"description\":"
	"\"停气\",\"transcript\":\"坐席：您好\",\"outcome\":null,\"branch\":"
	"\"BR001\",\"assignee\":\"s1\",\"sla_profile\":\"cn2020\",\"t0_ms\":"
	T0 ",\"first_response_ms\":1750000600000,\"extension_level\":1,"
	"\"server_version\":7,\"hlc\":\"0198000000000005\"}\n"
	"{\"type\":\"activity\",\"id\":\"" AID "\",\"ticket_id\":\"" TID2 "\","
	"\"kind\":\"status_change\",\"author\":\"ho1\",\"device_time_ms\":"
	"1750000500000,\"from_status\":\"dispatched\",\"to_status\":"
	"\"in_progress\",\"detail\":{\"note\":\"x\"}}\n"
	"{\"type\":\"activity\",\"id\":"
	"\"01890000-0000-7000-8000-0000000000a2\","
	"\"ticket_id\":\"" TID2 "\",\"kind\":\"attachment\",\"author\":\"ho1\","
	"\"device_time_ms\":1750000700000,\"attachment\":{\"hash\":"
	"\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"name\":\"凭证.pdf\",\"size\":1234,\"mime\":\"application/pdf\"}}\n";

static void test_import__good_file(void **state)
{
	struct fx *x = *state;
	bs_import_report r;

	assert_int_equal(import_text(x, good, &r), BS_OK);
	assert_int_equal(r.lines, 10);
	assert_int_equal(r.categories, 2);
	assert_int_equal(r.templates, 1);
	assert_int_equal(r.customers, 1);
	assert_int_equal(r.archive, 1);
	assert_int_equal(r.tickets, 1);
	assert_int_equal(r.activities, 2);
	assert_int_equal(r.bad_line, 0);

	/* Category lines replace the catalogue, templates likewise. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category"),
			 2);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_template"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT version FROM catalogue_meta"),
			 2);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category WHERE code = "
				       "'PAY' AND default_priority = "
				       "'normal' AND active = 1"),
			 1);

	/* What head office sent unmasked is masked on the way in. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM customer WHERE "
				       "id = 'C-1' AND name_masked = '张*' AND "
				       "phone_masked = '138****5678' AND "
				       "id_number_masked = "
				       "'110***********1234' AND "
				       "server_version = 4"),
			 1);
	/* Defaults from the category; fields and clocks. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket WHERE "
				       "ref = 'VOC-2' AND risk_class = "
				       "'system_fault' AND priority = 'high' "
				       "AND extension_level = 1 AND "
				       "server_version = 7 AND outcome IS NULL "
				       "AND local_dirty = 0 AND "
				       "resolution_due_ms = " T0
				       " + 30 * 86400000 AND "
				       "first_response_due_ms = " T0
				       " + 120 * 60000"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket_clock "
				       "WHERE ticket_id = '" TID2 "' AND hlc = "
				       "'0198000000000005' AND node = 'hub'"),
			 24);
	assert_true(tu_int(x->st, "SELECT value >= '0198000000000005' FROM "
				  "sync_state WHERE key = 'hlc_last'"));
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity WHERE "
				       "kind = 'attachment' AND "
				       "attachment_size = 1234 AND visibility "
				       "= 'internal'"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT json_extract(detail, '$.note') "
				       "= 'x' FROM activity WHERE id = '" AID
				       "'"),
			 1);
	/* Nothing goes back to head office; the import is audited. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(tu_int(x->st, "SELECT json_extract(detail, "
				       "'$.tickets') FROM audit WHERE action "
				       "= 'import' ORDER BY id DESC LIMIT 1"),
			 1);
	/* The text is searchable. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket_fts WHERE "
				       "ticket_fts MATCH '燃气费'"),
			 1);
}

static void test_import__upsert(void **state)
{
	struct fx *x = *state;
	bs_import_report r;
	char *first;

	assert_int_equal(import_text(x, good, &r), BS_OK);
	first = fingerprint(x->st);
	assert_int_equal(import_text(x, good, &r), BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket"), 2);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity"), 2);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM customer"), 2);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "customer_archive"),
			 1);
	free(first);

	/* A ticket line replaces the ticket: absent fields fall back. */
	assert_int_equal(import_text(x,
				     HDR "{\"type\":\"ticket\",\"id\":\"" TID2
					 "\",\"ref\":\"VOC-2\",\"channel\":"
					 "\"phone\",\"status\":\"closed\","
					 "\"subject\":\"新主题\",\"t0_ms\":" T0
					 ",\"updated_ms\":1750009999000}\n"
					 "{\"type\":\"activity\",\"id\":\"" AID
					 "\",\"ticket_id\":\"" TID2
					 "\",\"kind\":\"status_change\","
					 "\"author\":\"ho1\","
					 "\"device_time_ms\":1750000500000,"
					 "\"hub_time_ms\":1750000501000,"
					 "\"to_status\":\"in_progress\"}\n",
				     &r),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket WHERE "
				       "ref = 'VOC-2' AND subject = '新主题' "
				       "AND customer_id IS NULL AND "
				       "description IS NULL AND closed_ms = "
				       "1750009999000 AND extension_level = 0"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket_fts WHERE "
				       "ticket_fts MATCH '新主题'"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket_fts WHERE "
				       "ticket_fts MATCH '燃气费'"),
			 0);
	/* An activity never changes, but its hub time is filled in once. */
	assert_int_equal(tu_int(x->st, "SELECT hub_time_ms FROM activity "
				       "WHERE id = '" AID "'"),
			 1750000501000LL);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity"), 2);
}

static void test_import__keeps_catalogue_without_category_lines(void **state)
{
	struct fx *x = *state;
	long long cats = tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category");

	assert_int_equal(import_text(x, HDR TICKET(""), NULL), BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category"),
			 cats);
	assert_int_equal(tu_int(x->st, "SELECT version FROM catalogue_meta"),
			 1);
	/* catalogue_version in the header is taken when lines replace it. */
	assert_int_equal(import_text(x,
				     "{\"type\":\"header\",\"format\":"
				     "\"branchsync-export\",\"version\":1,"
				     "\"catalogue_version\":42,\"source\":"
				     "\"总行\",\"generated_ms\":1}\n"
				     "{\"type\":\"template\",\"id\":\"T1\","
				     "\"title\":\"t\",\"body\":\"b\"}\n",
				     NULL),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT version FROM catalogue_meta"),
			 42);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category"),
			 cats);
}

static void test_import__generator(void **state)
{
	struct fx *x = *state;
	static const char *staff[] = { "s1", "s2", NULL };
	struct gen_opts o = { 7, 200, "BR001", staff, 0, 1 };
	bs_import_report r;
	const char *path = tu_path(x->dir, "gen.jsonl");
	FILE *f;
	char *json = NULL;

	o.now_ms = bs_os_now_ms();
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(gen_export(f, &o), 0);
	fclose(f);
	if (bs_import(x->st, path, &r) != BS_OK)
		fail_msg("generator export: %s", bs_last_error());
	assert_int_equal(r.tickets, 200);
	assert_int_equal(r.activities, 200);
	assert_true(r.categories > 10);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket"), 201);
	/* It works as a queue and can be searched. */
	assert_int_equal(bs_ticket_list(x->st, NULL, &json), BS_OK);
	assert_non_null(strstr(json, "\"sla\""));
	bs_free(json);
	assert_int_equal(bs_ticket_search(x->st, "燃气", 5, &json), BS_OK);
	assert_non_null(strstr(json, "燃气"));
	bs_free(json);
}

static void test_import__stdin(void **state)
{
	struct fx *x = *state;
	const char *path = tu_path(x->dir, "stdin.jsonl");
	bs_import_report r;
	int saved = dup(0);
	FILE *f;

	write_text(path, HDR TICKET(""), strlen(HDR TICKET("")));
	f = freopen(path, "rb", stdin);
	assert_non_null(f);
	assert_int_equal(bs_import(x->st, "-", &r), BS_OK);
	assert_int_equal(r.tickets, 1);
	assert_int_equal(tu_int(x->st, "SELECT json_extract(detail, "
				       "'$.source') = 'stdin' FROM audit "
				       "WHERE action = 'import' ORDER BY id "
				       "DESC LIMIT 1"),
			 1);
	dup2(saved, 0);
	close(saved);
	clearerr(stdin);
}

static void test_import__no_trailing_newline_and_bom(void **state)
{
	struct fx *x = *state;
	bs_import_report r;
	static const char text[] = "\xef\xbb\xbf" HDR
		"{\"type\":\"ticket\",\"id\":\"" TID2 "\","
		"\"channel\":\"phone\",\"status\":\"dispatched\","
		"\"subject\":\"s\",\"t0_ms\":" T0 "}";

	assert_int_equal(import_text(x, text, &r), BS_OK);
	assert_int_equal(r.lines, 2);
	assert_int_equal(r.tickets, 1);
}

/* --- bad lines --------------------------------------------------------- */

static void test_import__bad_utf8(void **state)
{
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":\"dispatched\",\"subject\":\"\xe7\x87"
		 "\",\"t0_ms\":" T0 "}\n",
	     2, "line 2: invalid UTF-8 at byte");
	/* Overlong form and surrogates are refused as well. */
	bads(*state, HDR "{\"type\":\"x\xc0\xaf\"}\n", 2, "invalid UTF-8");
	bads(*state, HDR "{\"type\":\"x\xed\xa0\x80\"}\n", 2, "invalid UTF-8");
	/* A lone surrogate escape is not valid JSON text for cJSON. */
	bads(*state, HDR TICKET(",\"description\":\"\\ud800\""), 2,
	     "line 2: not valid JSON");
	bads(*state, HDR TICKET(",\"description\":\"a\\u0000b\""), 2,
	     "line 2: the escape \\u0000");
}

static void test_import__oversized_line(void **state)
{
	size_t n = 1048576 + 100, h = strlen(HDR);
	char *text = malloc(h + n + 2);

	memcpy(text, HDR, h);
	memcpy(text + h, "{\"type\":\"ticket\",\"subject\":\"", 29);
	memset(text + h + 29, 'a', n - 31);
	memcpy(text + h + n - 2, "\"}", 2);
	text[h + n] = '\n';
	bad(*state, text, h + n + 1, BS_EINVAL, 2,
	    "line 2: longer than 1048576 bytes");
	free(text);

	/* A line just under the cap is read, and its field checked. */
	n = 1048576;
	text = malloc(h + n + 2);
	memcpy(text, HDR, h);
	static const char pre[] = "{\"type\":\"ticket\",\"id\":\"" TID2
				  "\",\"channel\":\"phone\",\"status\":"
				  "\"dispatched\",\"t0_ms\":" T0
				  ",\"subject\":\"";
	memcpy(text + h, pre, strlen(pre));
	memset(text + h + strlen(pre), 'a', n - strlen(pre) - 2);
	memcpy(text + h + n - 2, "\"}", 2);
	text[h + n] = '\n';
	bad(*state, text, h + n + 1, BS_EINVAL, 2,
	    "field 'subject': 1048440 bytes, at most 2000");
	free(text);
}

static void test_import__truncated_json(void **state)
{
	bads(*state, HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"chan", 2,
	     "line 2: not valid JSON (truncated or malformed at byte");
	bads(*state, HDR "{\"type\":\"ticket\"} trailing\n", 2,
	     "line 2: text after the JSON value");
	bads(*state, HDR "[1,2]\n", 2, "line 2: not a JSON object");
	bads(*state, HDR "{\"id\":1}\n", 2, "line 2: field 'type' is missing");
}

static void test_import__unknown_type(void **state)
{
	bads(*state, HDR "{\"type\":\"widget\"}\n", 2,
	     "line 2: unknown record type 'widget'");
}

static void test_import__header(void **state)
{
	bads(*state, "", 1, "line 1: no header line");
	bads(*state, TICKET(""), 1,
	     "line 1: the first line must be the header");
	bads(*state,
	     "{\"type\":\"header\",\"format\":\"csv\",\"version\":1}\n", 1,
	     "line 1: field 'format': 'csv' is not 'branchsync-export'");
	bads(*state,
	     "{\"type\":\"header\",\"format\":\"branchsync-export\","
	     "\"version\":2}\n",
	     1, "line 1: field 'version': version 2 is not supported");
	bads(*state, "{\"type\":\"header\",\"format\":\"branchsync-export\"}\n",
	     1, "line 1: field 'version' is required");
	bads(*state, HDR HDR, 2,
	     "line 2: a header is allowed only on the first line");
}

static void test_import__missing_field(void **state)
{
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":\"dispatched\",\"t0_ms\":" T0 "}\n",
	     2, "line 2: field 'subject' is required in a ticket record");
	bads(*state,
	     HDR TICKET(",\"ref\":null") "{\"type\":\"activity\",\"id\":\"" AID
		 "\",\"ticket_id\":\"" TID2 "\",\"kind\":\"internal_note\","
		 "\"device_time_ms\":1}\n",
	     3, "line 3: field 'author' is required");
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":null,\"subject\":\"s\",\"t0_ms\":" T0
		 "}\n",
	     2, "field 'status' is required and may not be null");
	bads(*state, HDR TICKET(",\"subject\":\"\""), 2,
	     "field 'subject' appears twice");
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":\"dispatched\",\"subject\":\"\","
		 "\"t0_ms\":" T0 "}\n",
	     2, "field 'subject': must not be empty");
	bads(*state,
	     HDR TICKET("") "{\"type\":\"activity\",\"id\":\"" AID
			    "\",\"ticket_id\":\"" TID2 "\",\"kind\":"
			    "\"status_change\",\"author\":\"a\","
			    "\"device_time_ms\":1}\n",
	     3, "field 'to_status' is required in a status_change activity");
	bads(*state,
	     HDR TICKET("") "{\"type\":\"activity\",\"id\":\"" AID
			    "\",\"ticket_id\":\"" TID2 "\",\"kind\":"
			    "\"internal_note\",\"author\":\"a\","
			    "\"device_time_ms\":1,\"to_status\":\"closed\"}\n",
	     3, "belong only to a status_change activity");
	bads(*state,
	     HDR TICKET("") "{\"type\":\"activity\",\"id\":\"" AID
			    "\",\"ticket_id\":\"" TID2 "\",\"kind\":"
			    "\"attachment\",\"author\":\"a\","
			    "\"device_time_ms\":1}\n",
	     3, "field 'attachment' is required in an attachment activity");
	bads(*state,
	     HDR TICKET("") "{\"type\":\"activity\",\"id\":\"" AID
			    "\",\"ticket_id\":\"" TID2 "\",\"kind\":"
			    "\"attachment\",\"author\":\"a\","
			    "\"device_time_ms\":1,\"attachment\":{\"hash\":"
			    "\"abc\",\"size\":1}}\n",
	     3, "'hash' must be a SHA-256");
}

static void test_import__bad_enum(void **state)
{
	char text[4096];
	size_t o;
	int i;

	/* Sixteen good lines, then the bad one on line 17. */
	o = (size_t)snprintf(text, sizeof(text), "%s", HDR);
	for (i = 0; i < 15; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "{\"type\":\"customer\","
				      "\"id\":\"C-%d\"}\n",
				      i);
	snprintf(text + o, sizeof(text) - o, "%s",
		 "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"fax\",\"status\":\"dispatched\",\"subject\":\"s\","
		 "\"t0_ms\":" T0 "}\n");
	bads(*state, text, 17, "line 17: field 'channel': 'fax' is not a "
			       "channel");
	bads(*state, HDR TICKET(",\"priority\":\"asap\""), 2,
	     "field 'priority': 'asap' is not a priority");
	bads(*state, HDR TICKET(",\"risk_class\":\"bad\""), 2,
	     "field 'risk_class': 'bad' is not a risk class");
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":\"open\",\"subject\":\"s\",\"t0_ms\":" T0
		 "}\n",
	     2, "field 'status': 'open' is not a ticket status");
	bads(*state,
	     HDR TICKET("") "{\"type\":\"activity\",\"id\":\"" AID
			    "\",\"ticket_id\":\"" TID2 "\",\"kind\":\"chat\","
			    "\"author\":\"a\",\"device_time_ms\":1}\n",
	     3, "field 'kind': 'chat' is not an activity kind");
	bads(*state, HDR TICKET(",\"extension_level\":3"), 2,
	     "field 'extension_level': expected an integer from 0 to 2");
}

static void test_import__bad_types(void **state)
{
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"" TID2 "\",\"channel\":"
		 "\"phone\",\"status\":\"dispatched\",\"subject\":\"s\","
		 "\"t0_ms\":\"yesterday\"}\n",
	     2, "field 't0_ms': expected milliseconds since 1970");
	bads(*state, HDR TICKET(",\"created_ms\":-5"), 2,
	     "field 'created_ms': expected milliseconds");
	bads(*state, HDR TICKET(",\"created_ms\":1.5"), 2,
	     "field 'created_ms': expected milliseconds");
	bads(*state, HDR TICKET(",\"description\":42"), 2,
	     "field 'description': expected a string");
	bads(*state,
	     HDR "{\"type\":\"category\",\"code\":\"X\",\"name\":\"n\","
		 "\"risk_class\":\"system_fault\",\"active\":1}\n",
	     2, "field 'active': expected true or false");
	bads(*state, HDR TICKET(",\"chanel\":\"phone\""), 2,
	     "line 2: unknown field 'chanel' in a ticket record");
	bads(*state, HDR TICKET(",\"hlc\":\"0198000000000XYZ\""), 2,
	     "field 'hlc': '0198000000000XYZ' is not a clock stamp");
	{
		char *text = malloc(8000);

		snprintf(text, 8000, HDR TICKET(",\"external_ref\":\"%0100d\""),
			 0);
		bads(*state, text, 2,
		     "field 'external_ref': 100 bytes, at most 64");
		free(text);
	}
}

static void test_import__bad_ids(void **state)
{
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"T-1\",\"channel\":\"phone\","
		 "\"status\":\"dispatched\",\"subject\":\"s\",\"t0_ms\":" T0
		 "}\n",
	     2, "line 2: field 'id': 'T-1' is not a valid id (a lowercase "
		"UUIDv7)");
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"01890000-0000-7000-8000-"
		 "00000000000A\",\"channel\":\"phone\",\"status\":"
		 "\"dispatched\",\"subject\":\"s\",\"t0_ms\":" T0 "}\n",
	     2, "is not a valid id");
	bads(*state,
	     HDR "{\"type\":\"ticket\",\"id\":\"01890000-0000-4000-8000-"
		 "000000000001\",\"channel\":\"phone\",\"status\":"
		 "\"dispatched\",\"subject\":\"s\",\"t0_ms\":" T0 "}\n",
	     2, "is not a valid id");
	bads(*state, HDR "{\"type\":\"customer\",\"id\":\"C 1\"}\n", 2,
	     "field 'id': 'C 1' is not a valid code");
	bads(*state, HDR TICKET(",\"ref\":\"VOC-1\""), 2,
	     "field 'ref': 'VOC-1' already belongs to ticket " TID);
	bads(*state, HDR TICKET(",\"customer_id\":\"C-404\""), 2,
	     "field 'customer_id': no customer 'C-404' in the store or on an "
	     "earlier line");
	bads(*state,
	     HDR "{\"type\":\"activity\",\"id\":\"" AID "\",\"ticket_id\":\""
		 TID2 "\",\"kind\":\"internal_note\",\"author\":\"a\","
		 "\"device_time_ms\":1}\n" TICKET(""),
	     2, "field 'ticket_id': no ticket " TID2 " in the store or on an "
		"earlier line");
	bads(*state,
	     HDR "{\"type\":\"archive\",\"id\":\"A\","
		 "\"customer_id\":\"C-9\"}\n",
	     2, "no customer 'C-9'");
	bads(*state,
	     HDR "{\"type\":\"customer\",\"id\":\"C-5\",\"phone_masked\":"
		 "\"call me\"}\n",
	     2, "field 'phone_masked': phone number may hold only digits");
	bads(*state,
	     HDR "{\"type\":\"category\",\"code\":\"X\",\"name\":\"n\","
		 "\"risk_class\":\"system_fault\"}\n"
		 "{\"type\":\"category\",\"code\":\"X\",\"name\":\"n\","
		 "\"risk_class\":\"system_fault\"}\n",
	     3, "field 'code': category 'X' appears twice");
}

/* A bad line after category lines: the catalogue stays as it was. */
static void test_import__bad_line_keeps_catalogue(void **state)
{
	bads(*state,
	     HDR "{\"type\":\"category\",\"code\":\"X\",\"name\":\"n\","
		 "\"risk_class\":\"system_fault\"}\n"
		 "{\"type\":\"template\",\"id\":\"T\",\"title\":\"t\","
		 "\"body\":\"b\"}\n" TICKET("") TICKET(",\"channel\":\"fax\""),
	     5, "line 5: field 'channel'");
}

static void test_import__errors(void **state)
{
	struct fx *x = *state;
	bs_import_report r;

	assert_int_equal(bs_import(x->st, tu_path(x->dir, "missing.jsonl"), &r),
			 BS_ENOTFOUND);
	assert_non_null(strstr(bs_last_error(), "cannot open"));
	assert_int_equal(bs_import(x->st, NULL, &r), BS_EINVAL);
	assert_int_equal(bs_import(x->st, "", &r), BS_EINVAL);
	assert_int_equal(bs_import(x->st, x->dir, &r), BS_EIO);
}

/* Every allocation failing in turn: BS_ENOMEM and an unchanged store,
 * until the import goes through. */
static void test_import__out_of_memory(void **state)
{
	struct fx *x = *state;
	const char *path = tu_path(x->dir, "oom.jsonl");
	char *before = fingerprint(x->st), *after;
	bs_import_report r;
	long n;
	int rc = BS_ENOMEM;

	write_text(path, good, strlen(good));
	for (n = 1; n < 2000 && rc != BS_OK; n++) {
		bs__alloc_fail_after(n, 0);
		rc = bs_import(x->st, path, &r);
		bs__alloc_fail_after(0, 0);
		if (rc != BS_OK) {
			if (rc != BS_ENOMEM)
				fail_msg("allocation %ld: %s", n,
					 bs_last_error());
			after = fingerprint(x->st);
			assert_string_equal(after, before);
			free(after);
		}
	}
	assert_int_equal(rc, BS_OK);
	free(before);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_import__good_file),
		T(test_import__upsert),
		T(test_import__keeps_catalogue_without_category_lines),
		T(test_import__generator),
		T(test_import__stdin),
		T(test_import__no_trailing_newline_and_bom),
		T(test_import__bad_utf8),
		T(test_import__oversized_line),
		T(test_import__truncated_json),
		T(test_import__unknown_type),
		T(test_import__header),
		T(test_import__missing_field),
		T(test_import__bad_enum),
		T(test_import__bad_types),
		T(test_import__bad_ids),
		T(test_import__bad_line_keeps_catalogue),
		T(test_import__errors),
		T(test_import__out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
