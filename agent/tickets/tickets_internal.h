/*
 * tickets_internal.h - what the files of agent/tickets share: the
 * context of one call (who acts, on which device, at what time, with
 * which clock), the write path that every change goes through (outbox
 * operation, per-field clocks, audit), text limits, and the readers that
 * turn rows into the JSON of schema/cli-json.md.
 *
 * Files: context.c (settings, transactions, stamps, ids), write.c (outbox,
 * clocks, audit), view.c (rows to JSON, SLA state), init.c (init,
 * status), list.c (queue, show), change.c (add, move, new), search.c,
 * catalogue.c (categories, templates), import.c.
 */
#ifndef BS_TICKETS_INTERNAL_H
#define BS_TICKETS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/sla.h"
#include "agent/core/state.h"
#include "agent/core/uuid.h"
#include "branchsync/tickets.h"

/*
 * Limits on text, in bytes, the same for the API and the import
 * (schema/import.md lists them).  They bound what one tablet stores and
 * what one outbox operation carries, not what people normally write.
 */
#define BS__TK_CODE_MAX 64          /* ids, codes, refs, staff, branch */
#define BS__TK_NAME_MAX 400         /* names and titles */
#define BS__TK_SUBJECT_MAX 2000
#define BS__TK_REASON_MAX 4000
#define BS__TK_SUMMARY_MAX 8000     /* archive summaries and outcomes */
#define BS__TK_TEMPLATE_MAX 16000
#define BS__TK_TEXT_MAX 65536       /* descriptions, replies, notes */
#define BS__TK_TRANSCRIPT_MAX 262144
#define BS__TK_LINE_MAX 1048576     /* one line of an import file */

/* Node name written in ticket_clock for values that came from the hub. */
#define BS__TK_HUB_NODE "hub"

/* The SLA profile of a ticket that names none. */
#define BS__TK_DEFAULT_PROFILE "cn2020"

/* The context of one call. */
struct bs__tk {
	bs_store *st;
	sqlite3 *db;
	int have_device;             /* bs_tickets_init() has run */
	char device_id[BS__UUID_TEXT_LEN + 1];
	char staff[BS__TK_CODE_MAX + 1];  /* whose device it is */
	char branch[BS__TK_CODE_MAX + 1];
	char role[16];
	const char *author;          /* who opened the store */
	char actor_staff[BS__TK_CODE_MAX + 1]; /* "mine" in the queue */
	enum bs__actor actor;
	int64_t device_ms;           /* the device clock at the start */
	int64_t now_ms;              /* the hub's time as best known */
	enum bs__sla_trust trust;
	struct bs__hlc clock;
	uint64_t clock_loaded;       /* hlc_last as read */
	struct bs__uuid_gen ids;
	int in_tx;
};

/* --- context.c --------------------------------------------------------- */

/*
 * Fill tk for st: settings from sync_state, the clocks.  need_device
 * makes a store without bs_tickets_init() an error (BS_EINVAL).
 */
int bs__tk_load(struct bs__tk *tk, bs_store *st, int need_device);

/* bs__tk_load() inside BEGIN IMMEDIATE. */
int bs__tk_begin(struct bs__tk *tk, bs_store *st, int need_device);

/* Persist the clock and commit.  On failure the transaction is rolled
 * back. */
int bs__tk_commit(struct bs__tk *tk);

/* Roll back if a transaction is open.  Cannot fail. */
void bs__tk_rollback(struct bs__tk *tk);

/* The next clock stamp, as a number and as text. */
int bs__tk_stamp(struct bs__tk *tk, uint64_t *stamp,
		 char text[BS__HLC_TEXT_LEN + 1]);

/* Take in a stamp seen elsewhere (an import) so that later local stamps
 * come after it. */
int bs__tk_witness(struct bs__tk *tk, uint64_t stamp);

/* A new UUIDv7 as text. */
int bs__tk_new_id(struct bs__tk *tk, char out[BS__UUID_TEXT_LEN + 1]);

/* sqlite3_prepare_v2 with errors mapped. */
int bs__tk_prepare(struct bs__tk *tk, sqlite3_stmt **s, const char *sql);

/* Map a SQLite result code (what says what failed). */
int bs__tk_sqlerr(struct bs__tk *tk, int src, const char *what);

/* Step a statement that returns no row (SQLITE_DONE). */
int bs__tk_step_done(struct bs__tk *tk, sqlite3_stmt *s, const char *what);

/* Bind helpers: s NULL binds NULL; v < 0 with bind_opt_int binds NULL. */
int bs__tk_bind_text(sqlite3_stmt *s, int i, const char *v);
int bs__tk_bind_opt_int(sqlite3_stmt *s, int i, int64_t v, int present);

/*
 * Check that a text argument is present (unless optional), valid UTF-8
 * and at most max bytes.  what names it in the message.  BS_EINVAL.
 */
int bs__tk_check_text(const char *what, const char *s, size_t max,
		      int optional);

/* A code: 1 to BS__TK_CODE_MAX of [A-Za-z0-9._:@-]. */
int bs__tk_is_code(const char *s);

/*
 * Find the ticket named name: its id, its reference number, or a unique
 * prefix of at least 8 characters of its id.  BS_ENOTFOUND, or
 * BS_EINVAL for an ambiguous prefix.
 */
int bs__tk_resolve(struct bs__tk *tk, const char *name,
		   char id[BS__UUID_TEXT_LEN + 1]);

/* A value of sync_state (integer), present or not. */
int bs__tk_state_int(struct bs__tk *tk, const char *key, int64_t *out,
		     int *present);

/* --- write.c ----------------------------------------------------------- */

/* One outbox operation to write (see schema/outbox.md). */
struct bs__tk_op {
	const char *entity;     /* "ticket" or "activity" */
	const char *entity_id;
	const char *ticket_id;  /* the ticket it concerns */
	const char *op;         /* "create", "append", "move" */
	const cJSON *fields;    /* what the wire carries; borrowed */
	const cJSON *sensitive; /* pushed, then erased; borrowed, or NULL */
	const cJSON *set;       /* ticket columns the change set, or NULL */
	const char *hlc;
	int64_t base_version;   /* < 0: NULL (a creation) */
};

/*
 * Write op to the outbox, a clock (this stamp, this device) for every
 * ticket column in op->set, and an audit row (action entity.op) naming
 * the operation and those columns.  Its op id ("device:seq") goes to
 * op_id if not NULL.
 */
int bs__tk_outbox(struct bs__tk *tk, const struct bs__tk_op *op,
		  char op_id[BS__UUID_TEXT_LEN + 24]);

/*
 * Record stamp hlc (node: this device) for every key of the object set
 * as a field of ticket_id in ticket_clock.
 */
int bs__tk_clocks(struct bs__tk *tk, const char *ticket_id, const cJSON *set,
		  const char *hlc, const char *node);

/* An audit row with detail (borrowed, may be NULL). */
int bs__tk_audit(struct bs__tk *tk, const char *action, const char *entity,
		 const char *entity_id, const cJSON *detail);

/* --- view.c ------------------------------------------------------------ */

/*
 * The SLA profile called name (NULL: the default), from the sla_profile
 * table if it holds a valid one, else built in, else cn2020.  *p points
 * to buf (whose name is kept in name_buf) or to a static profile.
 * Cannot fail.
 */
void bs__tk_profile(struct bs__tk *tk, const char *name,
		    struct bs__sla_profile *buf,
		    char name_buf[BS__TK_CODE_MAX + 1],
		    const struct bs__sla_profile **p);

/*
 * The columns the SLA record of a ticket is built from, over ticket t
 * with its category c joined; BS__TK_SLA_NCOLS of them.
 */
#define BS__TK_SLA_COLS                                                      \
	"t.priority, t.t0_ms, t.status, t.sla_profile, c.sla_profile, "      \
	"t.extension_level, t.paused_ms_total, t.paused_since_ms, "          \
	"t.first_response_ms, t.closed_ms, t.updated_ms"
#define BS__TK_SLA_NCOLS 11

/* A ticket's SLA record and the profile it runs under. */
struct bs__tk_sla {
	struct bs__sla_profile buf;
	char name[BS__TK_CODE_MAX + 1];
	const struct bs__sla_profile *p;
	struct bs__sla_ticket t;
};

/*
 * Build out from the BS__TK_SLA_COLS starting at column col of s.
 * Values out of range (a damaged import) are clamped, so this cannot
 * fail.
 */
void bs__tk_sla_from_row(struct bs__tk *tk, sqlite3_stmt *s, int col,
			 struct bs__tk_sla *out);

/*
 * The SLA state of out evaluated now, as the "sla" object of
 * schema/cli-json.md.  *next_due and *overdue (if not NULL) receive the
 * queue keys.
 */
int bs__tk_sla_json(struct bs__tk *tk, const struct bs__tk_sla *sla,
		    cJSON **out, int64_t *next_due, int *overdue);

/* The columns of a ticket summary, over ticket t, category c, customer
 * cu and state s; BS__TK_SUMMARY_NCOLS of them. */
#define BS__TK_SUMMARY_COLS                                                  \
	"t.id, t.ref, t.external_ref, t.status, t.priority, t.channel, "     \
	"t.category_code, c.name, t.risk_class, t.subject, t.branch, "       \
	"t.assignee, t.customer_id, cu.name_masked, t.t0_ms, t.created_ms, " \
	"t.updated_ms, t.local_dirty, t.flags, t.server_version, s.open, "   \
	BS__TK_SLA_COLS
#define BS__TK_SUMMARY_FROM                                                  \
	" FROM ticket t LEFT JOIN catalogue_category c "                     \
	"ON c.code = t.category_code LEFT JOIN customer cu "                 \
	"ON cu.id = t.customer_id JOIN ticket_state s ON s.name = t.status "
#define BS__TK_SUMMARY_NCOLS (21 + BS__TK_SLA_NCOLS)

/*
 * A ticket summary from a row whose first columns are
 * BS__TK_SUMMARY_COLS, with its SLA state evaluated now.  *next_due and
 * *overdue (if not NULL) receive the queue keys.
 */
int bs__tk_summary(struct bs__tk *tk, sqlite3_stmt *s, cJSON **out,
		   int64_t *next_due, int *overdue);

/* Column i of s as JSON: integers as numbers, text as strings, else
 * null.  NULL only when out of memory. */
cJSON *bs__tk_column(sqlite3_stmt *s, int i);

/*
 * Run sql with ?1 bound to a and ?2 to b (either may be NULL; unused
 * parameters are ignored), and push one object per row to arr, keyed by
 * the column names.
 */
int bs__tk_rows(struct bs__tk *tk, cJSON *arr, const char *sql,
		const char *a, const char *b);

/* The SLA clock facts for status output: {"now_ms","trusted","clock"}. */
int bs__tk_clock_json(struct bs__tk *tk, cJSON *o);

/* --- import.c ---------------------------------------------------------- */

struct bs__importer;

/*
 * An importer writing into the transaction of tk.  name is what messages
 * call the input when it is not a file given by the user (NULL: "line
 * N: ...").
 */
int bs__import_new(struct bs__importer **out, struct bs__tk *tk,
		   bs_import_report *report);
void bs__import_free(struct bs__importer *im);

/* Feed the text of one input (a whole file in memory), its lines
 * numbered from 1; name (or NULL) prefixes messages. */
int bs__import_text(struct bs__importer *im, const char *name,
		    const char *text, size_t len);

/* Finish: catalogue version, audit.  source names the input. */
int bs__import_finish(struct bs__importer *im, const char *source);

#endif
