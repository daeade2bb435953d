/*
 * bench_hub.c - `make bench`, hub part: simulated devices (hub_load.h)
 * syncing with branchsync-hub on SQLite, on PostgreSQL, and with two
 * hub processes sharing one PostgreSQL database, at 100 and at 1,000
 * devices at once.  It prints sync rounds and requests per second, the
 * median and 99th percentile latency of push and of pull, where the
 * machine's CPU went, and ratios between the set-ups, with the targets
 * beside them.  It prints figures and never fails on them; the exit
 * status is non-zero only if a set-up could not run.
 *
 * Each set-up gets a hub folder of its own (`init`, its certificate
 * also naming HL_HOST_PATTERN, the devices' names for it), a head-office
 * export of the devices' tickets (`import`) and one enrollment code per
 * device, written straight into the hub's database through the hub's
 * own store layer (a thousand `enroll-code` runs take most of a minute
 * a set-up).  The devices then enroll over the protocol, catch up
 * from cursor 0, and run two phases at each size: a closed loop, where
 * a device syncs again as soon as its round ends (what the hub can
 * do), and a paced one, where rounds are offered at the target rate,
 * or at a share of what the closed loop reached if that is less (what
 * latency devices see at a load the hub keeps up with).  A hundred
 * devices run before the other nine hundred are enrolled, so that the
 * small case is not served next to nine hundred idle connections.
 * The CPU time of this process, of the hubs and of the whole machine is
 * taken over each measured window: the hub's CPU time a round is the
 * figure that other work on the machine disturbs least.
 *
 * Everything listens on 127.0.0.1 only.  The hubs are children that
 * receive SIGTERM if this process dies; the PostgreSQL server is
 * tests/support/pg.h's, stopped at exit and on signals; the folder is
 * removed in both cases.
 *
 * Settings, from the environment: BS_BENCH_HUB_SECONDS (measured
 * seconds a phase, default 6), BS_BENCH_HUB_WARM (warm-up seconds a
 * phase, default 2), BS_BENCH_HUB_RATE (the paced rate, default the
 * target, 1000 rounds a second), BS_BENCH_HUB_ONLY (sqlite, postgres or
 * two-hubs: that set-up alone), BS_BENCH_HUB_THREADS (the hub's
 * --threads, default 8, the hub's own).
 *
 * The file is divided into: processes (the hubs and the admin
 * commands); a hub's database made ready; CPU accounting; the set-ups;
 * the tables.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>

#include "agent/core/common.h"
#include "agent/core/wire.h"
#include "hub/store.h"
#include "platform/os.h"
#include "hub_load.h"
#include "pg.h"
#include "testutil.h"

#define DEVICES_SMALL 100
#define DEVICES_LARGE 1000
#define TARGET_ROUNDS 1000.0 /* rounds a second, on this machine */
#define TARGET_P99_MS 100.0  /* at DEVICES_LARGE */
#define HUB_START_MS 30000
/* A paced phase offers at most this share of what the closed loop
 * reached: a load the hub can keep up with, where latency means
 * something rather than growing with the length of the run. */
#define SUSTAINED 0.5

enum { SIZES = 2, MODES = 2 };
static const int sizes[SIZES] = { DEVICES_SMALL, DEVICES_LARGE };
static const char *const mode_names[MODES] = { "closed", "paced" };

/*
 * The phases of a set-up in the order they run: size, mode (0 closed,
 * 1 paced).  The large paced phase takes its rate from the small closed
 * loop, so that the large closed loop can run last and leave its
 * thousand requests in flight unanswered when it ends, rather than
 * wait seconds for them.
 */
static const int order[][2] = { { 0, 0 }, { 0, 1 }, { 1, 1 }, { 1, 0 } };
#define NPHASES ((int)(sizeof(order) / sizeof(order[0])))

struct setup {
	const char *name;  /* as BS_BENCH_HUB_ONLY names it */
	const char *title;
	int postgres, nhubs;
	int ran;           /* 1: every phase ran */
	double enroll_rate[SIZES];
	int hub_fds;       /* the most a hub had open, sampled */
	struct hl_result res[SIZES][MODES];
	double offered[SIZES][MODES]; /* rounds/s; 0: closed loop */
	/* CPU time over wall time: this process, the hubs, PostgreSQL,
	 * the rest of the machine. */
	double cpu_gen[SIZES][MODES], cpu_hub[SIZES][MODES];
	double cpu_db[SIZES][MODES], cpu_other[SIZES][MODES];
};

static struct setup setups[] = {
	{ .name = "sqlite", .title = "SQLite, 1 hub", .nhubs = 1 },
	{ .name = "postgres", .title = "PostgreSQL, 1 hub", .postgres = 1,
	  .nhubs = 1 },
	{ .name = "two-hubs", .title = "PostgreSQL, 2 hubs", .postgres = 1,
	  .nhubs = 2 },
};
#define NSETUPS ((int)(sizeof(setups) / sizeof(setups[0])))

static char tmp[512];     /* this run's folder */
static char hub_bin[600];
static pid_t hubs[HL_MAX_HUBS];
static pid_t postmaster; /* tests/support/pg.h's server, once found */
static double secs = 6, warm = 2, rate = TARGET_ROUNDS;
static int threads = 8;
static struct sigaction old_act[3];
static const int caught[3] = { SIGINT, SIGTERM, SIGHUP };

/* --- processes ------------------------------------------------------ */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void stop_hubs(void)
{
	int i, k, st;

	for (i = 0; i < HL_MAX_HUBS; i++) {
		if (hubs[i] <= 0)
			continue;
		kill(hubs[i], SIGTERM);
		for (k = 0; k < 200; k++) {
			if (waitpid(hubs[i], &st, WNOHANG) != 0)
				break;
			sleep_ms(50);
		}
		if (k == 200) {
			kill(hubs[i], SIGKILL);
			waitpid(hubs[i], &st, 0);
		}
		hubs[i] = 0;
	}
}

/* At exit, whatever way main ends: hubs, then the folder. */
static void cleanup(void)
{
	stop_hubs();
	if (tmp[0] != '\0') {
		tu_rmrf(tmp);
		tmp[0] = '\0';
	}
}

/*
 * Interrupted: the hubs and the folder go (only system calls that are
 * safe in a handler), then the handler that was there before runs -
 * pg.c's, which stops the server and re-raises - or the default.
 */
static void on_signal(int sig)
{
	int i;

	for (i = 0; i < HL_MAX_HUBS; i++)
		if (hubs[i] > 0)
			kill(hubs[i], SIGKILL);
	if (tmp[0] != '\0') {
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", tmp, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	for (i = 0; i < 3; i++) {
		if (caught[i] != sig)
			continue;
		if (old_act[i].sa_handler != SIG_DFL &&
		    old_act[i].sa_handler != SIG_IGN &&
		    old_act[i].sa_handler != on_signal) {
			old_act[i].sa_handler(sig);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Put on_signal in front of whatever handles the signals now, unless
 * it is there already. */
static void hook_signals(void)
{
	struct sigaction sa, cur;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++)
		if (sigaction(caught[i], NULL, &cur) == 0 &&
		    cur.sa_handler != on_signal)
			sigaction(caught[i], &sa, &old_act[i]);
}

/*
 * Run branchsync-hub with argv (NULL-terminated, without the program),
 * --dir and --db (when db is not empty) added; its output goes to
 * tmp/admin.log, shown if it fails.  0, or -1.
 */
static int hub_cmd(const char *dir, const char *db, const char *const *argv)
{
	const char *args[16];
	char log[600], line[300];
	int n = 0, st, fd;
	pid_t pid;
	FILE *f;

	args[n++] = hub_bin;
	while (*argv != NULL && n < 10)
		args[n++] = *argv++;
	args[n++] = "--dir";
	args[n++] = dir;
	if (db[0] != '\0') {
		args[n++] = "--db";
		args[n++] = db;
	}
	args[n] = NULL;
	snprintf(log, sizeof(log), "%s/admin.log", tmp);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close_range(3, ~0U, 0);
		execv(hub_bin, (char *const *)args);
		_exit(127);
	}
	close(fd);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "bench: branchsync-hub %s failed:\n", args[1]);
	if ((f = fopen(log, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			fprintf(stderr, "  %s", line);
		fclose(f);
	}
	return -1;
}

/*
 * Start hub k serving dir on db (empty: its SQLite file) on a free
 * port of 127.0.0.1; the port into *port.  Its standard error goes to
 * dir/hubK.log.  0, or -1.
 */
static int start_hub(int k, const char *dir, const char *db, int *port)
{
	char t[8], log[800], line[256] = "", *p;
	const char *args[16];
	struct pollfd pfd;
	size_t len = 0;
	pid_t parent = getpid();
	int fd[2], n = 0, efd;

	snprintf(t, sizeof(t), "%d", threads);
	args[n++] = hub_bin;
	args[n++] = "serve";
	args[n++] = "--dir";
	args[n++] = dir;
	if (db[0] != '\0') {
		args[n++] = "--db";
		args[n++] = db;
	}
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--threads";
	args[n++] = t;
	args[n] = NULL;
	snprintf(log, sizeof(log), "%s/hub%d.log", dir, k);
	if ((efd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
		return -1;
	if (pipe(fd) != 0) {
		close(efd);
		return -1;
	}
	hubs[k] = fork();
	if (hubs[k] == 0) {
		dup2(fd[1], 1);
		dup2(efd, 2);
		/* Nothing of ours, above all no device's socket. */
		close_range(3, ~0U, 0);
		/* A benchmark that dies takes its hubs with it. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(126);
		execv(hub_bin, (char *const *)args);
		_exit(127);
	}
	close(fd[1]);
	close(efd);
	if (hubs[k] < 0) {
		hubs[k] = 0;
		close(fd[0]);
		return -1;
	}
	/* The first line says where it listens. */
	pfd.fd = fd[0];
	pfd.events = POLLIN;
	while (strchr(line, '\n') == NULL && len + 1 < sizeof(line)) {
		ssize_t got;

		if (poll(&pfd, 1, HUB_START_MS) != 1)
			break;
		got = read(fd[0], line + len, sizeof(line) - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		line[len] = '\0';
	}
	close(fd[0]);
	p = strstr(line, "https://127.0.0.1:");
	if (p == NULL) {
		fprintf(stderr, "bench: hub %d did not start: %s\n", k,
			line);
		return -1;
	}
	*port = atoi(p + strlen("https://127.0.0.1:"));
	return *port > 0 ? 0 : -1;
}

/* The last lines hub k of dir wrote on its standard error, to
 * stderr. */
static void show_hub_log(const char *dir, int k)
{
	char path[800], lines[8][300];
	int n = 0, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/hub%d.log", dir, k);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(lines[n % 8], sizeof(lines[0]), f) != NULL)
		n++;
	fclose(f);
	if (n > 0)
		fprintf(stderr, "bench: the last of hub %d's %d lines of "
			"log:\n", k, n);
	for (i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "  %s", lines[i % 8]);
}

/* Descriptors process pid has open; -1 if unknown. */
static int open_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* --- a hub's database made ready ------------------------------------ */

/*
 * The head-office export: for each device a customer and HL_TICKETS
 * tickets in progress, assigned to it; a few catalogue lines.
 */
static int write_export(const char *path, int n)
{
	FILE *f = fopen(path, "w");
	char id[48], br[16], st[16];
	int i, k;

	if (f == NULL)
		return -1;
	fprintf(f, "{\"type\":\"header\",\"format\":\"branchsync-export\","
		"\"version\":1}\n"
		"{\"type\":\"category\",\"code\":\"ATM\",\"name\":\"ATM\"}\n"
		"{\"type\":\"category\",\"code\":\"FEE\",\"name\":\"Fees\"}\n"
		"{\"type\":\"category\",\"code\":\"QUEUE\",\"name\":"
		"\"Waiting time\"}\n");
	for (i = 0; i < n; i++) {
		hl_branch(br, sizeof(br), i);
		hl_staff(st, sizeof(st), i);
		fprintf(f, "{\"type\":\"customer\",\"id\":\"C-%d\","
			"\"name_masked\":\"Customer %d*\",\"phone_masked\":"
			"\"138****%04d\",\"branch\":\"%s\"}\n", i, i, i % 10000,
			br);
		for (k = 0; k < HL_TICKETS; k++) {
			hl_ticket_id(id, sizeof(id), i, k);
			fprintf(f, "{\"type\":\"ticket\",\"id\":\"%s\","
				"\"ref\":\"VOC-%d-%d\",\"customer_id\":"
				"\"C-%d\",\"channel\":\"phone\",\"status\":"
				"\"in_progress\",\"subject\":\"ATM kept the "
				"card\",\"category\":\"ATM\",\"branch\":\"%s\","
				"\"assignee\":\"%s\",\"t0_ms\":%lld}\n", id, i,
				k, i, br, st,
				(long long)bs_os_now_ms() - 3600000);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* The DER of the CA certificate in PEM file path, in *der (free it). */
static int ca_der(gnutls_datum_t *der, const char *path)
{
	gnutls_datum_t pem = { NULL, 0 };
	int rc;

	der->data = NULL;
	if (gnutls_load_file(path, &pem) < 0)
		return -1;
	rc = gnutls_pem_base64_decode2("CERTIFICATE", &pem, der) < 0 ? -1 : 0;
	gnutls_free(pem.data);
	return rc;
}

/*
 * One enrollment code for each of the fleet's n devices, valid a day,
 * written into the database where (the hub's store) in one
 * transaction, exactly as `enroll-code` writes one: the hash of the
 * code and the MAC of the CA under its secret.  0, or -1.
 */
static int make_codes(hl_fleet *f, int n, const char *where,
		      const char *ca_file)
{
	bs_hub_store *st = NULL;
	bs_hub_conn *c = NULL;
	gnutls_datum_t der = { NULL, 0 };
	char (*ids)[BS__WIRE_CODE_ID_CHARS + 1] = calloc((size_t)n,
							 sizeof(*ids));
	char text[BS__WIRE_CODE_TEXT_LEN + 1], secret[32], hex[65], mac[65];
	char br[16], sf[16];
	uint8_t rnd[BS__WIRE_CODE_RANDOM_LEN], h[32];
	int64_t now = bs_os_now_ms();
	int i, k, rc = -1;

	if (ids == NULL || ca_der(&der, ca_file) != 0 ||
	    bs__hub_store_open(&st, where) != BS_OK ||
	    bs__hub_conn_get(&c, st) != BS_OK ||
	    bs__hub_begin(c, 1) != BS_OK)
		goto cleanup;
	for (i = 0; i < n; i++) {
		/* The id part has 20 bits: draw again on a clash. */
		do {
			if (bs_os_random(rnd, sizeof(rnd)) != BS_OK)
				goto cleanup;
			bs__wire_code_make(text, ids[i], secret, rnd);
			for (k = 0; k < i; k++)
				if (strcmp(ids[k], ids[i]) == 0)
					break;
		} while (k < i);
		bs__wire_code_hash(h, ids[i], secret);
		bs__wire_hex(hex, h, 32);
		bs__wire_ca_mac(h, secret, der.data, der.size);
		bs__wire_hex(mac, h, 32);
		hl_branch(br, sizeof(br), i);
		hl_staff(sf, sizeof(sf), i);
		if (bs__hub_q(c, NULL, NULL, "INSERT INTO enroll_code (id, "
			      "hash, ca_mac, branch, staff, role, created_ms, "
			      "expires_ms) VALUES ($1, $2, $3, $4, $5, "
			      "'staff', $6, $7)", "tttttii", ids[i], hex, mac,
			      br, sf, now, now + 86400000) != BS_OK)
			goto cleanup;
		hl_fleet_code(f, i, text);
	}
	if (bs__hub_commit(c) == BS_OK)
		rc = 0;
cleanup:
	if (rc != 0)
		fprintf(stderr, "bench: cannot write enrollment codes: %s\n",
			bs_last_error());
	bs__hub_conn_put(c);
	bs__hub_store_close(st);
	gnutls_free(der.data);
	free(ids);
	return rc;
}

/* --- CPU accounting ------------------------------------------------- */

/* CPU time in seconds: this process, the hubs, PostgreSQL, the
 * machine. */
struct cpu {
	double self, hub, db, busy;
};

static double ticks(void)
{
	static double hz;

	if (hz == 0)
		hz = (double)sysconf(_SC_CLK_TCK);
	return hz;
}

/* utime + stime of pid, in seconds, and its parent; 0 if it cannot
 * be read. */
static double proc_cpu(pid_t pid, pid_t *parent)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, stime = 0;
	int ppid = 0;
	FILE *f;
	size_t n;

	if (parent != NULL)
		*parent = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 4, 14 and 15, counted after the command's closing
	 * paren (the command may hold spaces). */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu", &ppid, &ut, &stime) != 3)
		return 0;
	if (parent != NULL)
		*parent = ppid;
	return (double)(ut + stime) / ticks();
}

/*
 * The PostgreSQL server of the URL url (its postmaster, the process
 * started with "-p PORT"); 0 if not found.  Other servers may run on
 * the machine: the port tells ours.
 */
static pid_t find_postmaster(const char *url)
{
	const char *colon = strrchr(url, ':');
	char path[300], buf[4096], port[16];
	struct dirent *e;
	pid_t found = 0;
	DIR *d;

	if (colon == NULL || (d = opendir("/proc")) == NULL)
		return 0;
	snprintf(port, sizeof(port), "%d", atoi(colon + 1));
	while (found == 0 && (e = readdir(d)) != NULL) {
		size_t n;
		char *p;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* Arguments end in NUL: "-p" and the port, one after the
		 * other. */
		for (p = buf; p < buf + n; p += strlen(p) + 1)
			if (strcmp(p, "-p") == 0 && p + 3 < buf + n &&
			    strcmp(p + 3, port) == 0 &&
			    strstr(buf, "postgres") != NULL)
				found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return found;
}

/* CPU time of the postmaster and its children (the backends). */
static double postgres_cpu(void)
{
	struct dirent *e;
	double sum = 0;
	DIR *d;

	if (postmaster <= 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		pid_t pid, parent;
		double t;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		t = proc_cpu(pid, &parent);
		if (pid == postmaster || parent == postmaster)
			sum += t;
	}
	closedir(d);
	return sum;
}

/* Busy time of all CPUs of the machine, in seconds. */
static double machine_busy(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int got;

	if (f == NULL)
		return 0;
	got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		     &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (got != 8)
		return 0;
	/* user nice system idle iowait irq softirq steal: all but idle
	 * and iowait. */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks();
}

static void cpu_now(struct cpu *c)
{
	struct rusage ru;
	int i;

	getrusage(RUSAGE_SELF, &ru);
	c->self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	c->hub = 0;
	for (i = 0; i < HL_MAX_HUBS; i++)
		if (hubs[i] > 0)
			c->hub += proc_cpu(hubs[i], NULL);
	c->db = postgres_cpu();
	c->busy = machine_busy();
}

/* The window of one phase: CPU at its start and its end. */
struct probe {
	struct cpu start, end;
	int fds;
};

static void window(void *ctx, int begin)
{
	struct probe *p = ctx;
	int i, n;

	cpu_now(begin ? &p->start : &p->end);
	if (begin)
		return;
	for (i = 0; i < HL_MAX_HUBS; i++)
		if (hubs[i] > 0 && (n = open_fds(hubs[i])) > p->fds)
			p->fds = n;
}

/* --- the set-ups ---------------------------------------------------- */

static double per_sec(const struct hl_result *r, long v)
{
	return r->secs > 0 ? (double)v / r->secs : 0;
}

static void progress(const struct setup *s, int k, int m)
{
	const struct hl_result *r = &s->res[k][m];

	printf("  %-19s %4d %-6s %5.0f rounds/s %5.0f req/s %5.0f ops/s; "
	       "round p50 %.0f ms, p99 %.0f ms%s\n", s->title, sizes[k],
	       mode_names[m], per_sec(r, r->rounds), per_sec(r, r->requests),
	       per_sec(r, r->ops), r->round.p50, r->round.p99,
	       r->errors ? " (errors)" : "");
}

/* Enroll devices have to n - 1; note their rate. */
static int enroll(hl_fleet *f, struct setup *s, int k, int have, int n)
{
	double t = 0;

	if (hl_fleet_enroll(f, have, n, &t) != 0)
		return -1;
	s->enroll_rate[k] = t > 0 ? (n - have) / t : 0;
	return 0;
}

static int run_setup(hl_fleet *f, struct setup *s, int idx,
		     const char *export_path)
{
	char dir[700], db[600], where[800], ca[800], name[16];
	int ports[HL_MAX_HUBS];
	const char *init_argv[] = { "init", "--host", HL_HOST_PATTERN, NULL };
	const char *import_argv[] = { "import", export_path, NULL };
	int i, k, m, rc = -1;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, s->name);
	if (mkdir(dir, 0700) != 0)
		return -1;
	db[0] = '\0';
	if (s->postgres) {
		snprintf(name, sizeof(name), "bench%d", idx);
		if (tu_pg_start() != 0 ||
		    tu_pg_createdb(db, sizeof(db), name) != 0)
			return -1;
		if (postmaster == 0)
			postmaster = find_postmaster(db);
		/* pg.c has set its handlers; ours go in front again. */
		hook_signals();
		snprintf(where, sizeof(where), "%s", db);
	} else {
		snprintf(where, sizeof(where), "%s/hub.db", dir);
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	if (hub_cmd(dir, db, init_argv) != 0 ||
	    hub_cmd(dir, db, import_argv) != 0 ||
	    make_codes(f, DEVICES_LARGE, where, ca) != 0)
		return -1;
	for (i = 0; i < s->nhubs; i++)
		if (start_hub(i, dir, db, &ports[i]) != 0)
			goto cleanup;
	if (hl_fleet_target(f, ports, s->nhubs, ca) != 0)
		goto cleanup;
	for (i = 0; i < NPHASES; i++) {
		struct hl_phase ph;
		struct probe p;
		struct hl_result *r;
		double wall;

		k = order[i][0];
		m = order[i][1];
		r = &s->res[k][m];
		if ((i == 0 || order[i - 1][0] != k) &&
		    enroll(f, s, k, k > 0 ? sizes[k - 1] : 0, sizes[k]) != 0)
			goto cleanup;
		memset(&ph, 0, sizeof(ph));
		memset(&p, 0, sizeof(p));
		ph.devices = sizes[k];
		if (m == 1) {
			const struct hl_result *c = &s->res[k][0];

			if (c->rounds == 0)
				c = &s->res[0][0];
			ph.rate = per_sec(c, c->rounds) * SUSTAINED;
			if (ph.rate > rate)
				ph.rate = rate;
			if (ph.rate < 1)
				ph.rate = 1;
		}
		s->offered[k][m] = ph.rate;
		ph.warm_secs = warm;
		ph.secs = secs;
		ph.last = i == NPHASES - 1;
		ph.window = window;
		ph.ctx = &p;
		if (hl_fleet_run(f, &ph, r) != 0)
			goto cleanup;
		wall = r->secs > 0 ? r->secs : 1;
		s->cpu_gen[k][m] = (p.end.self - p.start.self) / wall;
		s->cpu_hub[k][m] = (p.end.hub - p.start.hub) / wall;
		s->cpu_db[k][m] = (p.end.db - p.start.db) / wall;
		s->cpu_other[k][m] = (p.end.busy - p.start.busy) / wall -
				     s->cpu_gen[k][m] - s->cpu_hub[k][m] -
				     s->cpu_db[k][m];
		if (s->cpu_other[k][m] < 0)
			s->cpu_other[k][m] = 0;
		if (p.fds > s->hub_fds)
			s->hub_fds = p.fds;
		progress(s, k, m);
	}
	s->ran = 1;
	rc = 0;
cleanup:
	hl_fleet_close(f);
	if (rc != 0)
		for (i = 0; i < s->nhubs; i++)
			show_hub_log(dir, i);
	stop_hubs();
	return rc;
}

/* --- the tables ----------------------------------------------------- */

/*
 * CPU time a round of phase (k, m), in seconds, of the hubs (db 0) or
 * of PostgreSQL (db 1); 0 if unknown.
 */
static double cost(const struct setup *s, int k, int m, int db)
{
	double rs = per_sec(&s->res[k][m], s->res[k][m].rounds);

	if (rs <= 0)
		return 0;
	return (db ? s->cpu_db[k][m] : s->cpu_hub[k][m]) / rs;
}

static void print_table(void)
{
	int i, k, m;

	printf("\n%-5s %-6s %7s %6s %6s %13s %13s %4s %11s %19s\n", "", "",
	       "offered", "rounds", "req", "push ms", "pull ms", "",
	       "CPU ms", "CPU %");
	printf("%-5s %-6s %7s %6s %6s %13s %13s %4s %11s %19s\n", "dev",
	       "mode", "/s", "/s", "/s", "p50    p99", "p50    p99", "err",
	       "hub    db", "sim  hub   db rest");
	for (i = 0; i < NSETUPS; i++) {
		const struct setup *s = &setups[i];

		if (!s->ran)
			continue;
		printf("%s\n", s->title);
		for (k = 0; k < SIZES; k++)
			for (m = 0; m < MODES; m++) {
				const struct hl_result *r = &s->res[k][m];
				char off[16] = "-";

				if (s->offered[k][m] > 0)
					snprintf(off, sizeof(off), "%.0f",
						 s->offered[k][m]);
				printf("%5d %-6s %7s %6.0f %6.0f %6.0f %6.0f "
				       "%6.0f %6.0f %4ld %5.2f %5.2f %4.0f "
				       "%4.0f %4.0f %4.0f\n", sizes[k],
				       mode_names[m], off,
				       per_sec(r, r->rounds),
				       per_sec(r, r->requests), r->push.p50,
				       r->push.p99, r->pull.p50, r->pull.p99,
				       r->errors, cost(s, k, m, 0) * 1000,
				       cost(s, k, m, 1) * 1000,
				       s->cpu_gen[k][m] * 100,
				       s->cpu_hub[k][m] * 100,
				       s->cpu_db[k][m] * 100,
				       s->cpu_other[k][m] * 100);
			}
	}
}

static void print_notes(void)
{
	int i, k, m;

	printf("\n  A round: a push of 1 to 3 replies or notes on the "
	       "device's tickets, then a pull\n  from its cursor.  closed: "
	       "each device syncs again as soon as its round ends\n  (what "
	       "the hub can do; it warms up until 90%% of the devices have "
	       "synced once).\n  paced: rounds offered at %.0f/s, or at "
	       "%.0f%% of what the closed loop of %d devices\n  reached if "
	       "that is lower (a load the hub keeps up with), each device "
	       "once every\n  N / offered seconds.\n", rate, SUSTAINED * 100,
	       DEVICES_SMALL);
	printf("  %.0f s measured after %.0f s of warm-up a phase; hub "
	       "--threads %d; TLS 1.3 keep-alive,\n  HTTP/1.1, the hub's "
	       "CA pinned.  CPU ms: CPU time a round.  CPU %%: of one core "
	       "(%ld\n  here); sim = these devices, hub = the hub "
	       "processes, db = PostgreSQL, rest = the\n  rest of the "
	       "machine (other work there lowers every figure).\n", secs,
	       warm, threads, sysconf(_SC_NPROCESSORS_ONLN));
	for (i = 0; i < NSETUPS; i++) {
		const struct setup *s = &setups[i];
		long conns = 0;

		if (!s->ran)
			continue;
		for (k = 0; k < SIZES; k++)
			for (m = 0; m < MODES; m++)
				conns += s->res[k][m].connects;
		printf("  %s: %.0f enrollments/s; up to %d descriptors open "
		       "in a hub;\n    %ld connections opened while "
		       "measuring", s->title, s->enroll_rate[SIZES - 1],
		       s->hub_fds, conns);
		for (k = 0; k < SIZES; k++)
			if (s->res[k][1].late > 0)
				printf("; %d paced: %ld rounds started "
				       "late", sizes[k], s->res[k][1].late);
		printf("\n");
		for (k = 0; k < SIZES; k++)
			for (m = 0; m < MODES; m++)
				if (s->res[k][m].errors > 0)
					printf("    %d %s: %ld errors, the "
					       "first: %s\n", sizes[k],
					       mode_names[m],
					       s->res[k][m].errors,
					       s->res[k][m].first_error);
	}
	printf("  Each device keeps its own connection.\n");
}

/* One line of ratios: a / b at each size, of what get gives. */
static void ratio_line(const char *label, const struct setup *a,
		       const struct setup *b,
		       double (*get)(const struct setup *, int))
{
	int k;

	printf("%-36s", label);
	for (k = 0; k < SIZES; k++) {
		double x = a->ran ? get(a, k) : 0, y = b->ran ? get(b, k) : 0;

		if (x > 0 && y > 0)
			printf(" %9.2fx", x / y);
		else
			printf(" %10s", "n/a");
	}
	printf("\n");
}

/* What ratio_line() compares: closed-loop figures at size k. */
static double get_rounds(const struct setup *s, int k)
{
	return per_sec(&s->res[k][0], s->res[k][0].rounds);
}

static double get_requests(const struct setup *s, int k)
{
	return per_sec(&s->res[k][0], s->res[k][0].requests);
}

static double get_cost(const struct setup *s, int k)
{
	return cost(s, k, 0, 0) + cost(s, k, 0, 1);
}

static double get_p99(const struct setup *s, int k)
{
	return s->res[k][0].push.p99;
}

static void print_ratios(void)
{
	const struct setup *lite = &setups[0], *pg = &setups[1];
	const struct setup *two = &setups[2];
	int k;

	printf("\n%-36s", "ratios, closed loop");
	for (k = 0; k < SIZES; k++)
		printf(" %6d dev", sizes[k]);
	printf("\n");
	ratio_line("rounds/s, PostgreSQL / SQLite", pg, lite, get_rounds);
	ratio_line("requests/s, PostgreSQL / SQLite", pg, lite, get_requests);
	ratio_line("CPU a round, PostgreSQL / SQLite", pg, lite, get_cost);
	ratio_line("push p99, PostgreSQL / SQLite", pg, lite, get_p99);
	ratio_line("rounds/s, 2 hubs / 1 hub", two, pg, get_rounds);
	ratio_line("requests/s, 2 hubs / 1 hub", two, pg, get_requests);
	ratio_line("CPU a round, 2 hubs / 1 hub", two, pg, get_cost);
	ratio_line("push p99, 2 hubs / 1 hub", two, pg, get_p99);
}

static void print_targets(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int i, k, m;

	printf("\ntargets: >= %.0f sync rounds/s on this machine; p99 < "
	       "%.0f ms at %d devices\n", TARGET_ROUNDS, TARGET_P99_MS,
	       DEVICES_LARGE);
	for (i = 0; i < NSETUPS; i++) {
		const struct setup *s = &setups[i];
		const struct hl_result *paced = &s->res[SIZES - 1][1];
		double best = 0, least = 0, off = s->offered[SIZES - 1][1];
		double p99;

		if (!s->ran)
			continue;
		/* The best rate of any phase, and the least CPU time the
		 * hubs and PostgreSQL spent on a round. */
		for (k = 0; k < SIZES; k++)
			for (m = 0; m < MODES; m++) {
				double c = cost(s, k, m, 0) + cost(s, k, m, 1);
				const struct hl_result *r = &s->res[k][m];

				if (per_sec(r, r->rounds) > best)
					best = per_sec(r, r->rounds);
				if (c > 0 && (least == 0 || c < least))
					least = c;
			}
		/* The large paced phase is the load the target speaks of;
		 * it is met only at the target's rate. */
		p99 = paced->push.p99 > paced->pull.p99 ? paced->push.p99 :
							  paced->pull.p99;
		printf("  %-19s %5.0f rounds/s: %-6s  p99 %.0f ms at %d "
		       "devices, %.0f rounds/s: %s\n", s->title, best,
		       best >= TARGET_ROUNDS ? "met" : "missed", p99,
		       DEVICES_LARGE, off, p99 < TARGET_P99_MS &&
		       paced->rounds > 0 && off >= TARGET_ROUNDS ? "met" :
		       "missed");
		if (least > 0)
			printf("  %-19s server CPU %.2f ms a round: at most "
			       "%.0f rounds/s with all %ld CPUs\n", "",
			       least * 1000, (double)ncpu / least, ncpu);
	}
}

/* --- main ----------------------------------------------------------- */

static double env_num(const char *name, double dflt, double lo, double hi)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (v == NULL || *v == '\0')
		return dflt;
	d = strtod(v, &end);
	if (*end != '\0' || d < lo || d > hi) {
		fprintf(stderr, "bench: %s must be a number from %g to %g; "
			"using %g\n", name, lo, hi, dflt);
		return dflt;
	}
	return d;
}

/*
 * A thousand devices hold a thousand sockets here and as many in the
 * hub, which inherits the limit: raise the soft limit to the hard one.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)(2 * DEVICES_LARGE + 256))
		fprintf(stderr, "bench: only %llu file descriptors allowed; "
			"the large runs may fail\n",
			(unsigned long long)rl.rlim_cur);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	const char *only = getenv("BS_BENCH_HUB_ONLY");
	char self[512], path[700];
	hl_fleet *f = NULL;
	ssize_t n;
	int i, rc = 1, any = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	secs = env_num("BS_BENCH_HUB_SECONDS", secs, 1, 600);
	warm = env_num("BS_BENCH_HUB_WARM", warm, 0, 600);
	threads = (int)env_num("BS_BENCH_HUB_THREADS", threads, 1, 64);
	rate = env_num("BS_BENCH_HUB_RATE", rate, 1, 100000);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	/* BUILD/tests/bench/bench_hub -> BUILD/branchsync-hub */
	for (i = 0; i < 3; i++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	if (access(hub_bin, X_OK) != 0) {
		fprintf(stderr, "bench: no hub at %s\n", hub_bin);
		return 1;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    gnutls_global_init() < 0)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/bs-bench-hub-XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		fprintf(stderr, "bench: cannot make %s\n", tmp);
		tmp[0] = '\0';
		return 1;
	}
	atexit(cleanup);
	hook_signals();
	printf("hub: %d and %d devices syncing with branchsync-hub; %.0f s "
	       "a phase after %.0f s of warm-up\n", DEVICES_SMALL,
	       DEVICES_LARGE, secs, warm);
	snprintf(path, sizeof(path), "%s/export.jsonl", tmp);
	if (hl_fleet_new(&f, DEVICES_LARGE) != 0 ||
	    write_export(path, DEVICES_LARGE) != 0)
		goto done;
	rc = 0;
	for (i = 0; i < NSETUPS; i++) {
		if (only != NULL && *only != '\0' &&
		    strcmp(only, setups[i].name) != 0)
			continue;
		any = 1;
		if (run_setup(f, &setups[i], i, path) != 0) {
			fprintf(stderr, "bench: %s could not run\n",
				setups[i].title);
			rc = 1;
		}
	}
	if (!any) {
		fprintf(stderr, "bench: BS_BENCH_HUB_ONLY names no set-up\n");
		rc = 1;
	}
	print_table();
	print_notes();
	print_ratios();
	print_targets();
done:
	hl_fleet_free(f);
	stop_hubs();
	tu_pg_stop();
	cleanup();
	gnutls_global_deinit();
	curl_global_cleanup();
	return rc;
}
