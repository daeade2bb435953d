/*
 * test_sync.c - the sync client against a real branchsync-hub on
 * loopback TLS: enrollment (good, wrong code, a man in the middle),
 * rounds between two devices and head office, retries that must not
 * duplicate, the conflict scenarios of issue 5, clocks days off, kill -9
 * in the middle of a sync, revocation, the watch loop's backoff, a
 * poisoned operation that must not stop the queue, a disk that fills up
 * while answers are stored and while a pull is applied, and the offline
 * policy's lock.  Scenarios end with every device synced once more and
 * compared with head office, ticket by ticket and field by field
 * (converge()).
 *
 * Every test gets its own hub (init, a small head-office import, serve
 * on a free port) and its own device stores.  Devices are stores made
 * here with bs_store_create() and bs_tickets_init(), enrolled with codes
 * the hub's own enroll-code command prints.  What head office sees is
 * read from the hub's database directly.
 *
 * A hub that answers 500, garbage, a truncated body or a page that
 * breaks the protocol is played by a small TLS server in this file
 * (mbedTLS), with the real hub's certificate, so the device trusts it.
 *
 * The device clock is bs_os_now_ms(), wrapped at link time
 * (-Wl,--wrap=bs_os_now_ms) so that a device can be days fast or slow
 * while the hub, a separate process, keeps the real time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <zlib.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "agent/sync/sync_internal.h"
#include "branchsync/sync.h"
#include "branchsync/tickets.h"
#include "platform/os.h"
#include "converge.h"
#include "diskfull.h"
#include "proxy.h"
#include "testutil.h"

#define T1 "01890a5d-ac96-774b-bcce-b302099a8001" /* BR01, s1, dispatched */
#define T2 "01890a5d-ac96-774b-bcce-b302099a8002" /* BR01, s1, in progress */
#define T3 "01890a5d-ac96-774b-bcce-b302099a8003" /* BR01, s2 */
#define T4 "01890a5d-ac96-774b-bcce-b302099a8004" /* BR02, s9 */
#define DAY_MS ((int64_t)24 * 3600 * 1000)

/* --- the device clock ------------------------------------------------ */

int64_t __real_bs_os_now_ms(void);
int64_t __wrap_bs_os_now_ms(void);

static int64_t skew_ms; /* added to the device clock */

int64_t __wrap_bs_os_now_ms(void)
{
	return __real_bs_os_now_ms() + skew_ms;
}

/* --- hubs ------------------------------------------------------------ */

struct hub {
	char dir[600];
	char url[128];
	int port;
	pid_t pid;
};

struct dev {
	char dir[600];
	char staff[16], branch[16], role[16];
	bs_store *st;
	int64_t skew_ms;
	bs_sync_report rep;
};

static char tmp[512];
static char hub_bin[700];
static struct hub hub, hub2;
static struct dev a, m; /* staff s1 and manager m1 of BR01 */

/* Run branchsync-hub with args; the first line of its output to out. */
static int hub_cmd(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[3000], args[2200];
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

/* serve --max-offline for the next hub_start(); NULL: the default. */
static const char *max_offline;

static void hub_start(struct hub *h, int port)
{
	char line[256] = "", listen[64], *p;
	int fd[2];
	FILE *f;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	assert_int_equal(pipe(fd), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		/* Through the shell so that $BS_TEST_WRAPPER (qemu-user for
		 * the ARM builds) runs the hub; exec keeps the pid the hub's. */
		execl("/bin/sh", "sh", "-c",
		      "exec $BS_TEST_WRAPPER \"$0\" \"$@\"", hub_bin, "serve",
		      "--dir", h->dir, "--listen", listen, "--threads", "4",
		      "--max-offline", max_offline ? max_offline : "14d",
		      (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	p = strstr(line, "https://127.0.0.1:");
	assert_non_null(p);
	h->port = atoi(p + strlen("https://127.0.0.1:"));
	/* The certificate names localhost. */
	snprintf(h->url, sizeof(h->url), "https://localhost:%d", h->port);
}

static void hub_stop(struct hub *h)
{
	int st;

	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		waitpid(h->pid, &st, 0);
		h->pid = 0;
	}
}

static const char export_text[] =
	"{\"type\":\"header\",\"format\":\"branchsync-export\",\"version\":1}\n"
	"{\"type\":\"customer\",\"id\":\"C-1\",\"name_masked\":\"张*\","
	"\"phone_masked\":\"138****1234\",\"branch\":\"BR01\"}\n"
	"{\"type\":\"archive\",\"id\":\"A-1\",\"customer_id\":\"C-1\","
	"\"summary\":\"earlier complaint\",\"received_ms\":1700000000000}\n"
	"{\"type\":\"category\",\"code\":\"ATM\",\"name\":\"ATM\"}\n"
	"{\"type\":\"category\",\"code\":\"CARD\",\"name\":\"Cards\","
	"\"risk_class\":\"product_dispute\"}\n"
	"{\"type\":\"ticket\",\"id\":\"" T1 "\",\"ref\":\"VOC-1\","
	"\"customer_id\":\"C-1\",\"channel\":\"phone\",\"status\":"
	"\"dispatched\",\"subject\":\"ATM ate the card\",\"branch\":\"BR01\","
	"\"assignee\":\"s1\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"ticket\",\"id\":\"" T2 "\",\"ref\":\"VOC-2\","
	"\"channel\":\"app\",\"status\":\"in_progress\",\"subject\":\"fee\","
	"\"branch\":\"BR01\",\"assignee\":\"s1\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"ticket\",\"id\":\"" T3 "\",\"ref\":\"VOC-3\","
	"\"channel\":\"app\",\"status\":\"dispatched\",\"subject\":\"queue\","
	"\"branch\":\"BR01\",\"assignee\":\"s2\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"ticket\",\"id\":\"" T4 "\",\"ref\":\"VOC-4\","
	"\"channel\":\"app\",\"status\":\"dispatched\",\"subject\":\"other\","
	"\"branch\":\"BR02\",\"assignee\":\"s9\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"activity\","
	"\"id\":\"01890a5d-ac96-774b-bcce-b302099ae001\","
	"\"ticket_id\":\"" T1 "\",\"kind\":\"call_log\",\"body\":\"logged\","
	"\"author\":\"callcenter\",\"device_time_ms\":1795000000000}\n";

/* A new hub in tmp/name with the export imported (not started). */
static void hub_make(struct hub *h, const char *name, const char *export)
{
	char path[700];
	FILE *f;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/%s", tmp, name);
	assert_int_equal(hub_cmd(NULL, 0, "init --dir %s", h->dir), 0);
	snprintf(path, sizeof(path), "%s/%s.jsonl", tmp, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(export, f);
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", h->dir, path),
			 0);
}

/* sql's first column as an integer, in the hub's database. */
static long long hub_int(const struct hub *h, const char *fmt, ...)
{
	char sql[2000], path[700];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/hub.db", h->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* sql's first column as text (static buffer; "" for none). */
static const char *hub_text(const struct hub *h, const char *fmt, ...)
{
	static char out[8192];
	char sql[2000], path[700];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/hub.db", h->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

/* Run sql on the hub's database. */
static void hub_exec(const struct hub *h, const char *sql)
{
	char path[700];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/hub.db", h->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Whether a failure message is one of a link or a hub that failed (the
 * kinds a later round cures), judged by its wording. */
static int cured_by_retry(const char *msg)
{
	return strstr(msg, "cannot reach") != NULL ||
	       strstr(msg, "no answer") != NULL ||
	       strstr(msg, "not a protocol document") != NULL ||
	       strstr(msg, "answered 5") != NULL ||
	       strstr(msg, "does not match") != NULL;
}

/* --- devices ---------------------------------------------------------- */

static void use(const struct dev *d)
{
	skew_ms = d->skew_ms;
}

static bs_key pin(const struct dev *d)
{
	return tu_pin(d->staff, TEST_PIN);
}

static void dev_make(struct dev *d, const char *name, const char *staff,
		     const char *branch, const char *role)
{
	bs_store_opts o;
	bs_key k;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s/%s", tmp, name);
	snprintf(d->staff, sizeof(d->staff), "%s", staff);
	snprintf(d->branch, sizeof(d->branch), "%s", branch);
	snprintf(d->role, sizeof(d->role), "%s", role);
	memset(&o, 0, sizeof(o));
	o.kdf_ms = TEST_KDF_MS;
	k = pin(d);
	if (bs_store_create(&d->st, d->dir, &k, &o) != BS_OK)
		fail_msg("create %s: %s", name, bs_last_error());
	if (bs_tickets_init(d->st, staff, branch, role) != BS_OK)
		fail_msg("init %s: %s", name, bs_last_error());
}

static void dev_close(struct dev *d)
{
	bs_store_close(d->st);
	d->st = NULL;
}

static void dev_open(struct dev *d)
{
	bs_key k = pin(d);

	if (bs_store_open(&d->st, d->dir, &k) != BS_OK)
		fail_msg("open %s: %s", d->dir, bs_last_error());
}

static bs_sync_opts opts(void)
{
	bs_sync_opts o;

	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = 5000;
	o.timeout_ms = 30000;
	return o;
}

/* A fresh enrollment code of h for the device's staff. */
static void code_for(const struct hub *h, const struct dev *d, char *code,
		     size_t cap)
{
	assert_int_equal(hub_cmd(code, cap, "enroll-code --dir %s --branch "
				 "%s --staff %s --role %s", h->dir, d->branch,
				 d->staff, d->role), 0);
	assert_int_equal(strlen(code), BS__WIRE_CODE_TEXT_LEN);
}

static void enroll(struct dev *d)
{
	bs_sync_opts o = opts();
	char code[64];

	code_for(&hub, d, code, sizeof(code));
	use(d);
	if (bs_sync_enroll(d->st, hub.url, code, &o) != BS_OK)
		fail_msg("enroll %s: %s", d->staff, bs_last_error());
}

static int sync_rc(struct dev *d)
{
	bs_sync_opts o = opts();

	use(d);
	return bs_sync_round(&d->st, &o, &d->rep);
}

static void sync_ok(struct dev *d)
{
	if (sync_rc(d) != BS_OK)
		fail_msg("sync %s: %s", d->staff, bs_last_error());
}

/* Local queries on a device. */
static long long dev_int(struct dev *d, const char *fmt, ...)
{
	char sql[2000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return tu_int(d->st, sql);
}

static const char *dev_text(struct dev *d, const char *fmt, ...)
{
	static char out[8192];
	char sql[2000];
	sqlite3_stmt *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	if (sqlite3_prepare_v2(bs_store_db(d->st), sql, -1, &s, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(bs_store_db(d->st)));
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static void reply(struct dev *d, const char *ticket, const char *text)
{
	use(d);
	if (bs_ticket_add(d->st, ticket, BS_ACT_REPLY, text, NULL) != BS_OK)
		fail_msg("reply on %s: %s", ticket, bs_last_error());
}

/*
 * A free-text edit as the ticket code would write one (it has no call
 * for it yet): the field and a ticket/update operation whose fields are
 * {field: text} as the wire carries them, in one transaction.
 */
static void edit_text(struct dev *d, const char *ticket, const char *field,
		      const char *text)
{
	char hlc[BS__HLC_TEXT_LEN + 1], sql[4000];
	int64_t now;

	use(d);
	now = bs_os_now_ms() + dev_int(d, "SELECT coalesce((SELECT value FROM "
				       "sync_state WHERE key = "
				       "'hub_clock_offset_ms'), 0)");
	bs__hlc_format(hlc, bs__hlc_make(now, 0));
	sqlite3_snprintf(sizeof(sql), sql,
		"BEGIN IMMEDIATE;"
		"UPDATE ticket SET %s = %Q, local_dirty = 1 WHERE id = %Q;"
		"INSERT INTO outbox (device_id, entity, entity_id, ticket_id, "
		"op, fields, hlc, base_version, author, device_time_ms, "
		"created_ms) SELECT (SELECT value FROM sync_state WHERE key = "
		"'device_id'), 'ticket', %Q, %Q, 'update', "
		"json_object(%Q, %Q), %Q, server_version, %Q, %lld, %lld FROM "
		"ticket WHERE id = %Q;"
		"COMMIT;", field, text, ticket, ticket, ticket, field, text,
		hlc, d->staff, (long long)now, (long long)now, ticket);
	tu_exec(d->st, sql);
}

/* The end of a scenario: every open device syncs, and holds what head
 * office holds, field by field (tests/support/converge.h). */
static void use_ud(void *ud)
{
	use(ud);
}

static void converge(void)
{
	struct dev *all[] = { &a, &m };
	struct tu_device v[2];
	int n = 0;
	unsigned i;

	for (i = 0; i < 2; i++) {
		if (all[i]->st == NULL)
			continue;
		v[n].name = all[i]->staff;
		v[n].st = &all[i]->st;
		v[n].use = use_ud;
		v[n].ud = all[i];
		n++;
	}
	assert_true(n > 0);
	assert_true(tu_converge(hub.dir, v, n) > 0);
}

/* --- fixture ---------------------------------------------------------- */

static int setup(void **state)
{
	char self[600];
	ssize_t n;

	(void)state;
	bs__json_init();
	bs__sync_batch(-1, -1);
	bs__sync_index_after(-1);
	skew_ms = 0;
	max_offline = NULL;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	/* BUILD/tests/integration/test_sync -> BUILD/branchsync-hub */
	for (int up = 0; up < 3; up++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	snprintf(tmp, sizeof(tmp), "%s", tu_tempdir());
	hub_make(&hub, "hub", export_text);
	hub_start(&hub, 0);
	memset(&hub2, 0, sizeof(hub2));
	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	skew_ms = 0;
	bs__sync_batch(-1, -1);
	bs__sync_index_after(-1);
	dev_close(&a);
	dev_close(&m);
	hub_stop(&hub);
	hub_stop(&hub2);
	tu_rmrf(tmp);
	return 0;
}

/* Two enrolled devices: a (staff s1) and m (manager m1), synced once. */
static void two_devices(void)
{
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	dev_make(&m, "laptop", "m1", "BR01", "manager");
	enroll(&a);
	enroll(&m);
	sync_ok(&a);
	sync_ok(&m);
}

/* --- enrollment -------------------------------------------------------- */

static void test_sync__enroll_good(void **state)
{
	bs_sync_opts o = opts();
	char code[64];

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	/* The CA and the key are inside the encrypted store. */
	assert_string_equal(dev_text(&a, "SELECT value FROM sync_state WHERE "
				     "key = 'enroll_state'"), "done");
	assert_int_equal(dev_int(&a, "SELECT length(value) > 60 FROM "
				 "sync_state WHERE key = 'device_key' AND "
				 "typeof(value) = 'blob'"), 1);
	assert_non_null(strstr(dev_text(&a, "SELECT value FROM sync_state "
					"WHERE key = 'hub_ca_pem'"),
			       "BEGIN CERTIFICATE"));
	assert_string_equal(dev_text(&a, "SELECT value FROM sync_state WHERE "
				     "key = 'scope'"),
			    "{\"branch\":\"BR01\",\"staff\":\"s1\"}");
	/* Nothing of it in plaintext beside the store. */
	assert_false(tu_file_contains(tu_path(a.dir, "keys"),
				      "BEGIN CERTIFICATE"));
	/* The hub knows the device under the store's device id. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM device WHERE id "
				 "= '%s' AND staff = 's1' AND branch = "
				 "'BR01'", dev_text(&a, "SELECT value FROM "
						    "sync_state WHERE key = "
						    "'device_id'")), 1);
	/* A signed round works: the two tickets of s1 arrive. */
	sync_ok(&a);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 2);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE id "
				 "IN ('%s', '%s')", T1, T2), 2);
	assert_true(a.rep.pages >= 1);
	/* A second enrollment is refused and changes nothing. */
	code_for(&hub, &a, code, sizeof(code));
	assert_int_equal(bs_sync_enroll(a.st, hub.url, code, &o), BS_EEXISTS);
}

static void test_sync__enroll_wrong_code(void **state)
{
	bs_sync_opts o = opts();
	char code[64], wrong[64];

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	code_for(&hub, &a, code, sizeof(code));
	/* The right id with a wrong secret: the CA's MAC does not match,
	 * the device stops before it trusts or sends anything. */
	snprintf(wrong, sizeof(wrong), "%.5s%c%s", code,
		 code[5] == '0' ? '1' : '0', code + 6);
	assert_int_equal(bs_sync_enroll(a.st, hub.url, wrong, &o),
			 BS_EBADKEY);
	assert_non_null(strstr(bs_last_error(), "does not match"));
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM sync_state WHERE "
				 "key IN ('hub_url', 'device_key', "
				 "'hub_ca_pem', 'enroll_state')"), 0);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM device"), 0);
	/* An unknown code id: refused by the hub. */
	assert_int_equal(bs_sync_enroll(a.st, hub.url,
					"ZZZZ-0000-0000-0000-0000", &o),
			 BS_EREFUSED);
	/* Not a code at all. */
	assert_int_equal(bs_sync_enroll(a.st, hub.url, "hello", &o),
			 BS_EINVAL);
	/* Not https. */
	assert_int_equal(bs_sync_enroll(a.st, "http://localhost:1", code, &o),
			 BS_EINVAL);
	/* The good code still works afterwards, once. */
	assert_int_equal(bs_sync_enroll(a.st, hub.url, code, &o), BS_OK);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM device"), 1);
}

static void test_sync__enroll_mitm_refused(void **state)
{
	bs_sync_opts o = opts();
	char code[64], id[8], secret[20], other[64];
	int rc;

	(void)state;
	/* A second hub with its own CA plays the man in the middle. */
	hub_make(&hub2, "mitm", export_text);
	hub_start(&hub2, 0);
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	code_for(&hub, &a, code, sizeof(code));
	assert_int_equal(bs__wire_code_parse(id, secret, code), BS_OK);
	/* It answers to the code's id (which travels before anything is
	 * trusted) with its own CA, MAC'd under a secret it made up. */
	assert_int_equal(hub_cmd(other, sizeof(other), "enroll-code --dir %s "
				 "--branch BR01 --staff s1", hub2.dir), 0);
	{
		char sql[300], oid[8], osec[20];

		assert_int_equal(bs__wire_code_parse(oid, osec, other), BS_OK);
		snprintf(sql, sizeof(sql), "UPDATE enroll_code SET id = '%s' "
			 "WHERE id = '%s'", id, oid);
		hub_exec(&hub2, sql);
	}
	rc = bs_sync_enroll(a.st, hub2.url, code, &o);
	assert_int_equal(rc, BS_EBADKEY);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM sync_state WHERE "
				 "key IN ('hub_url', 'device_key', "
				 "'hub_ca_pem')"), 0);
	assert_int_equal(hub_int(&hub2, "SELECT count(*) FROM device"), 0);

	/* Enrolled with the real hub, the device trusts its CA only: the
	 * other hub's certificate is refused at the TLS handshake. */
	assert_int_equal(bs_sync_enroll(a.st, hub.url, code, &o), BS_OK);
	sync_ok(&a);
	{
		char sql[300];

		snprintf(sql, sizeof(sql), "UPDATE sync_state SET value = "
			 "'%s' WHERE key = 'hub_url'", hub2.url);
		tu_exec(a.st, sql);
	}
	reply(&a, T1, "sent to the wrong hub?");
	rc = sync_rc(&a);
	assert_int_equal(rc, BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "pinned"));
	/* The reply waits, unsent, for the real hub. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "<> 'answered'"), 1);
	assert_int_equal(hub_int(&hub2, "SELECT count(*) FROM activity WHERE "
				 "body = 'sent to the wrong hub?'"), 0);
}

static void test_sync__needs_enrollment(void **state)
{
	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	assert_int_equal(sync_rc(&a), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "enroll"));
	/* Enrollment survives closing and opening the store. */
	enroll(&a);
	dev_close(&a);
	dev_open(&a);
	sync_ok(&a);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 2);
}

/* --- rounds ------------------------------------------------------------ */

static void progress_count(const bs_sync_progress *p, void *ud)
{
	int *n = ud;

	if (p->phase == BS_SYNC_PULL)
		n[0]++;
	else
		n[1]++;
}

static void test_sync__round_trip(void **state)
{
	char walkin[37], reply_id[37];
	bs_new_ticket t;

	(void)state;
	two_devices();
	/* Scope: the staff device has s1's two tickets, the manager the
	 * branch's three; nobody has BR02's. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 2);
	assert_int_equal(dev_int(&m, "SELECT count(*) FROM ticket"), 3);
	assert_int_equal(dev_int(&m, "SELECT count(*) FROM ticket WHERE id = "
				 "'%s'", T4), 0);
	/* The customer, the archive, the timeline came with T1. */
	assert_string_equal(dev_text(&a, "SELECT name_masked FROM customer "
				     "WHERE id = 'C-1'"), "张*");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM customer_archive "
				 "WHERE customer_id = 'C-1'"), 1);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "ticket_id = '%s' AND kind = 'call_log'",
				 T1), 1);
	/* The catalogue line the device can take arrived; the one without
	 * a risk class was skipped, not fatal. */
	assert_string_equal(dev_text(&a, "SELECT name FROM "
				     "catalogue_category WHERE code = 'CARD'"),
			    "Cards");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM audit WHERE "
				 "action = 'sync.catalogue_skipped'"), 1);

	/* The tablet works offline: a reply, a move, a walk-in. */
	use(&a);
	assert_int_equal(bs_ticket_add(a.st, T1, BS_ACT_REPLY,
				       "我们已联系您", reply_id), BS_OK);
	assert_int_equal(bs_ticket_move(a.st, T1, "in_progress", NULL), BS_OK);
	memset(&t, 0, sizeof(t));
	t.category = "CARD";
	t.channel = "branch";
	t.subject = "Card swallowed at the counter";
	t.description = "Customer came in, card kept by the machine";
	t.customer_name = "王小明";
	t.customer_phone = "13800001234";
	assert_int_equal(bs_ticket_new(a.st, &t, walkin), BS_OK);
	sync_ok(&a);
	assert_int_equal(a.rep.pushed, 3);
	assert_int_equal(a.rep.applied, 3);
	/* The walk-in's full name and phone went with its operation and
	 * were erased with the answer; the device keeps the masked
	 * customer, still linked after the pull. */
	assert_int_equal(a.rep.held, 0);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE "
				 "sensitive IS NOT NULL"), 0);
	assert_string_equal(dev_text(&a, "SELECT c.name_masked FROM ticket t "
				     "JOIN customer c ON c.id = t.customer_id "
				     "WHERE t.id = '%s'", walkin), "王*");
	/* Answered operations keep their answer; the reply has the hub's
	 * receipt time beside the device's. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE "
				 "state = 'answered' AND answer IS NOT NULL"),
			 3);
	assert_int_equal(dev_int(&a, "SELECT hub_time_ms IS NOT NULL FROM "
				 "activity WHERE id = '%s'", reply_id), 1);
	assert_int_equal(dev_int(&a, "SELECT local_dirty FROM ticket WHERE "
				 "id = '%s'", T1), 0);
	/* Head office has them, the walk-in with its reference. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "id = '%s' AND body = '我们已联系您'",
				 reply_id), 1);
	assert_string_equal(hub_text(&hub, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T1), "in_progress");
	assert_string_equal(hub_text(&hub, "SELECT branch || '/' || assignee "
				     "FROM ticket WHERE id = '%s'", walkin),
			    "BR01/s1");
	assert_non_null(strstr(dev_text(&a, "SELECT ref FROM ticket WHERE "
					"id = '%s'", walkin), "W-BR01-"));
	/* Only head office has the walk-in's full contact. */
	assert_string_equal(hub_text(&hub, "SELECT name || ' ' || phone FROM "
				     "contact WHERE ticket_id = '%s'", walkin),
			    "王小明 13800001234");

	/* The manager's laptop gets all of it. */
	sync_ok(&m);
	assert_string_equal(dev_text(&m, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T1), "in_progress");
	assert_string_equal(dev_text(&m, "SELECT body FROM activity WHERE "
				     "id = '%s'", reply_id),
			    "我们已联系您");
	assert_string_equal(dev_text(&m, "SELECT subject FROM ticket WHERE "
				     "id = '%s'", walkin),
			    "Card swallowed at the counter");
	assert_true(dev_text(&m, "SELECT ref FROM ticket WHERE id = '%s'",
			     walkin)[0] != '\0');
	/* ... and answers with a note, which comes back to the tablet. */
	use(&m);
	assert_int_equal(bs_ticket_add(m.st, T1, BS_ACT_NOTE, "checked",
				       NULL), BS_OK);
	sync_ok(&m);
	sync_ok(&a);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "ticket_id = '%s' AND body = 'checked'", T1),
			 1);
	/* A round with nothing to do changes nothing. */
	{
		long long acts = dev_int(&a, "SELECT count(*) FROM activity");
		long long cur = dev_int(&a, "SELECT value FROM sync_state "
					"WHERE key = 'pull_cursor'");

		sync_ok(&a);
		assert_int_equal(a.rep.pushed, 0);
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity"),
				 acts);
		assert_true(dev_int(&a, "SELECT value FROM sync_state WHERE "
				    "key = 'pull_cursor'") >= cur);
	}
	assert_int_equal(bs_store_check(a.st), BS_OK);
	assert_int_equal(bs_store_check(m.st), BS_OK);
	converge();
}

static void test_sync__initial_sync_paged(void **state)
{
	char line[600], path[700];
	int counts[2] = { 0, 0 }, i;
	bs_sync_opts o = opts();
	FILE *f;

	(void)state;
	/* Head office sends 120 more tickets to s1. */
	snprintf(path, sizeof(path), "%s/more.jsonl", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n", f);
	for (i = 0; i < 120; i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"ticket\",\"id\":\"01890a5d-ac96-774b-"
			 "bcce-b3020991%04d\",\"ref\":\"VOC-B%d\",\"channel\":"
			 "\"phone\",\"status\":\"dispatched\",\"subject\":"
			 "\"bulk %d\",\"branch\":\"BR01\",\"assignee\":\"s1\","
			 "\"t0_ms\":1795000000000}\n", i, i, i);
		fputs(line, f);
	}
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", hub.dir,
				 path), 0);
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	o.page = 25;
	o.progress = progress_count;
	o.ud = counts;
	use(&a);
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_OK);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 122);
	assert_true(a.rep.pages >= 5);
	assert_true(counts[0] >= 5);
	assert_int_equal(a.rep.cursor, dev_int(&a, "SELECT value FROM "
					       "sync_state WHERE key = "
					       "'pull_cursor'"));
	assert_int_equal(a.rep.cursor, hub_int(&hub, "SELECT max(seq) FROM "
					       "ticket WHERE assignee = 's1'"));
	converge();
}

/* --- conflicts ---------------------------------------------------------- */

static void test_sync__concurrent_replies_both_kept(void **state)
{
	char ra[37], rm[37];

	(void)state;
	two_devices();
	/* Both reply to T1 while apart: the tablet first, then the laptop;
	 * the laptop reaches head office first. */
	use(&a);
	assert_int_equal(bs_ticket_add(a.st, T1, BS_ACT_REPLY,
				       "first, from the tablet", ra), BS_OK);
	usleep(300000); /* beyond the error of two offsets */
	use(&m);
	assert_int_equal(bs_ticket_add(m.st, T1, BS_ACT_REPLY,
				       "second, from the laptop", rm), BS_OK);
	sync_ok(&m);
	sync_ok(&a);
	assert_int_equal(a.rep.applied, 1);
	sync_ok(&m);
	/* Both kept, everywhere, in the order they were written. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "id IN ('%s', '%s')", ra, rm), 2);
	assert_int_equal(hub_int(&hub, "SELECT (SELECT hlc FROM activity "
				 "WHERE id = '%s') < (SELECT hlc FROM "
				 "activity WHERE id = '%s')", ra, rm), 1);
	assert_string_equal(dev_text(&a, "SELECT group_concat(body, '|') "
				     "FROM (SELECT body FROM activity WHERE "
				     "ticket_id = '%s' AND kind = "
				     "'customer_reply' ORDER BY hlc)", T1),
			    "first, from the tablet|second, from the laptop");
	assert_string_equal(dev_text(&m, "SELECT group_concat(body, '|') "
				     "FROM (SELECT body FROM activity WHERE "
				     "ticket_id = '%s' AND kind = "
				     "'customer_reply' ORDER BY hlc)", T1),
			    "first, from the tablet|second, from the laptop");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM conflict"), 0);
	converge();
}

static void test_sync__ho_closes_while_branch_replies(void **state)
{
	char r1[37];

	(void)state;
	two_devices();
	/* The tablet replies on T2 (in progress) offline ... */
	use(&a);
	assert_int_equal(bs_ticket_add(a.st, T2, BS_ACT_REPLY,
				       "we refunded the fee", r1), BS_OK);
	/* ... while head office closes it. */
	assert_int_equal(hub_cmd(NULL, 0, "move --dir %s %s closed --reason "
				 "duplicate", hub.dir, T2), 0);
	sync_ok(&a);
	/* The reply is kept and the ticket flagged for head office. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "id = '%s'", r1), 1);
	assert_int_equal(hub_int(&hub, "SELECT review FROM ticket WHERE id = "
				 "'%s'", T2), 1);
	assert_non_null(strstr(dev_text(&a, "SELECT answer FROM outbox WHERE "
					"entity_id = '%s'", r1), "review"));
	/* The device shows the close, keeps its reply, and says so. */
	assert_string_equal(dev_text(&a, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T2), "closed");
	assert_string_equal(dev_text(&a, "SELECT body FROM activity WHERE "
				     "id = '%s'", r1), "we refunded the fee");
	assert_int_equal(dev_int(&a, "SELECT flags & 2 FROM ticket WHERE id "
				 "= '%s'", T2), 2);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM audit WHERE "
				 "action = 'sync.review'"), 1);
	converge();
}

static void test_sync__reassigned_away_kept_then_purged(void **state)
{
	char r1[37], *json = NULL;
	long long id;

	(void)state;
	two_devices();
	use(&a);
	assert_int_equal(bs_ticket_add(a.st, T1, BS_ACT_REPLY,
				       "reply written before the news", r1),
			 BS_OK);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s %s --branch BR01 "
				 "--staff s2", hub.dir, T1), 0);
	sync_ok(&a);
	/* Refused (out of scope), kept as a conflict with the text ... */
	assert_int_equal(a.rep.rejected, 1);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "id = '%s'", r1), 0);
	id = dev_int(&a, "SELECT id FROM conflict WHERE reason = "
		     "'out_of_scope' AND entity_id = '%s'", r1);
	assert_true(id > 0);
	assert_string_equal(dev_text(&a, "SELECT mine ->> '$.body' FROM "
				     "conflict WHERE id = %lld", id),
			    "reply written before the news");
	/* ... and the ticket, its timeline and its customer are gone. */
	assert_int_equal(a.rep.dropped, 1);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE id = "
				 "'%s'", T1), 0);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "ticket_id = '%s'", T1), 0);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM customer WHERE id "
				 "= 'C-1'"), 0);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM customer_archive"),
			 0);
	assert_int_equal(dev_int(&a, "SELECT purge FROM maintenance"), 0);
	/* The conflict is listed with both sides, and resolving it keeps
	 * the text. */
	assert_int_equal(bs_conflict_list(a.st, 0, &json), BS_OK);
	assert_non_null(strstr(json, "reply written before the news"));
	bs_free(json);
	assert_int_equal(bs_conflict_resolve(a.st, id, BS_RESOLVE_EDIT, "x"),
			 BS_EINVAL);
	assert_int_equal(bs_conflict_resolve(a.st, id, BS_RESOLVE_KEEP_MINE,
					     NULL), BS_OK);
	assert_int_equal(bs_conflict_resolve(a.st, id, BS_RESOLVE_KEEP_MINE,
					     NULL), BS_EEXISTS);
	assert_string_equal(dev_text(&a, "SELECT resolution || ':' || "
				     "(mine ->> '$.body') FROM conflict WHERE "
				     "id = %lld", id),
			    "keep_mine:reply written before the news");
	assert_int_equal(bs_conflict_list(a.st, 0, &json), BS_OK);
	assert_string_equal(json, "[]");
	bs_free(json);
	/* The manager still has the ticket (it stayed in the branch). */
	sync_ok(&m);
	assert_string_equal(dev_text(&m, "SELECT assignee FROM ticket WHERE "
				     "id = '%s'", T1), "s2");
	converge();
}

static void test_sync__free_text_last_writer_wins(void **state)
{
	long long id;
	char *json = NULL;

	(void)state;
	two_devices();
	/* Both edit T1's outcome while apart; the laptop's edit is later
	 * but reaches head office first. */
	edit_text(&a, T1, "outcome", "refund by the tablet");
	usleep(300000); /* beyond the error of two offsets */
	edit_text(&m, T1, "outcome", "refund by the laptop");
	sync_ok(&m);
	sync_ok(&a);
	/* The later writer won; the tablet's text lost and is kept. */
	assert_int_equal(a.rep.merged, 1);
	assert_string_equal(hub_text(&hub, "SELECT outcome FROM ticket WHERE "
				     "id = '%s'", T1), "refund by the laptop");
	assert_string_equal(dev_text(&a, "SELECT outcome FROM ticket WHERE "
				     "id = '%s'", T1), "refund by the laptop");
	id = dev_int(&a, "SELECT id FROM conflict WHERE field = 'outcome' "
		     "AND reason = 'last_writer_wins'");
	assert_true(id > 0);
	assert_string_equal(dev_text(&a, "SELECT json(mine) || json(theirs) "
				     "FROM conflict WHERE id = %lld", id),
			    "\"refund by the tablet\"\"refund by the laptop\"");
	assert_int_equal(bs_conflict_show(a.st, id, &json), BS_OK);
	assert_non_null(strstr(json, "\"current\":\"refund by the laptop\""));
	bs_free(json);
	/* Kept at head office too. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM conflict WHERE "
				 "ticket_id = '%s' AND lost = 'refund by the "
				 "tablet'", T1), 1);
	/* The tablet keeps its text after all: a new, later edit. */
	use(&a);
	assert_int_equal(bs_conflict_resolve(a.st, id, BS_RESOLVE_KEEP_MINE,
					     NULL), BS_OK);
	sync_ok(&a);
	sync_ok(&m);
	assert_string_equal(hub_text(&hub, "SELECT outcome FROM ticket WHERE "
				     "id = '%s'", T1), "refund by the tablet");
	assert_string_equal(dev_text(&m, "SELECT outcome FROM ticket WHERE "
				     "id = '%s'", T1), "refund by the tablet");
	assert_string_equal(dev_text(&a, "SELECT outcome FROM ticket WHERE "
				     "id = '%s'", T1), "refund by the tablet");
	/* The loser's text is still in the record. */
	assert_string_equal(dev_text(&a, "SELECT mine ->> '$' FROM conflict "
				     "WHERE id = %lld", id),
			    "refund by the tablet");
	converge();
}

static void test_sync__clock_three_days_off(void **state)
{
	char ra[37], rm[37];

	(void)state;
	/* The tablet's clock is three days fast, the laptop's three days
	 * slow; both were that way when they enrolled. */
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	dev_make(&m, "laptop", "m1", "BR01", "manager");
	a.skew_ms = 3 * DAY_MS;
	m.skew_ms = -3 * DAY_MS;
	enroll(&a);
	enroll(&m);
	sync_ok(&a);
	sync_ok(&m);
	/* Each learned how far off it is. */
	assert_true(llabs((long long)(a.rep.offset_ms + 3 * DAY_MS)) < 60000);
	assert_true(llabs((long long)(m.rep.offset_ms - 3 * DAY_MS)) < 60000);
	/* The tablet writes first, the laptop after: the order survives
	 * although the tablet's clock reads six days later. */
	reply(&a, T1, "written first (clock fast)");
	usleep(300000); /* beyond the error of two offsets */
	reply(&m, T1, "written second (clock slow)");
	use(&m);
	assert_int_equal(bs_ticket_add(m.st, T1, BS_ACT_NOTE, "m", rm), BS_OK);
	sync_ok(&m);
	sync_ok(&a);
	sync_ok(&m);
	assert_string_equal(hub_text(&hub, "SELECT group_concat(body, '|') "
				     "FROM (SELECT body FROM activity WHERE "
				     "ticket_id = '%s' AND kind = "
				     "'customer_reply' ORDER BY hlc)", T1),
			    "written first (clock fast)|"
			    "written second (clock slow)");
	/* Stamps are on the hub's time, not the devices' own. */
	assert_true(llabs(hub_int(&hub, "SELECT max(device_time_ms) - "
				  "max(hub_time_ms) FROM activity WHERE "
				  "ticket_id = '%s' AND body LIKE 'written "
				  "first%%'", T1) - 3 * DAY_MS) < 60000);
	(void)ra;
	converge();
	/* A clock that jumps eight days ahead after the last sync: the
	 * signature's clock is relearned, but the stamp of what it wrote
	 * is absurdly in the future, and the hub refuses it; the text is
	 * kept as a conflict. */
	a.skew_ms = 11 * DAY_MS;
	reply(&a, T1, "from next week");
	sync_ok(&a);
	assert_int_equal(a.rep.rejected, 1);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body = 'from next week'"), 0);
	assert_string_equal(dev_text(&a, "SELECT reason || ':' || (mine ->> "
				     "'$.body') FROM conflict"),
			    "invalid:from next week");

	/* What such refused work showed at once (a first response, a
	 * paused clock, a status) is taken back to the hub's. */
	assert_int_equal(dev_int(&a, "SELECT first_response_ms IS NULL FROM "
				 "ticket WHERE id = '%s'", T2), 1);
	reply(&a, T2, "also from next week");
	use(&a);
	assert_int_equal(bs_ticket_move(a.st, T2, "pending_external",
					"waiting for the card scheme"), BS_OK);
	assert_int_equal(dev_int(&a, "SELECT first_response_ms IS NOT NULL "
				 "AND paused_since_ms IS NOT NULL FROM ticket "
				 "WHERE id = '%s'", T2), 1);
	sync_ok(&a);
	assert_int_equal(a.rep.rejected, 2);
	assert_string_equal(dev_text(&a, "SELECT status || ':' || "
				     "coalesce(first_response_ms, '-') || ':' "
				     "|| coalesce(paused_since_ms, '-') || ':' "
				     "|| paused_ms_total FROM ticket WHERE id = "
				     "'%s'", T2),
			    hub_text(&hub, "SELECT status || ':' || "
				     "coalesce(first_response_ms, '-') || ':' "
				     "|| coalesce(paused_since_ms, '-') || ':' "
				     "|| paused_ms_total FROM ticket WHERE id = "
				     "'%s'", T2));
	assert_string_equal(dev_text(&a, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T2), "in_progress");
}

static void test_sync__concurrent_moves(void **state)
{
	(void)state;
	two_devices();
	/* The tablet acknowledges T1 while the manager starts work on it;
	 * the manager's move reaches head office first. */
	use(&a);
	assert_int_equal(bs_ticket_move(a.st, T1, "acknowledged", NULL),
			 BS_OK);
	use(&m);
	assert_int_equal(bs_ticket_move(m.st, T1, "in_progress", NULL), BS_OK);
	sync_ok(&m);
	sync_ok(&a);
	/* Head office stands at in_progress (states.md, rule 7); the
	 * tablet's move is kept in the timeline and shown as a conflict. */
	assert_string_equal(hub_text(&hub, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T1), "in_progress");
	assert_int_equal(a.rep.merged, 1);
	assert_string_equal(dev_text(&a, "SELECT status FROM ticket WHERE "
				     "id = '%s'", T1), "in_progress");
	assert_string_equal(dev_text(&a, "SELECT reason || ':' || field || "
				     "':' || (theirs ->> '$.status') FROM "
				     "conflict"),
			    "superseded:status:in_progress");
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "ticket_id = '%s' AND kind = 'status_change' "
				 "AND to_status = 'acknowledged'", T1), 1);
	/* Taking theirs closes it; the record stays. */
	assert_int_equal(bs_conflict_resolve(a.st, dev_int(&a, "SELECT id "
							   "FROM conflict"),
					     BS_RESOLVE_TAKE_THEIRS, NULL),
			 BS_OK);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM conflict WHERE "
				 "resolution = 'take_theirs'"), 1);
	converge();
}

static void test_sync__walkins_for_one_customer(void **state)
{
	char ta[37], tm[37];
	bs_new_ticket t;

	(void)state;
	two_devices();
	memset(&t, 0, sizeof(t));
	t.category = "CARD";
	t.channel = "branch";
	t.subject = "Card blocked";
	t.description = "Customer at the counter";
	t.customer_name = "李四";
	t.customer_phone = "13912345678";
	use(&a);
	assert_int_equal(bs_ticket_new(a.st, &t, ta), BS_OK);
	t.subject = "Card blocked (phone call)";
	use(&m);
	assert_int_equal(bs_ticket_new(m.st, &t, tm), BS_OK);
	sync_ok(&a);
	sync_ok(&m);
	sync_ok(&a);
	/* Both registrations are kept, each with its own reference. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM ticket WHERE "
				 "id IN ('%s', '%s') AND ref LIKE 'W-BR01-%%'",
				 ta, tm), 2);
	assert_int_equal(dev_int(&m, "SELECT count(*) FROM ticket WHERE id IN "
				 "('%s', '%s')", ta, tm), 2);
	/* Both devices show the same masked customer on their own. */
	assert_string_equal(dev_text(&a, "SELECT c.phone_masked FROM ticket t "
				     "JOIN customer c ON c.id = t.customer_id "
				     "WHERE t.id = '%s'", ta), "139****5678");
	converge();
}

/* --- faults ------------------------------------------------------------- */

static void test_sync__retry_after_lost_answer(void **state)
{
	char r1[37], first[4096];

	(void)state;
	two_devices();
	use(&a);
	assert_int_equal(bs_ticket_add(a.st, T1, BS_ACT_REPLY, "only once",
				       r1), BS_OK);
	assert_int_equal(bs_ticket_move(a.st, T1, "in_progress", NULL), BS_OK);
	sync_ok(&a);
	snprintf(first, sizeof(first), "%s", dev_text(&a, "SELECT "
						      "group_concat(answer, "
						      "'|') FROM outbox"));
	/* The answers were lost on the way back: the device only knows
	 * it sent the batch. */
	tu_exec(a.st, "UPDATE outbox SET state = 'sent', result = NULL, "
		"answer = NULL, answered_ms = NULL");
	sync_ok(&a);
	/* The same push again: the same answers, byte for byte, nothing
	 * applied twice. */
	assert_string_equal(dev_text(&a, "SELECT group_concat(answer, '|') "
				     "FROM outbox"), first);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body = 'only once'"), 1);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM history WHERE "
				 "ticket_id = '%s' AND action IN "
				 "('activity.append', 'ticket.move')", T1), 2);
	assert_int_equal(dev_int(&a, "SELECT max(attempts) FROM outbox"), 2);
	converge();
}

/* Point a device at another address of its hub. */
static void set_url(struct dev *d, int port)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "UPDATE sync_state SET value = "
		 "'https://localhost:%d' WHERE key = 'hub_url'", port);
	tu_exec(d->st, sql);
}

static void test_sync__link_cut_after_n_bytes(void **state)
{
	struct tu_proxy *px;
	char text[64];
	long n;
	int i = 0, failed = 0;

	(void)state;
	two_devices();
	px = tu_proxy_start(hub.port);
	assert_non_null(px);
	set_url(&a, tu_proxy_port(px));
	/* For many N, the link drops after N bytes of the answers (and,
	 * every other time, of the requests), in the middle of the TLS
	 * handshake, of a push answer or of a pull page. */
	for (n = 60; n < 4000; n += 131, i++) {
		snprintf(text, sizeof(text), "cut %ld", n);
		reply(&a, i % 2 ? T1 : T2, text);
		if (i % 2)
			tu_proxy_cut(px, n / 3, -1, 1);
		else
			tu_proxy_cut(px, -1, n, 1);
		if (sync_rc(&a) != BS_OK) {
			failed++;
			if (!cured_by_retry(bs_last_error()))
				fail_msg("N=%ld: %s", n, bs_last_error());
		}
		/* The next round recovers by itself. */
		sync_ok(&a);
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox "
					 "WHERE state <> 'answered'"), 0);
	}
	print_message("  %d of %d rounds cut, %d cuts\n", failed, i,
		      tu_proxy_cuts(px));
	assert_true(failed > i / 3);
	assert_true(tu_proxy_cuts(px) >= failed);
	/* Nothing lost, nothing twice. */
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'cut %%'"), i);
	assert_int_equal(hub_int(&hub, "SELECT count(DISTINCT body) FROM "
				 "activity WHERE body LIKE 'cut %%'"), i);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'cut %%' AND hub_time_ms IS NOT "
				 "NULL"), i);
	/* And the device agrees with head office. */
	sync_ok(&m);
	assert_int_equal(dev_int(&m, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'cut %%'"), i);
	assert_int_equal(bs_store_check(a.st), BS_OK);
	tu_proxy_stop(px);
	set_url(&a, hub.port);
	converge();
}

static void test_sync__kill_during_sync(void **state)
{
	char line[600], path[700], text[64];
	int i, k, st, replies = 0;
	pid_t pid;
	FILE *f;

	(void)state;
	/* A large first sync (130 tickets) and a long outbox, sent in
	 * small batches and pages so that a sync has many steps. */
	snprintf(path, sizeof(path), "%s/more.jsonl", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n", f);
	for (i = 0; i < 130; i++) {
		snprintf(line, sizeof(line),
			 "{\"type\":\"ticket\",\"id\":\"01890a5d-ac96-774b-"
			 "bcce-b3020992%04d\",\"ref\":\"VOC-K%d\",\"channel\":"
			 "\"phone\",\"status\":\"dispatched\",\"subject\":"
			 "\"kill %d\",\"branch\":\"BR01\",\"assignee\":\"s1\","
			 "\"t0_ms\":1795000000000}\n", i, i, i);
		fputs(line, f);
	}
	fclose(f);
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", hub.dir,
				 path), 0);
	srand(4711);
	for (k = 0; k < 14; k++) {
		use(&a);
		for (i = 0; i < 12; i++) {
			snprintf(text, sizeof(text), "kill reply %d",
				 replies++);
			reply(&a, i % 2 ? T1 : T2, text);
		}
		dev_close(&a);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			bs_sync_opts o = opts();
			bs_key key = pin(&a);
			bs_store *s = NULL;

			o.batch = 3;
			o.page = 4;
			if (bs_store_open(&s, a.dir, &key) != BS_OK)
				_exit(3);
			for (;;)
				if (bs_sync_round(&s, &o, NULL) == BS_OK)
					break;
			bs_store_close(s);
			_exit(0);
		}
		usleep((useconds_t)(rand() % 250000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		/* Whatever the moment, the store opens and is whole. */
		dev_open(&a);
		assert_int_equal(bs_store_check(a.st), BS_OK);
		/* The cursor never runs ahead of what was applied. */
		assert_true(dev_int(&a, "SELECT count(*) FROM ticket") >=
			    dev_int(&a, "SELECT coalesce((SELECT value FROM "
				    "sync_state WHERE key = 'pull_cursor'), "
				    "0) > 0"));
	}
	sync_ok(&a);
	/* Every reply reached head office exactly once. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "<> 'answered'"), 0);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'kill reply %%'"), replies);
	assert_int_equal(hub_int(&hub, "SELECT count(DISTINCT body) FROM "
				 "activity WHERE body LIKE 'kill reply %%'"),
			 replies);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM op WHERE "
				 "device_id = '%s'",
				 dev_text(&a, "SELECT value FROM sync_state "
					  "WHERE key = 'device_id'")),
			 dev_int(&a, "SELECT count(*) FROM outbox"));
	/* The device has every ticket of its scope, and the same timeline
	 * as head office. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 132);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'kill reply %%' AND hub_time_ms IS "
				 "NOT NULL"), replies);
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE key "
				 "= 'pull_cursor'"),
			 hub_int(&hub, "SELECT max(seq) FROM ticket WHERE "
				 "assignee = 's1'"));
	converge();
}

static void test_sync__revoked_device_wipes_itself(void **state)
{
	char dev_id[64];
	bs_key k;
	bs_store *st = NULL;

	(void)state;
	two_devices();
	reply(&a, T1, "unsent when revoked");
	snprintf(dev_id, sizeof(dev_id), "%s", dev_text(&a, "SELECT value "
							"FROM sync_state "
							"WHERE key = "
							"'device_id'"));
	assert_int_equal(hub_cmd(NULL, 0, "revoke --dir %s %s", hub.dir,
				 dev_id), 0);
	assert_int_equal(sync_rc(&a), BS_EREVOKED);
	assert_null(a.st);
	/* Keys and data are gone: nothing opens any more. */
	assert_false(bs_os_exists(tu_path(a.dir, "keys")));
	assert_false(bs_os_exists(tu_path(a.dir, "store-1.db")));
	k = pin(&a);
	assert_int_not_equal(bs_store_open(&st, a.dir, &k), BS_OK);
	/* The other device goes on. */
	sync_ok(&m);
}

static void test_sync__hub_killed_mid_sync(void **state)
{
	char text[64];
	int k, i, st, replies = 0, failed = 0;
	pid_t pid;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	srand(1234);
	for (k = 0; k < 6; k++) {
		for (i = 0; i < 30; i++) {
			snprintf(text, sizeof(text), "restart reply %d",
				 replies++);
			reply(&a, i % 2 ? T1 : T2, text);
		}
		dev_close(&a);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* The device keeps trying until a round succeeds;
			 * its exit status is how many rounds failed. */
			bs_sync_opts o = opts();
			bs_key key = pin(&a);
			bs_store *s = NULL;
			int fails = 0;

			o.batch = 2;
			o.connect_timeout_ms = 500;
			if (bs_store_open(&s, a.dir, &key) != BS_OK)
				_exit(200);
			while (bs_sync_round(&s, &o, NULL) != BS_OK) {
				fails += fails < 100;
				usleep(50000);
			}
			bs_store_close(s);
			_exit(fails);
		}
		/* Head office's process dies in the middle, and comes back. */
		usleep((useconds_t)(20000 + rand() % 150000));
		kill(hub.pid, SIGKILL);
		waitpid(hub.pid, &st, 0);
		hub.pid = 0;
		usleep(100000);
		hub_start(&hub, hub.port);
		waitpid(pid, &st, 0);
		assert_true(WIFEXITED(st));
		assert_true(WEXITSTATUS(st) <= 100);
		failed += WEXITSTATUS(st);
		dev_open(&a);
	}
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "<> 'answered'"), 0);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body LIKE 'restart reply %%'"), replies);
	assert_int_equal(hub_int(&hub, "SELECT count(DISTINCT body) FROM "
				 "activity WHERE body LIKE 'restart reply %%'"),
			 replies);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM ticket WHERE "
				 "assignee = 's1'"), 2);
	print_message("  %d rounds failed with the hub gone\n", failed);
	assert_true(failed > 0);
	converge();
}

/* --- a hub that misbehaves ----------------------------------------------- */

/* Answers every request with one canned answer, over TLS with the real
 * hub's certificate; counts the requests it saw. */
struct fake {
	mbedtls_net_context listen;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	pthread_t thread;
	int port;
	_Atomic int stop; /* read by the fake hub's thread */
	int status;
	const char *extra; /* more header lines, or "" */
	const void *body;
	size_t len;
	int requests;
	/* From the second request on, if then_status is set. */
	int then_status;
	const char *then_extra;
	const void *then_body;
	size_t then_len;
};

static struct fake fake;

static void fake_answer(int status, const char *extra, const void *body,
			size_t len);

/* Read one HTTP request (headers and Content-Length bytes). */
static int fake_read(mbedtls_ssl_context *ssl)
{
	char buf[65536];
	size_t n = 0, want = 0;
	char *end, *cl;
	int r;

	for (;;) {
		r = mbedtls_ssl_read(ssl, (unsigned char *)buf + n,
				     sizeof(buf) - 1 - n);
		if (r == MBEDTLS_ERR_SSL_WANT_READ)
			continue;
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(buf, "content-length:");
		want = (size_t)(end + 4 - buf) +
		       (cl != NULL && cl < end ? strtoul(cl + 15, NULL, 10)
					       : 0);
		if (n >= want || n >= sizeof(buf) - 1)
			return 0;
	}
}

static void *fake_run(void *arg)
{
	mbedtls_net_context client;
	mbedtls_ssl_context ssl;
	char head[512];
	int r;

	(void)arg;
	while (!fake.stop) {
		mbedtls_net_init(&client);
		r = mbedtls_net_accept(&fake.listen, &client, NULL, 0, NULL);
		if (r != 0) {
			usleep(10000);
			continue;
		}
		mbedtls_ssl_init(&ssl);
		if (mbedtls_ssl_setup(&ssl, &fake.conf) == 0) {
			mbedtls_ssl_set_bio(&ssl, &client, mbedtls_net_send,
					    mbedtls_net_recv, NULL);
			while ((r = mbedtls_ssl_handshake(&ssl)) ==
			       MBEDTLS_ERR_SSL_WANT_READ)
				;
			if (r == 0 && fake_read(&ssl) == 0) {
				fake.requests++;
				if (fake.requests > 1 && fake.then_status)
					fake_answer(fake.then_status,
						    fake.then_extra,
						    fake.then_body,
						    fake.then_len);
				snprintf(head, sizeof(head),
					 "HTTP/1.1 %d X\r\nContent-Type: "
					 "application/json\r\nContent-Length: "
					 "%zu\r\nConnection: close\r\n%s\r\n",
					 fake.status, fake.len, fake.extra);
				mbedtls_ssl_write(&ssl, (const unsigned char *)
						  head, strlen(head));
				if (fake.len > 0)
					mbedtls_ssl_write(&ssl, fake.body,
							  fake.len);
				mbedtls_ssl_close_notify(&ssl);
			}
		}
		mbedtls_ssl_free(&ssl);
		mbedtls_net_free(&client);
	}
	return NULL;
}

static void fake_start(void)
{
	char path[700];
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(&fake, 0, sizeof(fake));
	mbedtls_net_init(&fake.listen);
	mbedtls_ssl_config_init(&fake.conf);
	mbedtls_x509_crt_init(&fake.crt);
	mbedtls_pk_init(&fake.key);
	mbedtls_entropy_init(&fake.entropy);
	mbedtls_ctr_drbg_init(&fake.drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&fake.drbg,
		mbedtls_entropy_func, &fake.entropy, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/server.crt", hub.dir);
	assert_int_equal(mbedtls_x509_crt_parse_file(&fake.crt, path), 0);
	snprintf(path, sizeof(path), "%s/server.key", hub.dir);
	assert_int_equal(mbedtls_pk_parse_keyfile(&fake.key, path, NULL), 0);
	assert_int_equal(mbedtls_ssl_config_defaults(&fake.conf,
		MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
		MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&fake.conf, mbedtls_ctr_drbg_random,
			     &fake.drbg);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&fake.conf, &fake.crt,
						   &fake.key), 0);
	assert_int_equal(mbedtls_net_bind(&fake.listen, "127.0.0.1", "0",
					  MBEDTLS_NET_PROTO_TCP), 0);
	assert_int_equal(getsockname(fake.listen.fd, (struct sockaddr *)&sa,
				     &len), 0);
	fake.port = ntohs(sa.sin_port);
	assert_int_equal(mbedtls_net_set_nonblock(&fake.listen), 0);
	assert_int_equal(pthread_create(&fake.thread, NULL, fake_run, NULL),
			 0);
}

static void fake_stop(void)
{
	fake.stop = 1;
	pthread_join(fake.thread, NULL);
	mbedtls_net_free(&fake.listen);
	mbedtls_ssl_config_free(&fake.conf);
	mbedtls_x509_crt_free(&fake.crt);
	mbedtls_pk_free(&fake.key);
	mbedtls_ctr_drbg_free(&fake.drbg);
	mbedtls_entropy_free(&fake.entropy);
}

static void fake_answer(int status, const char *extra, const void *body,
			size_t len)
{
	fake.status = status;
	fake.extra = extra;
	fake.body = body;
	fake.len = len;
}

static void test_sync__hub_answers_badly(void **state)
{
	static const char err500[] = "{\"v\":1,\"error\":\"error\",\"cause\":"
				     "null,\"message\":\"boom\","
				     "\"hub_time_ms\":1795331151757}";
	static const char garbage[] = "<html>proxy error</html>";
	static const char wrong_results[] =
		"{\"v\":1,\"results\":[{\"op_id\":\"x:1\",\"result\":"
		"\"applied\"}],\"hub_time_ms\":1795331151757}";
	char page[1024];
	uint8_t z[256];
	uLongf zlen = sizeof(z);
	long long cursor;

	(void)state;
	two_devices();
	fake_start();
	reply(&a, T1, "survives a bad hub");
	set_url(&a, fake.port);
	/* 500 with an error document: busy, try later. */
	fake_answer(500, "", err500, strlen(err500));
	assert_int_equal(sync_rc(&a), BS_EBUSY);
	assert_non_null(strstr(bs_last_error(), "boom"));
	/* Not a protocol document. */
	fake_answer(200, "", garbage, strlen(garbage));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "not a protocol document"));
	/* A deflated body cut short. */
	assert_int_equal(compress(z, &zlen, (const Bytef *)err500,
				  sizeof(err500) - 1), Z_OK);
	fake_answer(200, "Content-Encoding: deflate\r\n", z, zlen - 4);
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	/* Answers to other operations than those sent. */
	fake_answer(200, "", wrong_results, strlen(wrong_results));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "does not match"));
	assert_true(fake.requests >= 4);
	/* Nothing was taken for an answer: the reply still waits. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "= 'sent' AND answer IS NULL"), 1);

	/* The real hub takes it, once. */
	set_url(&a, hub.port);
	sync_ok(&a);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body = 'survives a bad hub'"), 1);

	/* Pages that break the protocol are refused whole. */
	set_url(&a, fake.port);
	cursor = dev_int(&a, "SELECT value FROM sync_state WHERE key = "
			 "'pull_cursor'");
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":1795331151757}", cursor - 1);
	fake_answer(200, "", page, strlen(page));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "went back"));
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[{\"seq\":%lld,"
		 "\"kind\":\"ticket\",\"ticket\":{\"id\":\"" T3 "\",\"status\":"
		 "\"dispatched\",\"channel\":\"app\",\"t0_ms\":1,\"version\":1,"
		 "\"subject\":\"x\"},\"activities\":[]},{\"seq\":%lld,\"kind\":"
		 "\"ticket\",\"ticket\":{\"id\":\"" T4 "\",\"status\":"
		 "\"nope\"}}],\"cursor\":%lld,\"more\":false,\"hub_time_ms\":"
		 "1795331151757}", cursor + 1, cursor + 2, cursor + 2);
	fake_answer(200, "", page, strlen(page));
	assert_int_equal(sync_rc(&a), BS_EINVAL);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE id = "
				 "'%s'", T3), 0);
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE key "
				 "= 'pull_cursor'"), cursor);
	/* A page that claims more but does not move. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":true,\"hub_time_ms\":1795331151757}", cursor);
	fake_answer(200, "", page, strlen(page));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	/* Page headers whose body disagrees, or is missing. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":1795331151757}", cursor + 1);
	fake_answer(200, "X-BS-Cursor: 999\r\nX-BS-More: false\r\n", page,
		    strlen(page));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "headers"));
	fake_answer(200, "X-BS-Cursor: 999\r\nX-BS-More: false\r\n", "", 0);
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "not a protocol document"));
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE key "
				 "= 'pull_cursor'"), cursor);
	fake_stop();
	/* And the real hub again: all is well. */
	set_url(&a, hub.port);
	sync_ok(&a);
	assert_int_equal(bs_store_check(a.st), BS_OK);
	converge();
}

/* --- the watch loop ------------------------------------------------------ */

static void test_sync__backoff(void **state)
{
	unsigned f;
	int64_t d, prev_max = 0;

	(void)state;
	for (f = 0; f < 40; f++) {
		int64_t lo = INT64_MAX, hi = 0;
		uint32_t r;

		for (r = 0; r < 2000; r++) {
			d = bs_sync_backoff_ms(f, 1000, 300000,
					       r * 2654435761u);
			if (d < lo)
				lo = d;
			if (d > hi)
				hi = d;
		}
		/* Never more than the cap, never less than half the step. */
		assert_true(hi <= 300000);
		assert_true(lo >= (f < 9 ? (1000 << f) / 2 : 150000) - 1);
		/* Jitter: the delays spread. */
		assert_true(hi - lo >= (f < 9 ? (1000 << f) / 4 : 75000));
		assert_true(hi >= prev_max);
		prev_max = hi;
	}
	assert_int_equal(bs_sync_backoff_ms(0, 0, 0, 7), 1);
}

struct watch_log {
	int failures, successes;
	int64_t max_wait;
	int started;
};

static void on_event(int rc, const bs_sync_report *r, int64_t next_ms,
		     void *ud)
{
	struct watch_log *w = ud;

	(void)r;
	if (rc == BS_OK) {
		w->successes++;
		return;
	}
	w->failures++;
	if (next_ms > w->max_wait)
		w->max_wait = next_ms;
	/* The hub comes back after a few failed rounds, on its port. */
	if (w->failures == 4 && !w->started) {
		hub_start(&hub, hub.port);
		w->started = 1;
	}
}

static int stop_when_sent(void *ud)
{
	struct watch_log *w = ud;

	return w->successes > 0 &&
	       dev_int(&a, "SELECT count(*) FROM outbox WHERE state <> "
		       "'answered'") == 0;
}

static void test_sync__watch_backs_off_and_never_gives_up(void **state)
{
	bs_sync_watch_opts o;
	struct watch_log w;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	hub_stop(&hub);
	reply(&a, T1, "written while the hub was down");
	memset(&w, 0, sizeof(w));
	memset(&o, 0, sizeof(o));
	o.sync = opts();
	o.sync.connect_timeout_ms = 1000;
	o.interval_ms = 60000;
	o.poll_ms = 10;
	o.settle_ms = 10;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 160;
	o.stop = stop_when_sent;
	o.event = on_event;
	o.ud = &w;
	use(&a);
	assert_int_equal(bs_sync_watch(&a.st, &o), BS_OK);
	assert_true(w.failures >= 4);
	assert_true(w.max_wait <= 160);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body = 'written while the hub was down'"), 1);
	converge();
}

static void test_sync__bad_operation_does_not_block_the_queue(void **state)
{
	(void)state;
	two_devices();
	reply(&a, T1, "good before");
	/* An operation the hub cannot take (a kind protocol 1 lacks)
	 * between two good ones. */
	tu_exec(a.st, "INSERT INTO outbox (device_id, entity, entity_id, "
		"ticket_id, op, fields, hlc, base_version, author, "
		"device_time_ms, created_ms) SELECT value, 'activity', "
		"'01890a5d-ac96-774b-bcce-b302099aee01', '" T1 "', 'append', "
		"'{\"kind\":\"telegram\",\"body\":\"stop\"}', "
		"'0190000000000000', 1, 's1', 1, 1 FROM sync_state WHERE key = "
		"'device_id'");
	reply(&a, T1, "good after");
	sync_ok(&a);
	assert_int_equal(a.rep.applied, 2);
	assert_int_equal(a.rep.rejected, 1);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body IN ('good before', 'good after')"), 2);
	assert_string_equal(dev_text(&a, "SELECT reason || ':' || (mine ->> "
				     "'$.body') FROM conflict"),
			    "invalid:stop");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "<> 'answered'"), 0);
	converge();
}



/* --- a full disk on the device ------------------------------------------ */

/* Head office imports n more tickets of s1, numbered from first (ids
 * ...b30209a9NNNN). */
static void hub_import_subjects(int first, int n, const char *subject)
{
	char path[700];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/more.jsonl", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n", f);
	for (i = first; i < first + n; i++)
		fprintf(f, "{\"type\":\"ticket\",\"id\":\"01890a5d-ac96-774b-"
			"bcce-b30209a9%04d\",\"ref\":\"VOC-M%d\",\"channel\":"
			"\"app\",\"status\":\"dispatched\",\"subject\":"
			"\"%s %d\",\"branch\":\"BR01\",\"assignee\":\"s1\","
			"\"t0_ms\":1795000000000}\n", i, i, subject, i);
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", hub.dir, path),
			 0);
}

static void hub_import_more(int first, int n)
{
	hub_import_subjects(first, n, "more");
}

static int64_t cursor_of(struct dev *d)
{
	return dev_int(d, "SELECT value FROM sync_state WHERE key = "
		       "'pull_cursor'");
}

/* A pull page ends at the hub's byte budget, however many changes the
 * device asked for, and the pages that follow bring the rest. */
static void test_sync__page_within_byte_budget(void **state)
{
	static char big[60001];
	bs_sync_opts o = opts();
	char path[700];
	FILE *f;
	int i;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	/* 90 tickets of 60,000-byte descriptions: 5.4 MB of JSON. */
	memset(big, 'd', sizeof(big) - 1);
	snprintf(path, sizeof(path), "%s/big.jsonl", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n", f);
	for (i = 0; i < 90; i++)
		fprintf(f, "{\"type\":\"ticket\",\"id\":\"01890a5d-ac96-774b-"
			"bcce-b30209b9%04d\",\"ref\":\"VOC-L%d\",\"channel\":"
			"\"app\",\"status\":\"dispatched\",\"subject\":"
			"\"large %d\",\"description\":\"%s\",\"branch\":"
			"\"BR01\",\"assignee\":\"s1\",\"t0_ms\":"
			"1795000000000}\n", i, i, i, big);
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", hub.dir, path),
			 0);
	o.page = 1000;
	use(&a);
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_OK);
	assert_int_equal(a.rep.pages, 2);
	assert_int_equal(a.rep.changes, 90);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				 "subject LIKE 'large %%' AND "
				 "length(description) = 60000"), 90);
	assert_int_equal(a.rep.cursor, cursor_of(&a));
	converge();
}

/* Commits of pulled pages: transactions that wrote tickets or timeline
 * entries and no outbox row. */
static int page_commits;
static int page_written;

static void count_update(void *ud, int op, const char *db, const char *table,
			 sqlite3_int64 rowid)
{
	(void)ud;
	(void)op;
	(void)db;
	(void)rowid;
	if (strcmp(table, "outbox") == 0)
		page_written |= 2;
	else if (strcmp(table, "ticket") == 0 ||
		 strcmp(table, "activity") == 0)
		page_written |= 1;
}

static int count_commit(void *ud)
{
	(void)ud;
	if (page_written == 1)
		page_commits++;
	page_written = 0;
	return 0;
}

static void count_rollback(void *ud)
{
	(void)ud;
	page_written = 0;
}

/*
 * The full-text index of table holds each of its rows once: FTS5's
 * integrity check with rank 1 compares the index with the text of every
 * row of the table, so a row indexed twice, or not at all, fails it.
 */
static void fts_exactly_once(struct dev *d, const char *table)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "INSERT INTO %s_fts (%s_fts, rank) "
		 "VALUES ('integrity-check', 1)", table, table);
	assert_int_equal(sqlite3_exec(bs_store_db(d->st), sql, NULL, NULL,
				      NULL), SQLITE_OK);
}

static void test_sync__pages_batched(void **state)
{
	bs_sync_opts o = opts();
	sqlite3 *db;
	int64_t before;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	hub_import_more(0, 40);
	db = bs_store_db(a.st);
	sqlite3_update_hook(db, count_update, NULL);
	sqlite3_commit_hook(db, count_commit, NULL);
	sqlite3_rollback_hook(db, count_rollback, NULL);

	/* Pages that are at hand go into one transaction: eight pages of
	 * five, one commit; the text is indexed in steps, whenever the next
	 * page is not there yet. */
	bs__sync_batch(INT64_C(600000000000), 60000);
	bs__sync_index_after(0);
	o.page = 5;
	use(&a);
	page_commits = 0;
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_OK);
	assert_int_equal(a.rep.pages, 8);
	assert_int_equal(a.rep.changes, 40);
	assert_int_equal(page_commits, 1);
	/* The pull's commits did not wait for the disk; the store's own
	 * writes wait again. */
	assert_int_equal(dev_int(&a, "PRAGMA synchronous"), 2);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				 "subject LIKE 'more %%'"), 40);
	assert_int_equal(a.rep.cursor, cursor_of(&a));
	/* The full-text index, written in steps while pages were on their
	 * way, holds every row exactly once. */
	fts_exactly_once(&a, "ticket");
	fts_exactly_once(&a, "activity");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM maintenance WHERE "
				 "fts_ticket_rid IS NULL AND "
				 "fts_activity_rid IS NULL"), 1);
	/* Their text is found like any other. */
	{
		char *json = NULL;

		assert_int_equal(bs_ticket_search(a.st, "more 37", 0, &json),
				 BS_OK);
		assert_non_null(strstr(json, "\"more 37\""));
		bs_free(json);
	}

	/* Without waiting for the next page, every page commits alone. */
	hub_import_more(100, 15);
	bs__sync_batch(INT64_C(600000000000), 0);
	page_commits = 0;
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_OK);
	assert_int_equal(a.rep.pages, 3);
	assert_true(page_commits >= 1 && page_commits <= 3);

	/* A batch that cannot be kept is lost whole, cursor and all, and
	 * the next round takes it again. */
	hub_import_more(200, 20);
	bs__sync_batch(INT64_C(600000000000), 60000);
	before = cursor_of(&a);
	tu_disk_full_at(db, TU_TXN_PAGE, 1, 0);
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_EIO);
	assert_true(tu_disk_full_fired());
	tu_disk_room(db);
	assert_int_equal(cursor_of(&a), before);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM sqlite_schema "
				 "WHERE type = 'trigger' AND name IN "
				 "('ticket_fts_insert', 'activity_fts_insert', "
				 "'activity_no_insert_in_purge', "
				 "'activity_hub_time_once')"),
			 4);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				 "subject LIKE 'more 2__'"), 0);
	assert_int_equal(a.rep.pages, 0);
	sync_ok(&a);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				 "subject LIKE 'more 2__'"), 20);
	assert_true(cursor_of(&a) > before);
	assert_int_equal(bs_store_check(a.st), BS_OK);
	converge();
}

/*
 * A batch indexes the rows it adds itself, its insert triggers off.  A
 * ticket purged from the top of the table frees its rid, and a ticket
 * added after it in the same batch takes that rid, below where the batch
 * began to index: it must still be indexed, once.
 */
static void test_sync__rid_freed_by_a_purge_is_indexed(void **state)
{
	char gone[40];
	long long top;

	(void)state;
	two_devices();
	top = dev_int(&a, "SELECT max(rid) FROM ticket");
	snprintf(gone, sizeof(gone), "%s", dev_text(&a, "SELECT id FROM "
						     "ticket WHERE rid = %lld",
						     top));
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s %s --branch BR01 "
				 "--staff s2", hub.dir, gone), 0);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s %s --branch BR01 "
				 "--staff s1", hub.dir, T3), 0);
	sync_ok(&a);
	assert_int_equal(a.rep.dropped, 1);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE id = "
				 "'%s'", gone), 0);
	assert_int_equal(dev_int(&a, "SELECT rid FROM ticket WHERE id = '%s'",
				 T3), top);
	fts_exactly_once(&a, "ticket");
	fts_exactly_once(&a, "activity");
	/* T3's subject, "queue", is found at the rid it took. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '%s' AND rowid = %lld",
				 tu_trigrams("queue"), top), 1);
	/* The insert triggers and the timeline's guards are back for the
	 * device's own writes. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM sqlite_schema "
				 "WHERE type = 'trigger' AND name IN "
				 "('ticket_fts_insert', 'activity_fts_insert', "
				 "'activity_no_insert_in_purge', "
				 "'activity_hub_time_once')"),
			 4);
	assert_int_equal(bs_ticket_add(a.st, T3, BS_ACT_NOTE,
				       "called the branch back", gone),
			 BS_OK);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity_fts WHERE "
				 "activity_fts MATCH '%s'",
				 tu_trigrams("branch back")), 1);
	fts_exactly_once(&a, "activity");
	converge();
}

static int fts_writes;

/* Counts the statements with which FTS5 writes the ticket index (run
 * inside another statement, they are traced as "-- " and their text). */
static int count_fts_writes(unsigned type, void *ud, void *p, void *x)
{
	const char *sql = x;

	(void)type;
	(void)ud;
	(void)p;
	if (sql != NULL && strstr(sql, "'ticket_fts_data'") != NULL)
		fts_writes++;
	return 0;
}

/*
 * A later pull changes and removes tickets the device has.  Their old
 * text leaves the full-text index and the new text goes in, once each,
 * in bulk at the end of the batch: written by trigger, every statement
 * after the first would have added a segment to the index of its own.
 */
static void test_sync__later_pull_reindexes_in_bulk(void **state)
{
	static const int edited[] = { 3, 11, 17, 26, 38 };
	char id[40], text[32], *json = NULL;
	bs_sync_opts o = opts();
	sqlite3 *db;
	size_t i;

	(void)state;
	two_devices();
	hub_import_more(0, 40);
	sync_ok(&a);
	sync_ok(&m);
	/* The laptop rewords five subjects; head office imports the
	 * tickets again (each comes back to the tablet) and takes one
	 * away from it. */
	for (i = 0; i < BS__ARRAY_LEN(edited); i++) {
		snprintf(id, sizeof(id), "01890a5d-ac96-774b-bcce-b30209a9%04d",
			 edited[i]);
		snprintf(text, sizeof(text), "reworded %d", edited[i]);
		edit_text(&m, id, "subject", text);
	}
	sync_ok(&m);
	hub_import_more(0, 40);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s 01890a5d-ac96-"
				 "774b-bcce-b30209a90007 --branch BR01 "
				 "--staff s2", hub.dir), 0);
	db = bs_store_db(a.st);
	fts_writes = 0;
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_fts_writes, NULL);
	sync_ok(&a);
	sqlite3_trace_v2(db, 0, NULL, NULL);
	assert_true(a.rep.changes >= 40);
	assert_int_equal(a.rep.dropped, 1);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				 "subject LIKE 'reworded %%'"), 5);
	/* A segment or two, not one for each ticket. */
	assert_true(fts_writes > 0);
	assert_true(fts_writes < 10);
	fts_exactly_once(&a, "ticket");
	fts_exactly_once(&a, "activity");
	assert_int_equal(bs_ticket_search(a.st, "reworded 17", 0, &json),
			 BS_OK);
	assert_non_null(strstr(json, "\"reworded 17\""));
	bs_free(json);
	assert_int_equal(bs_ticket_search(a.st, "more 17", 0, &json), BS_OK);
	assert_null(strstr(json, "more 17"));
	bs_free(json);
	assert_int_equal(bs_ticket_search(a.st, "more 18", 0, &json), BS_OK);
	assert_non_null(strstr(json, "\"more 18\""));
	bs_free(json);
	/* The triggers are back for the device's own writes, and the
	 * batch's own are gone. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM sqlite_schema "
				 "WHERE type = 'trigger' AND name LIKE "
				 "'%%_fts_%%'"), 5);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM "
				 "sqlite_temp_schema"), 0);
	edit_text(&a, "01890a5d-ac96-774b-bcce-b30209a90018", "subject",
		  "edited on the tablet");
	fts_exactly_once(&a, "ticket");

	/* The same in pages of three, one batch, the text indexed while
	 * each next page is on its way: noted text leaves the index at
	 * every step, new tickets come in between. */
	sync_ok(&a);
	edit_text(&m, "01890a5d-ac96-774b-bcce-b30209a90021", "subject",
		  "reworded again");
	sync_ok(&m);
	hub_import_more(0, 40);
	hub_import_more(40, 10);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s 01890a5d-ac96-"
				 "774b-bcce-b30209a90009 --branch BR01 "
				 "--staff s2", hub.dir), 0);
	bs__sync_batch(INT64_C(600000000000), 60000);
	bs__sync_index_after(0);
	o.page = 3;
	use(&a);
	assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_OK);
	assert_true(a.rep.pages > 10);
	assert_int_equal(a.rep.dropped, 1);
	fts_exactly_once(&a, "ticket");
	fts_exactly_once(&a, "activity");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '%s'",
				 tu_trigrams("reworded again")), 1);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '%s'", tu_trigrams("more 45")),
			 1);
	converge();
}

static void test_sync__disk_full_mid_push_and_pull(void **state)
{
	sqlite3 *db;
	bs_sync_opts o = opts();
	char text[64];
	int64_t before, cut;
	int i, lasting;

	(void)state;
	/* One page a transaction, so the disk can fill between pages. */
	bs__sync_batch(0, -1);
	two_devices();
	/* Both kinds of full disk: one that stays full until space is made
	 * (ENOSPC from the OS), and one write that fails on its own. */
	for (lasting = 1; lasting >= 0; lasting--) {
		int base = lasting ? 0 : 100;

		hub_import_more(base, 12);
		for (i = 0; i < 6; i++) {
			snprintf(text, sizeof(text), "full disk %d",
				 base + i);
			reply(&a, i % 2 ? T1 : T2, text);
		}
		db = bs_store_db(a.st);
		o.batch = 2;
		o.page = 3;
		use(&a);

		/* The disk fills as the answers to the second batch are
		 * stored: the hub has applied it, the device could not
		 * keep its answers. */
		tu_disk_full_at(db, TU_TXN_ANSWER, 2, lasting);
		assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_EIO);
		assert_true(tu_disk_full_fired());
		assert_non_null(strstr(bs_last_error(), "full"));
		if (lasting) {
			/* While it stays full, nothing moves. */
			assert_int_equal(bs_sync_round(&a.st, &o, &a.rep),
					 BS_EIO);
		}
		tu_disk_room(db);
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE "
					 "state = 'answered' AND seq IN "
					 "(SELECT seq FROM outbox ORDER BY seq "
					 "DESC LIMIT 6)"), 2);
		assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity "
					 "WHERE body LIKE '%s'", lasting ?
					 "full disk _" : "full disk 1__"), 4);

		/* Space again; then the disk fills in the middle of the
		 * pull, after two pages of the new tickets. */
		before = cursor_of(&a);
		tu_disk_full_at(db, TU_TXN_PAGE, 3, lasting);
		assert_int_equal(bs_sync_round(&a.st, &o, &a.rep), BS_EIO);
		assert_true(tu_disk_full_fired());
		tu_disk_room(db);
		/* The sends all went, and their answers are kept; two pages
		 * and their cursor are in, the third is not. */
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE "
					 "state <> 'answered'"), 0);
		assert_int_equal(a.rep.pages, 2);
		cut = cursor_of(&a);
		assert_true(cut > before);
		assert_int_equal(cut, a.rep.cursor);
		assert_true(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
				    "subject LIKE 'more %%'") <
			    (lasting ? 12 : 24));

		/* The next round picks up where the store says it stopped. */
		sync_ok(&a);
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket WHERE "
					 "subject LIKE 'more %%'"),
				 lasting ? 12 : 24);
		assert_true(a.rep.cursor > cut);
		/* Nothing lost, nothing twice, on either side. */
		assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity "
					 "WHERE body LIKE 'full disk %%'"),
				 lasting ? 6 : 12);
		assert_int_equal(hub_int(&hub, "SELECT count(DISTINCT body) "
					 "FROM activity WHERE body LIKE "
					 "'full disk %%'"), lasting ? 6 : 12);
		assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity "
					 "WHERE body LIKE 'full disk %%' AND "
					 "hub_time_ms IS NOT NULL"),
				 lasting ? 6 : 12);
		assert_int_equal(bs_store_check(a.st), BS_OK);
	}
	converge();
}

/* --- the offline policy ------------------------------------------------ */

/* The device's policy now, on its own clock (asserts it can be read). */
static bs_sync_policy policy(struct dev *d)
{
	bs_sync_policy p;

	use(d);
	if (bs_sync_policy_get(d->st, &p) != BS_OK)
		fail_msg("policy: %s", bs_last_error());
	return p;
}

static int locked_rc(struct dev *d)
{
	use(d);
	return bs_sync_check_lock(d->st);
}

static void hub_restart(const char *limit)
{
	hub_stop(&hub);
	max_offline = limit;
	hub_start(&hub, hub.port);
}

static void test_sync__offline_lock_engages_and_lifts(void **state)
{
	bs_sync_policy p;
	int64_t synced;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	/* Never enrolled: no policy, never locked. */
	a.skew_ms = 400 * DAY_MS;
	assert_int_equal(locked_rc(&a), BS_OK);
	a.skew_ms = 0;
	enroll(&a);
	p = policy(&a);
	assert_false(p.known);
	assert_false(p.locked);
	sync_ok(&a);
	/* The hub's default, 14 days, is kept from its answers. */
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE key "
				 "= 'max_offline_ms'"), 14 * DAY_MS);
	p = policy(&a);
	assert_true(p.known);
	assert_int_equal(p.max_offline_ms, 14 * DAY_MS);
	synced = p.since_ms;
	assert_true(synced > 0);
	assert_int_equal(p.lock_at_ms, synced + 14 * DAY_MS);
	assert_int_equal(locked_rc(&a), BS_OK);
	/* Work written now waits in the outbox through what follows.  (A
	 * device clock days ahead is all this test moves: the hub's stays
	 * put, and would refuse clock stamps written days ahead.) */
	reply(&a, T1, "written before the lock");

	/* Thirteen days and 23 hours offline: work goes on. */
	a.skew_ms = 14 * DAY_MS - 3600 * 1000;
	assert_int_equal(locked_rc(&a), BS_OK);
	assert_false(policy(&a).locked);
	/* Past the limit: locked, with how long and what to do. */
	a.skew_ms = 15 * DAY_MS + 3 * 3600 * 1000;
	assert_int_equal(locked_rc(&a), BS_ELOCKED);
	assert_non_null(strstr(bs_last_error(), "15 days 3 hours ago"));
	assert_non_null(strstr(bs_last_error(), "14 days"));
	assert_non_null(strstr(bs_last_error(), "sync"));
	assert_null(strchr(bs_last_error(), '\n'));
	p = policy(&a);
	assert_true(p.locked);
	assert_false(p.clock_behind);
	/* The queued reply is untouched. */
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM outbox WHERE state "
				 "<> 'answered'"), 1);

	/* A round that fails does not lift it. */
	hub_stop(&hub);
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_int_equal(locked_rc(&a), BS_ELOCKED);
	hub_start(&hub, hub.port);
	/* One that succeeds does, and the reply goes. */
	sync_ok(&a);
	assert_int_equal(a.rep.pushed, 1);
	assert_int_equal(locked_rc(&a), BS_OK);
	p = policy(&a);
	assert_false(p.locked);
	assert_true(p.since_ms >= synced + 15 * DAY_MS);
	assert_int_equal(hub_int(&hub, "SELECT count(*) FROM activity WHERE "
				 "body = 'written before the lock'"), 1);

	/* A clock set back before the last sync: locked, however short
	 * the span looks. */
	a.skew_ms = 15 * DAY_MS;
	assert_int_equal(locked_rc(&a), BS_ELOCKED);
	assert_non_null(strstr(bs_last_error(), "behind"));
	assert_true(policy(&a).clock_behind);
	sync_ok(&a);
	assert_int_equal(locked_rc(&a), BS_OK);
	converge();
}

static void test_sync__offline_policy_follows_the_hub(void **state)
{
	bs_sync_policy p;

	(void)state;
	hub_restart("off");
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	/* 0: no limit, not even for a clock a year off either way. */
	p = policy(&a);
	assert_true(p.known);
	assert_int_equal(p.max_offline_ms, 0);
	assert_int_equal(p.lock_at_ms, 0);
	a.skew_ms = 400 * DAY_MS;
	assert_int_equal(locked_rc(&a), BS_OK);
	a.skew_ms = -400 * DAY_MS;
	assert_int_equal(locked_rc(&a), BS_OK);

	/* Head office sets an hour: the next round brings it. */
	a.skew_ms = 0;
	hub_restart("1h");
	sync_ok(&a);
	assert_int_equal(policy(&a).max_offline_ms, 3600 * 1000);
	a.skew_ms = 59 * 60 * 1000;
	assert_int_equal(locked_rc(&a), BS_OK);
	a.skew_ms = 61 * 60 * 1000;
	assert_int_equal(locked_rc(&a), BS_ELOCKED);
	assert_non_null(strstr(bs_last_error(), "1 hour"));

	/* And lifts it again: the latest value is the one kept. */
	hub_restart("off");
	sync_ok(&a);
	a.skew_ms += 30 * DAY_MS;
	assert_int_equal(locked_rc(&a), BS_OK);
}

static void test_sync__offline_policy_checked(void **state)
{
	char page[512];
	long long cursor;

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	sync_ok(&a);
	cursor = dev_int(&a, "SELECT value FROM sync_state WHERE key = "
			 "'pull_cursor'");
	fake_start();
	set_url(&a, fake.port);
	/* A negative limit is a broken answer, not a lifted one. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":%lld,\"max_offline_ms\":-1}",
		 cursor, (long long)__real_bs_os_now_ms());
	fake_answer(200, "", page, strlen(page));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_non_null(strstr(bs_last_error(), "max_offline_ms"));
	assert_int_equal(policy(&a).max_offline_ms, 14 * DAY_MS);
	/* Nor is a string. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":%lld,\"max_offline_ms\":"
		 "\"off\"}", cursor, (long long)__real_bs_os_now_ms());
	fake_answer(200, "", page, strlen(page));
	assert_int_equal(sync_rc(&a), BS_ENETWORK);
	assert_int_equal(policy(&a).max_offline_ms, 14 * DAY_MS);
	/* An answer without it (an older hub) keeps the last one. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":%lld}", cursor,
		 (long long)__real_bs_os_now_ms());
	fake_answer(200, "", page, strlen(page));
	sync_ok(&a);
	assert_int_equal(policy(&a).max_offline_ms, 14 * DAY_MS);
	/* A valid one is taken. */
	snprintf(page, sizeof(page), "{\"v\":1,\"changes\":[],\"cursor\":%lld,"
		 "\"more\":false,\"hub_time_ms\":%lld,\"max_offline_ms\":"
		 "60000}", cursor, (long long)__real_bs_os_now_ms());
	fake_answer(200, "", page, strlen(page));
	sync_ok(&a);
	assert_int_equal(policy(&a).max_offline_ms, 60000);
	a.skew_ms = 2 * 60000;
	assert_int_equal(locked_rc(&a), BS_ELOCKED);
	assert_non_null(strstr(bs_last_error(), "2 minutes ago"));
	fake_stop();
}

/*
 * A page decoded apart from its request teaches the clock and the
 * offline policy as one decoded in place did: when the next page
 * fails, the round still reports and keeps what the good page taught,
 * not what was known before the pull.
 */
static void test_sync__clock_kept_when_a_later_page_fails(void **state)
{
	static const char err500[] = "{\"v\":1,\"error\":\"error\",\"cause\":"
				     "null,\"message\":\"boom\"}";
	static char page[512], extra[128];
	long long cursor;

	(void)state;
	two_devices();
	fake_start();
	set_url(&a, fake.port);
	cursor = dev_int(&a, "SELECT value FROM sync_state WHERE key = "
			 "'pull_cursor'");
	snprintf(page, sizeof(page), "{\"v\":1,\"hub_time_ms\":%lld,"
		 "\"max_offline_ms\":123456789,\"changes\":[],"
		 "\"cursor\":%lld,\"more\":true}",
		 (long long)(__real_bs_os_now_ms() + 3 * DAY_MS), cursor + 5);
	snprintf(extra, sizeof(extra), "X-BS-Cursor: %lld\r\n"
		 "X-BS-More: true\r\n", cursor + 5);
	fake_answer(200, extra, page, strlen(page));
	fake.then_status = 500;
	fake.then_extra = "";
	fake.then_body = err500;
	fake.then_len = strlen(err500);
	assert_int_equal(sync_rc(&a), BS_EBUSY);
	assert_int_equal(fake.requests, 2);
	assert_true(llabs((long long)(a.rep.offset_ms - 3 * DAY_MS)) < 60000);
	assert_true(llabs(dev_int(&a, "SELECT value FROM sync_state WHERE "
				  "key = 'hub_clock_offset_ms'") -
			  3 * DAY_MS) < 60000);
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE "
				 "key = 'max_offline_ms'"),
			 123456789);
	/* The good page was applied: its cursor is kept. */
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE "
				 "key = 'pull_cursor'"),
			 cursor + 5);
	fake_stop();
}

/*
 * A store's first pull inserts each ticket as new, and falls back to
 * what every other pull does when the id or the ref is taken: a ticket
 * sent twice in the pull is updated, not refused, and keeps the text
 * the later change carries; a ref the hub moved to another ticket
 * leaves the one that had it.  Every activity of both changes is kept.
 */
static int lookups, ref_frees;

static int count_lookups(unsigned type, void *ud, void *p, void *x)
{
	static const char lookup[] = "SELECT status, subject, description, "
				     "transcript, outcome FROM ticket WHERE id";
	static const char ref_free[] = "UPDATE ticket SET ref = NULL";
	const char *sql = x;

	(void)type;
	(void)ud;
	(void)p;
	if (strncmp(sql, lookup, sizeof(lookup) - 1) == 0)
		lookups++;
	else if (strncmp(sql, ref_free, sizeof(ref_free) - 1) == 0)
		ref_frees++;
	return 0;
}

static void test_sync__first_pull_meets_its_own_tickets(void **state)
{
#define FP_T1 "01900000-0000-7000-8000-000000000001"
#define FP_T2 "01900000-0000-7000-8000-000000000002"
#define FP_T3 "01900000-0000-7000-8000-000000000003"
#define TICKET(seq, id, ref, subject, act) \
	"{\"seq\":" #seq ",\"kind\":\"ticket\",\"whole\":true,\"ticket\":" \
	"{\"id\":\"" id "\",\"ref\":\"" ref "\",\"channel\":\"phone\"," \
	"\"priority\":\"normal\",\"status\":\"dispatched\",\"subject\":\"" \
	subject "\",\"branch\":\"BR01\",\"assignee\":\"s1\"," \
	"\"t0_ms\":1796480000000,\"created_ms\":1796480000000," \
	"\"updated_ms\":1796480000000,\"version\":" #seq "}," \
	"\"activities\":[{\"id\":\"" act "\",\"kind\":\"note\"," \
	"\"visibility\":\"internal\",\"body\":\"" subject "\"," \
	"\"author\":\"ho\",\"hlc\":\"0190000000000" #seq "00\"," \
	"\"device_time_ms\":1796480000000,\"hub_time_ms\":1796480000000}]}"
	static char page[4096];

	(void)state;
	dev_make(&a, "tablet", "s1", "BR01", "staff");
	enroll(&a);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 0);
	fake_start();
	set_url(&a, fake.port);
	snprintf(page, sizeof(page), "{\"v\":1,\"hub_time_ms\":%lld,"
		 "\"changes\":[" TICKET(1, FP_T1, "VOC-1", "first",
		 "01900000-0000-7000-8000-0000000000a1") ","
		 TICKET(2, FP_T2, "VOC-2", "two",
		 "01900000-0000-7000-8000-0000000000a2") ","
		 TICKET(3, FP_T1, "VOC-1", "second",
		 "01900000-0000-7000-8000-0000000000a3") ","
		 TICKET(4, FP_T3, "VOC-2", "three",
		 "01900000-0000-7000-8000-0000000000a4") "],"
		 "\"cursor\":4,\"more\":false}",
		 (long long)__real_bs_os_now_ms());
	fake_answer(200, "", page, strlen(page));
	lookups = ref_frees = 0;
	sqlite3_trace_v2(bs_store_db(a.st), SQLITE_TRACE_STMT, count_lookups,
			 NULL);
	sync_ok(&a);
	sqlite3_trace_v2(bs_store_db(a.st), 0, NULL, NULL);
	fake_stop();
	/* Looked up only where the insert found the id or ref taken. */
	assert_int_equal(lookups, 2);
	assert_int_equal(ref_frees, 2);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM ticket"), 3);
	assert_string_equal(dev_text(&a, "SELECT subject FROM ticket WHERE "
				     "id = '%s'", FP_T1), "second");
	assert_int_equal(dev_int(&a, "SELECT server_version FROM ticket "
				 "WHERE id = '%s'", FP_T1), 3);
	assert_string_equal(dev_text(&a, "SELECT ref FROM ticket WHERE "
				     "id = '%s'", FP_T1), "VOC-1");
	assert_int_equal(dev_int(&a, "SELECT ref IS NULL FROM ticket WHERE "
				 "id = '%s'", FP_T2), 1);
	assert_string_equal(dev_text(&a, "SELECT ref FROM ticket WHERE "
				     "id = '%s'", FP_T3), "VOC-2");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity WHERE "
				 "ticket_id = '%s'", FP_T1), 2);
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM activity"), 4);
	assert_int_equal(dev_int(&a, "SELECT value FROM sync_state WHERE "
				 "key = 'pull_cursor'"), 4);
#undef TICKET
#undef FP_T1
#undef FP_T2
#undef FP_T3
}

/* An archive entry head office moved to another customer moves on the
 * device too, with the ticket that brought it: the pull's insert of a
 * known entry updates it only under the same customer (no statement
 * journal), and a second statement moves it. */
static void test_sync__archive_entry_moves(void **state)
{
	(void)state;
	two_devices();
	assert_string_equal(dev_text(&a, "SELECT customer_id FROM "
				     "customer_archive WHERE id = 'A-1'"),
			    "C-1");
	hub_exec(&hub, "BEGIN;"
		 "UPDATE counter SET value = value + 1 WHERE name = 'change';"
		 "INSERT INTO customer (id, name_masked, branch, created_ms, "
		 "updated_ms, seq) VALUES ('C-2', '李*', 'BR01', 1, 1, "
		 "(SELECT value FROM counter WHERE name = 'change'));"
		 "UPDATE customer_archive SET customer_id = 'C-2', summary = "
		 "'earlier complaint, moved' WHERE id = 'A-1';"
		 "UPDATE ticket SET customer_id = 'C-2', seq = (SELECT value "
		 "FROM counter WHERE name = 'change') WHERE id = '" T1 "';"
		 "COMMIT");
	sync_ok(&a);
	assert_string_equal(dev_text(&a, "SELECT customer_id || ' ' || "
				     "summary FROM customer_archive WHERE id = "
				     "'A-1'"),
			    "C-2 earlier complaint, moved");
	assert_int_equal(dev_int(&a, "SELECT count(*) FROM customer_archive"),
			 1);
	assert_string_equal(dev_text(&a, "SELECT customer_id FROM ticket "
				     "WHERE id = '%s'", T1),
			    "C-2");
	/* Sent again unchanged, it stays as it is. */
	hub_exec(&hub, "BEGIN;"
		 "UPDATE counter SET value = value + 1 WHERE name = 'change';"
		 "UPDATE ticket SET seq = (SELECT value FROM counter WHERE name "
		 "= 'change'), scope_seq = (SELECT value FROM counter WHERE "
		 "name = 'change') WHERE id = '" T1 "';"
		 "COMMIT");
	sync_ok(&a);
	assert_string_equal(dev_text(&a, "SELECT customer_id || ' ' || "
				     "summary FROM customer_archive WHERE id = "
				     "'A-1'"),
			    "C-2 earlier complaint, moved");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync__enroll_good, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__later_pull_reindexes_in_bulk, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__first_pull_meets_its_own_tickets, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_sync__enroll_wrong_code,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__enroll_mitm_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__needs_enrollment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sync__archive_entry_moves,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__pages_batched,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__page_within_byte_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__initial_sync_paged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__concurrent_replies_both_kept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__ho_closes_while_branch_replies, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__reassigned_away_kept_then_purged, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__free_text_last_writer_wins, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_sync__clock_three_days_off,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__concurrent_moves,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__walkins_for_one_customer, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__retry_after_lost_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__link_cut_after_n_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__kill_during_sync,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__revoked_device_wipes_itself, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_sync__hub_killed_mid_sync,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync__hub_answers_badly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__clock_kept_when_a_later_page_fails, setup,
			teardown),
		cmocka_unit_test(test_sync__backoff),
		cmocka_unit_test_setup_teardown(
			test_sync__watch_backs_off_and_never_gives_up, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__bad_operation_does_not_block_the_queue,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__rid_freed_by_a_purge_is_indexed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__disk_full_mid_push_and_pull, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__offline_lock_engages_and_lifts, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__offline_policy_follows_the_hub, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_sync__offline_policy_checked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
