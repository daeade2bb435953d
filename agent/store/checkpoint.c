/*
 * checkpoint.c - a store's WAL checkpoints on a thread of their own
 * (see checkpoint.h).
 *
 * The writer's WAL hook, which SQLite calls after every commit with the
 * number of pages in the log, only raises a flag under the mutex; the
 * thread waits for the flag and runs one passive checkpoint for however
 * many commits raised it meanwhile.
 */
#include <pthread.h>
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "checkpoint.h"

struct bs__ckpt {
	sqlite3 *writer;
	char *path;
	char *vfs;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu: */
	int started;       /* the thread runs */
	int in_place;      /* no thread: the hook checkpoints itself */
	int wanted;        /* a commit asked for a checkpoint */
	int stop;
	int busy;          /* a checkpoint is under way */
	unsigned long runs;
	sqlite3 *db;       /* the thread's, during a checkpoint */
};

static int limit = BS__CKPT_LIMIT;

void bs__ckpt_set_limit(int pages)
{
	limit = pages > 0 ? pages : BS__CKPT_LIMIT;
}

/* Open the thread's connection; 0 if it cannot be.  It is closed after
 * each checkpoint: held between them, it would keep the writer from
 * what needs the only connection (leaving WAL mode, for one). */
static int own_connection(bs__ckpt *c)
{
	if (sqlite3_open_v2(c->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    c->vfs) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(c->db, 5000);
	/* A connection opens the WAL only when it first reads; until then
	 * it would not know the file is in WAL mode, and a checkpoint would
	 * do nothing. */
	if (sqlite3_exec(c->db, "PRAGMA temp_store=MEMORY;"
			 "PRAGMA schema_version", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	return 1;
fail:
	sqlite3_close(c->db);
	c->db = NULL;
	return 0;
}

static void *run(void *arg)
{
	bs__ckpt *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->wanted && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->wanted = 0;
		c->busy = 1;
		pthread_mutex_unlock(&c->mu);
		if (!own_connection(c)) {
			pthread_mutex_lock(&c->mu);
			c->busy = 0;
			c->in_place = 1;
			pthread_cond_broadcast(&c->cv);
			break;
		}
		/* SQLITE_BUSY (another connection is checkpointing) and
		 * errors leave the pages in the WAL for the next try. */
		(void)sqlite3_wal_checkpoint_v2(c->db, "main",
						SQLITE_CHECKPOINT_PASSIVE,
						NULL, NULL);
		sqlite3_close(c->db);
		c->db = NULL;
		pthread_mutex_lock(&c->mu);
		c->busy = 0;
		c->runs++;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	bs__ckpt *c = arg;
	unsigned long until;
	int in_place;

	if (pages < BS__CKPT_PAGES)
		return SQLITE_OK;
	pthread_mutex_lock(&c->mu);
	if (!c->started && !c->in_place) {
		if (pthread_create(&c->thread, NULL, run, c) == 0)
			c->started = 1;
		else
			c->in_place = 1;
	}
	c->wanted = 1;
	pthread_cond_broadcast(&c->cv);
	/* Past the limit, wait for a checkpoint that starts after this
	 * commit: the one under way may have started before it. */
	if (pages >= limit) {
		until = c->runs + (c->busy ? 2 : 1);
		while (c->runs < until && !c->in_place && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
	}
	in_place = c->in_place;
	pthread_mutex_unlock(&c->mu);
	/* What SQLite's own hook does; its result is not the commit's. */
	if (in_place)
		(void)sqlite3_wal_checkpoint(db, name);
	return SQLITE_OK;
}

int bs__ckpt_start(bs__ckpt **out, sqlite3 *db, const char *path,
		   const char *vfs)
{
	bs__ckpt *c;

	*out = NULL;
	c = bs__calloc(1, sizeof(*c));
	if (c == NULL)
		return bs__error_code(BS_ENOMEM);
	c->writer = db;
	c->path = bs__strdup(path);
	c->vfs = bs__strdup(vfs);
	if (c->path == NULL || c->vfs == NULL ||
	    pthread_mutex_init(&c->mu, NULL) != 0) {
		bs__free(c->path);
		bs__free(c->vfs);
		bs__free(c);
		return bs__error_code(BS_ENOMEM);
	}
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		bs__free(c->path);
		bs__free(c->vfs);
		bs__free(c);
		return bs__error_code(BS_ENOMEM);
	}
	sqlite3_wal_hook(db, hook, c);
	*out = c;
	return BS_OK;
}

void bs__ckpt_stop(bs__ckpt *c)
{
	int started;

	if (c == NULL)
		return;
	sqlite3_wal_autocheckpoint(c->writer, BS__CKPT_PAGES);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	started = c->started;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (started)
		pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	bs__free(c->path);
	bs__free(c->vfs);
	bs__free(c);
}

unsigned long bs__ckpt_runs(bs__ckpt *c)
{
	unsigned long n;

	pthread_mutex_lock(&c->mu);
	n = c->runs;
	pthread_mutex_unlock(&c->mu);
	return n;
}
