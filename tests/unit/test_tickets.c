/*
 * test_tickets.c - the ticket API of include/branchsync/tickets.h on a
 * real encrypted store: init, the queue and its SLA state, show,
 * replies, notes and calls, moves through the state machine, walk-in
 * complaints with masked customers, search in Chinese and English, the
 * catalogue and templates, status, and the outbox operation, field
 * clocks and audit row that every change leaves.
 *
 * Each test starts from a fresh store set up for staff s1 of branch
 * BR001 with a small export imported: tickets whose T0 lies a known
 * number of minutes before now, so that SLA warnings and breaches are
 * what the test expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "agent/core/common.h"
#include "branchsync/tickets.h"
#include "platform/os.h"
#include "testutil.h"

#define MIN 60000LL
#define DAY (24 * 60 * MIN)

/* Ticket ids of the fixture (UUIDv7 shaped). */
#define T1 "01890000-0000-7000-8000-000000000001"
#define T2 "01890000-0000-7000-8000-000000000002"
#define T3 "01890000-0000-7000-8000-000000000003"
#define T4 "01890000-0000-7000-8000-000000000004"
#define T5 "01890000-0000-7000-8000-000000000005"
#define T6 "01890000-0000-7000-8000-000000000006"
#define T7 "01890000-0000-7000-8000-000000000007"
#define A1 "01890000-0000-7000-8000-0000000000a1"

struct fx {
	char dir[512];
	bs_store *st;
	long long now;
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

/* The fixture export, times relative to now. */
static void fixture(struct fx *x)
{
	char *buf = malloc(16384);
	long long n = x->now;
	bs_import_report rep;
	int rc;

	snprintf(buf, 16384,
		 "{\"type\":\"header\",\"format\":\"branchsync-export\","
		 "\"version\":1}\n"
		 "{\"type\":\"customer\",\"id\":\"C-1\",\"name_masked\":"
		 "\"王*\",\"phone_masked\":\"139****0001\","
		 "\"id_number_masked\":\"110***********1234\"}\n"
		 "{\"type\":\"archive\",\"id\":\"AR-1\",\"customer_id\":"
		 "\"C-1\",\"ticket_ref\":\"VOC-2024-000001\",\"channel\":"
		 "\"phone\",\"received_ms\":%lld,\"category\":\"PAY-GAS\","
		 "\"summary\":\"燃气费重复扣款\",\"outcome\":\"已退款\"}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T1 "\",\"ref\":\"VOC-1\","
		 "\"channel\":\"phone\",\"category\":\"CARD-FRAUD\","
		 "\"priority\":\"urgent\",\"status\":\"dispatched\","
		 "\"subject\":\"信用卡境外异常交易\",\"branch\":\"BR001\","
		 "\"assignee\":\"s1\",\"t0_ms\":%lld}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T2 "\",\"ref\":\"VOC-2\","
		 "\"customer_id\":\"C-1\",\"channel\":\"app\",\"category\":"
		 "\"PAY-GAS\",\"priority\":\"normal\",\"status\":"
		 "\"acknowledged\",\"subject\":\"燃气费代扣失败导致停气\","
		 "\"description\":\"客户签约燃气费自动代扣，本月扣款失败且未"
		 "通知，家中已被停气。\",\"transcript\":\"坐席：您好\\n客户："
		 "家里停气了\",\"branch\":\"BR001\",\"assignee\":\"s1\","
		 "\"t0_ms\":%lld,\"server_version\":3}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T3 "\",\"ref\":\"VOC-3\","
		 "\"channel\":\"branch\",\"category\":\"ATM-CASH\","
		 "\"priority\":\"urgent\",\"status\":\"dispatched\","
		 "\"subject\":\"Refund of an ATM withdrawal\",\"description\":"
		 "\"The customer asks for a refund: the ATM kept the cash.\","
		 "\"branch\":\"BR001\",\"assignee\":\"s1\",\"t0_ms\":%lld}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T4 "\",\"ref\":\"VOC-4\","
		 "\"channel\":\"online\",\"category\":\"LOAN-RATE\","
		 "\"priority\":\"normal\",\"status\":\"in_progress\","
		 "\"subject\":\"房贷利率未按政策下调\",\"branch\":\"BR001\","
		 "\"assignee\":\"s1\",\"t0_ms\":%lld,\"first_response_ms\":"
		 "%lld}\n"
		 "{\"type\":\"activity\",\"id\":\"" A1 "\",\"ticket_id\":\""
		 T4 "\",\"kind\":\"customer_message\",\"body\":\"客户补充："
		 "希望尽快处理 mortgage rate\",\"author\":\"callcenter\","
		 "\"device_time_ms\":%lld,\"hub_time_ms\":%lld}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T5 "\",\"ref\":\"VOC-5\","
		 "\"channel\":\"phone\",\"category\":\"APP-LOGIN\","
		 "\"priority\":\"high\",\"status\":\"dispatched\","
		 "\"subject\":\"手机银行无法登录\",\"branch\":\"BR001\","
		 "\"assignee\":\"s2\",\"t0_ms\":%lld}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T6 "\",\"ref\":\"VOC-6\","
		 "\"customer_id\":\"C-1\",\"channel\":\"phone\",\"category\":"
		 "\"PAY-GAS\",\"status\":\"closed\",\"subject\":\"燃气缴费查询"
		 "\",\"branch\":\"BR001\",\"assignee\":\"s1\",\"t0_ms\":%lld,"
		 "\"closed_ms\":%lld}\n"
		 "{\"type\":\"ticket\",\"id\":\"" T7 "\",\"ref\":\"VOC-7\","
		 "\"channel\":\"social\",\"status\":\"dispatched\","
		 "\"subject\":\"其他网点的投诉\",\"branch\":\"BR999\","
		 "\"assignee\":\"s9\",\"t0_ms\":%lld}\n",
		 n - 400 * DAY, n - 40 * MIN, n - 125 * MIN, n - 25 * MIN,
		 n - 2 * DAY, n - 2 * DAY + 20 * MIN, n - 2 * DAY + 5 * MIN,
		 n - 2 * DAY + 6 * MIN, n - 10 * MIN, n - 20 * DAY,
		 n - 10 * DAY, n - 5 * MIN);
	write_text(tu_path(x->dir, "fixture.jsonl"), buf);
	free(buf);
	rc = bs_import(x->st, tu_path(x->dir, "fixture.jsonl"), &rep);
	if (rc != BS_OK)
		fail_msg("fixture: %s", bs_last_error());
	assert_int_equal(rep.tickets, 7);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "%s", tu_tempdir());
	x->st = tu_create(tu_path(x->dir, "store"), 0);
	if (bs_tickets_init(x->st, "s1", "BR001", "staff") != BS_OK)
		fail_msg("init: %s", bs_last_error());
	x->now = bs_os_now_ms();
	fixture(x);
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

/* The first column of the first row of sql, as text, in a static buffer
 * ("" for NULL). */
static const char *qtext(bs_store *st, const char *sql)
{
	static char out[8192];
	sqlite3_stmt *s = NULL;
	const unsigned char *v;

	assert_int_equal(sqlite3_prepare_v2(bs_store_db(st), sql, -1, &s, NULL),
			 SQLITE_OK);
	if (sqlite3_step(s) != SQLITE_ROW)
		fail_msg("no row: %s", sql);
	v = sqlite3_column_text(s, 0);
	snprintf(out, sizeof(out), "%s", v ? (const char *)v : "");
	sqlite3_finalize(s);
	return out;
}

static cJSON *parse(char *json)
{
	cJSON *j;

	assert_non_null(json);
	j = cJSON_Parse(json);
	assert_non_null(j);
	bs_free(json);
	return j;
}

static cJSON *get(const cJSON *o, const char *path)
{
	char key[64];
	const char *dot;
	const cJSON *cur = o;

	while (cur != NULL && *path != '\0') {
		dot = strchr(path, '.');
		snprintf(key, sizeof(key), "%.*s",
			 (int)(dot ? (size_t)(dot - path) : strlen(path)),
			 path);
		cur = cJSON_GetObjectItemCaseSensitive(cur, key);
		path = dot ? dot + 1 : path + strlen(path);
	}
	if (cur == NULL)
		fail_msg("no member %s", path);
	return (cJSON *)cur;
}

static const char *gstr(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	if (cJSON_IsNull(v))
		return NULL;
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static long long gint(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	assert_true(cJSON_IsNumber(v));
	return (long long)v->valuedouble;
}

static int gbool(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	assert_true(cJSON_IsBool(v));
	return cJSON_IsTrue(v);
}

/* The ticket with id in a JSON array of summaries, or NULL. */
static cJSON *find_id(const cJSON *arr, const char *id)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr)
	{
		if (strcmp(gstr(e, "id"), id) == 0)
			return (cJSON *)e;
	}
	return NULL;
}

/* The outbox row of the last operation, parsed: a JSON object of its
 * columns, fields and sensitive parsed. */
static cJSON *last_op(bs_store *st)
{
	sqlite3_stmt *s = NULL;
	cJSON *o = cJSON_CreateObject();
	int i;

	assert_int_equal(
		sqlite3_prepare_v2(bs_store_db(st),
				   "SELECT seq, device_id, op_id, entity, "
				   "entity_id, ticket_id, op, fields, "
				   "sensitive, hlc, base_version, author, "
				   "device_time_ms, state FROM outbox ORDER "
				   "BY seq DESC LIMIT 1",
				   -1, &s, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	for (i = 0; i < sqlite3_column_count(s); i++) {
		const char *name = sqlite3_column_name(s, i);
		const char *text = (const char *)sqlite3_column_text(s, i);

		if (sqlite3_column_type(s, i) == SQLITE_NULL)
			cJSON_AddNullToObject(o, name);
		else if (sqlite3_column_type(s, i) == SQLITE_INTEGER)
			cJSON_AddNumberToObject(
				o, name, (double)sqlite3_column_int64(s, i));
		else if (!strcmp(name, "fields") || !strcmp(name, "sensitive"))
			cJSON_AddItemToObject(o, name, cJSON_Parse(text));
		else
			cJSON_AddStringToObject(o, name, text);
	}
	sqlite3_finalize(s);
	return o;
}

/* What every operation carries, whatever its kind. */
static void check_envelope(struct fx *x, const cJSON *op, const char *entity,
			   const char *kind)
{
	char want[128], sql[256];
	const char *dev = qtext(x->st, "SELECT value FROM sync_state WHERE "
				       "key = 'device_id'");

	snprintf(want, sizeof(want), "%s:%lld", dev, gint(op, "seq"));
	assert_string_equal(gstr(op, "op_id"), want);
	assert_string_equal(gstr(op, "device_id"), dev);
	assert_string_equal(gstr(op, "entity"), entity);
	assert_string_equal(gstr(op, "op"), kind);
	assert_string_equal(gstr(op, "author"), "s1");
	assert_string_equal(gstr(op, "state"), "queued");
	assert_int_equal(strlen(gstr(op, "hlc")), 16);
	assert_true(llabs(gint(op, "device_time_ms") - bs_os_now_ms()) <
		    60000);
	/* The audit row names the operation. */
	snprintf(sql, sizeof(sql),
		 "SELECT action || ' ' || json_extract(detail, '$.op_id') "
		 "FROM audit ORDER BY id DESC LIMIT 1");
	snprintf(want, sizeof(want), "%s.%s %s", entity, kind,
		 gstr(op, "op_id"));
	assert_string_equal(qtext(x->st, sql), want);
}

/*
 * The op set exactly these ticket fields (NULL-terminated): each has a
 * clock with the op's stamp and this device as node, and no other clock
 * carries that stamp.
 */
static void check_clocks(struct fx *x, const cJSON *op, const char *ticket,
			 const char *const *fields)
{
	char sql[512], want[128];
	long long n = 0;

	snprintf(want, sizeof(want), "%s %s", gstr(op, "hlc"),
		 gstr(op, "device_id"));
	for (; *fields != NULL; fields++, n++) {
		snprintf(sql, sizeof(sql),
			 "SELECT hlc || ' ' || node FROM ticket_clock WHERE "
			 "ticket_id = '%s' AND field = '%s'",
			 ticket, *fields);
		assert_string_equal(qtext(x->st, sql), want);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM ticket_clock WHERE hlc = '%s'",
		 gstr(op, "hlc"));
	assert_int_equal(tu_int(x->st, sql), n);
	/* The audit row lists them. */
	snprintf(sql, sizeof(sql),
		 "SELECT json_array_length(detail, '$.set') FROM audit "
		 "WHERE json_extract(detail, '$.op_id') = '%s'",
		 gstr(op, "op_id"));
	assert_int_equal(tu_int(x->st, sql), n);
}

/*
 * The members of an op's fields are those schema/protocol.md (§6) allows
 * for its kind: the hub refuses a batch with any other.
 */
static void check_wire(const cJSON *op)
{
	static const char *const create[] = {
		"channel", "subject", "t0_ms", "description", "transcript",
		"customer_id", "category", "risk_class", "priority", NULL
	};
	static const char *const move[] = { "from", "to", "reason",
					    "evidence", "customer_notified",
					    "ext_level", "activity_id", NULL };
	static const char *const append[] = {
		"kind", "visibility", "body", "status", "attachment_hash",
		"attachment_name", "attachment_size", "attachment_mime", NULL
	};
	const char *kind = gstr(op, "op");
	const char *const *allowed = !strcmp(kind, "create") ? create
				     : !strcmp(kind, "move") ? move
							      : append;
	const cJSON *f;
	size_t i;

	assert_true(!strcmp(gstr(op, "entity"), "ticket") ||
		    !strcmp(gstr(op, "entity"), "activity"));
	cJSON_ArrayForEach(f, get(op, "fields"))
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (!strcmp(f->string, allowed[i]))
				break;
		if (allowed[i] == NULL)
			fail_msg("%s op carries '%s'", kind, f->string);
	}
}

/* --- init -------------------------------------------------------------- */

static void test_tickets__init(void **state)
{
	struct fx *x = *state;
	const char *dev;

	dev = qtext(x->st, "SELECT value FROM sync_state WHERE key = "
			   "'device_id'");
	assert_int_equal(strlen(dev), 36);
	assert_int_equal(dev[14], '7'); /* UUIDv7 */
	assert_string_equal(qtext(x->st, "SELECT group_concat(value, ',') "
					 "FROM (SELECT value FROM sync_state "
					 "WHERE key IN ('staff', 'branch', "
					 "'role') ORDER BY key)"),
			    "BR001,staff,s1");
	assert_true(tu_int(x->st, "SELECT count(*) FROM catalogue_category") >=
		    40);
	assert_true(tu_int(x->st, "SELECT count(*) FROM catalogue_template") >=
		    10);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM "
				       "catalogue_category WHERE code = "
				       "'PAY-GAS' AND parent = 'PAY' AND "
				       "name = '燃气费代缴'"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM audit WHERE "
				       "action = 'init'"),
			 1);
	assert_int_equal(tu_int(x->st, "SELECT version FROM catalogue_meta"),
			 1);
	/* Nothing of the initialisation goes to head office. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), 0);
}

static void test_tickets__init_errors(void **state)
{
	struct fx *x = *state;
	bs_store *st;
	char dir[600];

	assert_int_equal(bs_tickets_init(x->st, "s1", "BR001", "staff"),
			 BS_EEXISTS);
	assert_non_null(strstr(bs_last_error(), "already set up"));

	snprintf(dir, sizeof(dir), "%s", tu_path(x->dir, "other"));
	st = tu_create(dir, 0);
	assert_int_equal(bs_tickets_init(st, "s1", "BR001", "boss"),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "role"));
	assert_int_equal(bs_tickets_init(st, "s 1", "BR001", "staff"),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_init(st, "s1", "\xff\xfe", "staff"),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_init(st, "s2", "BR001", "staff"),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "opened by 's1'"));
	/* Nothing half set up: a change still needs init. */
	assert_int_equal(bs_ticket_add(st, T1, BS_ACT_NOTE, "x", NULL),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "branchsync init"));
	assert_int_equal(bs_tickets_init(st, "s1", "BR002", "manager"), BS_OK);
	bs_store_close(st);
}

/* --- the queue --------------------------------------------------------- */

static void test_tickets__list_queue_order(void **state)
{
	struct fx *x = *state;
	bs_list_opts mine = { BS_LIST_MINE, 0, NULL, 0 };
	bs_list_opts branch = { BS_LIST_BRANCH, 0, NULL, 0 };
	static const char *const want_mine[] = { T1, T3, T2, T4 };
	static const char *const want_branch[] = { T1, T3, T5, T2, T4 };
	char *json = NULL;
	cJSON *arr;
	int i;

	assert_int_equal(bs_ticket_list(x->st, &mine, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(gstr(cJSON_GetArrayItem(arr, i), "id"),
				    want_mine[i]);
	cJSON_Delete(arr);

	assert_int_equal(bs_ticket_list(x->st, &branch, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(gstr(cJSON_GetArrayItem(arr, i), "id"),
				    want_branch[i]);
	cJSON_Delete(arr);

	/* NULL options: the staff member's own open queue. */
	assert_int_equal(bs_ticket_list(x->st, NULL, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 4);
	cJSON_Delete(arr);
}

static void test_tickets__list_filters(void **state)
{
	struct fx *x = *state;
	bs_list_opts o = { BS_LIST_MINE, 1, NULL, 0 };
	char *json = NULL;
	cJSON *arr;

	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 5);
	/* A closed ticket has no running clock: it comes last. */
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 4), "id"), T6);
	assert_false(gbool(cJSON_GetArrayItem(arr, 4), "open"));
	cJSON_Delete(arr);

	o.include_closed = 0;
	o.status = "dispatched";
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	cJSON_Delete(arr);

	o.status = "closed"; /* a status filter shows closed ones too */
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON_Delete(arr);

	o.status = NULL;
	o.limit = 2;
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "id"), T1);
	cJSON_Delete(arr);

	o.status = "nonsense";
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_EINVAL);
	assert_null(json);
	o.status = NULL;
	o.scope = (bs_list_scope)7;
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_EINVAL);
}

static void test_tickets__list_sla_fields(void **state)
{
	struct fx *x = *state;
	bs_list_opts o = { BS_LIST_MINE, 0, NULL, 0 };
	char *json = NULL;
	cJSON *arr, *t;

	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);

	/* T1: urgent, 40 of 30 minutes: breached. */
	t = find_id(arr, T1);
	assert_string_equal(gstr(t, "sla.profile"), "cn2020");
	assert_string_equal(gstr(t, "sla.first_response.state"), "running");
	assert_string_equal(gstr(t, "sla.first_response.level"), "breached");
	assert_true(gbool(t, "sla.first_response.breached"));
	assert_true(gbool(t, "sla.overdue"));
	assert_true(gbool(t, "sla.breached"));
	assert_true(gint(t, "sla.first_response.percent") >= 133);
	assert_true(gint(t, "sla.first_response.remaining_ms") < 0);
	assert_int_equal(gint(t, "sla.first_response.due_ms"),
			 gint(t, "t0_ms") + 30 * MIN);
	assert_int_equal(gint(t, "sla.resolution.due_ms"),
			 gint(t, "t0_ms") + 15 * DAY);
	assert_string_equal(gstr(t, "category_name"), "信用卡盗刷");
	assert_string_equal(gstr(t, "risk_class"), "operational_risk");

	/* T3: 25 of 30 minutes, past the second warning. */
	t = find_id(arr, T3);
	assert_string_equal(gstr(t, "sla.first_response.level"),
			    "urgent_warning");
	assert_int_equal(gint(t, "sla.first_response.warning"), 80);
	assert_false(gbool(t, "sla.breached"));
	assert_int_equal(gint(t, "sla.first_response.percent"), 83);

	/* T2: 125 of 240 minutes, past the first warning. */
	t = find_id(arr, T2);
	assert_string_equal(gstr(t, "sla.first_response.level"), "warning");
	assert_int_equal(gint(t, "sla.first_response.warning"), 50);
	assert_int_equal(gint(t, "sla.first_response.percent"), 52);
	assert_string_equal(gstr(t, "customer_name"), "王*");

	/* T4: responded; resolution 2 of 15 days. */
	t = find_id(arr, T4);
	assert_string_equal(gstr(t, "sla.first_response.state"), "stopped");
	assert_string_equal(gstr(t, "sla.first_response.level"), "ok");
	assert_true(cJSON_IsNumber(get(t, "sla.first_response.stopped_ms")));
	assert_string_equal(gstr(t, "sla.resolution.level"), "ok");
	assert_int_equal(gint(t, "sla.resolution.percent"), 13);
	assert_int_equal(gint(t, "sla.next_due_ms"),
			 gint(t, "t0_ms") + 15 * DAY);

	/* Never synced: the clock is not trusted, and the JSON says so. */
	assert_false(gbool(t, "sla.clock_trusted"));
	assert_non_null(strstr(gstr(t, "sla.clock"), "never synced"));
	cJSON_Delete(arr);

	/* After a sync taught the hub's offset, it is. */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO sync_state (key, value, updated_ms) VALUES "
		 "('hub_clock_offset_ms', 1500, 0), ('last_sync_ms', %lld, "
		 "0)",
		 (long long)bs_os_now_ms() - 60000);
	tu_exec(x->st, sql);
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	t = find_id(arr, T4);
	assert_true(gbool(t, "sla.clock_trusted"));
	assert_string_equal(gstr(t, "sla.clock"), "trusted");
	cJSON_Delete(arr);

	/* A last sync four days ago is stale. */
	snprintf(sql, sizeof(sql),
		 "UPDATE sync_state SET value = %lld WHERE key = "
		 "'last_sync_ms'",
		 (long long)bs_os_now_ms() - 4 * DAY);
	tu_exec(x->st, sql);
	assert_int_equal(bs_ticket_list(x->st, &o, &json), BS_OK);
	arr = parse(json);
	assert_false(gbool(cJSON_GetArrayItem(arr, 0), "sla.clock_trusted"));
	assert_non_null(strstr(gstr(cJSON_GetArrayItem(arr, 0), "sla.clock"),
			       "too long ago"));
	cJSON_Delete(arr);
}

/* --- show -------------------------------------------------------------- */

static void test_tickets__show(void **state)
{
	struct fx *x = *state;
	char *json = NULL;
	cJSON *t, *tl, *next;
	int i, has_ack = 0;

	assert_int_equal(bs_ticket_show(x->st, "VOC-2", &json), BS_OK);
	t = parse(json);
	assert_string_equal(gstr(t, "id"), T2);
	assert_string_equal(gstr(t, "ref"), "VOC-2");
	assert_string_equal(gstr(t, "status"), "acknowledged");
	assert_non_null(strstr(gstr(t, "description"), "停气"));
	assert_non_null(strstr(gstr(t, "transcript"), "坐席"));
	assert_int_equal(gint(t, "server_version"), 3);
	assert_string_equal(gstr(t, "customer.name"), "王*");
	assert_string_equal(gstr(t, "customer.phone"), "139****0001");
	assert_string_equal(gstr(t, "customer.id_number"),
			    "110***********1234");
	/* The customer's earlier complaints: the archive and the other
	 * ticket in the store. */
	assert_int_equal(cJSON_GetArraySize(get(t, "archive")), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(get(t, "archive"), 0),
				 "category_name"),
			    "燃气费代缴");
	assert_int_equal(cJSON_GetArraySize(get(t, "other_tickets")), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(get(t, "other_tickets"), 0),
				 "id"),
			    T6);
	assert_string_equal(gstr(t, "sla.first_response.state"), "running");
	next = get(t, "next_states");
	for (i = 0; i < cJSON_GetArraySize(next); i++) {
		const char *s = cJSON_GetArrayItem(next, i)->valuestring;

		assert_true(strcmp(s, "closed") != 0); /* head office only */
		has_ack |= strcmp(s, "in_progress") == 0;
	}
	assert_true(has_ack);
	assert_int_equal(gint(t, "queued_ops"), 0);
	cJSON_Delete(t);

	/* By id, by id prefix, with the timeline. */
	assert_int_equal(bs_ticket_show(x->st, T4, &json), BS_OK);
	t = parse(json);
	tl = get(t, "timeline");
	assert_int_equal(cJSON_GetArraySize(tl), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(tl, 0), "kind"),
			    "customer_message");
	assert_string_equal(gstr(cJSON_GetArrayItem(tl, 0), "visibility"),
			    "customer");
	assert_true(gbool(cJSON_GetArrayItem(tl, 0), "synced"));
	assert_true(cJSON_IsNull(get(t, "customer")));
	cJSON_Delete(t);

	assert_int_equal(bs_ticket_show(x->st, "01890000-0000-7000-8000-0000000"
						"00007",
					&json),
			 BS_OK);
	bs_free(json);
	/* A prefix shared by several tickets is ambiguous. */
	assert_int_equal(bs_ticket_show(x->st, "01890000", &json), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "ambiguous"));
	assert_int_equal(bs_ticket_show(x->st, "VOC-404", &json),
			 BS_ENOTFOUND);
	assert_string_equal(bs_last_error(), "no ticket 'VOC-404'");
	assert_null(json);
	assert_int_equal(bs_ticket_show(x->st, "VOC\xc3", &json), BS_EINVAL);
	assert_int_equal(bs_ticket_show(x->st, "", &json), BS_EINVAL);
}

/* --- replies, notes, calls --------------------------------------------- */

static void test_tickets__add_reply(void **state)
{
	struct fx *x = *state;
	char id[37], *json = NULL;
	cJSON *op, *t;
	long long before = bs_os_now_ms();

	assert_int_equal(bs_ticket_add(x->st, "VOC-2", BS_ACT_REPLY,
				       "您好，我们已联系燃气公司。", id),
			 BS_OK);
	assert_int_equal(strlen(id), 36);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity WHERE "
				       "kind = 'customer_reply' AND "
				       "visibility = 'customer' AND author = "
				       "'s1' AND device_id IS NOT NULL"),
			 1);
	/* First contact: the first-response clock stops. */
	assert_true(tu_int(x->st, "SELECT first_response_ms FROM ticket WHERE "
				  "ref = 'VOC-2'") >= before);
	assert_int_equal(tu_int(x->st, "SELECT local_dirty FROM ticket WHERE "
				       "ref = 'VOC-2'"),
			 1);

	op = last_op(x->st);
	check_envelope(x, op, "activity", "append");
	assert_string_equal(gstr(op, "entity_id"), id);
	assert_string_equal(gstr(op, "ticket_id"), T2);
	assert_int_equal(gint(op, "base_version"), 3);
	assert_true(cJSON_IsNull(get(op, "sensitive")));
	assert_string_equal(gstr(op, "fields.kind"), "customer_reply");
	assert_string_equal(gstr(op, "fields.visibility"), "customer");
	assert_string_equal(gstr(op, "fields.body"),
			    "您好，我们已联系燃气公司。");
	assert_string_equal(gstr(op, "fields.status"), "acknowledged");
	assert_int_equal(cJSON_GetArraySize(get(op, "fields")), 4);
	check_wire(op);
	{
		static const char *const f[] = { "first_response_ms", NULL };

		check_clocks(x, op, T2, f);
	}
	cJSON_Delete(op);

	assert_int_equal(bs_ticket_show(x->st, T2, &json), BS_OK);
	t = parse(json);
	assert_string_equal(gstr(t, "sla.first_response.state"), "stopped");
	assert_true(gbool(t, "pending_sync"));
	assert_int_equal(gint(t, "queued_ops"), 1);
	assert_false(gbool(cJSON_GetArrayItem(get(t, "timeline"), 0),
			   "synced"));
	cJSON_Delete(t);

	/* A second reply does not move the first response. */
	long long first = tu_int(x->st, "SELECT first_response_ms FROM ticket "
					"WHERE ref = 'VOC-2'");
	assert_int_equal(bs_ticket_add(x->st, T2, BS_ACT_REPLY, "再次回复",
				       NULL),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT first_response_ms FROM ticket "
				       "WHERE ref = 'VOC-2'"),
			 first);
	op = last_op(x->st);
	{
		static const char *const none[] = { NULL };

		check_clocks(x, op, T2, none);
	}
	cJSON_Delete(op);
}

static void test_tickets__add_note_and_call(void **state)
{
	struct fx *x = *state;
	cJSON *op;

	/* A note is internal and is not contact with the customer. */
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE,
				       "内部备注：已调取交易记录", NULL),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT first_response_ms IS NULL FROM "
				       "ticket WHERE ref = 'VOC-1'"),
			 1);
	op = last_op(x->st);
	check_envelope(x, op, "activity", "append");
	assert_string_equal(gstr(op, "fields.kind"), "internal_note");
	assert_string_equal(gstr(op, "fields.visibility"), "internal");
	assert_string_equal(gstr(op, "fields.status"), "dispatched");
	assert_int_equal(gint(op, "base_version"), 0);
	check_wire(op);
	{
		static const char *const none[] = { NULL };

		check_clocks(x, op, T1, none);
	}
	cJSON_Delete(op);

	/* A call is. */
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_CALL,
				       "致电客户，说明调查流程", NULL),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT first_response_ms IS NOT NULL "
				       "FROM ticket WHERE ref = 'VOC-1'"),
			 1);
	op = last_op(x->st);
	assert_string_equal(gstr(op, "fields.kind"), "call_log");
	assert_string_equal(gstr(op, "fields.visibility"), "internal");
	{
		static const char *const f[] = { "first_response_ms", NULL };

		check_clocks(x, op, T1, f);
	}
	cJSON_Delete(op);
}

static void test_tickets__add_errors(void **state)
{
	struct fx *x = *state;
	long long ops = tu_int(x->st, "SELECT count(*) FROM outbox");
	char *big;

	assert_int_equal(bs_ticket_add(x->st, "VOC-404", BS_ACT_NOTE, "x",
				       NULL),
			 BS_ENOTFOUND);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE, "", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE, NULL,
				       NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE, " \n\t",
				       NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE,
				       "bad \xe7\x87 utf8", NULL),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "not valid UTF-8"));
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE,
				       "overlong \xc0\xaf", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE,
				       "surrogate \xed\xa0\x80", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", (bs_activity_kind)9,
				       "x", NULL),
			 BS_EINVAL);
	big = malloc(65538);
	memset(big, 'a', 65537);
	big[65537] = '\0';
	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE, big, NULL),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "too long"));
	free(big);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), ops);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity"), 1);
}

/* --- moves ------------------------------------------------------------- */

static void test_tickets__move_allowed(void **state)
{
	struct fx *x = *state;
	cJSON *op;
	long long before = bs_os_now_ms();

	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "acknowledged", NULL),
			 BS_OK);
	assert_string_equal(qtext(x->st, "SELECT status FROM ticket WHERE "
					 "ref = 'VOC-1'"),
			    "acknowledged");
	op = last_op(x->st);
	check_envelope(x, op, "ticket", "move");
	assert_string_equal(gstr(op, "entity_id"), T1);
	assert_string_equal(gstr(op, "ticket_id"), T1);
	assert_int_equal(gint(op, "base_version"), 0);
	assert_string_equal(gstr(op, "fields.from"), "dispatched");
	assert_string_equal(gstr(op, "fields.to"), "acknowledged");
	assert_false(gbool(op, "fields.customer_notified"));
	assert_null(cJSON_GetObjectItem(get(op, "fields"), "reason"));
	assert_null(cJSON_GetObjectItem(get(op, "fields"), "evidence"));
	check_wire(op);
	{
		static const char *const f[] = { "status", NULL };
		char sql[256];

		check_clocks(x, op, T1, f);
		/* The status-change entry the op names. */
		snprintf(sql, sizeof(sql),
			 "SELECT kind || ' ' || from_status || ' ' || "
			 "to_status || ' ' || hlc FROM activity WHERE id = "
			 "'%s'",
			 gstr(op, "fields.activity_id"));
		char want[96];
		snprintf(want, sizeof(want),
			 "status_change dispatched acknowledged %s",
			 gstr(op, "hlc"));
		assert_string_equal(qtext(x->st, sql), want);
	}
	cJSON_Delete(op);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM activity WHERE "
				       "ticket_id = '" T1 "' AND kind = "
				       "'status_change' AND from_status = "
				       "'dispatched' AND to_status = "
				       "'acknowledged'"),
			 1);

	/* Starting work is the first contact: the clock stops. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "in_progress",
					"已联系客户"),
			 BS_OK);
	assert_true(tu_int(x->st, "SELECT first_response_ms FROM ticket WHERE "
				  "ref = 'VOC-1'") >= before);
	op = last_op(x->st);
	assert_string_equal(gstr(op, "fields.reason"), "已联系客户");
	check_wire(op);
	{
		static const char *const f[] = { "status", "first_response_ms",
						 NULL };
		char sql[200];

		check_clocks(x, op, T1, f);
		snprintf(sql, sizeof(sql),
			 "SELECT body FROM activity WHERE id = '%s'",
			 gstr(op, "fields.activity_id"));
		assert_string_equal(qtext(x->st, sql), "已联系客户");
	}
	cJSON_Delete(op);
}

static void test_tickets__move_refused(void **state)
{
	struct fx *x = *state;
	long long ops = tu_int(x->st, "SELECT count(*) FROM outbox");

	/* Only head office closes. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "closed", "done"),
			 BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "only head office can close a ticket");
	/* No such edge. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-6", "in_progress", NULL),
			 BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "a ticket cannot go from closed to in_progress");
	/* A reason is required for a transfer request. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "transfer_requested",
					NULL),
			 BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "a reason is needed to ask for a transfer");
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "transfer_requested",
					"   "),
			 BS_EREFUSED);
	/* A withdrawal needs evidence. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "withdrawn", NULL),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "evidence"));
	/* Deciding an extension needs the hub. */
	tu_exec(x->st, "UPDATE ticket SET status = 'extension_requested' "
		       "WHERE ref = 'VOC-4'");
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "in_progress", NULL),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "only the branch manager"));
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "dispatched", NULL),
			 BS_EREFUSED);
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "flying", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_move(x->st, "VOC-404", "acknowledged",
					NULL),
			 BS_ENOTFOUND);
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "transfer_requested",
					"\xff"),
			 BS_EINVAL);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), ops);
	assert_string_equal(qtext(x->st, "SELECT status FROM ticket WHERE "
					 "ref = 'VOC-1'"),
			    "dispatched");

	/* With a reason the transfer request goes through. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", "transfer_requested",
					"客户住址属于其他网点辖区"),
			 BS_OK);
	assert_int_equal(bs_ticket_move(x->st, "VOC-3", "withdrawn",
					"客户来电撤回投诉，录音编号 R-1"),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT closed_ms IS NOT NULL FROM "
				       "ticket WHERE ref = 'VOC-3'"),
			 1);
}

static void test_tickets__move_pause_resume(void **state)
{
	struct fx *x = *state;
	char *json = NULL;
	cJSON *op, *t;

	/* The customer must be told before a pause. */
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "pending_external",
					"送司法鉴定"),
			 BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "the customer must be told before you put a "
			    "ticket on hold for an external party");
	assert_int_equal(bs_ticket_add(x->st, "VOC-4", BS_ACT_REPLY,
				       "您的案件需外部鉴定，期间暂停计时。",
				       NULL),
			 BS_OK);
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "pending_external",
					"送司法鉴定"),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT paused_since_ms IS NOT NULL "
				       "FROM ticket WHERE ref = 'VOC-4'"),
			 1);
	op = last_op(x->st);
	assert_true(gbool(op, "fields.customer_notified"));
	{
		static const char *const f[] = { "status", "paused_since_ms",
						 NULL };

		check_clocks(x, op, T4, f);
	}
	cJSON_Delete(op);
	assert_int_equal(bs_ticket_show(x->st, "VOC-4", &json), BS_OK);
	t = parse(json);
	assert_string_equal(gstr(t, "sla.resolution.state"), "paused");
	assert_true(gbool(t, "sla.paused"));
	cJSON_Delete(t);

	/* Told again after the pause: a status change resets "told". */
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "in_progress", NULL),
			 BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT paused_since_ms IS NULL FROM "
				       "ticket WHERE ref = 'VOC-4'"),
			 1);
	op = last_op(x->st);
	{
		static const char *const f[] = { "status", "paused_since_ms",
						 "paused_ms_total", NULL };

		check_clocks(x, op, T4, f);
	}
	cJSON_Delete(op);
	assert_int_equal(bs_ticket_move(x->st, "VOC-4",
					"resolution_proposed", "已退款"),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "must be told"));
}

static void test_tickets__move_extension(void **state)
{
	struct fx *x = *state;
	cJSON *op;

	assert_int_equal(bs_ticket_add(x->st, "VOC-4", BS_ACT_CALL,
				       "电话告知客户需延期处理", NULL),
			 BS_OK);
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "extension_requested",
					"案情复杂，需调取多方材料"),
			 BS_OK);
	op = last_op(x->st);
	assert_int_equal(gint(op, "fields.ext_level"), 1);
	assert_true(gbool(op, "fields.customer_notified"));
	check_wire(op);
	cJSON_Delete(op);
	assert_int_equal(tu_int(x->st, "SELECT json_extract(detail, "
				       "'$.extension_level') FROM activity "
				       "WHERE kind = 'status_change' AND "
				       "to_status = 'extension_requested'"),
			 1);
	/* The request does not grant anything by itself. */
	assert_int_equal(tu_int(x->st, "SELECT extension_level FROM ticket "
				       "WHERE ref = 'VOC-4'"),
			 0);

	/* At the profile's highest level there is nothing more to ask. */
	tu_exec(x->st, "UPDATE ticket SET status = 'in_progress', "
		       "extension_level = 2 WHERE ref = 'VOC-4'");
	assert_int_equal(bs_ticket_add(x->st, "VOC-4", BS_ACT_CALL, "告知",
				       NULL),
			 BS_OK);
	assert_int_equal(bs_ticket_move(x->st, "VOC-4", "extension_requested",
					"再次延期"),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "no further extension"));
}

static void test_tickets__move_manager_role(void **state)
{
	struct fx *x = *state;
	bs_store *st;
	char dir[600];
	cJSON *op;

	snprintf(dir, sizeof(dir), "%s", tu_path(x->dir, "mgr"));
	st = tu_create(dir, 0);
	assert_int_equal(bs_tickets_init(st, "s1", "BR001", "manager"), BS_OK);
	assert_int_equal(bs_import(st, tu_path(x->dir, "fixture.jsonl"), NULL),
			 BS_OK);
	assert_int_equal(bs_ticket_move(st, "VOC-1", "acknowledged", NULL),
			 BS_OK);
	op = last_op(st);
	assert_string_equal(gstr(op, "fields.to"), "acknowledged");
	cJSON_Delete(op);
	bs_store_close(st);
}

/* --- walk-in complaints ------------------------------------------------ */

static void test_tickets__new_walk_in(void **state)
{
	struct fx *x = *state;
	bs_new_ticket t = { 0 };
	char id[37], sql[256], want[64], *json = NULL;
	const char *cid;
	cJSON *op;

	t.category = "PAY-GAS";
	t.channel = "branch";
	t.subject = "燃气费被重复扣款";
	t.description = "客户到柜台反映本月燃气费被扣两次，共416元。";
	t.customer_name = " 张三丰 ";
	t.customer_phone = "138 1234 5678";
	assert_int_equal(bs_ticket_new(x->st, &t, id), BS_OK);

	snprintf(sql, sizeof(sql),
		 "SELECT status || ' ' || priority || ' ' || risk_class || ' "
		 "' || assignee || ' ' || branch || ' ' || channel || ' ' || "
		 "sla_profile || ' ' || (ref IS NULL) FROM ticket WHERE id = "
		 "'%s'",
		 id);
	assert_string_equal(qtext(x->st, sql),
			    "received high system_fault s1 BR001 branch "
			    "cn2020 1");
	/* Only masked values on the device, outside the outbox. */
	snprintf(sql, sizeof(sql),
		 "SELECT name_masked || ' ' || phone_masked FROM customer "
		 "WHERE id = (SELECT customer_id FROM ticket WHERE id = "
		 "'%s')",
		 id);
	assert_string_equal(qtext(x->st, sql), "张* 138****5678");
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM customer WHERE "
				       "name_masked LIKE '%三丰%' OR "
				       "phone_masked LIKE '%12345678%'"),
			 0);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM audit WHERE "
				       "detail LIKE '%三丰%' OR detail LIKE "
				       "'%1234 5678%'"),
			 0);

	/* One operation: the creation, as the wire carries it. */
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), 1);
	op = last_op(x->st);
	check_envelope(x, op, "ticket", "create");
	check_wire(op);
	assert_string_equal(gstr(op, "entity_id"), id);
	assert_string_equal(gstr(op, "ticket_id"), id);
	assert_true(cJSON_IsNull(get(op, "base_version")));
	assert_string_equal(gstr(op, "fields.channel"), "branch");
	assert_string_equal(gstr(op, "fields.category"), "PAY-GAS");
	assert_string_equal(gstr(op, "fields.subject"), t.subject);
	assert_string_equal(gstr(op, "fields.description"), t.description);
	assert_string_equal(gstr(op, "fields.risk_class"), "system_fault");
	assert_string_equal(gstr(op, "fields.priority"), "high");
	assert_true(llabs(gint(op, "fields.t0_ms") - bs_os_now_ms()) < 60000);
	/* The walk-in's own customer id is not a known customer: it
	 * travels in the sensitive part, with the full name and phone. */
	assert_null(cJSON_GetObjectItem(get(op, "fields"), "customer_id"));
	snprintf(sql, sizeof(sql),
		 "SELECT customer_id FROM ticket WHERE id = '%s'", id);
	cid = qtext(x->st, sql);
	assert_string_equal(gstr(op, "sensitive.customer.id"), cid);
	assert_string_equal(gstr(op, "sensitive.customer.name"), "张三丰");
	assert_string_equal(gstr(op, "sensitive.customer.phone"),
			    "138 1234 5678");
	assert_null(strstr(qtext(x->st, "SELECT fields FROM outbox"), "三丰"));
	{
		static const char *const f[] = {
			"channel",	 "subject",	  "t0_ms",
			"description",	 "category_code", "risk_class",
			"priority",	 "customer_id",	  "status",
			"branch",	 "assignee",	  "sla_profile",
			"first_response_due_ms", "resolution_due_ms", NULL
		};

		check_clocks(x, op, id, f);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT (first_response_due_ms - t0_ms) || ' ' || "
		 "(resolution_due_ms - t0_ms) FROM ticket WHERE id = '%s'",
		 id);
	snprintf(want, sizeof(want), "%lld %lld", 120 * MIN, 15 * DAY);
	assert_string_equal(qtext(x->st, sql), want);
	cJSON_Delete(op);

	/* Once head office has answered, the sync client erases it; the
	 * store refuses an answer that keeps it. */
	assert_int_not_equal(sqlite3_exec(bs_store_db(x->st),
					  "UPDATE outbox SET state = "
					  "'answered', result = 'applied'",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	tu_exec(x->st, "UPDATE outbox SET state = 'answered', result = "
		       "'applied', sensitive = NULL");
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox WHERE "
				       "fields LIKE '%三丰%' OR sensitive IS "
				       "NOT NULL"),
			 0);

	/* It is in the queue and searchable at once. */
	assert_int_equal(bs_ticket_show(x->st, id, &json), BS_OK);
	op = parse(json);
	assert_string_equal(gstr(op, "customer.name"), "张*");
	assert_string_equal(gstr(op, "customer.phone"), "138****5678");
	assert_null(gstr(op, "ref"));
	assert_int_equal(gint(op, "queued_ops"), 0);
	cJSON_Delete(op);
}

static void test_tickets__new_variants(void **state)
{
	struct fx *x = *state;
	bs_new_ticket t = { 0 };
	char id[37], sql[200];

	/* No customer at all; an explicit priority. */
	t.category = "SVC-QUEUE";
	t.channel = "branch";
	t.subject = "排队时间过长";
	t.description = "客户等候一小时。";
	t.priority = "urgent";
	assert_int_equal(bs_ticket_new(x->st, &t, id), BS_OK);
	snprintf(sql, sizeof(sql),
		 "SELECT priority || ' ' || (customer_id IS NULL) FROM ticket "
		 "WHERE id = '%s'",
		 id);
	assert_string_equal(qtext(x->st, sql), "urgent 1");
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox WHERE "
				       "sensitive IS NOT NULL OR fields LIKE "
				       "'%customer_id%'"),
			 0);

	/* A known customer by id: named in the operation. */
	t.priority = NULL;
	t.customer_id = "C-1";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_OK);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket WHERE "
				       "customer_id = 'C-1'"),
			 3);
	assert_string_equal(qtext(x->st, "SELECT json_extract(fields, "
					 "'$.customer_id') || ' ' || "
					 "(sensitive IS NULL) FROM outbox "
					 "ORDER BY seq DESC LIMIT 1"),
			    "C-1 1");
}

static void test_tickets__new_errors(void **state)
{
	struct fx *x = *state;
	bs_new_ticket ok = { "PAY-GAS", "branch", "主题", "描述", NULL,
			     NULL,	NULL,	  NULL };
	bs_new_ticket t;
	long long n = tu_int(x->st, "SELECT count(*) FROM ticket");

	assert_int_equal(bs_ticket_new(x->st, NULL, NULL), BS_EINVAL);
	t = ok;
	t.category = "NOPE";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "not a category"));
	t = ok;
	t.category = NULL;
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	t = ok;
	t.channel = "fax";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "'fax' is not a channel"));
	t = ok;
	t.subject = NULL;
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_string_equal(bs_last_error(), "subject is required");
	t = ok;
	t.description = "  ";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	t = ok;
	t.subject = "\xe7\x87\x83\xe6";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "subject is not valid UTF-8"));
	t = ok;
	t.priority = "asap";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	t = ok;
	t.customer_phone = "call me";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "phone number"));
	t = ok;
	t.customer_name = "\xff";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	t = ok;
	t.customer_id = "C-404";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_ENOTFOUND);
	t = ok;
	t.customer_id = "C-1";
	t.customer_phone = "13812345678";
	assert_int_equal(bs_ticket_new(x->st, &t, NULL), BS_EINVAL);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM ticket"), n);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM customer"), 1);
}

/* --- search ------------------------------------------------------------ */

/* Run a search and return the number of hits; *first gets the first
 * hit (to free by the caller) if not NULL. */
static int search(struct fx *x, const char *q, cJSON **all)
{
	char *json = NULL;
	cJSON *arr;
	int n;

	if (bs_ticket_search(x->st, q, 0, &json) != BS_OK)
		fail_msg("search %s: %s", q, bs_last_error());
	arr = parse(json);
	n = cJSON_GetArraySize(arr);
	if (all != NULL)
		*all = arr;
	else
		cJSON_Delete(arr);
	return n;
}

static void test_tickets__search_chinese(void **state)
{
	struct fx *x = *state;
	cJSON *arr, *h;

	/* Two characters: below the trigram, found by the scan. */
	assert_int_equal(search(x, "燃气", &arr), 2);
	h = find_id(arr, T2);
	assert_non_null(h);
	assert_non_null(find_id(arr, T6));
	assert_string_equal(gstr(h, "match.field"), "subject");
	assert_non_null(strstr(gstr(h, "match.snippet"), "[燃气]"));
	assert_non_null(get(h, "sla"));
	cJSON_Delete(arr);

	/* Four characters: through the index. */
	assert_int_equal(search(x, "燃气代扣", NULL), 0);
	assert_int_equal(search(x, "自动代扣", &arr), 1);
	h = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(gstr(h, "id"), T2);
	assert_string_equal(gstr(h, "match.field"), "description");
	assert_non_null(strstr(gstr(h, "match.snippet"), "[自动代扣]"));
	cJSON_Delete(arr);

	/* The transcript and the timeline are searched too. */
	assert_int_equal(search(x, "家里停气", &arr), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "match.field"),
			    "transcript");
	cJSON_Delete(arr);
	assert_int_equal(search(x, "尽快", &arr), 1);
	h = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(gstr(h, "id"), T4);
	assert_string_equal(gstr(h, "match.field"), "activity");
	assert_string_equal(gstr(h, "match.activity_id"), A1);
	cJSON_Delete(arr);

	/* One character, and a term after an ideographic space: every
	 * term must match. */
	assert_true(search(x, "气", NULL) >= 2);
	assert_int_equal(search(x, "燃气\xe3\x80\x80停气", NULL), 1);
	assert_int_equal(search(x, "燃气 信用卡", NULL), 0);

	/* A reply written here is found at once. */
	assert_int_equal(bs_ticket_add(x->st, "VOC-5", BS_ACT_REPLY,
				       "已为您重置人脸识别", NULL),
			 BS_OK);
	assert_int_equal(search(x, "人脸", &arr), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "id"), T5);
	cJSON_Delete(arr);
	assert_int_equal(search(x, "重置人脸识别", NULL), 1);
}

static void test_tickets__search_english(void **state)
{
	struct fx *x = *state;
	cJSON *arr;
	char *json = NULL;

	assert_int_equal(search(x, "refund", &arr), 1);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "id"), T3);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "match.snippet"),
			    "[Refund] of an ATM withdrawal");
	cJSON_Delete(arr);
	assert_int_equal(search(x, "REFUND atm", NULL), 1);
	assert_int_equal(search(x, "mortgage", NULL), 1);
	assert_int_equal(search(x, "refund mortgage", NULL), 0);
	assert_int_equal(search(x, "ATM", NULL), 1);
	assert_int_equal(search(x, "zz", NULL), 0);
	/* The index knows which rows hold each trigram, not where: "withe"
	 * has all its trigrams in T3 ("with", "the"), but not in a row. */
	assert_int_equal(search(x, "withe", NULL), 0);
	assert_int_equal(search(x, "withdrawal", NULL), 1);
	assert_int_equal(search(x, "ref\"und", NULL), 0);
	/* Query syntax is text, never FTS5 or LIKE syntax. */
	assert_int_equal(search(x, "\"refund\" OR *", NULL), 0);
	assert_int_equal(search(x, "%", NULL), 0);
	assert_int_equal(search(x, "a_b", NULL), 0);
	/* Limit. */
	assert_int_equal(bs_ticket_search(x->st, "气", 1, &json), BS_OK);
	arr = parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON_Delete(arr);
	/* Errors. */
	assert_int_equal(bs_ticket_search(x->st, "", 0, &json), BS_EINVAL);
	assert_int_equal(bs_ticket_search(x->st, "  ", 0, &json), BS_EINVAL);
	assert_int_equal(bs_ticket_search(x->st, "\xe7\x87", 0, &json),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_search(x->st, "a b c d e f g h i", 0,
					  &json),
			 BS_EINVAL);
	assert_null(json);
}

/* --- catalogue and templates ------------------------------------------- */

static void test_tickets__catalogue(void **state)
{
	struct fx *x = *state;
	char *json = NULL;
	cJSON *arr, *e;
	int found = 0;

	assert_int_equal(bs_catalogue_categories(x->st, &json), BS_OK);
	arr = parse(json);
	assert_true(cJSON_GetArraySize(arr) >= 40);
	cJSON_ArrayForEach(e, arr)
	{
		if (strcmp(gstr(e, "code"), "ACC-FREEZE") == 0) {
			found = 1;
			assert_string_equal(gstr(e, "name"), "账户冻结与止付");
			assert_string_equal(gstr(e, "parent"), "ACC");
			assert_string_equal(gstr(e, "risk_class"),
					    "regulator_inquiry");
			assert_string_equal(gstr(e, "default_priority"),
					    "urgent");
		}
	}
	assert_true(found);
	cJSON_Delete(arr);

	/* Templates for a category: its own, its parent's, the general
	 * ones, most specific first. */
	assert_int_equal(bs_catalogue_templates(x->st, "PAY-GAS", &json),
			 BS_OK);
	arr = parse(json);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "id"),
			    "TPL-PAY-GAS");
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "category"),
			    "PAY-GAS");
	assert_true(cJSON_IsNull(get(cJSON_GetArrayItem(arr, 1), "category")));
	cJSON_ArrayForEach(e, arr)
	{
		assert_true(cJSON_IsNull(get(e, "category")) ||
			    strncmp(gstr(e, "category"), "PAY", 3) == 0);
	}
	cJSON_Delete(arr);
	assert_int_equal(bs_catalogue_templates(x->st, "WEALTH-LOSS", &json),
			 BS_OK);
	arr = parse(json);
	assert_string_equal(gstr(cJSON_GetArrayItem(arr, 0), "id"),
			    "TPL-WEALTH");
	cJSON_Delete(arr);
	assert_int_equal(bs_catalogue_templates(x->st, NULL, &json), BS_OK);
	arr = parse(json);
	assert_true(cJSON_GetArraySize(arr) >= 10);
	cJSON_Delete(arr);
	assert_int_equal(bs_catalogue_templates(x->st, "NOPE", &json),
			 BS_ENOTFOUND);
	assert_int_equal(bs_catalogue_templates(x->st, "a b", &json),
			 BS_EINVAL);
}

static void test_tickets__template_render(void **state)
{
	struct fx *x = *state;
	char *text = NULL, want[64];

	tu_exec(x->st, "INSERT INTO branch (code, name) VALUES ('BR001', "
		       "'朝阳支行')");
	assert_int_equal(bs_template_render(x->st, "TPL-ACK", "VOC-2", &text),
			 BS_OK);
	assert_non_null(strstr(text, "尊敬的王*："));
	assert_non_null(strstr(text, "“燃气费代扣失败导致停气”"));
	assert_non_null(strstr(text, "（投诉编号VOC-2）"));
	assert_non_null(strstr(text, "已由朝阳支行受理"));
	assert_non_null(strstr(text, "经办人s1"));
	assert_null(strchr(text, '{'));
	{
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		snprintf(want, sizeof(want), "%d年%d月%d日", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
	}
	assert_non_null(strstr(text, want));
	bs_free(text);

	/* No customer: a neutral word.  Unknown placeholders stay. */
	tu_exec(x->st, "INSERT INTO catalogue_template (id, title, body) "
		       "VALUES ('T-X', 't', '{customer}|{ref}|{unknown}|{')");
	assert_int_equal(bs_template_render(x->st, "T-X", "VOC-1", &text),
			 BS_OK);
	assert_string_equal(text, "客户|VOC-1|{unknown}|{");
	bs_free(text);

	assert_int_equal(bs_template_render(x->st, "TPL-NOPE", "VOC-1", &text),
			 BS_ENOTFOUND);
	assert_null(text);
	assert_int_equal(bs_template_render(x->st, "TPL-ACK", "VOC-404", &text),
			 BS_ENOTFOUND);
	assert_int_equal(bs_template_render(x->st, NULL, "VOC-1", &text),
			 BS_EINVAL);
}

/* --- status ------------------------------------------------------------ */

static void test_tickets__status(void **state)
{
	struct fx *x = *state;
	char *json = NULL;
	cJSON *s;

	assert_int_equal(bs_ticket_add(x->st, "VOC-1", BS_ACT_NOTE, "备注",
				       NULL),
			 BS_OK);
	assert_int_equal(bs_tickets_status(x->st, &json), BS_OK);
	s = parse(json);
	assert_int_equal(strlen(gstr(s, "device_id")), 36);
	assert_string_equal(gstr(s, "staff"), "s1");
	assert_string_equal(gstr(s, "branch"), "BR001");
	assert_string_equal(gstr(s, "role"), "staff");
	assert_string_equal(gstr(s, "opened_by"), "s1");
	assert_int_equal(gint(s, "tickets.total"), 7);
	assert_int_equal(gint(s, "tickets.open"), 6);
	assert_int_equal(gint(s, "tickets.mine_open"), 4);
	assert_int_equal(gint(s, "tickets.overdue"), 1);
	assert_int_equal(gint(s, "tickets.pending_sync"), 1);
	assert_int_equal(gint(s, "outbox.queued"), 1);
	assert_int_equal(gint(s, "conflicts"), 0);
	assert_true(cJSON_IsNull(get(s, "sync.last_sync_ms")));
	assert_false(gbool(s, "clock_trusted"));
	assert_true(gint(s, "catalogue.categories") >= 40);
	cJSON_Delete(s);
}

static void test_tickets__null_arguments(void **state)
{
	struct fx *x = *state;
	bs_new_ticket t = { "PAY-GAS", "branch", "s", "d", NULL,
			    NULL,      NULL,	 NULL };
	char *json = (char *)"untouched";

	bs_free(NULL);
	assert_int_equal(bs_tickets_init(NULL, "s1", "BR001", "staff"),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_init(x->st, NULL, "BR001", "staff"),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_init(x->st, "s1", NULL, "staff"),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_init(x->st, "s1", "BR001", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_list(NULL, NULL, &json), BS_EINVAL);
	assert_null(json);
	assert_int_equal(bs_ticket_list(x->st, NULL, NULL), BS_EINVAL);
	assert_int_equal(bs_ticket_show(NULL, "VOC-1", &json), BS_EINVAL);
	assert_int_equal(bs_ticket_show(x->st, NULL, &json), BS_EINVAL);
	assert_int_equal(bs_ticket_show(x->st, "VOC-1", NULL), BS_EINVAL);
	assert_int_equal(bs_ticket_add(NULL, "VOC-1", BS_ACT_NOTE, "x", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_add(x->st, NULL, BS_ACT_NOTE, "x", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_move(NULL, "VOC-1", "acknowledged", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_move(x->st, NULL, "acknowledged", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_move(x->st, "VOC-1", NULL, NULL),
			 BS_EINVAL);
	assert_int_equal(bs_ticket_new(NULL, &t, NULL), BS_EINVAL);
	assert_int_equal(bs_ticket_search(NULL, "x", 0, &json), BS_EINVAL);
	assert_int_equal(bs_ticket_search(x->st, NULL, 0, &json), BS_EINVAL);
	assert_int_equal(bs_ticket_search(x->st, "x", 0, NULL), BS_EINVAL);
	assert_int_equal(bs_catalogue_categories(NULL, &json), BS_EINVAL);
	assert_int_equal(bs_catalogue_categories(x->st, NULL), BS_EINVAL);
	assert_int_equal(bs_catalogue_templates(NULL, NULL, &json), BS_EINVAL);
	assert_int_equal(bs_catalogue_templates(x->st, NULL, NULL), BS_EINVAL);
	assert_int_equal(bs_template_render(NULL, "TPL-ACK", "VOC-1", &json),
			 BS_EINVAL);
	assert_int_equal(bs_template_render(x->st, "TPL-ACK", NULL, &json),
			 BS_EINVAL);
	assert_int_equal(bs_template_render(x->st, "TPL-ACK", "VOC-1", NULL),
			 BS_EINVAL);
	assert_int_equal(bs_tickets_status(NULL, &json), BS_EINVAL);
	assert_int_equal(bs_tickets_status(x->st, NULL), BS_EINVAL);
	assert_int_equal(bs_import(NULL, tu_path(x->dir, "fixture.jsonl"),
				   NULL),
			 BS_EINVAL);
	assert_null(json);
	assert_int_equal(tu_int(x->st, "SELECT count(*) FROM outbox"), 0);
}

/*
 * Every allocation failing in turn, for each public function: a clean
 * BS_ENOMEM, no result, nothing half written (rows, operations and
 * audit come and go together), and no leak (the SAN build checks).
 */
enum oom_op {
	OOM_ADD,
	OOM_MOVE,
	OOM_NEW,
	OOM_LIST,
	OOM_SHOW,
	OOM_SEARCH_SHORT,
	OOM_SEARCH_LONG,
	OOM_STATUS,
	OOM_CATEGORIES,
	OOM_TEMPLATES,
	OOM_RENDER,
	OOM_COUNT
};

static int oom_run(struct fx *x, enum oom_op op, char **out)
{
	bs_new_ticket t = { "PAY-GAS", "branch", "主题", "描述", NULL,
			    "张三",    "13812345678", NULL };

	*out = NULL;
	switch (op) {
	case OOM_ADD:
		return bs_ticket_add(x->st, "VOC-2", BS_ACT_REPLY, "回复",
				     NULL);
	case OOM_MOVE:
		return bs_ticket_move(x->st, "VOC-1", "acknowledged", "好");
	case OOM_NEW:
		return bs_ticket_new(x->st, &t, NULL);
	case OOM_LIST:
		return bs_ticket_list(x->st, NULL, out);
	case OOM_SHOW:
		return bs_ticket_show(x->st, "VOC-2", out);
	case OOM_SEARCH_SHORT:
		return bs_ticket_search(x->st, "燃气 停气", 0, out);
	case OOM_SEARCH_LONG:
		return bs_ticket_search(x->st, "燃气费", 0, out);
	case OOM_STATUS:
		return bs_tickets_status(x->st, out);
	case OOM_CATEGORIES:
		return bs_catalogue_categories(x->st, out);
	case OOM_TEMPLATES:
		return bs_catalogue_templates(x->st, "PAY-GAS", out);
	case OOM_RENDER:
		return bs_template_render(x->st, "TPL-ACK", "VOC-2", out);
	default:
		return BS_ERR;
	}
}

static long long count(struct fx *x, const char *table)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return tu_int(x->st, sql);
}

static void test_tickets__out_of_memory(void **state)
{
	struct fx *x = *state;
	char *out = NULL;
	long long ops, audit, acts;
	long n;
	int op, rc, done;

	for (op = 0; op < OOM_COUNT; op++) {
		for (n = 1, done = 0; n < 5000 && !done; n++) {
			ops = count(x, "outbox");
			audit = count(x, "audit");
			acts = count(x, "activity");
			bs__alloc_fail_after(n, 0);
			rc = oom_run(x, (enum oom_op)op, &out);
			bs__alloc_fail_after(0, 0);
			if (rc != BS_OK && rc != BS_ENOMEM)
				fail_msg("op %d, allocation %ld: %s", op, n,
					 bs_last_error());
			done = rc == BS_OK;
			if (!done) {
				assert_null(out);
				assert_int_equal(count(x, "outbox"), ops);
				assert_int_equal(count(x, "audit"), audit);
				assert_int_equal(count(x, "activity"), acts);
			}
			bs_free(out);
			out = NULL;
		}
		if (!done)
			fail_msg("op %d never succeeded", op);
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_tickets__init),
		T(test_tickets__init_errors),
		T(test_tickets__list_queue_order),
		T(test_tickets__list_filters),
		T(test_tickets__list_sla_fields),
		T(test_tickets__show),
		T(test_tickets__add_reply),
		T(test_tickets__add_note_and_call),
		T(test_tickets__add_errors),
		T(test_tickets__move_allowed),
		T(test_tickets__move_refused),
		T(test_tickets__move_pause_resume),
		T(test_tickets__move_extension),
		T(test_tickets__move_manager_role),
		T(test_tickets__new_walk_in),
		T(test_tickets__new_variants),
		T(test_tickets__new_errors),
		T(test_tickets__search_chinese),
		T(test_tickets__search_english),
		T(test_tickets__catalogue),
		T(test_tickets__template_render),
		T(test_tickets__status),
		T(test_tickets__null_arguments),
		T(test_tickets__out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
