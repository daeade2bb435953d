/*
 * test_sync_cli.c - the sync commands driven as a user drives them,
 * against a real branchsync-hub on loopback TLS: enroll (a wrong code,
 * then the right one), sync, a reply refused because head office
 * reassigned the ticket, the conflict listed, shown and resolved, --json
 * output, a hub that is down, and a revoked device wiping itself.  Each
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
#include <unistd.h>

#include <cjson/cJSON.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_sync_cli__enroll_sync_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync_cli__hub_down_then_revoked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
