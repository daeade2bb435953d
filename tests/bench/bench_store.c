/*
 * bench_store.c - `make bench`, store part: the same workload on plain
 * SQLite, on the branchsync store and on SQLCipher, side by side in one
 * run, printed as ratios to plain SQLite.
 *
 * Run without arguments it is the driver.  It makes a private folder
 * under $TMPDIR and starts one child process per engine: this program
 * with --engine plain and --engine store, and the SQLCipher peer, which
 * must be a program of its own because libsqlcipher exports SQLite's
 * symbols.  The peer also runs without a key, which makes it plain
 * SQLite 3.15.2: the control that separates SQLCipher's cipher from its
 * older SQLite.  The peer is looked for beside this program as
 * peer_sqlcipher, or where $BS_BENCH_SQLCIPHER says.
 *
 * The driver hands out the workload in steps (workload.h), engine after
 * engine, starting each round with the next engine, then removes the
 * folder and prints the tables.  It prints figures and never fails on
 * them: the targets are printed beside the ratios for the reader.  The
 * exit status is non-zero only if an engine could not run the workload.
 *
 * The file is divided into: the two engines of this program; the
 * children and the steps; the tables.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/version.h>
#include <sqlite3.h>

#include "agent/store/store_internal.h"
#include "branchsync.h"
#include "workload.h"

/* --- the engines of this program --------------------------------------- */

static void store_counters(void *ctx, wl_counters *out)
{
	bs__vfs_stats s;

	bs__vfs_stats_get(bs__store_vfs(ctx), &s);
	out->sealed = (int64_t)s.pages_sealed;
	out->opened = (int64_t)s.pages_opened;
	out->crypto_ns = (int64_t)s.crypto_ns;
}

/*
 * The branchsync store, made as the product makes it.  The key
 * derivation is calibrated to a few milliseconds: it runs once at open
 * and is not what is measured.  $BS_BENCH_CIPHER=chacha20-poly1305 (or
 * aes-256-gcm) forces the page cipher, to see here what the other one
 * costs; by default the store chooses by CPU, as in the product.
 */
static int run_store(const char *dir)
{
	const char *force = getenv("BS_BENCH_CIPHER");
	bs_store_opts opts = { 5, 0, 0 };
	bs_key key = { BS_KEY_PIN, "bench", "4711-bench", 10 };
	bs_store *st = NULL;
	const char *cipher = NULL;
	wl_engine e = { "store", NULL, store_counters, NULL };
	int rc = 1;

	if (force != NULL && strcmp(force, "chacha20-poly1305") == 0)
		opts.cipher = BS_CIPHER_CHACHA20POLY1305;
	else if (force != NULL && strcmp(force, "aes-256-gcm") == 0)
		opts.cipher = BS_CIPHER_AES256GCM;
	if (bs_store_create(&st, dir, &key, &opts) != BS_OK) {
		fprintf(stderr, "bench: store: %s\n", bs_last_error());
		return 1;
	}
	bs_store_cipher(st, &cipher);
	printf("info cipher %s (mbedTLS %s)\n", cipher ? cipher : "?",
	       MBEDTLS_VERSION_STRING);
	e.db = bs_store_db(st);
	e.ctx = st;
	if (wl_pragmas(e.db) == 0 &&
	    wl_serve(&e, bs__store_db_path(st), stdin, stdout) == 0)
		rc = 0;
	bs_store_close(st);
	return rc;
}

/* Plain SQLite, opened with the flags and settings the store uses. */
static int run_plain(const char *dir)
{
	char path[PATH_MAX];
	wl_engine e = { "plain", NULL, NULL, NULL };
	sqlite3 *db = NULL;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/plain.db", dir);
	if (mkdir(dir, 0700) != 0 ||
	    sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: plain: cannot open %s\n", path);
		sqlite3_close(db);
		return 1;
	}
	sqlite3_busy_timeout(db, 5000);
	printf("info cipher none\n");
	e.db = db;
	if (wl_pragmas(db) == 0 && wl_serve(&e, path, stdin, stdout) == 0)
		rc = 0;
	sqlite3_close(db);
	return rc;
}

/* --- the children and the steps ------------------------------------------ */

/* How the steps are cut and repeated. */
#define REPLY_STEPS 10 /* WL_REPLIES in this many turns */
#define READ_ROUNDS 9  /* passes of point reads; the fastest counts */
#define FTS_ROUNDS 8   /* passes of searches: the first, then warm ones */
#define MAX_PASSES 16

#define MAX_INFO 16

/* A phase: one step as a child printed it, or steps added up. */
typedef struct result {
	int have;
	long long ns;
	long long sealed;
	long long opened;
	long long crypto_ns;
	long long count;
	unsigned long long hits;
	long long frames;
	long long ckpts;
	long long ckpt_ns;
	long long ckpt_sealed;
	long long ckpt_opened;
	long long ckpt_crypto_ns;
} result;

enum { IMPORT, REPLIES, READS, FTS_FIRST, FTS, N_PHASES };

typedef struct engine {
	const char *name;
	const char *title;
	pid_t pid;
	FILE *to;
	FILE *from;
	int alive; /* started and answering */
	char info_key[MAX_INFO][32];
	char info_val[MAX_INFO][512];
	int n_info;
	result ph[N_PHASES];
	/* Every pass of the repeated phases, to show the machine's noise. */
	long long passes[N_PHASES][MAX_PASSES];
	int n_passes[N_PHASES];
} engine;

enum { PLAIN, STORE, PEER, CONTROL, N_ENGINES };

static const char *info(const engine *e, const char *key)
{
	int i;

	for (i = 0; i < e->n_info; i++)
		if (strcmp(e->info_key[i], key) == 0)
			return e->info_val[i];
	return NULL;
}

static void add_info(engine *e, char *line)
{
	char *key = line + 5;
	char *val = strchr(key, ' ');

	if (val == NULL || e->n_info >= MAX_INFO)
		return;
	*val++ = '\0';
	snprintf(e->info_key[e->n_info], sizeof(e->info_key[0]), "%.31s",
		 key);
	snprintf(e->info_val[e->n_info], sizeof(e->info_val[0]), "%.511s",
		 val);
	e->n_info++;
}

static int parse_phase(const char *line, result *r)
{
	char name[24];

	memset(r, 0, sizeof(*r));
	r->have = sscanf(line,
			 "phase %23s %lld %lld %lld %lld %lld %llu %lld %lld "
			 "%lld %lld %lld %lld",
			 name, &r->ns, &r->sealed, &r->opened, &r->crypto_ns,
			 &r->count, &r->hits, &r->frames, &r->ckpts,
			 &r->ckpt_ns, &r->ckpt_sealed, &r->ckpt_opened,
			 &r->ckpt_crypto_ns) == 13;
	return r->have ? 0 : -1;
}

/*
 * Read the child's lines up to "ok": info lines are kept, the phase line
 * (if any) goes to *step.  Returns 0 on "ok", -1 if the child failed or
 * left (it is then marked dead).
 */
static int answer(engine *e, result *step)
{
	char line[1024];

	if (step != NULL)
		memset(step, 0, sizeof(*step));
	while (fgets(line, sizeof(line), e->from) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "ok") == 0)
			return 0;
		if (strncmp(line, "info ", 5) == 0)
			add_info(e, line);
		else if (strncmp(line, "phase ", 6) == 0 && step != NULL)
			parse_phase(line, step);
		else if (strcmp(line, "error") == 0 || strcmp(line, "bye") == 0)
			break;
	}
	e->alive = 0;
	return -1;
}

/* Send cmd and wait for the answer; see answer(). */
static int ask(engine *e, const char *cmd, result *step)
{
	if (!e->alive)
		return -1;
	if (fprintf(e->to, "%s\n", cmd) < 0 || fflush(e->to) != 0) {
		e->alive = 0;
		return -1;
	}
	if (answer(e, step) != 0) {
		fprintf(stderr, "bench: %s failed at \"%s\"\n", e->title, cmd);
		return -1;
	}
	return 0;
}

/* Start "prog --engine e->name dir" and wait until it is set up. */
static void start(engine *e, const char *prog, const char *dir)
{
	int down[2];
	int up[2];

	e->alive = 0;
	if (pipe(down) != 0)
		return;
	if (pipe(up) != 0) {
		close(down[0]);
		close(down[1]);
		return;
	}
	fflush(stdout);
	e->pid = fork();
	if (e->pid == 0) {
		char *argv[] = { (char *)prog, (char *)"--engine",
				 (char *)e->name, (char *)dir, NULL };

		close(down[1]);
		close(up[0]);
		if (dup2(down[0], STDIN_FILENO) < 0 ||
		    dup2(up[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(down[0]);
		close(up[1]);
		execv(prog, argv);
		fprintf(stderr, "bench: cannot run %s: %s\n", prog,
			strerror(errno));
		_exit(127);
	}
	close(down[0]);
	close(up[1]);
	e->to = e->pid > 0 ? fdopen(down[1], "w") : NULL;
	e->from = e->pid > 0 ? fdopen(up[0], "r") : NULL;
	if (e->to == NULL || e->from == NULL) {
		if (e->to != NULL)
			fclose(e->to);
		else
			close(down[1]);
		if (e->from != NULL)
			fclose(e->from);
		else
			close(up[0]);
		e->to = e->from = NULL;
		return;
	}
	e->alive = 1;
	if (answer(e, NULL) != 0)
		fprintf(stderr, "bench: %s did not start\n", e->title);
}

static void stop(engine *e)
{
	if (e->to == NULL)
		return;
	if (e->alive) {
		fprintf(e->to, "quit\n");
		fflush(e->to);
	}
	fclose(e->to);
	fclose(e->from);
	waitpid(e->pid, NULL, 0);
	e->to = e->from = NULL;
}

static void add(result *sum, const result *r)
{
	sum->have = 1;
	sum->ns += r->ns;
	sum->sealed += r->sealed;
	sum->opened += r->opened;
	sum->crypto_ns += r->crypto_ns;
	sum->count += r->count;
	sum->hits += r->hits;
	sum->frames += r->frames;
	sum->ckpts += r->ckpts;
	sum->ckpt_ns += r->ckpt_ns;
	sum->ckpt_sealed += r->ckpt_sealed;
	sum->ckpt_opened += r->ckpt_opened;
	sum->ckpt_crypto_ns += r->ckpt_crypto_ns;
}

static void keep_fastest(result *best, const result *r)
{
	if (!best->have || r->ns < best->ns)
		*best = *r;
}

/*
 * One turn of cmd for every engine, starting with engine first: each
 * step's result is added to phase ph (or kept if it is the fastest).
 */
static void turn(engine *e, int first, const char *cmd, int ph, int fastest)
{
	int i;

	for (i = 0; i < N_ENGINES; i++) {
		engine *x = &e[(first + i) % N_ENGINES];
		result r;

		if (ask(x, cmd, &r) != 0 || !r.have)
			continue;
		if (fastest && x->n_passes[ph] < MAX_PASSES)
			x->passes[ph][x->n_passes[ph]++] = r.ns;
		if (fastest)
			keep_fastest(&x->ph[ph], &r);
		else
			add(&x->ph[ph], &r);
	}
}

static void progress(const char *what, int64_t t0)
{
	printf("  %-28s done at %5.1f s\n", what,
	       (double)(wl_now_ns() - t0) / 1e9);
	fflush(stdout);
}

static void run_steps(engine *e)
{
	char cmd[32];
	int64_t t0 = wl_now_ns();
	int r;
	int k;

	for (r = 0; r < WL_TICKETS / WL_TICKETS_PER_TX; r++)
		turn(e, r, "import", IMPORT, 0);
	turn(e, 0, "import_end", IMPORT, 0);
	progress("import", t0);
	snprintf(cmd, sizeof(cmd), "replies %d", WL_REPLIES / REPLY_STEPS);
	for (r = 0; r < REPLY_STEPS; r++)
		turn(e, r, cmd, REPLIES, 0);
	progress("single-reply transactions", t0);
	for (k = 0; k < N_ENGINES; k++)
		ask(&e[k], "warm", NULL);
	for (r = 0; r < READ_ROUNDS; r++)
		turn(e, r, "reads", READS, 1);
	progress("point reads", t0);
	turn(e, 0, "fts", FTS_FIRST, 0);
	for (r = 1; r < FTS_ROUNDS; r++)
		turn(e, r, "fts", FTS, 1);
	progress("full-text search", t0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rmrf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a;
	long long y = *(const long long *)b;

	return (x > y) - (x < y);
}

/*
 * Median time of a 4 KiB write and fdatasync() in dir, in nanoseconds,
 * or -1: what every commit with synchronous=FULL waits for at least, the
 * same on every engine.
 */
static long long sync_ns(const char *dir)
{
	char path[PATH_MAX + 16];
	char page[4096];
	long long t[100];
	int fd;
	int i;

	snprintf(path, sizeof(path), "%s/sync-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(page, 0x5a, sizeof(page));
	for (i = 0; i < 100; i++) {
		int64_t t0 = wl_now_ns();

		if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) !=
			    (ssize_t)sizeof(page) ||
		    fdatasync(fd) != 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		t[i] = wl_now_ns() - t0;
	}
	close(fd);
	unlink(path);
	qsort(t, 100, sizeof(t[0]), cmp_ll);
	return t[50];
}

/* --- the tables ---------------------------------------------------------- */

typedef struct row {
	int ph;
	const char *label;
	double store_target; /* store/plain at most this; 0 if none */
	int vs_peer;         /* store at least as fast as SQLCipher */
} row;

static const row rows[] = {
	{ IMPORT, "import 10,000 tickets", 2.00, 0 },
	{ REPLIES, "single-reply tx x2,000", 1.50, 1 },
	{ READS, "point reads x50,000", 1.10, 1 },
	{ FTS_FIRST, "full-text, first pass", 0, 0 },
	{ FTS, "full-text, warm", 0, 0 },
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static const result *phase_of(const engine *e, int ph)
{
	return e->ph[ph].have ? &e->ph[ph] : NULL;
}

static void cell_time(const result *r)
{
	if (r == NULL)
		printf(" %10s", "n/a");
	else if (r->ns >= 1000000000)
		printf(" %8.2f s", (double)r->ns / 1e9);
	else
		printf(" %7.1f ms", (double)r->ns / 1e6);
}

static double ratio(const result *num, const result *den)
{
	if (num == NULL || den == NULL || den->ns <= 0)
		return -1;
	return (double)num->ns / (double)den->ns;
}

static void cell_ratio(double r, int width)
{
	if (r < 0)
		printf(" %*s", width - 1, "n/a");
	else
		printf(" %*.2fx", width - 2, r);
}

/* "<= 1.50x met" or "<= 1.50x MISSED". */
static void target(char *buf, size_t cap, double r, double limit)
{
	if (r < 0)
		snprintf(buf, cap, "<= %.2fx", limit);
	else
		snprintf(buf, cap, "<= %.2fx %s", limit,
			 r <= limit ? "met" : "MISSED");
}

static void print_header(const engine *e, long long sync)
{
	const char *ref = info(&e[PLAIN], "pragmas");
	const char *text = info(&e[PLAIN], "text_bytes");
	const char *nrows = info(&e[PLAIN], "rows");
	int same = ref != NULL;
	int k;

	printf("\n");
	for (k = 0; k < N_ENGINES; k++) {
		const char *v = info(&e[k], "sqlite");
		const char *c = info(&e[k], "cipher");
		const char *p = info(&e[k], "pragmas");

		if (v == NULL)
			printf("  %-9s did not run\n", e[k].name);
		else
			printf("  %-9s SQLite %s, %s\n", e[k].name, v,
			       c ? c : "?");
		if (v != NULL && (p == NULL || ref == NULL || strcmp(p, ref)))
			same = 0;
	}
	if (same) {
		printf("  on every engine, opened with the same flags:\n"
		       "   %s\n", ref);
	} else {
		for (k = 0; k < N_ENGINES; k++)
			if (info(&e[k], "pragmas") != NULL)
				printf("  %-9s %s\n", e[k].name,
				       info(&e[k], "pragmas"));
	}
	printf("  SQLCipher: cipher_page_size=4096 (its default is 1024), "
	       "raw key, no KDF\n");
	printf("  full-text: FTS4 (unicode61) on every engine: SQLCipher "
	       "3.4.1 is SQLite 3.15.2,\n  which has no FTS5 (the store's "
	       "own schema uses FTS5 with trigrams)\n");
	if (text != NULL && nrows != NULL) {
		printf("  data: %s rows, %.1f MB of text; after the import "
		       "the database is\n ",
		       nrows, strtod(text, NULL) / 1e6);
		for (k = 0; k < N_ENGINES; k++) {
			const char *b = info(&e[k], "db_bytes_after_import");

			if (b != NULL)
				printf(" %.1f MB (%s)%s",
				       strtod(b, NULL) / 1e6, e[k].name,
				       k + 1 < N_ENGINES ? "," : "");
		}
		printf("\n");
	}
	if (sync >= 0)
		printf("  a 4 KiB write + fdatasync in $TMPDIR: %.2f ms "
		       "(median of 100)\n",
		       (double)sync / 1e6);
}

/* How much slower the median pass of phase ph was than the fastest, in
 * percent, or -1: the noise of the machine during that phase. */
static double spread(const engine *e, int ph)
{
	long long t[MAX_PASSES];
	int n = e->n_passes[ph];

	if (n < 2 || !e->ph[ph].have)
		return -1;
	memcpy(t, e->passes[ph], sizeof(t[0]) * (size_t)n);
	qsort(t, (size_t)n, sizeof(t[0]), cmp_ll);
	return t[0] > 0 ? 100.0 * (double)(t[n / 2] - t[0]) / (double)t[0]
			: -1;
}

static void print_spread(const engine *e, const char *label, int ph)
{
	int k;

	printf("%-24s", label);
	for (k = 0; k < N_ENGINES; k++) {
		double v = spread(&e[k], ph);

		if (v < 0)
			printf(" %10s", "n/a");
		else
			printf(" %8.1f %%", v);
	}
	printf("\n");
}

static void print_times(const engine *e)
{
	const result *fts = phase_of(&e[PLAIN], FTS);
	const char *nq = info(&e[PLAIN], "fts_queries");
	size_t i;
	int k;

	printf("\n%-24s", "time");
	for (k = 0; k < N_ENGINES; k++)
		printf(" %10s", e[k].name);
	printf("\n");
	for (i = 0; i < N_ROWS; i++) {
		printf("%-24s", rows[i].label);
		for (k = 0; k < N_ENGINES; k++)
			cell_time(phase_of(&e[k], rows[i].ph));
		printf("\n");
	}
	printf("  import: %d transactions of %d tickets (~5 timeline "
	       "entries each), then a\n  TRUNCATE checkpoint.  Replies: "
	       "automatic checkpoints included.  Reads:\n  fastest of %d "
	       "passes after a warm-up.  Full-text: %s queries on "
	       "tickets\n  and timelines, %lld rows listed; warm = fastest "
	       "of %d further passes.\n  Steps handed out in turns, engine "
	       "after engine.\n",
	       WL_TICKETS / WL_TICKETS_PER_TX, WL_TICKETS_PER_TX,
	       READ_ROUNDS, nq ? nq : "?", fts ? fts->count : 0LL,
	       FTS_ROUNDS - 1);
	printf("\n%-24s\n", "median pass over fastest");
	print_spread(e, "  point reads", READS);
	print_spread(e, "  full-text, warm", FTS);
	printf("  (the machine's noise: differences of this size between "
	       "engines mean nothing)\n");
}

static void print_ratios(const engine *e)
{
	size_t i;

	printf("\n%-24s %8s %-15s %10s %10s\n", "", "store/", "",
	       "sqlcipher/", "store/");
	printf("%-24s %8s %-15s %10s %10s  %s\n", "ratio", "plain",
	       " target", "plain", "sqlcipher", "target");
	for (i = 0; i < N_ROWS; i++) {
		const result *p = phase_of(&e[PLAIN], rows[i].ph);
		const result *s = phase_of(&e[STORE], rows[i].ph);
		const result *c = phase_of(&e[PEER], rows[i].ph);
		char t1[32] = "";
		char t2[32] = "";

		if (rows[i].store_target > 0)
			target(t1, sizeof(t1), ratio(s, p),
			       rows[i].store_target);
		if (rows[i].vs_peer)
			target(t2, sizeof(t2), ratio(s, c), 1.0);
		printf("%-24s", rows[i].label);
		cell_ratio(ratio(s, p), 9);
		printf(" %-15s", t1);
		cell_ratio(ratio(c, p), 11);
		cell_ratio(ratio(s, c), 11);
		printf("%s%s\n", *t2 ? "  " : "", t2);
	}

	printf("\n%-24s %10s %10s\n", "control", "sqlcipher/",
	       "sqlite315/");
	printf("%-24s %10s %10s\n", "", "sqlite315", "plain");
	for (i = 0; i < N_ROWS; i++) {
		printf("%-24s", rows[i].label);
		cell_ratio(ratio(phase_of(&e[PEER], rows[i].ph),
				 phase_of(&e[CONTROL], rows[i].ph)),
			   11);
		cell_ratio(ratio(phase_of(&e[CONTROL], rows[i].ph),
				 phase_of(&e[PLAIN], rows[i].ph)),
			   11);
		printf("\n");
	}
	printf("  sqlcipher/sqlite315: SQLCipher's cost over the SQLite it is "
	       "built on;\n  sqlite315/plain: SQLite 3.15.2 against 3.40.1, "
	       "no cipher on either.\n");
}

/* One line of the per-transaction table; a negative value is "-". */
static void per_tx(const char *label, const double v[N_ENGINES],
		   const char *fmt)
{
	int k;

	printf("%-30s", label);
	for (k = 0; k < N_ENGINES; k++) {
		printf(" ");
		if (v[k] < 0)
			printf("%10s", "-");
		else
			printf(fmt, v[k]);
	}
	printf("\n");
}

static void print_replies(const engine *e)
{
	double t[N_ENGINES];
	double ckpt[N_ENGINES];
	double frames[N_ENGINES];
	double sealed[N_ENGINES];
	double opened[N_ENGINES];
	double crypto[N_ENGINES];
	int k;

	printf("\n%-30s", "single reply, per transaction");
	for (k = 0; k < N_ENGINES; k++) {
		const result *r = phase_of(&e[k], REPLIES);
		double n = r && r->count > 0 ? (double)r->count : 0;
		int cipher = n > 0 && r->sealed >= 0;

		printf(" %10s", e[k].name);
		t[k] = n > 0 ? (double)r->ns / 1e6 / n : -1;
		ckpt[k] = n > 0 ? (double)r->ckpt_ns / 1e6 / n : -1;
		frames[k] = n > 0 ? (double)r->frames / n : -1;
		sealed[k] = cipher ? (double)r->sealed / n : -1;
		opened[k] = cipher ? (double)r->opened / n : -1;
		crypto[k] = cipher ? (double)r->crypto_ns / 1e6 / n : -1;
	}
	printf("\n");
	per_tx("  time (ms)", t, "%10.3f");
	per_tx("  of which in checkpoints (ms)", ckpt, "%10.3f");
	per_tx("  WAL frames written", frames, "%10.1f");
	per_tx("  pages sealed", sealed, "%10.1f");
	per_tx("  pages opened", opened, "%10.1f");
	per_tx("  page cipher (ms)", crypto, "%10.3f");
}

static void crypto_line(const char *label, long long ns, long long sealed,
			long long opened, long long crypto_ns,
			long long excess_ns)
{
	long long pages = sealed + opened;

	printf("%-26s %8lld %8lld %9.1f", label, sealed, opened,
	       (double)crypto_ns / 1e6);
	if (pages > 0)
		printf(" %8.1f", (double)crypto_ns / 1e3 / (double)pages);
	else
		printf(" %8s", "-");
	if (ns > 0)
		printf(" %7.0f%%", 100.0 * (double)crypto_ns / (double)ns);
	else
		printf(" %8s", "-");
	if (excess_ns > 0)
		printf(" %8.0f%%",
		       100.0 * (double)crypto_ns / (double)excess_ns);
	else
		printf(" %9s", "-");
	printf("\n");
}

static void print_crypto(const engine *e)
{
	const char *cipher = info(&e[STORE], "cipher");
	long long sealed = 0;
	long long opened = 0;
	long long cns = 0;
	size_t i;

	if (!phase_of(&e[STORE], IMPORT))
		return;
	printf("\nstore page cipher: %s\n", cipher ? cipher : "?");
	printf("%-26s %8s %8s %9s %8s %8s %9s\n", "", "pages", "pages",
	       "crypto", "", "of store", "of excess");
	printf("%-26s %8s %8s %9s %8s %8s %9s\n", "", "sealed", "opened",
	       "(ms)", "us/page", "time", "on plain");
	for (i = 0; i < N_ROWS; i++) {
		const result *s = phase_of(&e[STORE], rows[i].ph);
		const result *p = phase_of(&e[PLAIN], rows[i].ph);

		if (s == NULL || s->sealed < 0)
			continue;
		crypto_line(rows[i].label, s->ns, s->sealed, s->opened,
			    s->crypto_ns, p ? s->ns - p->ns : 0);
		if (s->ckpts > 0)
			crypto_line("  in checkpoints", s->ckpt_ns,
				    s->ckpt_sealed, s->ckpt_opened,
				    s->ckpt_crypto_ns, 0);
		if (rows[i].ph != FTS_FIRST) {
			sealed += s->sealed;
			opened += s->opened;
			cns += s->crypto_ns;
		}
	}
	if (sealed + opened > 0)
		printf("%-26s %8lld %8lld %9.1f %8.1f\n", "all timed phases",
		       sealed, opened, (double)cns / 1e6,
		       (double)cns / 1e3 / (double)(sealed + opened));
	printf("  us/page = crypto_ns / (pages sealed + opened), from "
	       "bs__vfs_stats (the nonce\n  from the OS included); of "
	       "excess = crypto / (store time - plain time).\n");
}

/* Every engine must have read the same data as plain SQLite. */
static void check_answers(const engine *e)
{
	size_t i;
	int k;

	for (i = 0; i < N_ROWS; i++) {
		const result *p = phase_of(&e[PLAIN], rows[i].ph);

		for (k = STORE; k < N_ENGINES && p != NULL; k++) {
			const result *r = phase_of(&e[k], rows[i].ph);

			if (r != NULL && r->hits != p->hits)
				printf("  note: %s: %s's checksum %llu, "
				       "plain's %llu\n",
				       rows[i].label, e[k].name, r->hits,
				       p->hits);
		}
	}
}

static int driver(const char *self)
{
	engine e[N_ENGINES] = {
		{ .name = "plain", .title = "plain SQLite" },
		{ .name = "store", .title = "the branchsync store" },
		{ .name = "sqlcipher", .title = "SQLCipher" },
		{ .name = "sqlite315", .title = "SQLCipher without a key" },
	};
	char root[PATH_MAX];
	char dir[PATH_MAX + 16];
	char peer[PATH_MAX];
	char keystore[PATH_MAX + 16];
	const char *tmp = getenv("TMPDIR");
	const char *env_peer = getenv("BS_BENCH_SQLCIPHER");
	const char *slash = strrchr(self, '/');
	long long sync;
	int rc = 0;
	int k;

	/* A child that dies must not take the driver with it. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "%s/bs-bench-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("bench: mkdtemp");
		return 1;
	}
	/* The store must never touch the user's key store. */
	snprintf(keystore, sizeof(keystore), "%s/keystore", root);
	setenv("BRANCHSYNC_KEYSTORE", keystore, 1);
	if (env_peer && *env_peer)
		snprintf(peer, sizeof(peer), "%s", env_peer);
	else
		snprintf(peer, sizeof(peer), "%.*speer_sqlcipher",
			 slash ? (int)(slash - self + 1) : 0, self);

	printf("branchsync store benchmark: plain SQLite, the store, "
	       "SQLCipher, SQLite 3.15\n");
	sync = sync_ns(root);
	for (k = 0; k < N_ENGINES; k++) {
		snprintf(dir, sizeof(dir), "%s/%s", root, e[k].name);
		if (k >= PEER && access(peer, X_OK) != 0) {
			printf("  %s is not built: no %s column\n", peer,
			       e[k].name);
			continue;
		}
		start(&e[k], k >= PEER ? peer : self, dir);
		if (!e[k].alive)
			rc = 1;
	}
	run_steps(e);
	for (k = 0; k < N_ENGINES; k++) {
		/* An engine that stopped half-way has no figures. */
		if (e[k].to != NULL && !e[k].alive) {
			memset(e[k].ph, 0, sizeof(e[k].ph));
			rc = 1;
		}
		stop(&e[k]);
	}
	rmrf(root);
	print_header(e, sync);
	print_times(e);
	print_ratios(e);
	print_replies(e);
	print_crypto(e);
	check_answers(e);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--engine") == 0) {
		if (strcmp(argv[2], "plain") == 0)
			return run_plain(argv[3]);
		if (strcmp(argv[2], "store") == 0)
			return run_store(argv[3]);
		fprintf(stderr, "bench: unknown engine %s\n", argv[2]);
		return 2;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}
	return driver(argv[0]);
}
