/*
 * store_postgres.c - the PostgreSQL backend of store.h, through libpq:
 * the production database, which several hub processes may share.
 *
 * The file is in four parts: errors (SQLSTATE to bs_error), connections,
 * transactions and migration, and statements.
 *
 * Transactions.  The hub's logic is written once, above store.h, for a
 * database where a write transaction is the only writer from its first
 * statement to its commit: that is what SQLite's BEGIN IMMEDIATE gives,
 * and the logic relies on it (an op's replay check, a ticket's version,
 * the next history entry are read before they are written).  PostgreSQL
 * runs at READ COMMITTED, where two such transactions in two hub
 * processes would both pass the check and then collide or lose an
 * update.  So a write transaction here begins by taking a transaction
 * advisory lock, held to commit or rollback: writers queue as they do on
 * SQLite, and every statement after the lock sees all that the previous
 * writers committed (READ COMMITTED takes a snapshot per statement, and
 * PostgreSQL makes a commit visible before it releases its locks).
 * Readers (pulls, exports) take no lock: a read transaction is
 * REPEATABLE READ, one snapshot from its first statement on, as a
 * SQLite read transaction in WAL mode is.  What several hubs share out
 * is the work around the database (TLS, signatures, JSON, merging);
 * their writes take turns, which every change did already, each taking
 * the change counter's row until its commit.
 *
 * The pull cursor (protocol.md, "Why the cursor never skips") holds for
 * two reasons, each enough alone: the writer lock above, and the row
 * lock of the change counter, which a transaction takes with UPDATE ...
 * RETURNING and keeps to its end, so numbers become visible in the order
 * they were given even between transactions that skip the writer lock.
 * tests/hub/test_hub_pg_store.c checks both.
 *
 * Statements are prepared once a connection (PQprepare, named s0, s1,
 * ...; up to CACHE of them, the rest sent with PQexecParams), found
 * again by their text and parameter types: parameters $1..$n as text,
 * the integers typed bigint (the schema's integers are all BIGINT), the
 * text ones left for the server to type from their context.  Parsing
 * and planning every statement again was most of the server's work.  A
 * session the server ended takes its statements with it: a connection
 * made again starts with none.  Results come back as text.
 *
 * The schema is schema/hub/postgres/NNN_*.sql compiled in
 * (bs__hub_postgres_migrations).  Migration runs in one transaction
 * under its own advisory lock, so hubs started together apply each file
 * once: the first one migrates, the others wait and find it done.  The
 * version is kept in hub_meta under 'schema_version'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "agent/core/common.h"
#include "agent/core/embed.h"
#include "hub/store.h"

extern const struct bs__embedded bs__hub_postgres_migrations[];

/* The type of an integer parameter: bigint (pg_type.h is a server
 * header, not part of libpq). */
#define INT8_OID 20

/* Parameters in one statement; store.c passes at most 40. */
#define MAX_PARAMS 64
/* Statements kept prepared by a connection. */
#define CACHE 128

struct prepared {
	uint32_t hash;
	char *sql;
	char types[MAX_PARAMS + 1]; /* 'i' bigint, 't' text, per $n */
};

/* A connection: libpq's, and the statements it has prepared. */
struct pgc {
	PGconn *db;
	int n;
	struct prepared st[CACHE];
};

static void forget_prepared(struct pgc *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		bs__free(p->st[i].sql);
	p->n = 0;
}

/*
 * Advisory lock keys, bigint, per database: "bshubmig" and "bshubwri"
 * in ASCII, unlikely to be taken by anything else in a shared database.
 */
#define LOCK_MIGRATE "7094128691410463079"
#define LOCK_WRITE "7094128691411120745"

/*
 * Session settings.  lock_timeout is SQLite's busy timeout: a writer
 * that waits longer gets BS_EBUSY.  A hub that stops in the middle of a
 * transaction (a stopped process, a cut network) must not hold the
 * writer lock of every other hub for long: the server ends such a
 * session after idle_in_transaction_session_timeout.
 */
static const char session_sql[] =
	"SET lock_timeout = '15s'; "
	"SET idle_in_transaction_session_timeout = '60s'; "
	"SET client_min_messages = warning";

/* --- errors --------------------------------------------------------- */

/* msg on one line, without its trailing newline, into buf. */
static const char *one_line(char *buf, size_t cap, const char *msg)
{
	size_t i, n = 0;

	if (msg == NULL)
		msg = "";
	for (i = 0; msg[i] != '\0' && n + 1 < cap; i++) {
		char ch = msg[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		if (ch == ' ' && (n == 0 || buf[n - 1] == ' '))
			continue;
		buf[n++] = ch;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

/*
 * The bs_error for a failed result (NULL: libpq could not make one),
 * with what and the server's message as the last error.  A lost
 * connection is BS_ENETWORK; a constraint violation BS_EEXISTS, as on
 * SQLite; a lock wait past lock_timeout, a deadlock or a serialization
 * failure BS_EBUSY.
 */
static int pq_rc(PGconn *db, const PGresult *res, const char *what)
{
	const char *state = NULL, *msg;
	char line[400];
	int rc = BS_ERR;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (msg == NULL)
			msg = PQresultErrorMessage(res);
	} else {
		msg = PQerrorMessage(db);
	}
	one_line(line, sizeof(line), msg);
	if (state == NULL || strlen(state) != 5) {
		if (PQstatus(db) != CONNECTION_OK)
			rc = BS_ENETWORK;
		else if (res == NULL)
			return bs__error_code(BS_ENOMEM);
	} else if (strncmp(state, "23", 2) == 0) {
		rc = BS_EEXISTS;
	} else if (strcmp(state, "55P03") == 0 ||
		   strcmp(state, "40001") == 0 ||
		   strcmp(state, "40P01") == 0 ||
		   strcmp(state, "53300") == 0) {
		rc = BS_EBUSY;
	} else if (strcmp(state, "57014") == 0) {
		rc = BS_ETIMEOUT;
	} else if (strncmp(state, "08", 2) == 0 ||
		   strncmp(state, "57P", 3) == 0) {
		rc = BS_ENETWORK;
	} else if (strncmp(state, "53", 2) == 0 ||
		   strncmp(state, "58", 2) == 0) {
		rc = BS_EIO;
	} else if (strncmp(state, "XX", 2) == 0 &&
		   strcmp(state, "XX000") != 0) {
		rc = BS_EDAMAGED;
	} else if (strncmp(state, "22", 2) == 0) {
		rc = BS_EINVAL;
	}
	if (state != NULL)
		return bs__error(rc, "%s: %s (SQLSTATE %s)", what, line,
				 state);
	return bs__error(rc, "%s: %s", what, line);
}

/* Run sql (one or more statements, no parameters, no rows wanted). */
static int exec(PGconn *db, const char *sql, const char *what)
{
	PGresult *res = PQexec(db, sql);
	int rc = BS_OK;

	if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
			    PQresultStatus(res) != PGRES_TUPLES_OK))
		rc = pq_rc(db, res, what);
	PQclear(res);
	return rc;
}

/* --- connections ---------------------------------------------------- */

/* The server's notices (a NOTICE of an idempotent statement) are not
 * for the hub's users. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Open a connection to where, a postgresql:// URL (or any libpq
 * connection string).  The URL may set connect_timeout and
 * application_name itself; the client encoding is always UTF-8, which
 * is what the hub's text is.
 */
static int pg_open(void **conn, const char *where)
{
	static const char *const keys[] = { "connect_timeout",
		"application_name", "dbname", "client_encoding", NULL };
	const char *vals[] = { "10", "branchsync-hub", where, "UTF8", NULL };
	struct pgc *p;
	PGconn *db;
	int rc;

	*conn = NULL;
	if ((p = bs__calloc(1, sizeof(*p))) == NULL)
		return bs__error_code(BS_ENOMEM);
	db = PQconnectdbParams(keys, vals, 1);
	if (db == NULL) {
		bs__free(p);
		return bs__error_code(BS_ENOMEM);
	}
	if (PQstatus(db) != CONNECTION_OK) {
		char line[400];

		rc = bs__error(BS_ENETWORK, "cannot connect to the hub "
			       "database: %s", one_line(line, sizeof(line),
							PQerrorMessage(db)));
		PQfinish(db);
		bs__free(p);
		return rc;
	}
	PQsetNoticeProcessor(db, quiet, NULL);
	if ((rc = exec(db, session_sql, "cannot set up the hub database "
		       "session")) != BS_OK) {
		PQfinish(db);
		bs__free(p);
		return rc;
	}
	p->db = db;
	*conn = p;
	return BS_OK;
}

static void pg_close(void *conn)
{
	struct pgc *p = conn;

	if (p == NULL)
		return;
	forget_prepared(p);
	PQfinish(p->db);
	bs__free(p);
}

/*
 * A pooled connection may have been cut since its last use (the server
 * restarted, a proxy timed it out): outside a transaction, nothing is
 * lost by connecting again.  Fails with BS_ENETWORK.
 */
static int ensure(struct pgc *p)
{
	PGconn *db = p->db;
	char line[400];

	if (PQstatus(db) == CONNECTION_OK)
		return BS_OK;
	forget_prepared(p);
	PQreset(db);
	if (PQstatus(db) != CONNECTION_OK)
		return bs__error(BS_ENETWORK, "lost the hub database: %s",
				 one_line(line, sizeof(line),
					  PQerrorMessage(db)));
	return exec(db, session_sql, "cannot set up the hub database "
		    "session");
}

/* --- transactions and migration ------------------------------------- */

static void rollback_db(PGconn *db)
{
	if (PQstatus(db) == CONNECTION_OK &&
	    PQtransactionStatus(db) != PQTRANS_IDLE)
		PQclear(PQexec(db, "ROLLBACK"));
}

static void pg_rollback(void *conn)
{
	rollback_db(((struct pgc *)conn)->db);
}

static int begin_once(PGconn *db, int mode)
{
	int rc;

	if (mode == BS_HUB_READ)
		return exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ, "
			    "READ ONLY", "cannot begin a transaction");
	/* Nonces and last seen: no change number, so no writer lock; a
	 * commit the server may lose in a crash (a later durable commit
	 * flushes it too). */
	if (mode == BS_HUB_LIGHT) {
		rc = exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED; "
			  "SET LOCAL synchronous_commit = off",
			  "cannot begin a transaction");
		if (rc != BS_OK)
			rollback_db(db);
		return rc;
	}
	rc = exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED; "
		  "SELECT pg_advisory_xact_lock(" LOCK_WRITE ")",
		  "cannot begin a write transaction");
	if (rc != BS_OK)
		rollback_db(db);
	return rc;
}

/*
 * libpq learns that a server ended the session only when it next talks
 * to it: a BEGIN that finds the connection gone is tried once more on a
 * new one, since nothing of a transaction is lost yet.
 */
static int pg_begin(void *conn, int mode)
{
	struct pgc *p = conn;
	PGconn *db = p->db;
	int rc;

	if ((rc = ensure(p)) != BS_OK)
		return rc;
	rc = begin_once(db, mode);
	if (rc == BS_ENETWORK && PQstatus(db) != CONNECTION_OK &&
	    (rc = ensure(p)) == BS_OK)
		rc = begin_once(db, mode);
	return rc;
}

/*
 * COMMIT of a transaction in which a statement failed answers with the
 * tag ROLLBACK and no error: that is a failure here, not a success.
 */
static int pg_commit(void *conn)
{
	PGconn *db = ((struct pgc *)conn)->db;
	PGresult *res = PQexec(db, "COMMIT");
	int rc = BS_OK;

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pq_rc(db, res, "cannot commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = bs__error(BS_ERR, "cannot commit: the transaction had "
			       "failed and was rolled back");
	PQclear(res);
	return rc;
}

/*
 * The schema version recorded in the database; 0 for an empty one.  Two
 * statements: a query naming hub_meta cannot even be planned in a
 * database that does not have it yet.
 */
static int schema_version(PGconn *db, int *out)
{
	PGresult *res;
	int rc = BS_OK;

	*out = 0;
	res = PQexec(db, "SELECT to_regclass('hub_meta') IS NOT NULL");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pq_rc(db, res, "cannot read the hub schema version");
		goto cleanup;
	}
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		goto cleanup;
	PQclear(res);
	res = PQexec(db, "SELECT value FROM hub_meta WHERE key = "
		     "'schema_version'");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pq_rc(db, res, "cannot read the hub schema version");
	} else if (PQntuples(res) != 1) {
		rc = bs__error(BS_EDAMAGED, "the hub database has no schema "
			       "version");
	} else {
		char *end;
		long v = strtol(PQgetvalue(res, 0, 0), &end, 10);

		if (*end != '\0' || v < 1 || v > 100000)
			rc = bs__error(BS_EDAMAGED, "hub schema version '%s' "
				       "is not a number",
				       PQgetvalue(res, 0, 0));
		else
			*out = (int)v;
	}
cleanup:
	PQclear(res);
	return rc;
}

static int pg_migrate(void *conn)
{
	struct pgc *p = conn;
	PGconn *db = p->db;
	PGresult *res = NULL;
	char num[16];
	const char *params[1] = { num };
	int cur, latest = 0, v, rc;

	while (bs__hub_postgres_migrations[latest].name != NULL)
		latest++;
	if ((rc = ensure(p)) != BS_OK)
		return rc;
	if ((rc = exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED; "
		       "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")",
		       "cannot migrate the hub schema")) != BS_OK)
		goto cleanup;
	/* Read after the lock: a hub that migrated first has committed. */
	if ((rc = schema_version(db, &cur)) != BS_OK)
		goto cleanup;
	if (cur > latest) {
		rc = bs__error(BS_EINVAL, "hub database is at schema %d, newer "
			       "than this build knows (%d)", cur, latest);
		goto cleanup;
	}
	for (v = cur + 1; v <= latest; v++) {
		const struct bs__embedded *m =
			&bs__hub_postgres_migrations[v - 1];

		if ((rc = exec(db, m->text, m->name)) != BS_OK)
			goto cleanup;
		snprintf(num, sizeof(num), "%d", v);
		res = PQexecParams(db, "INSERT INTO hub_meta (key, value) "
				   "VALUES ('schema_version', $1) ON CONFLICT "
				   "(key) DO UPDATE SET value = excluded.value",
				   1, NULL, params, NULL, NULL, 0);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = pq_rc(db, res, m->name);
			goto cleanup;
		}
		PQclear(res);
		res = NULL;
	}
	rc = pg_commit(p);
cleanup:
	PQclear(res);
	pg_rollback(p);
	return rc;
}

/* --- statements ----------------------------------------------------- */

/* Copy the rows of res into a new bs_hub_res. */
static int rows(struct bs_hub_res **out, const PGresult *res)
{
	struct bs_hub_res *r;
	int nrows = PQntuples(res), ncols = PQnfields(res), i, k;

	*out = NULL;
	r = bs__calloc(1, sizeof(*r));
	if (r == NULL)
		return bs__error_code(BS_ENOMEM);
	if (nrows > 0 && ncols > 0) {
		r->cells = bs__calloc((size_t)nrows * (size_t)ncols,
				      sizeof(char *));
		if (r->cells == NULL) {
			bs__free(r);
			return bs__error_code(BS_ENOMEM);
		}
	}
	r->ncols = ncols;
	/* nrows counts the rows whose cells are set, for bs__hub_res_free
	 * on the way out of a failure. */
	for (i = 0; i < nrows && ncols > 0; i++) {
		r->nrows++;
		for (k = 0; k < ncols; k++) {
			char **cell = &r->cells[i * ncols + k];

			if (PQgetisnull(res, i, k))
				continue;
			*cell = bs__strdup(PQgetvalue(res, i, k));
			if (*cell == NULL) {
				bs__hub_res_free(r);
				return bs__error_code(BS_ENOMEM);
			}
		}
	}
	*out = r;
	return BS_OK;
}

/* FNV-1a of a statement's text and parameter types. */
static uint32_t stmt_hash(const char *sql, const char *types)
{
	uint32_t h = 2166136261u;

	while (*sql)
		h = (h ^ (uint8_t)*sql++) * 16777619u;
	while (*types)
		h = (h ^ (uint8_t)*types++) * 16777619u;
	return h;
}

/*
 * The name of sql prepared with these parameter types on p, preparing
 * it if need be; NULL when the cache is full (then the statement is sent
 * whole).  On failure *rc is set.
 */
static const char *prepared_name(struct pgc *p, char name[16],
				 const char *sql, const char *types,
				 const Oid *oids, int n, int *rc)
{
	uint32_t h = stmt_hash(sql, types);
	struct prepared *e;
	PGresult *res;
	int i;

	*rc = BS_OK;
	for (i = 0; i < p->n; i++) {
		e = &p->st[i];
		if (e->hash == h && strcmp(e->types, types) == 0 &&
		    strcmp(e->sql, sql) == 0) {
			snprintf(name, 16, "s%d", i);
			return name;
		}
	}
	if (p->n == CACHE)
		return NULL;
	e = &p->st[p->n];
	snprintf(name, 16, "s%d", p->n);
	res = PQprepare(p->db, name, sql, n, oids);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		*rc = pq_rc(p->db, res, "statement failed");
		PQclear(res);
		return NULL;
	}
	PQclear(res);
	if ((e->sql = bs__strdup(sql)) == NULL) {
		/* Prepared but not remembered: sent whole this time, and
		 * the name is taken again by the next one. */
		PQclear(PQexec(p->db, "DEALLOCATE ALL"));
		forget_prepared(p);
		return NULL;
	}
	e->hash = h;
	memcpy(e->types, types, (size_t)n + 1);
	p->n++;
	return name;
}

static int pg_query(void *conn, struct bs_hub_res **out, int *changes,
		    const char *sql, const struct bs_hub_val *params, int n)
{
	struct pgc *p = conn;
	PGconn *db = p->db;
	PGresult *res = NULL;
	const char *values[MAX_PARAMS], *name;
	Oid types[MAX_PARAMS];
	char ints[MAX_PARAMS][24], sig[MAX_PARAMS + 1], pname[16];
	ExecStatusType st;
	int i, rc = BS_OK;

	if (out != NULL)
		*out = NULL;
	if (n < 0 || n > MAX_PARAMS)
		return bs__error(BS_ERR, "too many SQL parameters");
	for (i = 0; i < n; i++) {
		if (params[i].is_int) {
			snprintf(ints[i], sizeof(ints[i]), "%lld",
				 (long long)params[i].i);
			values[i] = ints[i];
			types[i] = INT8_OID;
			sig[i] = 'i';
		} else {
			values[i] = params[i].s;
			types[i] = 0;
			sig[i] = 't';
		}
	}
	sig[n] = '\0';
	name = prepared_name(p, pname, sql, sig, types, n, &rc);
	if (rc != BS_OK)
		return rc;
	if (name != NULL)
		res = PQexecPrepared(db, name, n, values, NULL, NULL, 0);
	else
		res = PQexecParams(db, sql, n, types, values, NULL, NULL, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pq_rc(db, res, "statement failed");
		goto cleanup;
	}
	if (changes != NULL)
		*changes = atoi(PQcmdTuples(res));
	if (out != NULL)
		rc = rows(out, res);
cleanup:
	PQclear(res);
	return rc;
}

static const struct bs_hub_store_ops ops = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.migrate = pg_migrate,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.query = pg_query,
};

const struct bs_hub_store_ops *bs__hub_postgres_ops_get(void)
{
	return &ops;
}
