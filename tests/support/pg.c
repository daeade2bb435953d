/*
 * pg.c - see pg.h.  In three parts: finding the programs and the user,
 * running a program (as that user or as ourselves), and the server's
 * life: start, databases, SQL, stop.
 *
 * Everything is fork and exec, no libpq and no shell, so the file links
 * into every test program for free and a path with odd characters in it
 * cannot be misread.  The only state is the server's: its process, port
 * and folder, in statics, so that the exit and signal handlers can find
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg.h"
#include "testutil.h"

#define START_TRIES 3
#define READY_MS 60000
#define STOP_MS 15000

static char bindir[512];
static char folder[512];
static char sockdir[600];
static int port;
static pid_t server;
static volatile pid_t helper; /* initdb, pg_isready or psql, while it runs */
static pid_t owner;
static uid_t run_uid;
static gid_t run_gid;
static int as_other; /* 1: drop to run_uid/run_gid in children */
static int hooked;   /* the exit and signal handlers are set */

static const char *const child_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C",
					 "PGCONNECT_TIMEOUT=10", NULL };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- programs and user ---------------------------------------------- */

/* The version number in .../postgresql/VERSION/bin/initdb. */
static long version_of(const char *path)
{
	const char *p = strstr(path, "/postgresql/");

	return p != NULL ? strtol(p + 12, NULL, 10) : 0;
}

static int find_bindir(void)
{
	const char *env = getenv("BS_TEST_PG_BINDIR");
	glob_t g;
	size_t i;
	long best = -1;

	if (env != NULL && *env != '\0') {
		snprintf(bindir, sizeof(bindir), "%s", env);
		return 0;
	}
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			long v = version_of(g.gl_pathv[i]);

			if (v > best) {
				best = v;
				snprintf(bindir, sizeof(bindir), "%s",
					 g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	if (best < 0) {
		fprintf(stderr, "pg: no PostgreSQL server programs under "
			"/usr/lib/postgresql/*/bin; `make check` installs "
			"them (platform/deps.sh check installs the "
			"postgresql package)\n");
		return -1;
	}
	*strrchr(bindir, '/') = '\0';
	return 0;
}

/* PostgreSQL refuses to run as root: pick an unprivileged user. */
static int pick_user(void)
{
	static const char *const names[] = { "postgres", "nobody" };
	size_t i;

	if (geteuid() != 0)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct passwd *pw = getpwnam(names[i]);

		if (pw != NULL && pw->pw_uid != 0) {
			run_uid = pw->pw_uid;
			run_gid = pw->pw_gid;
			as_other = 1;
			return 0;
		}
	}
	fprintf(stderr, "pg: running as root and there is no user "
		"\"postgres\" or \"nobody\" to run the server as\n");
	return -1;
}

/* --- running a program ---------------------------------------------- */

/*
 * In a new child: become the server's user if drop, put stdout on out
 * (and stderr on err; -1 leaves them), close the rest, and exec argv
 * with a small fixed environment.  Returns the child's pid, or -1.
 */
static pid_t spawn(const char *const *argv, int drop, int out, int err,
		   int die_with_parent)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid != 0)
		return pid;
	if (out >= 0 && dup2(out, 1) < 0)
		_exit(126);
	if (err >= 0 && dup2(err, 2) < 0)
		_exit(126);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_DFL);
	if (drop && as_other &&
	    (setgroups(0, NULL) != 0 || setgid(run_gid) != 0 ||
	     setuid(run_uid) != 0))
		_exit(126);
	/* After setuid, which clears it: the server goes when we go. */
	if (die_with_parent &&
	    (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent))
		_exit(126);
	if (folder[0] != '\0' && chdir(folder) != 0)
		_exit(126);
	execve(argv[0], (char *const *)argv, (char *const *)child_env);
	_exit(127);
}

/* Wait for pid; its exit status, or 128 + signal. */
static int wait_for(pid_t pid)
{
	int st, rc = -1;

	helper = pid;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			goto out;
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
out:
	helper = 0;
	return rc;
}

/* Run argv to its end with stdout and stderr into the file log. */
static int run_logged(const char *const *argv, int drop, const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	pid_t pid;

	if (fd < 0)
		return -1;
	pid = spawn(argv, drop, fd, fd, 0);
	close(fd);
	return pid < 0 ? -1 : wait_for(pid);
}

static void print_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "pg:   %s", line);
	fclose(f);
}

/* --- the server ----------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), p = -1;

	if (s < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	close(s);
	return p;
}

/* Remove path with rm -rf: async-signal-safe, for on_signal. */
static void rm_rf(const char *path)
{
	const char *const rm[] = { "/bin/rm", "-rf", path, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execve(rm[0], (char *const *)rm, (char *const *)child_env);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * The test was interrupted: kill the server at once (immediate shutdown,
 * which ends its backends too), and whatever program runs for it, wait
 * for them, remove the folder, and die of the signal.  Only
 * async-signal-safe calls.
 */
static void on_signal(int sig)
{
	if (getpid() == owner) {
		if (helper > 0) {
			kill(helper, SIGKILL);
			waitpid(helper, NULL, 0);
		}
		if (server > 0) {
			kill(server, SIGQUIT);
			waitpid(server, NULL, 0);
			server = 0;
		}
		if (folder[0] != '\0')
			rm_rf(folder);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Folders of earlier runs that were killed outright (SIGKILL leaves no
 * chance to clean up; the server itself died with them): each holds the
 * pid of the test that made it, and goes when that process is gone.
 */
static void sweep(const char *base)
{
	char pattern[600], pidfile[700];
	glob_t g;
	size_t i;

	snprintf(pattern, sizeof(pattern), "%s/bs-pg-??????", base);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
		return;
	for (i = 0; i < g.gl_pathc; i++) {
		FILE *f;
		long pid = 0;

		snprintf(pidfile, sizeof(pidfile), "%s/test.pid",
			 g.gl_pathv[i]);
		f = fopen(pidfile, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			tu_rmrf(g.gl_pathv[i]);
	}
	globfree(&g);
}

/* 1 once the server accepts connections, 0 not yet, -1 it died. */
static int ready(const char *log)
{
	char p[16], isready[600];
	const char *const argv[] = { isready, "-q", "-h", "127.0.0.1", "-p", p,
				     "-U", "postgres", "-d", "postgres",
				     "-t", "2", NULL };
	int st;

	if (waitpid(server, &st, WNOHANG) == server) {
		server = 0;
		return -1;
	}
	snprintf(p, sizeof(p), "%d", port);
	snprintf(isready, sizeof(isready), "%s/pg_isready", bindir);
	return run_logged(argv, 0, log) == 0;
}

static int start_server(const char *data, const char *log)
{
	char postgres[600], p[16];
	const char *const argv[] = { postgres, "-D", data, "-k", sockdir,
		"-p", p, "-h", "127.0.0.1", "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "shared_buffers=32MB",
		"-c", "max_connections=200", NULL };
	int fd, waited, r;

	snprintf(postgres, sizeof(postgres), "%s/postgres", bindir);
	if ((port = free_port()) < 0)
		return -1;
	snprintf(p, sizeof(p), "%d", port);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return -1;
	if (as_other && fchown(fd, run_uid, run_gid) != 0) {
		close(fd);
		return -1;
	}
	server = spawn(argv, 1, fd, fd, 1);
	close(fd);
	if (server < 0) {
		server = 0;
		return -1;
	}
	for (waited = 0; waited < READY_MS; waited += 50) {
		if ((r = ready(log)) != 0)
			return r > 0 ? 0 : -1;
		sleep_ms(50);
	}
	return -1;
}

int tu_pg_start(void)
{
	const char *base = getenv("TMPDIR");
	char data[600], log[600], initdb[600];
	const char *const init_argv[] = { initdb, "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", NULL };
	FILE *f;
	int tries;

	if (server > 0)
		return 0;
	if (find_bindir() != 0 || pick_user() != 0)
		return -1;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	sweep(base);
	owner = getpid();
	snprintf(folder, sizeof(folder), "%s/bs-pg-XXXXXX", base);
	if (mkdtemp(folder) == NULL ||
	    (as_other && chown(folder, run_uid, run_gid) != 0)) {
		fprintf(stderr, "pg: cannot make %s: %s\n", folder,
			strerror(errno));
		folder[0] = '\0';
		return -1;
	}
	snprintf(log, sizeof(log), "%s/test.pid", folder);
	if ((f = fopen(log, "w")) != NULL) {
		fprintf(f, "%ld\n", (long)owner);
		fclose(f);
	}
	if (!hooked) {
		atexit(tu_pg_stop);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		hooked = 1;
	}
	snprintf(sockdir, sizeof(sockdir), "%s", folder);
	snprintf(data, sizeof(data), "%s/data", folder);
	snprintf(log, sizeof(log), "%s/initdb.log", folder);
	snprintf(initdb, sizeof(initdb), "%s/initdb", bindir);
	if (run_logged(init_argv, 1, log) != 0) {
		fprintf(stderr, "pg: initdb failed (%s):\n", initdb);
		print_file(log);
		tu_pg_stop();
		return -1;
	}
	snprintf(log, sizeof(log), "%s/server.log", folder);
	/* A port found free may be taken before the server binds it. */
	for (tries = 0; tries < START_TRIES; tries++)
		if (start_server(data, log) == 0)
			return 0;
	fprintf(stderr, "pg: the server in %s did not start:\n", folder);
	print_file(log);
	tu_pg_stop();
	return -1;
}

/* Run psql on database db with sql; its stdout, malloc'd, or NULL. */
static char *psql(const char *db, const char *sql)
{
	char p[16], prog[600];
	const char *const argv[] = { prog, "-X", "-q", "-A", "-t", "-v",
		"ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", p, "-U",
		"postgres", "-d", db, "-c", sql, NULL };
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	int fd[2], st;
	pid_t pid;
	ssize_t n;

	if (server <= 0) {
		fprintf(stderr, "pg: no server (tu_pg_start first)\n");
		return NULL;
	}
	snprintf(p, sizeof(p), "%d", port);
	snprintf(prog, sizeof(prog), "%s/psql", bindir);
	if (pipe(fd) != 0)
		return NULL;
	pid = spawn(argv, 0, fd[1], -1, 0);
	close(fd[1]);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL)
				break;
			buf = nb;
		}
		n = read(fd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd[0]);
	st = pid > 0 ? wait_for(pid) : -1;
	if (st != 0 || buf == NULL) {
		fprintf(stderr, "pg: psql failed (status %d) on: %s\n", st,
			sql);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

char *tu_pg_sql(const char *name, const char *sql)
{
	return psql(name, sql);
}

int tu_pg_createdb(char *url, size_t cap, const char *name)
{
	char sql[200];
	char *out;
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			break;
	if (i == 0 || name[i] != '\0' || i > 60) {
		fprintf(stderr, "pg: bad database name '%s'\n", name);
		return -1;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if ((out = psql("postgres", sql)) == NULL)
		return -1;
	free(out);
	snprintf(url, cap, "postgresql://postgres@127.0.0.1:%d/%s", port,
		 name);
	return 0;
}

void tu_pg_stop(void)
{
	int waited, st;
	pid_t done = 0;

	if (getpid() != owner)
		return;
	if (server > 0) {
		/* Fast shutdown: clients are cut, then the server ends. */
		kill(server, SIGINT);
		for (waited = 0; waited < STOP_MS; waited += 20) {
			done = waitpid(server, &st, WNOHANG);
			if (done != 0)
				break;
			sleep_ms(20);
		}
		if (done == 0) {
			kill(server, SIGQUIT);
			sleep_ms(2000);
			kill(server, SIGKILL);
			waitpid(server, &st, 0);
		}
		server = 0;
	}
	if (folder[0] != '\0') {
		tu_rmrf(folder);
		folder[0] = '\0';
	}
}
