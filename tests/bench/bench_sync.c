/*
 * bench_sync.c - `make bench`, sync part: one manager device against a
 * real branchsync-hub (SQLite) on loopback TLS.  Head office imports a
 * generated export of a 10,000-ticket branch with the customers' earlier
 * complaints (tests/support/gen.h); the device enrolls with branch scope
 * and then three things are measured: the initial sync of the whole
 * branch (pulled operations applied a second, wall time, bytes on the
 * wire), a delta sync after head office reassigned 1 % of the tickets
 * (its bytes as a share of the initial sync's, which carried a full
 * snapshot of the same data), and a push of 1,000 replies written on
 * the device (wall time, operations a second).  It prints figures with
 * the targets beside them and never fails on them; the exit status is
 * non-zero only if a step could not run.
 *
 * Bytes on the wire are the request and answer bodies as libcurl sent
 * and received them, deflated (CURLINFO_SIZE_UPLOAD_T and _DOWNLOAD_T,
 * read after every curl_easy_perform(), which is wrapped at link time);
 * HTTP headers are counted beside them.  TLS framing is not counted.
 * Beside each round, to say where its time went: the time spent inside
 * requests (the hub and the link), the hub's CPU time (/proc), and the
 * SQL statements the device's store ran with SQLite's time running them
 * (sqlite3_trace_v2()).
 *
 * Everything lives in one private folder (tu_tempdir()), removed at
 * exit and on SIGINT/SIGTERM; the hub is a child that also receives
 * SIGTERM if this process dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "branchsync/sync.h"
#include "branchsync/tickets.h"
#include "gen.h"
#include "testutil.h"

#define TICKETS 10000
#define CHANGED (TICKETS / 100)
#define REPLIES 1000
#define BRANCH "BR01"
#define MANAGER "m1"
#define TARGET_APPLIED 10000.0 /* pulled operations a second */
#define TARGET_DELTA 0.02      /* delta bytes / full snapshot bytes */

/* --- bytes on the wire --------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct wire {
	long long up, down;       /* bodies, as sent */
	long long up_hdr, dn_hdr; /* request and answer headers */
	long requests;
	double secs;              /* inside curl_easy_perform() */
	double hub_cpu;           /* the hub's CPU seconds meanwhile */
	double dev_cpu;           /* this process's, every thread */
	double apply_cpu;         /* the thread that applies pages */
};

static struct wire wire;

CURLcode __real_curl_easy_perform(CURL *c);
CURLcode __wrap_curl_easy_perform(CURL *c);

CURLcode __wrap_curl_easy_perform(CURL *c)
{
	curl_off_t up = 0, down = 0;
	long req = 0, hdr = 0;
	CURLcode cc;
	double t0 = now_s();

	cc = __real_curl_easy_perform(c);
	wire.secs += now_s() - t0;
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &req);
	curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &hdr);
	wire.up += (long long)up;
	wire.down += (long long)down;
	wire.up_hdr += req;
	wire.dn_hdr += hdr;
	wire.requests++;
	return cc;
}

/* --- SQL on the device ------------------------------------------------ */

/* Statements the device's store ran (triggers' programs apart) and the
 * time SQLite spent running them, preparation excluded. */
struct sql {
	long stmts, triggers;
	double secs;
};

static struct sql sql;

static int sql_trace(unsigned type, void *ud, void *p, void *x)
{
	const char *text;

	(void)ud;
	if (type == SQLITE_TRACE_STMT) {
		text = (const char *)x;
		if (text != NULL && strncmp(text, "--", 2) == 0)
			sql.triggers++;
		else
			sql.stmts++;
	} else if (type == SQLITE_TRACE_PROFILE) {
		(void)p;
		sql.secs += (double)*(sqlite3_int64 *)x / 1e9;
	}
	return 0;
}

/* --- processes and the folder --------------------------------------- */

static char tmp[512];
static char hub_bin[700];
static char hub_dir[700];
static pid_t hub_pid;

static void hub_stop(void)
{
	int st;

	if (hub_pid > 0) {
		kill(hub_pid, SIGTERM);
		waitpid(hub_pid, &st, 0);
		hub_pid = 0;
	}
}

static void cleanup(void)
{
	hub_stop();
	if (tmp[0] != '\0') {
		tu_rmrf(tmp);
		tmp[0] = '\0';
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Run branchsync-hub with argv (NULL-terminated, without the program);
 * the first line of its standard output to out (may be NULL).  Returns
 * its exit status, or -1.
 */
static int hub_run(char *out, size_t cap, const char *const *argv)
{
	const char *args[16];
	char buf[512];
	int fd[2], st, n = 0;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	args[n++] = hub_bin;
	while (*argv != NULL && n < 15)
		args[n++] = *argv++;
	args[n] = NULL;
	if (pipe(fd) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execv(hub_bin, (char *const *)args);
		_exit(127);
	}
	close(fd[1]);
	while ((r = read(fd[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
	       (r < 0 && errno == EINTR)) {
		if (r > 0 && len + (size_t)r < sizeof(buf) - 1)
			len += (size_t)r;
	}
	close(fd[0]);
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (out != NULL && cap > 0) {
		len = strlen(buf) < cap ? strlen(buf) : cap - 1;
		memcpy(out, buf, len);
		out[len] = '\0';
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Start the hub on a free loopback port; its URL to url. */
static int hub_start(char *url, size_t cap)
{
	char line[256] = "", *p;
	int fd[2];
	FILE *f;

	if (pipe(fd) != 0)
		return -1;
	hub_pid = fork();
	if (hub_pid < 0)
		return -1;
	if (hub_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execl(hub_bin, hub_bin, "serve", "--dir", hub_dir, "--listen",
		      "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	p = strstr(line, "https://127.0.0.1:");
	if (p == NULL)
		return -1;
	/* The certificate names localhost. */
	snprintf(url, cap, "https://localhost:%d",
		 atoi(p + strlen("https://127.0.0.1:")));
	return 0;
}

/* --- head office's side ------------------------------------------- */

/* The branch's ticket ids with their assignees, from the hub's
 * database, ordered by id.  Returns how many, or -1. */
static int hub_tickets(char (*ids)[40], char (*who)[24], int cap)
{
	char path[800];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/hub.db", hub_dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT id, coalesce(assignee, '') FROM "
			       "ticket WHERE branch = '" BRANCH "' ORDER BY "
			       "id", -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	while (n < cap && sqlite3_step(s) == SQLITE_ROW) {
		snprintf(ids[n], 40, "%s", sqlite3_column_text(s, 0));
		snprintf(who[n], 24, "%s", sqlite3_column_text(s, 1));
		n++;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* The hub's CPU time so far, in seconds (user and system). */
static double hub_cpu(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, stime = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)hub_pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's name, in parentheses: fields 3 onwards;
	 * utime and stime are fields 14 and 15. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %lu %lu", &ut, &stime) != 2)
		return 0;
	return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* --- figures ---------------------------------------------------------- */

static void kib(const char *label, long long bytes)
{
	printf("  %-34s %12.1f KiB\n", label, (double)bytes / 1024.0);
}

static void wire_print(const struct wire *w)
{
	kib("bytes up (bodies, deflated)", w->up);
	kib("bytes down (bodies, deflated)", w->down);
	kib("headers up + down", w->up_hdr + w->dn_hdr);
	printf("  %-34s %12ld\n", "requests", w->requests);
	printf("  %-34s %12.2f s\n", "inside requests (hub, link)",
	       w->secs);
	printf("  %-34s %12.2f s\n", "the hub's CPU time", w->hub_cpu);
	printf("  %-34s %12.2f s (applying thread %.2f s)\n",
	       "the device's CPU time", w->dev_cpu, w->apply_cpu);
}

static void sql_print(unsigned long ops)
{
	printf("  %-34s %12ld (%.1f per operation)\n",
	       "SQL statements run on the device", sql.stmts,
	       ops > 0 ? (double)sql.stmts / (double)ops : 0.0);
	printf("  %-34s %12ld\n", "trigger programs run", sql.triggers);
	printf("  %-34s %12.2f s\n", "SQLite running them (no prepare)",
	       sql.secs);
}

static bs_sync_opts sync_opts(void)
{
	bs_sync_opts o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 5000;
	o.timeout_ms = 60000;
	return o;
}

static double cpu_s(clockid_t which)
{
	struct timespec ts;

	clock_gettime(which, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed round; the wire counters start from zero. */
static int round_timed(bs_store **st, bs_sync_report *rep, double *secs)
{
	bs_sync_opts o = sync_opts();
	double t0, cpu0, dev0, app0;
	int rc;

	memset(&wire, 0, sizeof(wire));
	memset(&sql, 0, sizeof(sql));
	memset(rep, 0, sizeof(*rep));
	cpu0 = hub_cpu();
	dev0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	app0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_s();
	rc = bs_sync_round(st, &o, rep);
	*secs = now_s() - t0;
	wire.apply_cpu = cpu_s(CLOCK_THREAD_CPUTIME_ID) - app0;
	wire.dev_cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - dev0;
	wire.hub_cpu = hub_cpu() - cpu0;
	if (rc != BS_OK)
		fprintf(stderr, "bench: sync: %s\n", bs_last_error());
	return rc;
}

static const char *staff[] = { "s1", "s2", "s3", "s4", "s5", "s6",
				     "s7", "s8", NULL };

int main(void)
{
	static char ids[TICKETS][40], who[TICKETS][24];
	char self[512], path[800], url[128], code[128], dev[800];
	struct gen_opts g = { 20261122, TICKETS, BRANCH, staff, 0, 1 };
	struct wire full, delta;
	bs_sync_opts so = sync_opts();
	bs_sync_report rep;
	bs_store_opts sto;
	bs_store *st = NULL;
	bs_key key;
	double t0, secs, gen_s, import_s, assign_s;
	int i, n, rc = 1;
	ssize_t len;
	FILE *f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = '\0';
	/* BUILD/tests/bench/bench_sync -> BUILD/branchsync-hub */
	for (i = 0; i < 3; i++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	if (access(hub_bin, X_OK) != 0) {
		fprintf(stderr, "bench: no hub at %s\n", hub_bin);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp, sizeof(tmp), "%s", tu_tempdir());
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(hub_dir, sizeof(hub_dir), "%s/hub", tmp);
	snprintf(dev, sizeof(dev), "%s/device", tmp);

	printf("sync benchmark: one manager device, a %d-ticket branch, "
	       "hub on SQLite over loopback TLS\n", TICKETS);

	/* Head office: a hub and the branch's export. */
	{
		const char *a[] = { "init", "--dir", hub_dir, NULL };

		if (hub_run(NULL, 0, a) != 0) {
			fprintf(stderr, "bench: hub init failed\n");
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/export.jsonl", tmp);
	t0 = now_s();
	g.now_ms = (int64_t)time(NULL) * 1000;
	f = fopen(path, "w");
	if (f == NULL || gen_export(f, &g) != 0) {
		fprintf(stderr, "bench: cannot write the export\n");
		if (f != NULL)
			fclose(f);
		return 1;
	}
	fclose(f);
	gen_s = now_s() - t0;
	t0 = now_s();
	{
		const char *a[] = { "import", "--dir", hub_dir, path, NULL };

		if (hub_run(NULL, 0, a) != 0) {
			fprintf(stderr, "bench: hub import failed\n");
			return 1;
		}
	}
	import_s = now_s() - t0;
	n = hub_tickets(ids, who, TICKETS);
	if (n < TICKETS) {
		fprintf(stderr, "bench: the hub holds %d tickets of %s\n", n,
			BRANCH);
		return 1;
	}
	printf("  export generated in %.2f s, imported by the hub in "
	       "%.2f s\n", gen_s, import_s);
	if (hub_start(url, sizeof(url)) != 0) {
		fprintf(stderr, "bench: the hub did not start\n");
		return 1;
	}

	/* The manager's device, enrolled with branch scope. */
	{
		const char *a[] = { "enroll-code", "--dir", hub_dir,
				    "--branch", BRANCH, "--staff", MANAGER,
				    "--role", "manager", NULL };

		if (hub_run(code, sizeof(code), a) != 0 || code[0] == '\0') {
			fprintf(stderr, "bench: no enrollment code\n");
			return 1;
		}
	}
	memset(&sto, 0, sizeof(sto));
	sto.kdf_ms = TEST_KDF_MS;
	key = tu_pin(MANAGER, TEST_PIN);
	if (bs_store_create(&st, dev, &key, &sto) != BS_OK ||
	    bs_tickets_init(st, MANAGER, BRANCH, "manager") != BS_OK ||
	    bs_sync_enroll(st, url, code, &so) != BS_OK) {
		fprintf(stderr, "bench: device: %s\n", bs_last_error());
		goto out;
	}

	sqlite3_trace_v2(bs_store_db(st), SQLITE_TRACE_STMT |
			 SQLITE_TRACE_PROFILE, sql_trace, NULL);

	/* (1) The initial sync of the whole branch. */
	if (round_timed(&st, &rep, &secs) != BS_OK)
		goto out;
	full = wire;
	printf("\ninitial sync (%lu pages, %lu tickets)\n", rep.pages,
	       rep.tickets);
	printf("  %-34s %12lu\n", "pulled operations applied",
	       rep.changes);
	printf("  %-34s %12.2f s\n", "wall time", secs);
	printf("  %-34s %12.0f /s   (target >= %.0f /s)\n",
	       "pulled operations applied", (double)rep.changes / secs,
	       TARGET_APPLIED);
	printf("  %-34s %12.0f /s\n", "  per second of the device's CPU",
	       (double)rep.changes / wire.dev_cpu);
	wire_print(&full);
	sql_print(rep.changes);

	/* (2) Head office changes 1 % of the tickets: each reassigned
	 * within the branch, so it stays in the manager's scope. */
	t0 = now_s();
	for (i = 0; i < CHANGED; i++) {
		int k = i * (TICKETS / CHANGED);
		const char *to = staff[0];
		int j;

		for (j = 0; staff[j] != NULL; j++)
			if (strcmp(staff[j], who[k]) == 0) {
				to = staff[j + 1] != NULL ? staff[j + 1]
							  : staff[0];
				break;
			}
		{
			const char *a[] = { "assign", "--dir", hub_dir, ids[k],
					    "--branch", BRANCH, "--staff", to,
					    NULL };

			if (hub_run(NULL, 0, a) != 0) {
				fprintf(stderr, "bench: assign %s failed\n",
					ids[k]);
				goto out;
			}
		}
	}
	assign_s = now_s() - t0;
	if (round_timed(&st, &rep, &secs) != BS_OK)
		goto out;
	delta = wire;
	printf("\ndelta sync after head office reassigned %d tickets "
	       "(1 %%, in %.2f s)\n", CHANGED, assign_s);
	printf("  %-34s %12lu\n", "pulled operations applied",
	       rep.changes);
	printf("  %-34s %12.3f s\n", "wall time", secs);
	wire_print(&delta);
	printf("  %-34s %12.2f %%  (target <= %.0f %%)\n",
	       "bytes, share of the full snapshot",
	       100.0 * (double)(delta.up + delta.down) /
		       (double)(full.up + full.down),
	       100.0 * TARGET_DELTA);
	printf("  %-34s %12.2f %%\n", "  with headers",
	       100.0 * (double)(delta.up + delta.down + delta.up_hdr +
				delta.dn_hdr) /
		       (double)(full.up + full.down + full.up_hdr +
				full.dn_hdr));

	/* (3) 1,000 replies written on the device, then one sync. */
	t0 = now_s();
	for (i = 0; i < REPLIES; i++) {
		char text[200];

		snprintf(text, sizeof(text), "Called the customer back (%d): "
			 "the fee was refunded on the spot and the case "
			 "explained; the customer accepted.", i);
		if (bs_ticket_add(st, ids[(i * 7) % TICKETS], BS_ACT_REPLY,
				  text, NULL) != BS_OK) {
			fprintf(stderr, "bench: reply: %s\n",
				bs_last_error());
			goto out;
		}
	}
	secs = now_s() - t0;
	printf("\npush of %d replies (written in %.2f s, %.0f /s)\n",
	       REPLIES, secs, REPLIES / secs);
	if (round_timed(&st, &rep, &secs) != BS_OK)
		goto out;
	printf("  %-34s %12lu (applied %lu, merged %lu, rejected %lu)\n",
	       "operations answered", rep.pushed, rep.applied, rep.merged,
	       rep.rejected);
	printf("  %-34s %12.2f s\n", "wall time of the sync", secs);
	printf("  %-34s %12.0f /s\n", "pushed operations",
	       (double)rep.pushed / secs);
	wire_print(&wire);
	sql_print(rep.pushed);
	rc = 0;
out:
	if (st != NULL)
		bs_store_close(st);
	cleanup();
	return rc;
}
