/*
 * converge.c - see converge.h.
 *
 * Values are compared as SQLite's quote() prints them on each side, so
 * a NULL, an empty text, the number 5 and the text '5' all differ.  The
 * timeline's order is the one a person reads: by clock stamp, then id,
 * on both sides (the hub numbers entries in the order they reached it,
 * which is not the order they were written).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "branchsync/sync.h"
#include "converge.h"
#include "testutil.h"

/* Ticket columns both sides keep, by the same name. */
static const char *const ticket_cols[] = {
	"ref", "external_ref", "customer_id", "channel", "category_code",
	"risk_class", "priority", "status", "subject", "description",
	"transcript", "outcome", "branch", "assignee", "merged_into",
	"sla_profile", "t0_ms", "first_response_ms", "paused_ms_total",
	"paused_since_ms", "extension_level", "closed_ms",
};

/* Timeline columns both sides keep. */
static const char *const activity_cols[] = {
	"id", "kind", "visibility", "body", "author", "device_id",
	"device_time_ms", "hub_time_ms", "hlc", "from_status", "to_status",
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* A statement from sqlite3_mprintf()'s format (%Q quotes a text). */
static sqlite3_stmt *prep(sqlite3 *db, const char *fmt, ...)
{
	char sql[2000];
	sqlite3_stmt *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	sqlite3_vsnprintf(sizeof(sql), sql, fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	return s;
}

/* "quote(a), quote(b), ..." of cols, with the table's own version. */
static void select_list(char *out, size_t cap, const char *const *cols,
			size_t n, const char *extra)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%squote(%s)",
					i ? ", " : "", cols[i]);
	if (extra != NULL)
		snprintf(out + len, cap - len, ", quote(%s)", extra);
}

static char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	char *v = strdup(t != NULL ? (const char *)t : "NULL");

	assert_non_null(v);
	return v;
}

/* One ticket: columns, version, timeline. */
static void compare_ticket(const struct tu_device *d, sqlite3 *dev,
			   sqlite3 *hub, const char *id)
{
	char list[1200];
	sqlite3_stmt *a, *b;
	size_t i, n = NCOLS(ticket_cols);
	int k, ra, rb;

	select_list(list, sizeof(list), ticket_cols, n, "server_version");
	a = prep(dev, "SELECT %s FROM ticket WHERE id = %Q", list, id);
	select_list(list, sizeof(list), ticket_cols, n, "version");
	b = prep(hub, "SELECT %s FROM ticket WHERE id = %Q", list, id);
	if (sqlite3_step(a) != SQLITE_ROW)
		fail_msg("%s: ticket %s is gone", d->name, id);
	if (sqlite3_step(b) != SQLITE_ROW)
		fail_msg("%s: ticket %s is not at the hub", d->name, id);
	for (i = 0; i <= n; i++) {
		char *x = col(a, (int)i), *y = col(b, (int)i);

		if (strcmp(x, y) != 0)
			fail_msg("%s: ticket %s: %s is %s on the device, %s "
				 "at the hub", d->name, id,
				 i < n ? ticket_cols[i] : "version", x, y);
		free(x);
		free(y);
	}
	sqlite3_finalize(a);
	sqlite3_finalize(b);

	n = NCOLS(activity_cols);
	select_list(list, sizeof(list), activity_cols, n, NULL);
	a = prep(dev, "SELECT %s FROM activity WHERE ticket_id = %Q "
		 "ORDER BY hlc, id", list, id);
	b = prep(hub, "SELECT %s FROM activity WHERE ticket_id = %Q "
		 "ORDER BY hlc, id", list, id);
	for (k = 0;; k++) {
		ra = sqlite3_step(a);
		rb = sqlite3_step(b);
		if (ra != rb)
			fail_msg("%s: ticket %s: the timeline has %s entries "
				 "on the device than at the hub (from entry "
				 "%d)", d->name, id,
				 ra == SQLITE_ROW ? "more" : "fewer", k + 1);
		if (ra != SQLITE_ROW)
			break;
		for (i = 0; i < n; i++) {
			char *x = col(a, (int)i), *y = col(b, (int)i);

			if (strcmp(x, y) != 0)
				fail_msg("%s: ticket %s: timeline entry %d: "
					 "%s is %s on the device, %s at the "
					 "hub", d->name, id, k + 1,
					 activity_cols[i], x, y);
			free(x);
			free(y);
		}
	}
	sqlite3_finalize(a);
	sqlite3_finalize(b);
}

/* The first column of every row of s (finalized here), as malloc'd
 * strings in a malloc'd array of *n. */
static char **ids(sqlite3_stmt *s, int *n)
{
	char **v = NULL;
	int cap = 0;

	*n = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, (size_t)cap * sizeof(*v));
			assert_non_null(v);
		}
		v[(*n)++] = col(s, 0);
	}
	sqlite3_finalize(s);
	return v;
}

static void free_ids(char **v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Compare one device with the hub; returns how many tickets. */
static int compare_device(const struct tu_device *d, sqlite3 *hub)
{
	sqlite3 *dev = bs_store_db(*d->st);
	sqlite3_stmt *s;
	char branch[80] = "", staff[80] = "";
	char **mine, **theirs;
	int nm, nt, i;

	s = prep(dev, "SELECT value ->> '$.branch', value ->> '$.staff' "
		 "FROM sync_state WHERE key = 'scope'");
	if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_text(s, 0) == NULL)
		fail_msg("%s: no scope: not enrolled", d->name);
	snprintf(branch, sizeof(branch), "%s", sqlite3_column_text(s, 0));
	if (sqlite3_column_type(s, 1) != SQLITE_NULL)
		snprintf(staff, sizeof(staff), "%s",
			 sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	mine = ids(prep(dev, "SELECT id FROM ticket ORDER BY id"), &nm);
	if (staff[0] != '\0')
		s = prep(hub, "SELECT id FROM ticket WHERE branch = %Q AND "
			 "assignee = %Q ORDER BY id", branch, staff);
	else
		s = prep(hub, "SELECT id FROM ticket WHERE branch = %Q "
			 "ORDER BY id", branch);
	theirs = ids(s, &nt);
	for (i = 0; i < nm || i < nt; i++) {
		if (i >= nm || (i < nt && strcmp(mine[i], theirs[i]) > 0))
			fail_msg("%s: ticket %s of its scope is missing",
				 d->name, theirs[i]);
		if (i >= nt || strcmp(mine[i], theirs[i]) < 0)
			fail_msg("%s: holds ticket %s, which is not in its "
				 "scope at the hub", d->name, mine[i]);
	}
	for (i = 0; i < nm; i++)
		compare_ticket(d, dev, hub, mine[i]);
	free_ids(mine, nm);
	free_ids(theirs, nt);
	return nm;
}

int tu_converge(const char *hub_dir, const struct tu_device *devs, int n)
{
	char path[1024];
	bs_sync_opts o;
	sqlite3 *hub = NULL;
	int pass, i, total = 0;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 5000;
	o.timeout_ms = 30000;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if (devs[i].use != NULL)
				devs[i].use(devs[i].ud);
			if (bs_sync_round(devs[i].st, &o, NULL) != BS_OK)
				fail_msg("%s: final sync: %s", devs[i].name,
					 bs_last_error());
			if (tu_int(*devs[i].st, "SELECT count(*) FROM outbox "
				   "WHERE state <> 'answered'") != 0)
				fail_msg("%s: operations left unanswered",
					 devs[i].name);
		}
	}
	snprintf(path, sizeof(path), "file:%s/hub.db?mode=ro", hub_dir);
	if (sqlite3_open_v2(path, &hub, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK)
		fail_msg("open %s: %s", path, sqlite3_errmsg(hub));
	sqlite3_busy_timeout(hub, 5000);
	for (i = 0; i < n; i++) {
		if (devs[i].use != NULL)
			devs[i].use(devs[i].ud);
		total += compare_device(&devs[i], hub);
	}
	sqlite3_close(hub);
	return total;
}
