/*
 * test_sync_cli.c - the sync commands driven as a user drives them,
 * against a real branchsync-hub on loopback TLS: enroll (a wrong code,
 * then the right one), sync, a reply refused because head office
 * reassigned the ticket, the conflict listed, shown and resolved, --json
 * output, a hub that is down, a revoked device wiping itself, and the
 * offline lock (the last sync moved back in the store).  Each
 * with its exit status and its message.  The PIN goes in on a file
 * descriptor, and the store's real work factor is used.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "branchsync.h"
#include "run.h"
#include "testutil.h"

#define T1 "01890a5d-ac96-774b-bcce-b302099a8001"
#define PIN "1357-sync\n"

static char root[600], store[700], hub_dir[700], hub_bin[700], url[128];
static pid_t hub_pid;
static int hub_port;

#define BS(...)                                                              \
	tu_run(PIN, NULL,                                                    \
	       (const char *const[]){ "--store", store, "--pin-fd", "3",     \
				      __VA_ARGS__, NULL })

static void expect(struct tu_result *r, int status, const char *in_out,
		   const char *in_err)
{
	if (r->status != status ||
	    (in_out != NULL && strstr(r->out, in_out) == NULL) ||
	    (in_err != NULL && strstr(r->err, in_err) == NULL))
		fail_msg("status %d (want %d)\nstdout: %s\nstderr: %s",
			 r->status, status, r->out, r->err);
	tu_result_free(r);
}

/* Run branchsync-hub; the first line of its output to out. */
static int hub_cmd(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2400], args[1600];
	va_list ap;
	FILE *p;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "$BS_TEST_WRAPPER %s %s 2>/dev/null",
		 hub_bin, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (out != NULL) {
		out[0] = '\0';
		if (fgets(out, (int)cap, p) != NULL) {
			n = strlen(out);
			while (n > 0 && out[n - 1] == '\n')
				out[--n] = '\0';
		}
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void hub_start(int port)
{
	char line[256] = "", listen[64], *p;
	int fd[2];
	FILE *f;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_int_equal(pipe(fd), 0);
	hub_pid = fork();
	assert_true(hub_pid >= 0);
	if (hub_pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		/* Through the shell so that $BS_TEST_WRAPPER (qemu-user for
		 * the ARM builds) runs the hub; exec keeps the pid the hub's. */
		execl("/bin/sh", "sh", "-c",
		      "exec $BS_TEST_WRAPPER \"$0\" \"$@\"", hub_bin, "serve",
		      "--dir", hub_dir, "--listen", listen, "--threads", "2",
		      (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	p = strstr(line, "https://127.0.0.1:");
	assert_non_null(p);
	hub_port = atoi(p + strlen("https://127.0.0.1:"));
	snprintf(url, sizeof(url), "https://localhost:%d", hub_port);
}

static void hub_stop(void)
{
	int st;

	if (hub_pid > 0) {
		kill(hub_pid, SIGTERM);
		waitpid(hub_pid, &st, 0);
		hub_pid = 0;
	}
}

static int setup(void **state)
{
	char self[600], path[800];
	ssize_t n;
	FILE *f;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	for (int up = 0; up < 3; up++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	snprintf(root, sizeof(root), "%s", tu_tempdir());
	snprintf(store, sizeof(store), "%s/store", root);
	snprintf(hub_dir, sizeof(hub_dir), "%s/hub", root);
	assert_int_equal(hub_cmd(NULL, 0, "init --dir %s", hub_dir), 0);
	snprintf(path, sizeof(path), "%s/export.jsonl", root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n"
	      "{\"type\":\"ticket\",\"id\":\"" T1 "\",\"ref\":\"VOC-1\","
	      "\"channel\":\"phone\",\"status\":\"dispatched\",\"subject\":"
	      "\"ATM ate the card\",\"branch\":\"BR01\",\"assignee\":\"s1\","
	      "\"t0_ms\":1795000000000}\n", f);
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", hub_dir,
				 path), 0);
	hub_start(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hub_stop();
	tu_rmrf(root);
	return 0;
}

static void test_sync_cli__enroll_sync_conflicts(void **state)
{
	struct tu_result r;
	char code[64], wrong[64];
	cJSON *j;

	(void)state;
	r = BS("init", "--staff", "s1", "--branch", "BR01");
	expect(&r, 0, "Created the store", NULL);
	r = BS("sync");
	expect(&r, bs_error_exit_code(BS_EINVAL), NULL,
	       "not enrolled with a hub");
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s1", hub_dir), 0);
	/* One character of the secret wrong: the CA does not match. */
	snprintf(wrong, sizeof(wrong), "%s", code);
	wrong[23] = wrong[23] == 'A' ? 'B' : 'A';
	r = BS("enroll", url, wrong);
	expect(&r, bs_error_exit_code(BS_EBADKEY), NULL, "does not match");
	r = BS("enroll", url, code);
	expect(&r, 0, "staff s1 of branch BR01", NULL);
	r = BS("enroll", url, code);
	expect(&r, bs_error_exit_code(BS_EEXISTS), NULL, "already enrolled");
	r = BS("sync");
	expect(&r, 0, "received", NULL);
	r = BS("list");
	expect(&r, 0, "VOC-1", NULL);

	/* A reply written while head office gives the ticket to s2. */
	r = BS("reply", "VOC-1", "we are on it");
	expect(&r, 0, NULL, NULL);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s VOC-1 --branch "
				 "BR01 --staff s2", hub_dir), 0);
	r = BS("sync");
	expect(&r, 0, "1 new conflict", NULL);
	r = BS("conflicts");
	expect(&r, 0, "we are on it", NULL);
	r = BS("conflicts", "show", "1");
	expect(&r, 0, "out_of_scope", NULL);
	r = BS("conflicts", "resolve", "1");
	expect(&r, bs_error_exit_code(BS_EINVAL), NULL, "--keep-mine");
	r = BS("conflicts", "resolve", "1", "--edit", "again");
	expect(&r, bs_error_exit_code(BS_EINVAL), NULL, "no longer on");
	r = BS("conflicts", "resolve", "1", "--take-theirs");
	expect(&r, 0, "theirs taken", NULL);
	r = BS("conflicts");
	expect(&r, 0, "No open conflicts", NULL);
	r = BS("conflicts", "--all");
	expect(&r, 0, "we are on it", NULL);
	r = BS("conflicts", "show", "7");
	expect(&r, bs_error_exit_code(BS_ENOTFOUND), NULL, "no conflict 7");

	/* --json: a report scripts can read. */
	r = BS("--json", "sync");
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "cursor")));
	assert_int_equal(cJSON_GetObjectItem(j, "pushed")->valueint, 0);
	cJSON_Delete(j);
	expect(&r, 0, NULL, NULL);
	/* status shows the sync facts. */
	r = BS("status");
	expect(&r, 0, "hub_clock_offset_ms", NULL);
}

static void test_sync_cli__hub_down_then_revoked(void **state)
{
	struct tu_result r;
	char code[64], dev[64];
	cJSON *j;

	(void)state;
	r = BS("init", "--staff", "s1", "--branch", "BR01");
	expect(&r, 0, NULL, NULL);
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s1", hub_dir), 0);
	r = BS("enroll", url, code);
	expect(&r, 0, NULL, NULL);
	r = BS("--json", "status");
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	snprintf(dev, sizeof(dev), "%s",
		 cJSON_GetObjectItem(j, "device_id")->valuestring);
	cJSON_Delete(j);
	expect(&r, 0, NULL, NULL);
	r = BS("sync");
	expect(&r, 0, NULL, NULL);
	/* The hub is down: a network failure, the reply waits. */
	hub_stop();
	r = BS("reply", "VOC-1", "queued while the hub is down");
	expect(&r, 0, NULL, NULL);
	r = BS("sync");
	expect(&r, bs_error_exit_code(BS_ENETWORK), NULL, "cannot reach");
	/* Back: the reply goes.  Then the device is revoked: it wipes
	 * itself. */
	hub_start(hub_port);
	r = BS("sync");
	expect(&r, 0, "Sent 1 change", NULL);
	assert_int_equal(hub_cmd(NULL, 0, "revoke --dir %s %s", hub_dir, dev),
			 0);
	r = BS("sync");
	expect(&r, bs_error_exit_code(BS_EREVOKED), NULL, "wiped");
	r = BS("status");
	expect(&r, bs_error_exit_code(BS_ENOTFOUND), NULL, NULL);
}

/*
 * Move the device's last successful sync to now + delta_ms on its own
 * clock, as if that much time had passed offline (negative: the past);
 * the command runs with the real clock.
 */
static void last_sync_at(long long delta_ms)
{
	bs_key k = tu_pin("s1", "1357-sync");
	bs_store *st = NULL;
	char sql[200];

	if (bs_store_open(&st, store, &k) != BS_OK)
		fail_msg("open: %s", bs_last_error());
	snprintf(sql, sizeof(sql), "UPDATE sync_state SET value = %lld "
		 "WHERE key = 'last_round_ms'",
		 (long long)time(NULL) * 1000 + delta_ms);
	tu_exec(st, sql);
	assert_int_equal(sqlite3_changes(bs_store_db(st)), 1);
	bs_store_close(st);
}

static void expect_locked(struct tu_result *r, const char *in_err)
{
	const char *nl = strchr(r->err, '\n');

	/* One line, naming the lock. */
	if (nl == NULL || nl[1] != '\0' || strstr(r->err, "locked") == NULL)
		fail_msg("not one line about the lock: %s", r->err);
	expect(r, bs_error_exit_code(BS_ELOCKED), NULL, in_err);
}

static void test_sync_cli__offline_lock(void **state)
{
	const long long day = 86400000LL;
	struct tu_result r;
	char code[64];
	cJSON *j, *p;

	(void)state;
	r = BS("init", "--staff", "s1", "--branch", "BR01");
	expect(&r, 0, NULL, NULL);
	/* Not enrolled: no policy, nothing locks. */
	r = BS("status");
	expect(&r, 0, "not known yet", NULL);
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s1", hub_dir), 0);
	r = BS("enroll", url, code);
	expect(&r, 0, NULL, NULL);
	r = BS("sync");
	expect(&r, 0, NULL, NULL);
	/* The hub's 14 days, and when the device locks. */
	r = BS("status");
	expect(&r, 0, "14 days without a sync; locks at", NULL);
	r = BS("--json", "status");
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	p = cJSON_GetObjectItem(j, "offline_policy");
	assert_non_null(p);
	assert_true(cJSON_GetObjectItem(p, "max_offline_ms")->valuedouble ==
		    (double)(14 * day));
	assert_true(cJSON_GetObjectItem(p, "lock_at_ms")->valuedouble ==
		    cJSON_GetObjectItem(p, "since_ms")->valuedouble +
			    (double)(14 * day));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(p, "locked")));
	cJSON_Delete(j);
	expect(&r, 0, NULL, NULL);
	r = BS("reply", "VOC-1", "written before the lock");
	expect(&r, 0, NULL, NULL);

	/* Thirteen days offline: work goes on. */
	last_sync_at(-13 * day);
	r = BS("list");
	expect(&r, 0, "VOC-1", NULL);

	/* Fifteen days: every command that reads or changes tickets is
	 * refused, saying how long and what to do. */
	last_sync_at(-15 * day - 3600000);
	r = BS("list");
	expect_locked(&r, "last synced 15 days 1 hour ago, beyond the limit "
		      "of 14 days; sync with head office");
	r = BS("show", "VOC-1");
	expect_locked(&r, NULL);
	r = BS("search", "ATM");
	expect_locked(&r, NULL);
	r = BS("reply", "VOC-1", "after the lock");
	expect_locked(&r, NULL);
	r = BS("note", "VOC-1", "after the lock");
	expect_locked(&r, NULL);
	r = BS("call", "VOC-1", "after the lock");
	expect_locked(&r, NULL);
	r = BS("move", "VOC-1", "acknowledged");
	expect_locked(&r, NULL);
	r = BS("new", "--category", "ATM", "--channel", "branch",
	       "--subject", "walk-in", "--description", "locked");
	expect_locked(&r, NULL);
	r = BS("import", "/dev/null");
	expect_locked(&r, NULL);
	r = BS("conflicts", "resolve", "1", "--take-theirs");
	expect_locked(&r, NULL);
	/* What helps the device back still works. */
	r = BS("conflicts");
	expect(&r, 0, "No open conflicts", NULL);
	r = BS("categories");
	expect(&r, 0, NULL, NULL);
	r = BS("status");
	expect(&r, 0, "LOCKED since", NULL);
	r = BS("--json", "status");
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(j, "offline_policy"), "locked")));
	cJSON_Delete(j);
	expect(&r, 0, NULL, NULL);
	/* The sync sends what was queued, and lifts the lock. */
	r = BS("sync");
	expect(&r, 0, "Sent 1 change", NULL);
	r = BS("list");
	expect(&r, 0, "VOC-1", NULL);
	r = BS("show", "VOC-1");
	expect(&r, 0, "written before the lock", NULL);

	/* A clock set back before the last sync locks too. */
	last_sync_at(2 * 3600000 + 300000);
	r = BS("list");
	expect_locked(&r, "clock is 2 hours 4 minutes behind");
	r = BS("status");
	expect(&r, 0, "the clock is behind the last sync", NULL);
	r = BS("sync");
	expect(&r, 0, NULL, NULL);
	r = BS("list");
	expect(&r, 0, "VOC-1", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_sync_cli__enroll_sync_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync_cli__hub_down_then_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_cli__offline_lock,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
