/*
 * store_sqlite.c - the SQLite backend of store.h: the embedded default,
 * one file in the hub's data directory.
 *
 * WAL mode, so pulls read while a push writes; a write transaction
 * starts with BEGIN IMMEDIATE, which takes SQLite's single writer lock
 * at once, so two writers never deadlock upgrading a read lock and the
 * change counter is naturally serialized (protocol.md, "Why the cursor
 * never skips").  Writers of one process first queue on a mutex, so
 * that they wait for each other without the busy handler's sleeps; the
 * busy timeout remains for other processes (admin commands).  A light
 * transaction (BS_HUB_LIGHT: nonces, last seen) commits with
 * synchronous = NORMAL: it is on disk with the next durable commit, and
 * a crash before then loses nothing a device relies on.
 *
 * Each connection keeps its statements prepared, up to CACHE of them,
 * found again by their text.  The parameters $1, $2, ... are looked up
 * by name, since SQLite numbers named parameters in order of first
 * appearance.
 *
 * The schema is schema/hub/sqlite/NNN_*.sql compiled in
 * (bs__hub_sqlite_migrations), applied in order, PRAGMA user_version
 * keeping the number of the last one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/core/embed.h"
#include "agent/core/sqlite.h"
#include "hub/store.h"

extern const struct bs__embedded bs__hub_sqlite_migrations[];

#define BUSY_MS 15000
#define CACHE 64

/* The writers of this process, one at a time (see the top). */
static pthread_mutex_t writer = PTHREAD_MUTEX_INITIALIZER;

struct cached {
	uint32_t hash;
	sqlite3_stmt *s;
};

struct lite {
	sqlite3 *db;
	int writing; /* holds writer */
	int light;   /* synchronous is NORMAL until the transaction ends */
	unsigned next; /* the cache slot to reuse when all are taken */
	struct cached cache[CACHE];
};

static int sql_rc(sqlite3 *db, int src, const char *what)
{
	int ext = src & 0xff;

	if (ext == SQLITE_CONSTRAINT)
		return bs__error(BS_EEXISTS, "%s: %s", what,
				 sqlite3_errmsg(db));
	if (ext == SQLITE_BUSY || ext == SQLITE_LOCKED)
		return bs__error(BS_EBUSY, "%s: database is busy", what);
	if (ext == SQLITE_NOMEM)
		return bs__error_code(BS_ENOMEM);
	if (ext == SQLITE_CORRUPT || ext == SQLITE_NOTADB)
		return bs__error(BS_EDAMAGED, "%s: %s", what,
				 sqlite3_errmsg(db));
	if (ext == SQLITE_IOERR || ext == SQLITE_FULL ||
	    ext == SQLITE_CANTOPEN || ext == SQLITE_READONLY)
		return bs__error(BS_EIO, "%s: %s", what, sqlite3_errmsg(db));
	return bs__error(BS_ERR, "%s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, const char *what)
{
	int src = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return src == SQLITE_OK ? BS_OK : sql_rc(db, src, what);
}

static int lite_open(void **conn, const char *where)
{
	struct lite *l;
	sqlite3 *db = NULL;
	int src, rc;

	*conn = NULL;
	bs__sqlite_setup();
	if ((l = bs__calloc(1, sizeof(*l))) == NULL)
		return bs__error_code(BS_ENOMEM);
	src = sqlite3_open_v2(where, &db, SQLITE_OPEN_READWRITE |
			      SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		rc = db != NULL ? sql_rc(db, src, "cannot open hub database")
				: bs__error_code(BS_ENOMEM);
		sqlite3_close(db);
		bs__free(l);
		return rc;
	}
	sqlite3_busy_timeout(db, BUSY_MS);
	/* NORMAL in WAL mode: a power cut may lose the last commits but
	 * never corrupts; FULL makes each commit durable, which is what
	 * an answered push promises. */
	if ((rc = exec(db, "PRAGMA journal_mode = WAL; "
		       "PRAGMA synchronous = FULL; "
		       "PRAGMA foreign_keys = ON; "
		       "PRAGMA temp_store = MEMORY",
		       "cannot set up hub database")) != BS_OK) {
		sqlite3_close(db);
		bs__free(l);
		return rc;
	}
	l->db = db;
	*conn = l;
	return BS_OK;
}

static void lite_close(void *conn)
{
	struct lite *l = conn;
	int i;

	if (l == NULL)
		return;
	for (i = 0; i < CACHE; i++)
		sqlite3_finalize(l->cache[i].s);
	sqlite3_close(l->db);
	bs__free(l);
}

static int lite_migrate(void *conn)
{
	sqlite3 *db = ((struct lite *)conn)->db;
	sqlite3_stmt *s = NULL;
	char sql[64];
	int cur = 0, latest = 0, v, rc;

	while (bs__hub_sqlite_migrations[latest].name != NULL)
		latest++;
	if ((rc = exec(db, "BEGIN IMMEDIATE", "cannot migrate")) != BS_OK)
		return rc;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		cur = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (cur > latest) {
		rc = bs__error(BS_EINVAL, "hub database is at schema %d, newer "
			       "than this build knows (%d)", cur, latest);
		goto cleanup;
	}
	for (v = cur + 1; v <= latest; v++) {
		const struct bs__embedded *m = &bs__hub_sqlite_migrations[v -
									  1];

		if ((rc = exec(db, m->text, m->name)) != BS_OK)
			goto cleanup;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
		if ((rc = exec(db, sql, m->name)) != BS_OK)
			goto cleanup;
	}
	return exec(db, "COMMIT", "cannot commit the hub schema");
cleanup:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Take the process's writer mutex, waiting at most the busy timeout. */
static int writer_lock(void)
{
	struct timespec ts;
	int e;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BUSY_MS / 1000;
	e = pthread_mutex_timedlock(&writer, &ts);
	if (e == ETIMEDOUT)
		return bs__error(BS_EBUSY, "cannot begin a transaction: "
				 "database is busy");
	return e == 0 ? BS_OK : bs__error(BS_ERR, "writer lock: error %d", e);
}

/* The transaction is over: give back what lite_begin took. */
static void ended(struct lite *l)
{
	if (l->light) {
		sqlite3_exec(l->db, "PRAGMA synchronous = FULL", NULL, NULL,
			     NULL);
		l->light = 0;
	}
	if (l->writing) {
		l->writing = 0;
		pthread_mutex_unlock(&writer);
	}
}

static int lite_begin(void *conn, int mode)
{
	struct lite *l = conn;
	int rc;

	if (mode == BS_HUB_READ)
		return exec(l->db, "BEGIN", "cannot begin a transaction");
	if ((rc = writer_lock()) != BS_OK)
		return rc;
	l->writing = 1;
	if (mode == BS_HUB_LIGHT) {
		l->light = 1;
		rc = exec(l->db, "PRAGMA synchronous = NORMAL",
			  "cannot begin a transaction");
	}
	if (rc == BS_OK)
		rc = exec(l->db, "BEGIN IMMEDIATE",
			  "cannot begin a transaction");
	if (rc != BS_OK)
		ended(l);
	return rc;
}

static int lite_commit(void *conn)
{
	struct lite *l = conn;
	int rc = exec(l->db, "COMMIT", "cannot commit");

	/* A failed COMMIT may leave the transaction open: the caller
	 * rolls back, which ends it. */
	if (rc == BS_OK || sqlite3_get_autocommit(l->db))
		ended(l);
	return rc;
}

static void lite_rollback(void *conn)
{
	struct lite *l = conn;

	if (!sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	ended(l);
}

/* FNV-1a of a statement's text. */
static uint32_t text_hash(const char *sql)
{
	uint32_t h = 2166136261u;

	while (*sql)
		h = (h ^ (uint8_t)*sql++) * 16777619u;
	return h;
}

/* The prepared statement for sql, from the cache or made and kept. */
static int prepared(struct lite *l, sqlite3_stmt **out, const char *sql)
{
	uint32_t h = text_hash(sql);
	struct cached *slot = NULL;
	sqlite3_stmt *s = NULL;
	int i, src;

	for (i = 0; i < CACHE; i++) {
		struct cached *e = &l->cache[i];

		if (e->s == NULL) {
			if (slot == NULL)
				slot = e;
		} else if (e->hash == h && strcmp(sqlite3_sql(e->s), sql) ==
			   0) {
			*out = e->s;
			return BS_OK;
		}
	}
	src = sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				 &s, NULL);
	if (src != SQLITE_OK)
		return sql_rc(l->db, src, "cannot prepare a statement");
	if (slot == NULL) {
		slot = &l->cache[l->next++ % CACHE];
		sqlite3_finalize(slot->s);
	}
	slot->hash = h;
	slot->s = s;
	*out = s;
	return BS_OK;
}

static int lite_query(void *conn, struct bs_hub_res **res, int *changes,
		      const char *sql, const struct bs_hub_val *params, int n)
{
	struct lite *l = conn;
	sqlite3 *db = l->db;
	sqlite3_stmt *s = NULL;
	struct bs_hub_res *r = NULL;
	size_t cap = 0;
	char name[16];
	int i, src, rc = BS_OK, ncols;

	if (res != NULL)
		*res = NULL;
	if ((rc = prepared(l, &s, sql)) != BS_OK)
		return rc;
	for (i = 0; i < n; i++) {
		int idx;

		snprintf(name, sizeof(name), "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(s, name);
		if (idx == 0)
			continue;
		if (params[i].is_int)
			src = sqlite3_bind_int64(s, idx, params[i].i);
		else if (params[i].s == NULL)
			src = sqlite3_bind_null(s, idx);
		else
			src = sqlite3_bind_text(s, idx, params[i].s, -1,
						SQLITE_STATIC);
		if (src != SQLITE_OK) {
			rc = sql_rc(db, src, "cannot bind a parameter");
			goto cleanup;
		}
	}
	ncols = sqlite3_column_count(s);
	r = bs__calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	r->ncols = ncols;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if ((size_t)(r->nrows + 1) * (size_t)ncols > cap) {
			size_t ncap = cap ? cap * 2 : (size_t)ncols * 8;
			char **nc = bs__realloc(r->cells,
						ncap * sizeof(char *));

			if (nc == NULL) {
				rc = bs__error_code(BS_ENOMEM);
				goto cleanup;
			}
			r->cells = nc;
			cap = ncap;
		}
		memset(&r->cells[r->nrows * ncols], 0,
		       (size_t)ncols * sizeof(char *));
		for (i = 0; i < ncols; i++) {
			const unsigned char *t = sqlite3_column_text(s, i);
			char **cell = &r->cells[r->nrows * ncols + i];

			if (t != NULL && (*cell = bs__strdup(
				   (const char *)t)) == NULL) {
				r->nrows++;
				rc = bs__error_code(BS_ENOMEM);
				goto cleanup;
			}
		}
		r->nrows++;
	}
	if (src != SQLITE_DONE) {
		rc = sql_rc(db, src, "statement failed");
		goto cleanup;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(db);
	if (res != NULL) {
		*res = r;
		r = NULL;
	}
cleanup:
	bs__hub_res_free(r);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

const struct bs_hub_store_ops bs__hub_sqlite_ops = {
	.name = "sqlite",
	.open = lite_open,
	.close = lite_close,
	.migrate = lite_migrate,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.query = lite_query,
};
