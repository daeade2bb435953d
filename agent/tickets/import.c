/*
 * import.c - JSON Lines import of a head-office export (schema/import.md):
 * tickets, their timelines, masked customers and their archives, and the
 * catalogue.  bs_tickets_init() loads the default catalogue through the
 * same code.
 *
 * Divided into: the reader that cuts input into lines of at most
 * BS__TK_LINE_MAX bytes; the field tables, one per record type, that
 * every line is checked against (types, limits, enumerations, required
 * fields, unknown and duplicate fields); one writer per record type; and
 * bs_import() around them, which runs the whole input in one
 * transaction so that a bad line leaves the store exactly as it was.
 *
 * Import writes no outbox operations: what it brings is head office's
 * own data, and sending it back would only echo it.  Field clocks take
 * the record's stamp with node "hub", and the device's clock is moved
 * past every stamp seen, so that later local edits order after it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/mask.h"
#include "agent/core/utf8.h"
#include "tickets_internal.h"

#define FORMAT_NAME "branchsync-export"
#define FORMAT_VERSION 1
#define CHUNK 65536
#define TIME_MAX ((int64_t)0xffffffffffff)

/* --- field tables ------------------------------------------------------ */

enum ftype {
	T_STR,    /* UTF-8 text, at most max bytes */
	T_CODE,   /* 1..64 of [A-Za-z0-9._:@-] */
	T_UUID,   /* a UUIDv7, lowercase */
	T_TIME,   /* integer ms since 1970, 0..2^48-1 */
	T_INT,    /* integer lo..hi */
	T_BOOL,   /* true or false */
	T_ENUM,   /* one of values */
	T_STATUS, /* a ticket status */
	T_HLC,    /* 16 lowercase hex digits */
	T_OBJECT  /* a JSON object */
};

struct field {
	const char *name;
	enum ftype type;
	int required;
	size_t max;
	int64_t lo, hi;
	const char *const *values;
	const char *what; /* "a channel" */
};

#define F_STR(n, max, req) { n, T_STR, req, max, 0, 0, NULL, NULL }
#define F_CODE(n, req) { n, T_CODE, req, 0, 0, 0, NULL, NULL }
#define F_UUID(n, req) { n, T_UUID, req, 0, 0, 0, NULL, NULL }
#define F_TIME(n, req) { n, T_TIME, req, 0, 0, 0, NULL, NULL }
#define F_INT(n, lo, hi) { n, T_INT, 0, 0, lo, hi, NULL, NULL }
#define F_BOOL(n) { n, T_BOOL, 0, 0, 0, 0, NULL, NULL }
#define F_ENUM(n, req, v, w) { n, T_ENUM, req, 0, 0, 0, v, w }
#define F_STATUS(n, req) { n, T_STATUS, req, 0, 0, 0, NULL, NULL }
#define F_HLC(n) { n, T_HLC, 0, 0, 0, 0, NULL, NULL }
#define F_OBJECT(n, req) { n, T_OBJECT, req, 0, 0, 0, NULL, NULL }

static const char *const channels[] = { "phone",  "app",       "branch",
					"online", "social",    "regulator",
					NULL };
static const char *const risks[] = { "personnel_service", "product_dispute",
				     "operational_risk",  "system_fault",
				     "regulator_inquiry", NULL };
static const char *const priorities[] = { "urgent", "high", "normal", "low",
					  NULL };
static const char *const kinds[] = { "customer_reply", "customer_message",
				     "internal_note",  "call_log",
				     "status_change",  "attachment",
				     "system",	       NULL };
static const char *const visibilities[] = { "internal", "customer", NULL };
static const char *const formats[] = { FORMAT_NAME, NULL };

static const struct field header_fields[] = {
	F_ENUM("format", 1, formats, "'" FORMAT_NAME "'"),
	F_INT("version", 0, INT32_MAX),
	F_STR("source", BS__TK_NAME_MAX, 0),
	F_TIME("generated_ms", 0),
	F_INT("catalogue_version", 0, INT32_MAX),
};

static const struct field category_fields[] = {
	F_CODE("code", 1),
	F_CODE("parent", 0),
	F_STR("name", BS__TK_NAME_MAX, 1),
	F_ENUM("risk_class", 1, risks, "a risk class"),
	F_ENUM("default_priority", 0, priorities, "a priority"),
	F_CODE("sla_profile", 0),
	F_BOOL("active"),
	F_INT("sort_order", -1000000, 1000000),
};

static const struct field template_fields[] = {
	F_CODE("id", 1),
	F_CODE("category", 0),
	F_STR("title", BS__TK_NAME_MAX, 1),
	F_STR("body", BS__TK_TEMPLATE_MAX, 1),
	F_CODE("language", 0),
	F_BOOL("active"),
	F_INT("sort_order", -1000000, 1000000),
};

static const struct field customer_fields[] = {
	F_CODE("id", 1),
	F_STR("name_masked", BS__TK_NAME_MAX, 0),
	F_STR("phone_masked", BS__TK_CODE_MAX, 0),
	F_STR("id_number_masked", BS__TK_CODE_MAX, 0),
	F_STR("segment", BS__TK_CODE_MAX, 0),
	F_CODE("branch", 0),
	F_INT("server_version", 0, INT64_C(1) << 53),
	F_TIME("created_ms", 0),
	F_TIME("updated_ms", 0),
};

static const struct field archive_fields[] = {
	F_CODE("id", 1),
	F_CODE("customer_id", 1),
	F_UUID("ticket_id", 0),
	F_CODE("ticket_ref", 0),
	F_ENUM("channel", 0, channels, "a channel"),
	F_TIME("received_ms", 0),
	F_TIME("closed_ms", 0),
	F_CODE("category", 0),
	F_STR("summary", BS__TK_SUMMARY_MAX, 0),
	F_STR("outcome", BS__TK_SUMMARY_MAX, 0),
	F_CODE("branch", 0),
};

static const struct field ticket_fields[] = {
	F_UUID("id", 1),
	F_CODE("ref", 0),
	F_STR("external_ref", BS__TK_CODE_MAX, 0),
	F_CODE("customer_id", 0),
	F_ENUM("channel", 1, channels, "a channel"),
	F_CODE("category", 0),
	F_ENUM("risk_class", 0, risks, "a risk class"),
	F_ENUM("priority", 0, priorities, "a priority"),
	F_STATUS("status", 1),
	F_STR("subject", BS__TK_SUBJECT_MAX, 1),
	F_STR("description", BS__TK_TEXT_MAX, 0),
	F_STR("transcript", BS__TK_TRANSCRIPT_MAX, 0),
	F_STR("outcome", BS__TK_SUMMARY_MAX, 0),
	F_CODE("branch", 0),
	F_CODE("assignee", 0),
	F_UUID("merged_into", 0),
	F_CODE("sla_profile", 0),
	F_TIME("t0_ms", 1),
	F_TIME("created_ms", 0),
	F_TIME("updated_ms", 0),
	F_TIME("first_response_due_ms", 0),
	F_TIME("resolution_due_ms", 0),
	F_TIME("first_response_ms", 0),
	F_INT("paused_ms_total", 0, TIME_MAX),
	F_TIME("paused_since_ms", 0),
	F_INT("extension_level", 0, BS__SLA_MAX_EXT),
	F_TIME("closed_ms", 0),
	F_INT("server_version", 0, INT64_C(1) << 53),
	F_HLC("hlc"),
};

static const struct field activity_fields[] = {
	F_UUID("id", 1),
	F_UUID("ticket_id", 1),
	F_ENUM("kind", 1, kinds, "an activity kind"),
	F_ENUM("visibility", 0, visibilities, "a visibility"),
	F_STR("body", BS__TK_TEXT_MAX, 0),
	F_CODE("author", 1),
	F_CODE("device_id", 0),
	F_TIME("device_time_ms", 1),
	F_TIME("hub_time_ms", 0),
	F_HLC("hlc"),
	F_STATUS("from_status", 0),
	F_STATUS("to_status", 0),
	F_OBJECT("attachment", 0),
	F_OBJECT("detail", 0),
};

static const struct field attachment_fields[] = {
	F_STR("hash", 64, 1),
	F_STR("name", BS__TK_NAME_MAX, 0),
	F_INT("size", 0, INT64_C(1) << 53),
	F_STR("mime", 100, 0),
};

/* --- the importer ------------------------------------------------------ */

enum stmt {
	S_CAT_DELETE,
	S_CAT_EXISTS,
	S_CAT_INSERT,
	S_CAT_DEFAULTS,
	S_TPL_DELETE,
	S_TPL_EXISTS,
	S_TPL_INSERT,
	S_CUSTOMER,
	S_CUSTOMER_EXISTS,
	S_ARCHIVE,
	S_TICKET,
	S_TICKET_EXISTS,
	S_REF_OWNER,
	S_CLOCK,
	S_ACTIVITY,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_CAT_DELETE] = "DELETE FROM catalogue_category",
	[S_CAT_EXISTS] = "SELECT 1 FROM catalogue_category WHERE code = ?1",
	[S_CAT_INSERT] =
		"INSERT INTO catalogue_category (code, parent, name, "
		"risk_class, default_priority, sla_profile, active, "
		"sort_order) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_CAT_DEFAULTS] = "SELECT risk_class, default_priority FROM "
			   "catalogue_category WHERE code = ?1",
	[S_TPL_DELETE] = "DELETE FROM catalogue_template",
	[S_TPL_EXISTS] = "SELECT 1 FROM catalogue_template WHERE id = ?1",
	[S_TPL_INSERT] = "INSERT INTO catalogue_template (id, category_code, "
			 "title, body, language, active, sort_order) VALUES "
			 "(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_CUSTOMER] =
		"INSERT INTO customer (id, name_masked, phone_masked, "
		"id_number_masked, segment, branch, server_version, "
		"created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		"?8, ?9) ON CONFLICT (id) DO UPDATE SET "
		"name_masked = excluded.name_masked, "
		"phone_masked = excluded.phone_masked, "
		"id_number_masked = excluded.id_number_masked, "
		"segment = excluded.segment, branch = excluded.branch, "
		"server_version = excluded.server_version, "
		"created_ms = excluded.created_ms, "
		"updated_ms = excluded.updated_ms",
	[S_CUSTOMER_EXISTS] = "SELECT 1 FROM customer WHERE id = ?1",
	[S_ARCHIVE] =
		"INSERT INTO customer_archive (id, customer_id, ticket_id, "
		"ticket_ref, channel, received_ms, closed_ms, category_code, "
		"summary, outcome, branch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		"?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO UPDATE SET "
		"customer_id = excluded.customer_id, "
		"ticket_id = excluded.ticket_id, "
		"ticket_ref = excluded.ticket_ref, "
		"channel = excluded.channel, "
		"received_ms = excluded.received_ms, "
		"closed_ms = excluded.closed_ms, "
		"category_code = excluded.category_code, "
		"summary = excluded.summary, outcome = excluded.outcome, "
		"branch = excluded.branch",
	[S_TICKET] =
		"INSERT INTO ticket (id, ref, external_ref, customer_id, "
		"channel, category_code, risk_class, priority, status, "
		"subject, description, transcript, outcome, branch, assignee, "
		"merged_into, sla_profile, t0_ms, created_ms, updated_ms, "
		"first_response_due_ms, resolution_due_ms, first_response_ms, "
		"paused_ms_total, paused_since_ms, extension_level, closed_ms, "
		"server_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
		"?22, ?23, ?24, ?25, ?26, ?27, ?28) ON CONFLICT (id) DO UPDATE "
		"SET ref = excluded.ref, external_ref = excluded.external_ref, "
		"customer_id = excluded.customer_id, "
		"channel = excluded.channel, "
		"category_code = excluded.category_code, "
		"risk_class = excluded.risk_class, "
		"priority = excluded.priority, status = excluded.status, "
		"subject = excluded.subject, "
		"description = excluded.description, "
		"transcript = excluded.transcript, "
		"outcome = excluded.outcome, branch = excluded.branch, "
		"assignee = excluded.assignee, "
		"merged_into = excluded.merged_into, "
		"sla_profile = excluded.sla_profile, t0_ms = excluded.t0_ms, "
		"created_ms = excluded.created_ms, "
		"updated_ms = excluded.updated_ms, "
		"first_response_due_ms = excluded.first_response_due_ms, "
		"resolution_due_ms = excluded.resolution_due_ms, "
		"first_response_ms = excluded.first_response_ms, "
		"paused_ms_total = excluded.paused_ms_total, "
		"paused_since_ms = excluded.paused_since_ms, "
		"extension_level = excluded.extension_level, "
		"closed_ms = excluded.closed_ms, "
		"server_version = excluded.server_version",
	[S_TICKET_EXISTS] = "SELECT 1 FROM ticket WHERE id = ?1",
	[S_REF_OWNER] = "SELECT id FROM ticket WHERE ref = ?1 AND id <> ?2",
	[S_CLOCK] = "INSERT INTO ticket_clock (ticket_id, field, hlc, node) "
		    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (ticket_id, field) "
		    "DO UPDATE SET hlc = excluded.hlc, node = excluded.node",
	[S_ACTIVITY] =
		"INSERT INTO activity (id, ticket_id, kind, visibility, body, "
		"author, device_id, device_time_ms, hub_time_ms, hlc, "
		"from_status, to_status, attachment_hash, attachment_name, "
		"attachment_size, attachment_mime, detail) VALUES (?1, ?2, "
		"?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		"?16, ?17) ON CONFLICT (id) DO UPDATE SET "
		"hub_time_ms = excluded.hub_time_ms "
		"WHERE activity.hub_time_ms IS NULL "
		"AND excluded.hub_time_ms IS NOT NULL",
};

/* The ticket fields whose clock an imported ticket sets. */
static const char *const clocked[] = {
	"ref",		     "external_ref",	"customer_id",
	"channel",	     "category_code",	"risk_class",
	"priority",	     "status",		"subject",
	"description",	     "transcript",	"outcome",
	"branch",	     "assignee",	"merged_into",
	"sla_profile",	     "t0_ms",		"first_response_due_ms",
	"resolution_due_ms", "first_response_ms", "paused_ms_total",
	"paused_since_ms",   "extension_level", "closed_ms",
};

struct bs__importer {
	struct bs__tk *tk;
	bs_import_report *rep;
	const char *name;       /* input name for messages, or NULL */
	unsigned long line;     /* line number within the input */
	int header_seen;        /* in the current input */
	int prefixed;           /* the last error already names the line */
	int64_t exported_ms;    /* from the header, or now */
	int64_t catalogue_version;
	int have_catalogue_version;
	int categories_replaced, templates_replaced;
	sqlite3_stmt *st[S_COUNT];
};

int bs__import_new(struct bs__importer **out, struct bs__tk *tk,
		   bs_import_report *report)
{
	struct bs__importer *im = bs__calloc(1, sizeof(*im));

	*out = NULL;
	memset(report, 0, sizeof(*report));
	if (im == NULL)
		return bs__error_code(BS_ENOMEM);
	im->tk = tk;
	im->rep = report;
	im->exported_ms = tk->now_ms;
	*out = im;
	return BS_OK;
}

void bs__import_free(struct bs__importer *im)
{
	int i;

	if (im == NULL)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(im->st[i]);
	bs__free(im);
}

/* The cached statement i, reset and cleared. */
static int stmt(struct bs__importer *im, enum stmt i, sqlite3_stmt **s)
{
	int rc;

	if (im->st[i] == NULL &&
	    (rc = bs__tk_prepare(im->tk, &im->st[i], stmt_sql[i])) != BS_OK)
		return rc;
	sqlite3_reset(im->st[i]);
	sqlite3_clear_bindings(im->st[i]);
	*s = im->st[i];
	return BS_OK;
}

/*
 * Record rc with the message "[name ]line N: ..." and the line as the
 * report's bad line.  Returns rc.
 */
static int fail(struct bs__importer *im, int rc, const char *fmt, ...)
	BS__PRINTF(3, 4);

static int fail(struct bs__importer *im, int rc, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	im->rep->bad_line = im->line;
	im->prefixed = 1;
	if (im->name != NULL)
		return bs__error(rc, "%s line %lu: %s", im->name, im->line,
				 msg);
	return bs__error(rc, "line %lu: %s", im->line, msg);
}

/* A value for messages: at most 40 bytes, cut at a character. */
static void quote(char out[48], const char *s)
{
	size_t n = strlen(s);

	if (n > 40)
		n = bs__utf8_floor(s, 40);
	memcpy(out, s, n);
	out[n] = '\0';
}

static int check_value(struct bs__importer *im, const struct field *f,
		       const cJSON *v)
{
	enum bs__status status;
	uint64_t stamp;
	char q[48];
	size_t len = 0, bad, i;
	int64_t x;

	switch (f->type) {
	case T_STR:
		if (!cJSON_IsString(v))
			return fail(im, BS_EINVAL,
				    "field '%s': expected a string", f->name);
		len = strlen(v->valuestring);
		if (!bs__utf8_valid(v->valuestring, len, &bad))
			return fail(im, BS_EINVAL,
				    "field '%s': invalid UTF-8 at byte %zu",
				    f->name, bad + 1);
		if (len > f->max)
			return fail(im, BS_EINVAL,
				    "field '%s': %zu bytes, at most %zu",
				    f->name, len, f->max);
		if (f->required && len == 0)
			return fail(im, BS_EINVAL,
				    "field '%s': must not be empty", f->name);
		return BS_OK;
	case T_CODE:
	case T_UUID:
	case T_ENUM:
	case T_STATUS:
	case T_HLC:
		if (!cJSON_IsString(v))
			return fail(im, BS_EINVAL,
				    "field '%s': expected a string", f->name);
		len = strlen(v->valuestring);
		if (!bs__utf8_valid(v->valuestring, len, &bad))
			return fail(im, BS_EINVAL,
				    "field '%s': invalid UTF-8 at byte %zu",
				    f->name, bad + 1);
		quote(q, v->valuestring);
		break;
	case T_TIME:
		if (!bs__json_int(v, 0, TIME_MAX, &x))
			return fail(im, BS_EINVAL,
				    "field '%s': expected milliseconds since "
				    "1970 (an integer from 0 to 2^48-1)",
				    f->name);
		return BS_OK;
	case T_INT:
		if (!bs__json_int(v, f->lo, f->hi, &x))
			return fail(im, BS_EINVAL,
				    "field '%s': expected an integer from "
				    "%lld to %lld",
				    f->name, (long long)f->lo,
				    (long long)f->hi);
		return BS_OK;
	case T_BOOL:
		if (!cJSON_IsBool(v))
			return fail(im, BS_EINVAL,
				    "field '%s': expected true or false",
				    f->name);
		return BS_OK;
	case T_OBJECT:
		if (!cJSON_IsObject(v))
			return fail(im, BS_EINVAL,
				    "field '%s': expected an object", f->name);
		return BS_OK;
	}

	switch (f->type) {
	case T_CODE:
		if (!bs__tk_is_code(v->valuestring))
			return fail(im, BS_EINVAL,
				    "field '%s': '%s' is not a valid code (1 "
				    "to %d of A-Z a-z 0-9 . _ : @ -)",
				    f->name, q, BS__TK_CODE_MAX);
		return BS_OK;
	case T_UUID:
		if (bs__uuid_parse(NULL, v->valuestring, len) != BS_OK)
			return fail(im, BS_EINVAL,
				    "field '%s': '%s' is not a valid id (a "
				    "lowercase UUIDv7)",
				    f->name, q);
		return BS_OK;
	case T_HLC:
		if (bs__hlc_parse(&stamp, v->valuestring, len) != BS_OK)
			return fail(im, BS_EINVAL,
				    "field '%s': '%s' is not a clock stamp "
				    "(16 lowercase hex digits)",
				    f->name, q);
		return BS_OK;
	case T_STATUS:
		if (bs__status_parse(&status, v->valuestring) != BS_OK)
			return fail(im, BS_EINVAL,
				    "field '%s': '%s' is not a ticket status",
				    f->name, q);
		return BS_OK;
	case T_ENUM:
		for (i = 0; f->values[i] != NULL; i++)
			if (strcmp(v->valuestring, f->values[i]) == 0)
				return BS_OK;
		return fail(im, BS_EINVAL, "field '%s': '%s' is not %s",
			    f->name, q, f->what);
	default:
		return BS_OK;
	}
}

/*
 * Check object o against fields: no unknown or repeated field, every
 * value of its type (null counts as absent), every required field
 * present.  skip_type ignores the "type" member.
 */
static int check_fields(struct bs__importer *im, const cJSON *o,
			const struct field *fields, size_t n, int skip_type,
			const char *record)
{
	unsigned char seen[40] = { 0 };
	const cJSON *v;
	size_t i;
	char q[48];
	int rc;

	cJSON_ArrayForEach(v, o)
	{
		if (skip_type && strcmp(v->string, "type") == 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(v->string, fields[i].name) == 0)
				break;
		if (i == n) {
			if (!bs__utf8_valid(v->string, strlen(v->string),
					    NULL))
				return fail(im, BS_EINVAL,
					    "a field name is not valid "
					    "UTF-8");
			quote(q, v->string);
			return fail(im, BS_EINVAL,
				    "unknown field '%s' in a %s record", q,
				    record);
		}
		if (seen[i]++)
			return fail(im, BS_EINVAL, "field '%s' appears twice",
				    fields[i].name);
		if (cJSON_IsNull(v)) {
			if (fields[i].required)
				return fail(im, BS_EINVAL,
					    "field '%s' is required and may "
					    "not be null",
					    fields[i].name);
			continue;
		}
		if ((rc = check_value(im, &fields[i], v)) != BS_OK)
			return rc;
	}
	for (i = 0; i < n; i++)
		if (fields[i].required && !seen[i])
			return fail(im, BS_EINVAL,
				    "field '%s' is required in a %s record",
				    fields[i].name, record);
	return BS_OK;
}

/* A validated string field, or NULL if absent or null. */
static const char *gs(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A validated integer field: 1 and *x, or 0 if absent or null. */
static int gi(const cJSON *o, const char *k, int64_t *x)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	*x = 0;
	return cJSON_IsNumber(v) && bs__json_int(v, INT64_MIN / 2,
						 INT64_MAX / 2, x);
}

/* Bind an optional integer field to parameter i. */
static void bind_gi(sqlite3_stmt *s, int i, const cJSON *o, const char *k)
{
	int64_t x = 0;
	/* gi() first: the order in which arguments are evaluated is not
	 * defined, and x must be read after gi() has set it. */
	int present = gi(o, k, &x);

	bs__tk_bind_opt_int(s, i, x, present);
}

static int gb(const cJSON *o, const char *k, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* Step s; a row means "exists".  1, 0, or a negative error. */
static int exists(struct bs__importer *im, sqlite3_stmt *s)
{
	int src = sqlite3_step(s);

	if (src == SQLITE_ROW)
		return 1;
	if (src == SQLITE_DONE)
		return 0;
	return bs__tk_sqlerr(im->tk, src, "import");
}

static int run(struct bs__importer *im, sqlite3_stmt *s, const char *what)
{
	return bs__tk_step_done(im->tk, s, what);
}

/* --- record writers ---------------------------------------------------- */

static int do_header(struct bs__importer *im, const cJSON *o)
{
	int64_t v;
	int rc;

	if ((rc = check_fields(im, o, header_fields,
			       BS__ARRAY_LEN(header_fields), 1, "header")))
		return rc;
	if (!gi(o, "version", &v))
		return fail(im, BS_EINVAL,
			    "field 'version' is required in a header record");
	if (v != FORMAT_VERSION)
		return fail(im, BS_EINVAL,
			    "field 'version': version %lld is not supported "
			    "(this build reads version %d)",
			    (long long)v, FORMAT_VERSION);
	if (gi(o, "generated_ms", &v))
		im->exported_ms = v;
	if (gi(o, "catalogue_version", &v)) {
		im->catalogue_version = v;
		im->have_catalogue_version = 1;
	}
	return BS_OK;
}

static int do_category(struct bs__importer *im, const cJSON *o)
{
	const char *prio = gs(o, "default_priority");
	sqlite3_stmt *s;
	int64_t x;
	int rc;

	if ((rc = check_fields(im, o, category_fields,
			       BS__ARRAY_LEN(category_fields), 1,
			       "category")))
		return rc;
	if (!im->categories_replaced) {
		if ((rc = stmt(im, S_CAT_DELETE, &s)) ||
		    (rc = run(im, s, "replace catalogue")))
			return rc;
		im->categories_replaced = 1;
	}
	if ((rc = stmt(im, S_CAT_EXISTS, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, gs(o, "code"), -1, SQLITE_STATIC);
	if ((rc = exists(im, s)) < 0)
		return rc;
	if (rc)
		return fail(im, BS_EINVAL,
			    "field 'code': category '%s' appears twice",
			    gs(o, "code"));
	if ((rc = stmt(im, S_CAT_INSERT, &s)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, gs(o, "code"));
	bs__tk_bind_text(s, 2, gs(o, "parent"));
	bs__tk_bind_text(s, 3, gs(o, "name"));
	bs__tk_bind_text(s, 4, gs(o, "risk_class"));
	bs__tk_bind_text(s, 5, prio != NULL ? prio : "normal");
	bs__tk_bind_text(s, 6, gs(o, "sla_profile"));
	sqlite3_bind_int(s, 7, gb(o, "active", 1));
	gi(o, "sort_order", &x);
	sqlite3_bind_int64(s, 8, x);
	if ((rc = run(im, s, "import category")) != BS_OK)
		return rc;
	im->rep->categories++;
	return BS_OK;
}

static int do_template(struct bs__importer *im, const cJSON *o)
{
	const char *lang = gs(o, "language");
	sqlite3_stmt *s;
	int64_t x;
	int rc;

	if ((rc = check_fields(im, o, template_fields,
			       BS__ARRAY_LEN(template_fields), 1,
			       "template")))
		return rc;
	if (!im->templates_replaced) {
		if ((rc = stmt(im, S_TPL_DELETE, &s)) ||
		    (rc = run(im, s, "replace templates")))
			return rc;
		im->templates_replaced = 1;
	}
	if ((rc = stmt(im, S_TPL_EXISTS, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, gs(o, "id"), -1, SQLITE_STATIC);
	if ((rc = exists(im, s)) < 0)
		return rc;
	if (rc)
		return fail(im, BS_EINVAL,
			    "field 'id': template '%s' appears twice",
			    gs(o, "id"));
	if ((rc = stmt(im, S_TPL_INSERT, &s)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, gs(o, "id"));
	bs__tk_bind_text(s, 2, gs(o, "category"));
	bs__tk_bind_text(s, 3, gs(o, "title"));
	bs__tk_bind_text(s, 4, gs(o, "body"));
	bs__tk_bind_text(s, 5, lang != NULL ? lang : "zh-CN");
	sqlite3_bind_int(s, 6, gb(o, "active", 1));
	gi(o, "sort_order", &x);
	sqlite3_bind_int64(s, 7, x);
	if ((rc = run(im, s, "import template")) != BS_OK)
		return rc;
	im->rep->templates++;
	return BS_OK;
}

/* Mask field k of o with fn into out ("" if absent). */
static int mask_field(struct bs__importer *im, const cJSON *o, const char *k,
		      int (*fn)(char *, size_t, const char *),
		      char out[BS__MASK_MAX])
{
	const char *v = gs(o, k);

	out[0] = '\0';
	if (v == NULL || v[0] == '\0')
		return BS_OK;
	if (fn(out, BS__MASK_MAX, v) != BS_OK)
		return fail(im, BS_EINVAL, "field '%s': %s", k,
			    bs_last_error());
	return BS_OK;
}

static int do_customer(struct bs__importer *im, const cJSON *o)
{
	char name[BS__MASK_MAX], phone[BS__MASK_MAX], idn[BS__MASK_MAX];
	sqlite3_stmt *s;
	int64_t created, updated, x;
	int rc;

	if ((rc = check_fields(im, o, customer_fields,
			       BS__ARRAY_LEN(customer_fields), 1,
			       "customer")) ||
	    (rc = mask_field(im, o, "name_masked", bs__mask_name, name)) ||
	    (rc = mask_field(im, o, "phone_masked", bs__mask_phone, phone)) ||
	    (rc = mask_field(im, o, "id_number_masked", bs__mask_id_number,
			     idn)))
		return rc;
	if (!gi(o, "created_ms", &created))
		created = im->exported_ms;
	if (!gi(o, "updated_ms", &updated))
		updated = created;
	if ((rc = stmt(im, S_CUSTOMER, &s)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, gs(o, "id"));
	bs__tk_bind_text(s, 2, name);
	bs__tk_bind_text(s, 3, phone[0] ? phone : NULL);
	bs__tk_bind_text(s, 4, idn[0] ? idn : NULL);
	bs__tk_bind_text(s, 5, gs(o, "segment"));
	bs__tk_bind_text(s, 6, gs(o, "branch"));
	gi(o, "server_version", &x);
	sqlite3_bind_int64(s, 7, x);
	sqlite3_bind_int64(s, 8, created);
	sqlite3_bind_int64(s, 9, updated);
	if ((rc = run(im, s, "import customer")) != BS_OK)
		return rc;
	im->rep->customers++;
	return BS_OK;
}

/* Fail unless the customer (field k of o) is in the store already. */
static int need_customer(struct bs__importer *im, const cJSON *o,
			 const char *k)
{
	const char *id = gs(o, k);
	sqlite3_stmt *s;
	int rc;

	if (id == NULL)
		return BS_OK;
	if ((rc = stmt(im, S_CUSTOMER_EXISTS, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if ((rc = exists(im, s)) < 0)
		return rc;
	if (rc == 0)
		return fail(im, BS_EINVAL,
			    "field '%s': no customer '%s' in the store or on "
			    "an earlier line",
			    k, id);
	return BS_OK;
}

static int do_archive(struct bs__importer *im, const cJSON *o)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = check_fields(im, o, archive_fields,
			       BS__ARRAY_LEN(archive_fields), 1, "archive")) ||
	    (rc = need_customer(im, o, "customer_id")))
		return rc;
	if ((rc = stmt(im, S_ARCHIVE, &s)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, gs(o, "id"));
	bs__tk_bind_text(s, 2, gs(o, "customer_id"));
	bs__tk_bind_text(s, 3, gs(o, "ticket_id"));
	bs__tk_bind_text(s, 4, gs(o, "ticket_ref"));
	bs__tk_bind_text(s, 5, gs(o, "channel"));
	bind_gi(s, 6, o, "received_ms");
	bind_gi(s, 7, o, "closed_ms");
	bs__tk_bind_text(s, 8, gs(o, "category"));
	bs__tk_bind_text(s, 9, gs(o, "summary"));
	bs__tk_bind_text(s, 10, gs(o, "outcome"));
	bs__tk_bind_text(s, 11, gs(o, "branch"));
	if ((rc = run(im, s, "import archive")) != BS_OK)
		return rc;
	im->rep->archive++;
	return BS_OK;
}

/*
 * Defaults a ticket line may leave out: risk class and priority from its
 * category, created/updated times from T0, the closing time of a final
 * status, and due times from its SLA profile.
 */
struct ticket_defaults {
	char risk[32];
	char priority[16];
	int64_t created, updated, closed;
	int have_closed;
	int64_t fr_due, res_due;
};

static int ticket_defaults(struct bs__importer *im, const cJSON *o,
			   struct ticket_defaults *d)
{
	const char *cat = gs(o, "category"), *v;
	struct bs__tk_sla sla;
	struct bs__sla_status st;
	enum bs__status status;
	enum bs__priority prio;
	sqlite3_stmt *s;
	int64_t t0, x;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->priority, sizeof(d->priority), "normal");
	if (cat != NULL) {
		if ((rc = stmt(im, S_CAT_DEFAULTS, &s)) != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, cat, -1, SQLITE_STATIC);
		if ((rc = exists(im, s)) < 0)
			return rc;
		if (rc) {
			snprintf(d->risk, sizeof(d->risk), "%s",
				 sqlite3_column_text(s, 0));
			snprintf(d->priority, sizeof(d->priority), "%s",
				 sqlite3_column_text(s, 1));
		}
	}
	if ((v = gs(o, "risk_class")) != NULL)
		snprintf(d->risk, sizeof(d->risk), "%s", v);
	if ((v = gs(o, "priority")) != NULL)
		snprintf(d->priority, sizeof(d->priority), "%s", v);

	gi(o, "t0_ms", &t0);
	if (!gi(o, "created_ms", &d->created))
		d->created = t0;
	if (!gi(o, "updated_ms", &d->updated))
		d->updated = d->created;
	d->have_closed = gi(o, "closed_ms", &d->closed);
	bs__status_parse(&status, gs(o, "status"));
	if (!d->have_closed && bs__status_is_final(status)) {
		d->closed = d->updated;
		d->have_closed = 1;
	}

	/* Due times at T0 under the ticket's profile, if head office sent
	 * none: the queue index orders by them. */
	v = gs(o, "sla_profile");
	bs__tk_profile(im->tk, v, &sla.buf, sla.name, &sla.p);
	if (bs__priority_parse(&prio, d->priority) != BS_OK)
		prio = BS__PRIORITY_NORMAL;
	bs__sla_ticket_init(&sla.t, t0, prio);
	if (gi(o, "extension_level", &x) && x <= sla.p->max_ext)
		sla.t.ext_level = (int)x;
	if (gi(o, "paused_ms_total", &x))
		sla.t.paused_ms = x;
	d->fr_due = t0;
	d->res_due = t0;
	if (bs__sla_eval(&st, sla.p, &sla.t, t0, BS__TRUST_NEVER_SYNCED) ==
	    BS_OK) {
		d->fr_due = st.first_response.due_ms;
		d->res_due = st.resolution.due_ms;
	}
	if (gi(o, "first_response_due_ms", &x))
		d->fr_due = x;
	if (gi(o, "resolution_due_ms", &x))
		d->res_due = x;
	bs__error_clear();
	return BS_OK;
}

static int ticket_clocks(struct bs__importer *im, const char *id,
			 const char *hlc)
{
	sqlite3_stmt *s;
	size_t i;
	int rc;

	for (i = 0; i < BS__ARRAY_LEN(clocked); i++) {
		if ((rc = stmt(im, S_CLOCK, &s)) != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, clocked[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, hlc, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, BS__TK_HUB_NODE, -1, SQLITE_STATIC);
		if ((rc = run(im, s, "import field clock")) != BS_OK)
			return rc;
	}
	return BS_OK;
}

/* The stamp of a record: its "hlc", else its time with counter 0. */
static void record_stamp(struct bs__importer *im, const cJSON *o,
			 int64_t ms, char text[BS__HLC_TEXT_LEN + 1])
{
	const char *h = gs(o, "hlc");
	uint64_t stamp = bs__hlc_make(ms, 0);

	if (h != NULL)
		bs__hlc_parse(&stamp, h, strlen(h));
	bs__tk_witness(im->tk, stamp);
	bs__hlc_format(text, stamp);
}

static int do_ticket(struct bs__importer *im, const cJSON *o)
{
	struct ticket_defaults d;
	char hlc[BS__HLC_TEXT_LEN + 1];
	const char *id, *ref;
	sqlite3_stmt *s;
	int64_t x;
	int rc;

	if ((rc = check_fields(im, o, ticket_fields,
			       BS__ARRAY_LEN(ticket_fields), 1, "ticket")) ||
	    (rc = need_customer(im, o, "customer_id")))
		return rc;
	id = gs(o, "id");
	ref = gs(o, "ref");
	if (ref != NULL) {
		if ((rc = stmt(im, S_REF_OWNER, &s)) != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, ref, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
		if ((rc = exists(im, s)) < 0)
			return rc;
		if (rc)
			return fail(im, BS_EINVAL,
				    "field 'ref': '%s' already belongs to "
				    "ticket %s",
				    ref, sqlite3_column_text(s, 0));
	}
	if ((rc = ticket_defaults(im, o, &d)) != BS_OK)
		return rc;
	if ((rc = stmt(im, S_TICKET, &s)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, id);
	bs__tk_bind_text(s, 2, ref);
	bs__tk_bind_text(s, 3, gs(o, "external_ref"));
	bs__tk_bind_text(s, 4, gs(o, "customer_id"));
	bs__tk_bind_text(s, 5, gs(o, "channel"));
	bs__tk_bind_text(s, 6, gs(o, "category"));
	bs__tk_bind_text(s, 7, d.risk[0] ? d.risk : NULL);
	bs__tk_bind_text(s, 8, d.priority);
	bs__tk_bind_text(s, 9, gs(o, "status"));
	bs__tk_bind_text(s, 10, gs(o, "subject"));
	bs__tk_bind_text(s, 11, gs(o, "description"));
	bs__tk_bind_text(s, 12, gs(o, "transcript"));
	bs__tk_bind_text(s, 13, gs(o, "outcome"));
	bs__tk_bind_text(s, 14, gs(o, "branch"));
	bs__tk_bind_text(s, 15, gs(o, "assignee"));
	bs__tk_bind_text(s, 16, gs(o, "merged_into"));
	bs__tk_bind_text(s, 17, gs(o, "sla_profile"));
	bind_gi(s, 18, o, "t0_ms");
	sqlite3_bind_int64(s, 19, d.created);
	sqlite3_bind_int64(s, 20, d.updated);
	sqlite3_bind_int64(s, 21, d.fr_due);
	sqlite3_bind_int64(s, 22, d.res_due);
	bind_gi(s, 23, o, "first_response_ms");
	gi(o, "paused_ms_total", &x);
	sqlite3_bind_int64(s, 24, x);
	bind_gi(s, 25, o, "paused_since_ms");
	gi(o, "extension_level", &x);
	sqlite3_bind_int64(s, 26, x);
	bs__tk_bind_opt_int(s, 27, d.closed, d.have_closed);
	gi(o, "server_version", &x);
	sqlite3_bind_int64(s, 28, x);
	if ((rc = run(im, s, "import ticket")) != BS_OK)
		return rc;
	record_stamp(im, o, d.updated, hlc);
	if ((rc = ticket_clocks(im, id, hlc)) != BS_OK)
		return rc;
	im->rep->tickets++;
	return BS_OK;
}

static int check_attachment(struct bs__importer *im, const cJSON *a)
{
	const char *h;
	size_t i;
	int rc;

	if ((rc = check_fields(im, a, attachment_fields,
			       BS__ARRAY_LEN(attachment_fields), 0,
			       "attachment")))
		return rc;
	h = gs(a, "hash");
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= '0' && h[i] <= '9') ||
		      (h[i] >= 'a' && h[i] <= 'f')))
			break;
	if (i != 64 || h[i] != '\0')
		return fail(im, BS_EINVAL,
			    "field 'attachment': 'hash' must be a SHA-256 in "
			    "64 lowercase hex digits");
	if (cJSON_GetObjectItemCaseSensitive(a, "size") == NULL ||
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "size")))
		return fail(im, BS_EINVAL,
			    "field 'attachment': 'size' is required");
	return BS_OK;
}

static int do_activity(struct bs__importer *im, const cJSON *o)
{
	const char *kind, *vis, *to;
	const cJSON *att, *detail;
	char hlc[BS__HLC_TEXT_LEN + 1];
	char *detail_text = NULL;
	sqlite3_stmt *s;
	int64_t t, x;
	int rc;

	if ((rc = check_fields(im, o, activity_fields,
			       BS__ARRAY_LEN(activity_fields), 1,
			       "activity")))
		return rc;
	kind = gs(o, "kind");
	to = gs(o, "to_status");
	att = cJSON_GetObjectItemCaseSensitive(o, "attachment");
	detail = cJSON_GetObjectItemCaseSensitive(o, "detail");
	if (strcmp(kind, "status_change") == 0 && to == NULL)
		return fail(im, BS_EINVAL,
			    "field 'to_status' is required in a status_change "
			    "activity");
	if (strcmp(kind, "status_change") != 0 &&
	    (to != NULL || gs(o, "from_status") != NULL))
		return fail(im, BS_EINVAL,
			    "fields 'from_status' and 'to_status' belong only "
			    "to a status_change activity");
	if (!cJSON_IsObject(att))
		att = NULL;
	if (strcmp(kind, "attachment") == 0 && att == NULL)
		return fail(im, BS_EINVAL,
			    "field 'attachment' is required in an attachment "
			    "activity");
	if (att != NULL && (rc = check_attachment(im, att)) != BS_OK)
		return rc;
	if ((rc = stmt(im, S_TICKET_EXISTS, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, gs(o, "ticket_id"), -1, SQLITE_STATIC);
	if ((rc = exists(im, s)) < 0)
		return rc;
	if (rc == 0)
		return fail(im, BS_EINVAL,
			    "field 'ticket_id': no ticket %s in the store or "
			    "on an earlier line",
			    gs(o, "ticket_id"));
	if (cJSON_IsObject(detail) &&
	    (rc = bs__json_print(&detail_text, detail)) != BS_OK)
		return rc;
	vis = gs(o, "visibility");
	if (vis == NULL)
		vis = strcmp(kind, "customer_reply") == 0 ||
				      strcmp(kind, "customer_message") == 0
			      ? "customer"
			      : "internal";
	gi(o, "device_time_ms", &t);
	record_stamp(im, o, t, hlc);
	if ((rc = stmt(im, S_ACTIVITY, &s)) != BS_OK)
		goto cleanup;
	bs__tk_bind_text(s, 1, gs(o, "id"));
	bs__tk_bind_text(s, 2, gs(o, "ticket_id"));
	bs__tk_bind_text(s, 3, kind);
	bs__tk_bind_text(s, 4, vis);
	bs__tk_bind_text(s, 5, gs(o, "body"));
	bs__tk_bind_text(s, 6, gs(o, "author"));
	bs__tk_bind_text(s, 7, gs(o, "device_id"));
	sqlite3_bind_int64(s, 8, t);
	bind_gi(s, 9, o, "hub_time_ms");
	bs__tk_bind_text(s, 10, hlc);
	bs__tk_bind_text(s, 11, gs(o, "from_status"));
	bs__tk_bind_text(s, 12, to);
	if (att != NULL) {
		bs__tk_bind_text(s, 13, gs(att, "hash"));
		bs__tk_bind_text(s, 14, gs(att, "name"));
		gi(att, "size", &x);
		sqlite3_bind_int64(s, 15, x);
		bs__tk_bind_text(s, 16, gs(att, "mime"));
	}
	bs__tk_bind_text(s, 17, detail_text);
	if ((rc = run(im, s, "import activity")) != BS_OK)
		goto cleanup;
	im->rep->activities++;
cleanup:
	bs__free(detail_text);
	return rc;
}

/* --- lines ------------------------------------------------------------- */

struct rtype {
	const char *name;
	int (*apply)(struct bs__importer *, const cJSON *);
};

static const struct rtype rtypes[] = {
	{ "category", do_category }, { "template", do_template },
	{ "customer", do_customer }, { "archive", do_archive },
	{ "ticket", do_ticket },     { "activity", do_activity },
};

/* 1 if the JSON text holds the escape \u0000, which would cut a string
 * short without a word: cJSON stores strings NUL-terminated. */
static int has_nul_escape(const char *p, size_t len)
{
	size_t i, back;

	for (i = 0; i + 6 <= len; i++) {
		if (p[i] != '\\' || p[i + 1] != 'u' ||
		    memcmp(p + i + 2, "0000", 4) != 0)
			continue;
		for (back = 0; back < i && p[i - 1 - back] == '\\'; back++)
			;
		if (back % 2 == 0)
			return 1;
	}
	return 0;
}

static int is_blank(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return 0;
	return 1;
}

/* One line (without its newline) of the current input. */
static int feed_line(struct bs__importer *im, const char *p, size_t len)
{
	const char *end = NULL;
	const cJSON *type;
	cJSON *o = NULL;
	size_t bad, i;
	char q[48];
	int rc;

	im->rep->lines++;
	im->prefixed = 0;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (im->line == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3; /* a byte-order mark some editors add */
		len -= 3;
	}
	if (!bs__utf8_valid(p, len, &bad))
		return fail(im, BS_EINVAL, "invalid UTF-8 at byte %zu",
			    bad + 1);
	if (is_blank(p, len))
		return BS_OK;
	if (has_nul_escape(p, len))
		return fail(im, BS_EINVAL,
			    "the escape \\u0000 (a NUL character) is not "
			    "allowed");
	bs__json_oom_clear();
	o = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (o == NULL && bs__json_oom())
		return bs__error_code(BS_ENOMEM);
	if (o == NULL) {
		if (end == NULL || end < p || end > p + len)
			end = p + len;
		return fail(im, BS_EINVAL,
			    "not valid JSON (truncated or malformed at byte "
			    "%zu)",
			    (size_t)(end - p) + 1);
	}
	for (i = (size_t)(end - p); i < len; i++)
		if (p[i] != ' ' && p[i] != '\t') {
			rc = fail(im, BS_EINVAL,
				  "text after the JSON value at byte %zu",
				  i + 1);
			goto cleanup;
		}
	if (!cJSON_IsObject(o)) {
		rc = fail(im, BS_EINVAL, "not a JSON object");
		goto cleanup;
	}
	type = cJSON_GetObjectItemCaseSensitive(o, "type");
	if (!cJSON_IsString(type)) {
		rc = fail(im, BS_EINVAL, "field 'type' is missing");
		goto cleanup;
	}
	if (strcmp(type->valuestring, "header") == 0) {
		if (im->header_seen) {
			rc = fail(im, BS_EINVAL,
				  "a header is allowed only on the first "
				  "line");
			goto cleanup;
		}
		im->header_seen = 1;
		rc = do_header(im, o);
		goto cleanup;
	}
	if (!im->header_seen) {
		rc = fail(im, BS_EINVAL,
			  "the first line must be the header "
			  "{\"type\":\"header\",\"format\":\"" FORMAT_NAME
			  "\",\"version\":%d}",
			  FORMAT_VERSION);
		goto cleanup;
	}
	for (i = 0; i < BS__ARRAY_LEN(rtypes); i++)
		if (strcmp(type->valuestring, rtypes[i].name) == 0)
			break;
	if (i == BS__ARRAY_LEN(rtypes)) {
		quote(q, type->valuestring);
		rc = fail(im, BS_EINVAL, "unknown record type '%s'", q);
		goto cleanup;
	}
	rc = rtypes[i].apply(im, o);
cleanup:
	cJSON_Delete(o);
	if (rc != BS_OK && rc != BS_ENOMEM && !im->prefixed) {
		char msg[400];

		snprintf(msg, sizeof(msg), "%s", bs_last_error());
		rc = fail(im, rc, "%s", msg);
	}
	return rc;
}

/* Start a new input. */
static void start_input(struct bs__importer *im, const char *name)
{
	im->name = name;
	im->line = 0;
	im->header_seen = 0;
}

/* The end of an input: it must have had its header. */
static int end_input(struct bs__importer *im)
{
	if (im->header_seen)
		return BS_OK;
	im->line = im->line ? im->line : 1;
	return fail(im, BS_EINVAL, "no header line: the input is empty");
}

int bs__import_text(struct bs__importer *im, const char *name,
		    const char *text, size_t len)
{
	const char *p = text, *nl;
	size_t n;
	int rc;

	start_input(im, name);
	while (p < text + len) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(text + len - p);
		im->line++;
		if (n > BS__TK_LINE_MAX)
			return fail(im, BS_EINVAL,
				    "longer than %d bytes", BS__TK_LINE_MAX);
		if ((rc = feed_line(im, p, n)) != BS_OK)
			return rc;
		p += n + (nl != NULL);
	}
	return end_input(im);
}

int bs__import_finish(struct bs__importer *im, const char *source)
{
	bs_import_report *r = im->rep;
	sqlite3_stmt *s = NULL;
	cJSON *d = NULL;
	int rc;

	if (im->categories_replaced || im->templates_replaced) {
		rc = bs__tk_prepare(im->tk, &s,
				    "UPDATE catalogue_meta SET version = "
				    "coalesce(?1, version + 1), "
				    "updated_ms = ?2 WHERE id = 1");
		if (rc != BS_OK)
			return rc;
		bs__tk_bind_opt_int(s, 1, im->catalogue_version,
				    im->have_catalogue_version);
		sqlite3_bind_int64(s, 2, im->tk->now_ms);
		rc = bs__tk_step_done(im->tk, s, "catalogue version");
		sqlite3_finalize(s);
		if (rc != BS_OK)
			return rc;
	}
	if ((d = cJSON_CreateObject()) == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((rc = bs__json_put_str(d, "source", source)) ||
	    (rc = bs__json_put_int(d, "lines", (int64_t)r->lines)) ||
	    (rc = bs__json_put_int(d, "tickets", (int64_t)r->tickets)) ||
	    (rc = bs__json_put_int(d, "activities", (int64_t)r->activities)) ||
	    (rc = bs__json_put_int(d, "customers", (int64_t)r->customers)) ||
	    (rc = bs__json_put_int(d, "archive", (int64_t)r->archive)) ||
	    (rc = bs__json_put_int(d, "categories", (int64_t)r->categories)) ||
	    (rc = bs__json_put_int(d, "templates", (int64_t)r->templates)) ||
	    (rc = bs__json_put_bool(d, "catalogue_replaced",
				    im->categories_replaced ||
					    im->templates_replaced)))
		goto cleanup;
	rc = bs__tk_audit(im->tk, "import", NULL, NULL, d);
cleanup:
	cJSON_Delete(d);
	return rc;
}

/* --- reading a file ---------------------------------------------------- */

struct reader {
	FILE *f;
	char *chunk;
	size_t pos, len;
	int eof;
	char *line; /* BS__TK_LINE_MAX + 1 bytes */
};

/*
 * The next line into r->line (*len bytes, newline removed): 1 if there
 * is one, 0 at the end, or an error.  A line longer than BS__TK_LINE_MAX
 * sets *too_long and is not kept.
 */
static int next_line(struct reader *r, size_t *len, int *too_long)
{
	size_t n = 0, take;
	const char *nl;
	int any = 0;

	*too_long = 0;
	for (;;) {
		if (r->pos == r->len) {
			if (r->eof)
				break;
			r->len = fread(r->chunk, 1, CHUNK, r->f);
			r->pos = 0;
			if (r->len == 0) {
				if (ferror(r->f))
					return bs__error(BS_EIO,
							 "cannot read the "
							 "import: %s",
							 strerror(errno));
				r->eof = 1;
				break;
			}
		}
		any = 1;
		nl = memchr(r->chunk + r->pos, '\n', r->len - r->pos);
		take = nl != NULL ? (size_t)(nl - (r->chunk + r->pos))
				  : r->len - r->pos;
		if (n + take > BS__TK_LINE_MAX)
			*too_long = 1;
		else
			memcpy(r->line + n, r->chunk + r->pos, take);
		n += take;
		r->pos += take;
		if (nl != NULL) {
			r->pos++;
			break;
		}
		if (*too_long)
			return 1; /* no need to read the rest */
	}
	if (!any)
		return 0;
	*len = n;
	return 1;
}

static int import_file(struct bs__importer *im, FILE *f)
{
	struct reader r = { f, NULL, 0, 0, 0, NULL };
	size_t len = 0;
	int too_long, got, rc = BS_OK;

	r.chunk = bs__malloc(CHUNK);
	r.line = bs__malloc(BS__TK_LINE_MAX + 1);
	if (r.chunk == NULL || r.line == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	start_input(im, NULL);
	while ((got = next_line(&r, &len, &too_long)) == 1) {
		im->line++;
		if (too_long) {
			im->rep->lines++;
			rc = fail(im, BS_EINVAL, "longer than %d bytes",
				  BS__TK_LINE_MAX);
			goto cleanup;
		}
		if ((rc = feed_line(im, r.line, len)) != BS_OK)
			goto cleanup;
	}
	rc = got < 0 ? got : end_input(im);
cleanup:
	bs__free(r.chunk);
	bs__free(r.line);
	return rc;
}

int bs_import(bs_store *st, const char *path, bs_import_report *report)
{
	struct bs__importer *im = NULL;
	bs_import_report local;
	struct bs__tk tk;
	FILE *f = NULL;
	int rc;

	memset(&tk, 0, sizeof(tk));
	if (report == NULL)
		report = &local;
	memset(report, 0, sizeof(*report));
	if (path == NULL || path[0] == '\0')
		return bs__error(BS_EINVAL, "no file to import");
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(path, "rb")) == NULL) {
		return bs__error(errno == ENOENT ? BS_ENOTFOUND : BS_EIO,
				 "cannot open '%s': %s", path,
				 strerror(errno));
	}
	if ((rc = bs__tk_begin(&tk, st, 0)) != BS_OK)
		goto cleanup;
	if ((rc = bs__import_new(&im, &tk, report)) ||
	    (rc = import_file(im, f)) ||
	    (rc = bs__import_finish(im, strcmp(path, "-") ? path : "stdin")))
		goto cleanup;
	rc = bs__tk_commit(&tk);
cleanup:
	if (rc != BS_OK) {
		unsigned long bad = report->bad_line, lines = report->lines;

		/* Nothing was imported: say so in the counts too. */
		memset(report, 0, sizeof(*report));
		report->bad_line = bad;
		report->lines = lines;
	}
	bs__import_free(im);
	bs__tk_rollback(&tk);
	if (f != NULL && f != stdin)
		fclose(f);
	return rc;
}
