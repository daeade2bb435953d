/*
 * store.c - what every backend shares: picking the backend, the pool
 * of connections, parameter lists built from a type string, results,
 * the counters that number changes, and group commit (bs__hub_write).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "hub/store.h"

/* Connections kept open for reuse; more may be open while busy. */
#define POOL_MAX 16
#define MAX_PARAMS 40
/* Most callers of bs__hub_write sharing one transaction. */
#define GROUP_MAX 64

/* A caller of bs__hub_write, waiting in the queue. */
struct job {
	int (*fn)(bs_hub_conn *c, void *arg);
	void *arg;
	int rc;
	int done; /* under gmu */
	char msg[400]; /* the last error when rc is not BS_OK */
	struct job *next;
};

struct bs_hub_store {
	const struct bs_hub_store_ops *ops;
	char *where;
	pthread_mutex_t mu;
	bs_hub_conn *idle[POOL_MAX];
	int nidle;
	/* Group commit: the queue, and whether a caller is running a
	 * group now. */
	pthread_mutex_t gmu;
	pthread_cond_t gcv;
	struct job *head, **tail;
	int leading;
};

struct bs_hub_conn {
	bs_hub_store *store;
	void *h;
	int in_tx;
};

static const struct bs_hub_store_ops *pick(const char *where)
{
	if (strncmp(where, "postgresql://", 13) == 0 ||
	    strncmp(where, "postgres://", 11) == 0)
		return bs__hub_postgres_ops_get();
	return &bs__hub_sqlite_ops;
}

int bs__hub_store_open(bs_hub_store **out, const char *where)
{
	bs_hub_store *s;
	bs_hub_conn *c = NULL;
	int rc;

	*out = NULL;
	s = bs__calloc(1, sizeof(*s));
	if (s == NULL)
		return bs__error_code(BS_ENOMEM);
	s->ops = pick(where);
	if (s->ops == NULL) {
		bs__free(s);
		return bs__error(BS_EINVAL, "this hub was built without the "
				 "PostgreSQL backend");
	}
	s->where = bs__strdup(where);
	if (s->where == NULL) {
		bs__free(s);
		return bs__error_code(BS_ENOMEM);
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->gmu, NULL);
	pthread_cond_init(&s->gcv, NULL);
	s->tail = &s->head;
	if ((rc = bs__hub_conn_get(&c, s)) != BS_OK)
		goto fail;
	rc = s->ops->migrate(c->h);
	bs__hub_conn_put(c);
	if (rc != BS_OK)
		goto fail;
	*out = s;
	return BS_OK;
fail:
	bs__hub_store_close(s);
	return rc;
}

void bs__hub_store_close(bs_hub_store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nidle; i++) {
		s->ops->close(s->idle[i]->h);
		bs__free(s->idle[i]);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->gmu);
	pthread_cond_destroy(&s->gcv);
	bs__free(s->where);
	bs__free(s);
}

const char *bs__hub_store_backend(const bs_hub_store *s)
{
	return s->ops->name;
}

int bs__hub_conn_get(bs_hub_conn **out, bs_hub_store *s)
{
	bs_hub_conn *c = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->nidle > 0)
		c = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
	if (c != NULL) {
		*out = c;
		return BS_OK;
	}
	c = bs__calloc(1, sizeof(*c));
	if (c == NULL)
		return bs__error_code(BS_ENOMEM);
	c->store = s;
	if ((rc = s->ops->open(&c->h, s->where)) != BS_OK) {
		bs__free(c);
		return rc;
	}
	*out = c;
	return BS_OK;
}

void bs__hub_conn_put(bs_hub_conn *c)
{
	bs_hub_store *s;

	if (c == NULL)
		return;
	s = c->store;
	bs__hub_rollback(c);
	pthread_mutex_lock(&s->mu);
	if (s->nidle < POOL_MAX) {
		s->idle[s->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (c != NULL) {
		s->ops->close(c->h);
		bs__free(c);
	}
}

int bs__hub_begin(bs_hub_conn *c, int mode)
{
	int rc = c->store->ops->begin(c->h, mode);

	if (rc == BS_OK)
		c->in_tx = 1;
	return rc;
}

int bs__hub_commit(bs_hub_conn *c)
{
	int rc = c->store->ops->commit(c->h);

	if (rc != BS_OK)
		c->store->ops->rollback(c->h);
	c->in_tx = 0;
	return rc;
}

void bs__hub_rollback(bs_hub_conn *c)
{
	if (c->in_tx)
		c->store->ops->rollback(c->h);
	c->in_tx = 0;
}

int bs__hub_savepoint(bs_hub_conn *c)
{
	return c->store->ops->query(c->h, NULL, NULL, "SAVEPOINT op", NULL, 0);
}

int bs__hub_release(bs_hub_conn *c)
{
	return c->store->ops->query(c->h, NULL, NULL, "RELEASE SAVEPOINT op",
				    NULL, 0);
}

int bs__hub_undo(bs_hub_conn *c)
{
	int rc = c->store->ops->query(c->h, NULL, NULL,
				      "ROLLBACK TO SAVEPOINT op", NULL, 0);

	return rc != BS_OK ? rc : bs__hub_release(c);
}

int bs__hub_q(bs_hub_conn *c, struct bs_hub_res **res, int *changes,
	      const char *sql, const char *types, ...)
{
	struct bs_hub_val v[MAX_PARAMS];
	va_list ap;
	int n;

	if (res != NULL)
		*res = NULL;
	memset(v, 0, sizeof(v));
	va_start(ap, types);
	for (n = 0; types[n] != '\0'; n++) {
		if (n == MAX_PARAMS) {
			va_end(ap);
			return bs__error(BS_ERR, "too many SQL parameters");
		}
		if (types[n] == 't') {
			v[n].s = va_arg(ap, const char *);
		} else if (types[n] != 'i' && types[n] != 'n') {
			va_end(ap);
			return bs__error(BS_ERR, "SQL parameter type '%c' is "
					 "none of t, i, n", types[n]);
		} else {
			v[n].i = va_arg(ap, int64_t);
			v[n].is_int = !(types[n] == 'n' && v[n].i < 0);
		}
	}
	va_end(ap);
	return c->store->ops->query(c->h, res, changes, sql, v, n);
}

void bs__hub_res_free(struct bs_hub_res *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrows * r->ncols; i++)
		bs__free(r->cells[i]);
	bs__free(r->cells);
	bs__free(r);
}

const char *bs__hub_text(const struct bs_hub_res *r, int row, int col)
{
	if (r == NULL || row < 0 || row >= r->nrows || col < 0 ||
	    col >= r->ncols)
		return NULL;
	return r->cells[row * r->ncols + col];
}

int64_t bs__hub_int(const struct bs_hub_res *r, int row, int col,
		    int64_t dflt)
{
	const char *s = bs__hub_text(r, row, col);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return dflt;
	return v;
}

int bs__hub_next(bs_hub_conn *c, const char *name, int64_t *out)
{
	struct bs_hub_res *r = NULL;
	int rc;

	rc = bs__hub_q(c, &r, NULL, "UPDATE counter SET value = value + 1 "
		       "WHERE name = $1 RETURNING value", "t", name);
	if (rc != BS_OK)
		return rc;
	if (r->nrows != 1) {
		bs__hub_res_free(r);
		return bs__error(BS_EDAMAGED, "counter '%s' is missing",
				 name);
	}
	*out = bs__hub_int(r, 0, 0, 0);
	bs__hub_res_free(r);
	return BS_OK;
}

/*
 * Run a group of jobs in one write transaction, each inside a savepoint
 * of its own: a job that fails leaves no trace, the others are kept.
 * If the transaction itself fails (begin, a savepoint that cannot be
 * undone, commit), every job of the group gets that failure.
 */
static void run_group(bs_hub_store *s, struct job *group)
{
	bs_hub_conn *c = NULL;
	struct job *j;
	int rc;

	if ((rc = bs__hub_conn_get(&c, s)) == BS_OK)
		rc = bs__hub_begin(c, BS_HUB_WRITE);
	for (j = group; rc == BS_OK && j != NULL; j = j->next) {
		if ((rc = c->store->ops->query(c->h, NULL, NULL,
					       "SAVEPOINT job", NULL, 0)) !=
		    BS_OK)
			break;
		j->rc = j->fn(c, j->arg);
		if (j->rc != BS_OK)
			snprintf(j->msg, sizeof(j->msg), "%s",
				 bs_last_error());
		if (j->rc == BS_OK)
			rc = c->store->ops->query(c->h, NULL, NULL,
						  "RELEASE SAVEPOINT job",
						  NULL, 0);
		else if ((rc = c->store->ops->query(c->h, NULL, NULL,
				  "ROLLBACK TO SAVEPOINT job", NULL, 0)) ==
			 BS_OK)
			rc = c->store->ops->query(c->h, NULL, NULL,
						  "RELEASE SAVEPOINT job",
						  NULL, 0);
	}
	if (rc == BS_OK)
		rc = bs__hub_commit(c);
	if (rc != BS_OK) {
		for (j = group; j != NULL; j = j->next) {
			j->rc = rc;
			snprintf(j->msg, sizeof(j->msg), "%s",
				 bs_last_error());
		}
	}
	bs__hub_conn_put(c);
}

int bs__hub_write(bs_hub_store *s, int (*fn)(bs_hub_conn *c, void *arg),
		  void *arg)
{
	struct job me;

	memset(&me, 0, sizeof(me));
	me.fn = fn;
	me.arg = arg;

	pthread_mutex_lock(&s->gmu);
	*s->tail = &me;
	s->tail = &me.next;
	while (!me.done) {
		struct job *group, *j, **cut;
		int n;

		if (s->leading) {
			pthread_cond_wait(&s->gcv, &s->gmu);
			continue;
		}
		/* Lead: take what is queued, up to GROUP_MAX. */
		s->leading = 1;
		group = s->head;
		for (n = 1, cut = &group->next; *cut != NULL && n < GROUP_MAX;
		     n++)
			cut = &(*cut)->next;
		s->head = *cut;
		if (s->head == NULL)
			s->tail = &s->head;
		*cut = NULL;
		pthread_mutex_unlock(&s->gmu);
		run_group(s, group);
		pthread_mutex_lock(&s->gmu);
		for (j = group; j != NULL; j = j->next)
			j->done = 1;
		s->leading = 0;
		pthread_cond_broadcast(&s->gcv);
	}
	pthread_mutex_unlock(&s->gmu);
	/* The error was set in the thread that led the group. */
	if (me.rc != BS_OK)
		bs__error(me.rc, "%s", me.msg);
	return me.rc;
}
