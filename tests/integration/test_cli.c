/*
 * test_cli.c - the branchsync command driven as staff and IT drive it:
 * each command's happy path, and the failures a user meets — wrong PIN,
 * bad arguments, invalid UTF-8, a ticket that does not exist, a damaged
 * or foreign store — each with its exit status and its one-line message.
 * The PIN goes in on a file descriptor (--pin-fd), as scripts do; the
 * store's real work factor is used, so the KDF runs at full cost.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gen.h"
#include "run.h"
#include "testutil.h"

static char root[600], store[700], export_path[700];
static char ref[32];

#define PIN "2468-branch\n"

/* Run branchsync --store STORE --pin-fd 3 ARGS... with the test PIN. */
#define BS(pins, input, ...)                                                 \
	tu_run(pins, input,                                                  \
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
	/* Failures are one line on stderr, prefixed with the program. */
	if (status != 0) {
		const char *nl = strchr(r->err, '\n');

		assert_true(strncmp(r->err, "branchsync: ", 12) == 0);
		assert_non_null(nl);
		assert_int_equal(nl[1], '\0');
	}
	tu_result_free(r);
}

static int setup(void **state)
{
	static const char *staff[] = { "li.wei", "wang.fang", NULL };
	struct gen_opts o = { 7, 40, "BR-0101", staff, 0, 1 };
	struct tu_result r;
	FILE *f;

	(void)state;
	snprintf(root, sizeof(root), "%s", tu_tempdir());
	snprintf(store, sizeof(store), "%s/store", root);
	snprintf(export_path, sizeof(export_path), "%s/export.jsonl", root);
	o.now_ms = (int64_t)time(NULL) * 1000;
	f = fopen(export_path, "w");
	assert_non_null(f);
	assert_int_equal(gen_export(f, &o), 0);
	fclose(f);
	r = BS(PIN, NULL, "init", "--staff", "li.wei", "--branch", "BR-0101");
	expect(&r, 0, "Created the store", NULL);
	r = BS(PIN, NULL, "import", export_path);
	expect(&r, 0, "40 tickets", NULL);
	/* A dispatched ticket's reference, from the JSON queue. */
	r = BS(PIN, NULL, "--json", "list");
	{
		cJSON *a = cJSON_Parse(r.out);
		cJSON *t;

		assert_non_null(a);
		cJSON_ArrayForEach(t, a)
		{
			cJSON *v = cJSON_GetObjectItem(t, "ref");
			cJSON *s = cJSON_GetObjectItem(t, "status");
			if (cJSON_IsString(v) && cJSON_IsString(s) &&
			    strcmp(s->valuestring, "dispatched") == 0) {
				snprintf(ref, sizeof(ref), "%s", v->valuestring);
				break;
			}
		}
		cJSON_Delete(a);
		assert_true(ref[0] != '\0');
	}
	tu_result_free(&r);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(root);
	return 0;
}

static void test_cli__help_everywhere(void **state)
{
	static const char *cmds[] = { "init", "import", "list", "show",
				      "reply", "note", "move", "new",
				      "search", "categories", "templates",
				      "passwd", "rekey", "doctor", "wipe",
				      "status" };
	struct tu_result r;
	unsigned i;

	(void)state;
	r = tu_run(NULL, NULL, (const char *const[]){ "--help", NULL });
	expect(&r, 0, "Commands:", NULL);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = tu_run(NULL, NULL,
			   (const char *const[]){ cmds[i], "--help", NULL });
		expect(&r, 0, "usage:", NULL);
	}
	r = tu_run(NULL, NULL, (const char *const[]){ "frobnicate", NULL });
	expect(&r, 2, NULL, "unknown command 'frobnicate'");
	r = tu_run(NULL, NULL, (const char *const[]){ "--bogus", "list", NULL });
	expect(&r, 2, NULL, "unknown option '--bogus'");
	r = BS(PIN, NULL, "list", "--frob");
	expect(&r, 2, NULL, "unknown option '--frob'");
	r = BS(PIN, NULL, "list", "--limit", "zero");
	expect(&r, 2, NULL, "--limit");
}

static void test_cli__init_errors(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "init", "--staff", "li.wei", "--branch", "BR-0101");
	expect(&r, 12, NULL, "already holds a store");
	r = BS(PIN, NULL, "init");
	expect(&r, 2, NULL, "--staff ID and --branch CODE are required");
	r = BS("12\n", NULL, "init", "--staff", "x", "--branch", "B");
	expect(&r, 2, NULL, "at least 4");
	/* No terminal and no --pin-fd: a clear refusal, not a hang. */
	r = tu_run(NULL, NULL,
		   (const char *const[]){ "--store", store, "list", NULL });
	expect(&r, 2, NULL, "--pin-fd");
}

static void test_cli__wrong_pin(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS("0000-wrong\n", NULL, "list");
	expect(&r, 5, NULL, "wrong PIN");
	r = BS("\n", NULL, "list");
	expect(&r, 2, NULL, "empty");
}

static void test_cli__queue_show_search(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "list");
	expect(&r, 0, "REF", NULL);
	r = BS(PIN, NULL, "list", "--branch", "--limit", "5");
	expect(&r, 0, "VOC-2026-", NULL);
	r = BS(PIN, NULL, "show", ref);
	expect(&r, 0, ref, NULL);
	r = BS(PIN, NULL, "show", "VOC-0000-000000");
	expect(&r, 3, NULL, "VOC-0000-000000");
	r = BS(PIN, NULL, "--json", "show", ref);
	{
		cJSON *o = cJSON_Parse(r.out);
		assert_non_null(o);
		cJSON_Delete(o);
	}
	tu_result_free(&r);
	r = BS(PIN, NULL, "categories");
	expect(&r, 0, "CARD-FEE", NULL);
	r = BS(PIN, NULL, "templates");
	expect(&r, 0, NULL, NULL);
	r = BS(PIN, NULL, "search", "zzzqqq");
	expect(&r, 0, "Nothing found", NULL);
	r = BS(PIN, NULL, "search", "\xff\xfe");
	expect(&r, 2, NULL, "UTF-8");
}

static void test_cli__work_a_ticket(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "reply", ref, "您好，我们已收到您的投诉，正在核实。");
	expect(&r, 0, "Saved reply", NULL);
	r = BS(PIN, "", "reply", ref, "-");
	expect(&r, 2, NULL, "empty");
	r = BS(PIN, "已联系客户，约定明天回访。\n", "note", ref, "-");
	expect(&r, 0, "Saved note", NULL);
	r = BS(PIN, NULL, "note", ref, "bad \xc3\x28 text");
	expect(&r, 2, NULL, "not valid UTF-8");
	r = BS(PIN, NULL, "note", "VOC-0000-000000", "x");
	expect(&r, 3, NULL, NULL);
	r = BS(PIN, NULL, "move", ref, "in_progress");
	expect(&r, 0, "in_progress", NULL);
	r = BS(PIN, NULL, "move", ref, "closed");
	expect(&r, 14, NULL, "head office");
	r = BS(PIN, NULL, "move", ref, "nonsense");
	expect(&r, 2, NULL, "nonsense");
	r = BS(PIN, NULL, "show", ref);
	expect(&r, 0, "已联系客户", NULL);
}

static void test_cli__walk_in(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "new", "--category", "PAY-GAS", "--channel", "branch",
	       "--subject", "燃气费扣款两次", "--description",
	       "客户柜台反映本月燃气费被扣两次。", "--customer-name", "张三丰",
	       "--customer-phone", "13812345678");
	expect(&r, 0, "Registered", NULL);
	r = BS(PIN, NULL, "search", "燃气");
	expect(&r, 0, "燃气费扣款两次", NULL);
	/* The device shows the customer masked only. */
	r = BS(PIN, NULL, "--json", "search", "燃气费扣款两次");
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.out, "13812345678"));
	assert_null(strstr(r.out, "张三丰"));
	tu_result_free(&r);
	r = BS(PIN, NULL, "new", "--category", "PAY-GAS", "--channel", "branch");
	expect(&r, 2, NULL, "required");
	r = BS(PIN, NULL, "new", "--category", "PAY-GAS", "--channel", "fax",
	       "--subject", "x", "--description", "y");
	expect(&r, 2, NULL, "fax");
}

static void test_cli__import_errors(void **state)
{
	char bad[800];
	FILE *f;
	struct tu_result r;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad.jsonl", root);
	f = fopen(bad, "w");
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n{\"type\":\"ticket\",\"id\":",
	      f);
	fclose(f);
	r = BS(PIN, NULL, "import", bad);
	expect(&r, 2, NULL, "line 2");
	r = BS(PIN, NULL, "import", "/nonexistent/file.jsonl");
	assert_int_not_equal(r.status, 0);
	tu_result_free(&r);
}

static void test_cli__store_admin(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "doctor");
	expect(&r, 0, "healthy", NULL);
	r = BS(PIN, NULL, "status");
	expect(&r, 0, "li.wei", NULL);
	r = BS("2468-branch\n1357-newpin\n", NULL, "passwd");
	expect(&r, 0, "PIN changed", NULL);
	r = BS(PIN, NULL, "list");
	expect(&r, 5, NULL, "wrong PIN");
	r = BS("1357-newpin\n2468-branch\n", NULL, "passwd");
	expect(&r, 0, "PIN changed", NULL);
	r = BS(PIN, NULL, "rekey");
	expect(&r, 0, "epoch 2", NULL);
	r = BS(PIN, NULL, "show", ref);
	expect(&r, 0, ref, NULL);
}

static void test_cli__damaged_and_foreign(void **state)
{
	char copy[800], path[900];
	struct tu_result r;

	(void)state;
	/* A copy of the store with one byte of a page flipped. */
	snprintf(copy, sizeof(copy), "%s/copy", root);
	r = BS(PIN, NULL, "doctor"); /* checkpoints nothing, just opens */
	tu_result_free(&r);
	{
		char cmd[2000];
		snprintf(cmd, sizeof(cmd), "cp -r %s %s", store, copy);
		assert_int_equal(system(cmd), 0);
	}
	snprintf(path, sizeof(path), "%s/store-2.db", copy);
	tu_flip(path, 4096 * 3 + 700, 0x10);
	r = tu_run(PIN, NULL,
		   (const char *const[]){ "--store", copy, "--pin-fd", "3",
					  "doctor", NULL });
	expect(&r, 4, NULL, "page 4");
	/* A key file that is not one. */
	snprintf(path, sizeof(path), "%s/keys", copy);
	tu_patch(path, 0, "NOTAKEYFILE", 11);
	r = tu_run(PIN, NULL,
		   (const char *const[]){ "--store", copy, "--pin-fd", "3",
					  "list", NULL });
	expect(&r, 6, NULL, "not a branchsync");
	r = tu_run(PIN, NULL,
		   (const char *const[]){ "--store", "/nonexistent/store",
					  "--pin-fd", "3", "list", NULL });
	expect(&r, 3, NULL, "no store");
}

static void test_cli__wipe(void **state)
{
	struct tu_result r;

	(void)state;
	r = BS(PIN, NULL, "wipe");
	expect(&r, 2, NULL, "--yes");
	r = BS("9999-wrong\n", NULL, "wipe", "--yes");
	expect(&r, 5, NULL, "wrong PIN");
	r = BS(PIN, NULL, "wipe", "--yes");
	expect(&r, 0, "destroyed", NULL);
	r = BS(PIN, NULL, "list");
	expect(&r, 3, NULL, "no store");
}

static void test_cli__release_bundles(void **state)
{
	char keys[700], key[800], pub[800], b[800];
	const char *self = tu_cli_path();
	struct tu_result r;

	(void)state;
	snprintf(keys, sizeof(keys), "%s/release", root);
	snprintf(key, sizeof(key), "%s/release.key", keys);
	snprintf(pub, sizeof(pub), "%s/release.pub", keys);
	snprintf(b, sizeof(b), "%s/next.bundle", root);
	r = tu_run(NULL, NULL, (const char *const[]){ "release-key", "--out",
						      keys, NULL });
	expect(&r, 0, "release.key", NULL);
	r = tu_run(NULL, NULL,
		   (const char *const[]){ "release-sign", self, "--key", key,
					  "--target", "armhf", "--version",
					  "99.0.0", "--out", b, NULL });
	expect(&r, 0, "Signed", NULL);
	r = tu_run(NULL, NULL, (const char *const[]){ "verify-update", b,
						      "--key", pub, NULL });
	expect(&r, 14, NULL, "for armhf");
	r = tu_run(NULL, NULL, (const char *const[]){ "verify-update", b,
						      "--key", key, NULL });
	expect(&r, 5, NULL, "public key");
	tu_flip(b, 12, 0x01);
	r = tu_run(NULL, NULL, (const char *const[]){ "verify-update", b,
						      "--key", pub, NULL });
	assert_int_not_equal(r.status, 0);
	tu_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli__help_everywhere),
		cmocka_unit_test(test_cli__init_errors),
		cmocka_unit_test(test_cli__wrong_pin),
		cmocka_unit_test(test_cli__queue_show_search),
		cmocka_unit_test(test_cli__work_a_ticket),
		cmocka_unit_test(test_cli__walk_in),
		cmocka_unit_test(test_cli__import_errors),
		cmocka_unit_test(test_cli__store_admin),
		cmocka_unit_test(test_cli__damaged_and_foreign),
		cmocka_unit_test(test_cli__release_bundles),
		cmocka_unit_test(test_cli__wipe),
	};

	return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
