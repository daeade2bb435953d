/*
 * test_hub.c - the hub's protocol, tested in the declarative style: a
 * table of requests, each with the exact status, error reason and cause
 * (or per-op result and reason) it must get, driven with libcurl against
 * a real branchsync-hub that the test starts on a free loopback port
 * over TLS, with the CA `init` made pinned.
 *
 * The fixture makes a hub in a temporary folder, imports a small
 * head-office export (two tickets for staff s1 of branch BR01, one for
 * s2 of BR01, one of branch BR02), enrolls a staff device and a manager
 * device with keys made here (mbedTLS), and stops the hub at the end.
 * Requests are signed here the way protocol.md says, so this file is
 * also a second implementation of the signing rules.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "pg.h"
#include "testutil.h"

#define T1 "01890a5d-ac96-774b-bcce-b302099a8001" /* BR01, s1 */
#define T2 "01890a5d-ac96-774b-bcce-b302099a8002" /* BR01, s1 */
#define T3 "01890a5d-ac96-774b-bcce-b302099a8003" /* BR01, s2 */
#define T4 "01890a5d-ac96-774b-bcce-b302099a8004" /* BR02, s9 */
#define DEV_S "01890a5d-ac96-774b-bcce-b302099ad001"
#define DEV_M "01890a5d-ac96-774b-bcce-b302099ad002"
#define DEV_X "01890a5d-ac96-774b-bcce-b302099ad003" /* never enrolled */

struct device {
	const char *id;
	mbedtls_pk_context key;
	long seq;
};

static char dir[512];
static char hub_bin[600];
static char base_url[128];
static pid_t hub_pid;
static struct device staff, manager, stranger;

/* --- the backend ---------------------------------------------------- */

/*
 * The database the hub runs on.  BS_TEST_HUB_DB unset or empty: SQLite
 * in the hub's folder.  "postgres": a throwaway PostgreSQL server that
 * this run starts and stops (tests/support/pg.h).  A postgresql:// URL:
 * that database, as it is.  test_hub_pg.c builds this file again with
 * "postgres" as the default, so the suite runs on both backends.
 */
#ifndef BS_TEST_HUB_DB_DEFAULT
#define BS_TEST_HUB_DB_DEFAULT ""
#endif

static char db_url[512]; /* empty: SQLite */

static void backend_setup(void)
{
	const char *want = getenv("BS_TEST_HUB_DB");

	if (want == NULL || *want == '\0')
		want = BS_TEST_HUB_DB_DEFAULT;
	if (strcmp(want, "postgres") == 0) {
		assert_int_equal(tu_pg_start(), 0);
		assert_int_equal(tu_pg_createdb(db_url, sizeof(db_url), "hub"),
				 0);
	} else {
		snprintf(db_url, sizeof(db_url), "%s", want);
	}
	if (db_url[0] != '\0')
		print_message("  hub database: %s\n", db_url);
}

static int rng(void *ctx, unsigned char *buf, size_t n)
{
	(void)ctx;
	return bs_os_random(buf, n) == BS_OK ? 0 : -1;
}

/* --- running the hub ------------------------------------------------ */

/* Run branchsync-hub with args; its stdout (first line) into out. */
static int hub_cmd(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[3000], args[1500];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "$BS_TEST_WRAPPER %s %s%s%s%s", hub_bin,
		 args,
		 db_url[0] ? " --db '" : "", db_url, db_url[0] ? "'" : "");
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (out != NULL) {
		out[0] = '\0';
		if (fgets(out, (int)cap, p) != NULL) {
			n = strlen(out);
			while (n > 0 && (out[n - 1] == '\n'))
				out[--n] = '\0';
		}
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int64_t hub_spawned_ms; /* just before the hub was started */

static void start_hub(void)
{
	int fd[2];
	char line[256] = "", *p;
	FILE *f;

	hub_spawned_ms = bs_os_now_ms();
	assert_int_equal(pipe(fd), 0);
	hub_pid = fork();
	assert_true(hub_pid >= 0);
	if (hub_pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		/* Through the shell so that $BS_TEST_WRAPPER (qemu-user for
		 * the ARM builds) runs the hub; exec keeps hub_pid the hub's. */
		if (db_url[0] != '\0')
			execl("/bin/sh", "sh", "-c",
			      "exec $BS_TEST_WRAPPER \"$0\" \"$@\"", hub_bin,
			      "serve", "--dir", dir, "--db", db_url, "--listen",
			      "127.0.0.1:0", "--threads", "2", (char *)NULL);
		execl("/bin/sh", "sh", "-c",
		      "exec $BS_TEST_WRAPPER \"$0\" \"$@\"", hub_bin, "serve",
		      "--dir", dir, "--listen", "127.0.0.1:0", "--threads", "2",
		      (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	p = strstr(line, "https://");
	assert_non_null(p);
	snprintf(base_url, sizeof(base_url), "%s", p);
	p = strchr(base_url, '\n');
	if (p)
		*p = '\0';
	if (base_url[strlen(base_url) - 1] == '/')
		base_url[strlen(base_url) - 1] = '\0';
	/* Names in the certificate: reach it as localhost. */
	p = strstr(base_url, "127.0.0.1");
	if (p != NULL) {
		char tail[64];

		snprintf(tail, sizeof(tail), "%s", p + 9);
		snprintf(p, sizeof(base_url) - (size_t)(p - base_url),
			 "localhost%s", tail);
	}
}

static void stop_hub(void)
{
	int st;

	if (hub_pid > 0) {
		kill(hub_pid, SIGTERM);
		waitpid(hub_pid, &st, 0);
		hub_pid = 0;
	}
}

/* --- requests ------------------------------------------------------- */

struct reply {
	long status;
	char *body;
	size_t len;
	cJSON *doc;
	char cursor[32], more[16]; /* X-BS-Cursor, X-BS-More; "" if none */
};

/* Keep the value of header name (with its colon) in out[cap]. */
static void header_into(const char *line, size_t n, const char *name,
			char *out, size_t cap)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0)
		return;
	while (k < n && line[k] == ' ')
		k++;
	while (n > k && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	snprintf(out, cap, "%.*s", (int)(n - k), line + k);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;

	header_into(p, size * n, "x-bs-cursor:", r->cursor,
		    sizeof(r->cursor));
	header_into(p, size * n, "x-bs-more:", r->more, sizeof(r->more));
	return size * n;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	char *nb = realloc(r->body, r->len + size * n + 1);

	assert_non_null(nb);
	r->body = nb;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void reply_free(struct reply *r)
{
	free(r->body);
	cJSON_Delete(r->doc);
	memset(r, 0, sizeof(*r));
}

/* How a request is made beyond method, target and body. */
#define SIGN 0x01       /* signed by dev */
#define BAD_SIG 0x02    /* signature of other bytes */
#define SKEW 0x04       /* time 10 minutes off */
#define NO_VERSION 0x08 /* no X-BS-Version */
#define DEFLATE 0x10    /* body deflated, Content-Encoding: deflate */
#define TEXT_PLAIN 0x20 /* Content-Type: text/plain */
#define RAW_ENC 0x40    /* Content-Encoding: deflate, body as given */
#define EARLY 0x80      /* signed a second before the hub started */

static char last_nonce[40];

static void request(struct reply *out, struct device *dev, unsigned how,
		    const char *method, const char *target, const void *body,
		    size_t len, const char *reuse_nonce)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512], hdr[600], ca[600], nonce[40];
	uint8_t *zbody = NULL, rnd[16], hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
	size_t zlen = 0, slen = 0;
	int64_t t = bs_os_now_ms();
	char *canon = NULL, *b64 = NULL;

	memset(out, 0, sizeof(*out));
	assert_non_null(c);
	if (how & DEFLATE) {
		assert_int_equal(bs__wire_deflate(&zbody, &zlen, body, len),
				 BS_OK);
		body = zbody;
		len = zlen;
	}
	snprintf(url, sizeof(url), "%s%s", base_url, target);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "deflate");
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
		h = curl_slist_append(h, (how & TEXT_PLAIN) ?
			"Content-Type: text/plain" :
			"Content-Type: application/json");
	}
	if (how & (DEFLATE | RAW_ENC))
		h = curl_slist_append(h, "Content-Encoding: deflate");
	if (!(how & NO_VERSION))
		h = curl_slist_append(h, "X-BS-Version: 1");
	if (how & SIGN) {
		if (how & SKEW)
			t -= 10 * 60 * 1000;
		if (how & EARLY)
			t = hub_spawned_ms - 1000;
		if (reuse_nonce != NULL) {
			snprintf(nonce, sizeof(nonce), "%s", reuse_nonce);
		} else {
			assert_int_equal(bs_os_random(rnd, 16), BS_OK);
			bs__wire_hex(nonce, rnd, 16);
		}
		snprintf(last_nonce, sizeof(last_nonce), "%s", nonce);
		assert_int_equal(bs__wire_canonical(&canon, method, target,
			dev->id, t, nonce, body, len), BS_OK);
		if (how & BAD_SIG)
			canon[0] = 'X';
		bs__wire_sha256(hash, canon, strlen(canon));
		assert_int_equal(mbedtls_pk_sign(&dev->key, MBEDTLS_MD_SHA256,
						 hash, 32, sig, &slen, rng,
						 NULL), 0);
		assert_int_equal(bs__wire_b64(&b64, sig, slen), BS_OK);
		snprintf(hdr, sizeof(hdr), "X-BS-Device: %s", dev->id);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Time: %lld", (long long)t);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Nonce: %s", nonce);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Signature: %s", b64);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body != NULL)
		out->doc = cJSON_Parse(out->body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	bs__free(canon);
	bs__free(b64);
	bs__free(zbody);
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* The reply must be status with error reason and cause (or none). */
static void expect(const struct reply *r, long status, const char *error,
		   const char *cause)
{
	if (r->status != status || r->doc == NULL)
		print_error("got %ld: %s\n", r->status,
			    r->body ? r->body : "(no body)");
	assert_int_equal(r->status, status);
	assert_non_null(r->doc);
	assert_int_equal(cJSON_GetObjectItem(r->doc, "v")->valueint, 1);
	if (error == NULL) {
		assert_null(str(r->doc, "error"));
		return;
	}
	assert_string_equal(str(r->doc, "error"), error);
	if (cause != NULL)
		assert_string_equal(str(r->doc, "cause"), cause);
	assert_non_null(str(r->doc, "message"));
	assert_non_null(cJSON_GetObjectItem(r->doc, "hub_time_ms"));
}

/* --- devices -------------------------------------------------------- */

static void make_key(struct device *d, const char *id)
{
	d->id = id;
	d->seq = 0;
	mbedtls_pk_init(&d->key);
	assert_int_equal(mbedtls_pk_setup(&d->key,
		mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		mbedtls_pk_ec(d->key), rng, NULL), 0);
}

/* The enroll document for d with code. */
static char *enroll_body(struct device *d, const char *code)
{
	uint8_t der[200];
	int n = mbedtls_pk_write_pubkey_der(&d->key, der, sizeof(der));
	char *b64 = NULL, *s = malloc(1024);

	assert_true(n > 0);
	assert_int_equal(bs__wire_b64(&b64, der + sizeof(der) - n,
				      (size_t)n), BS_OK);
	snprintf(s, 1024, "{\"v\":1,\"code\":\"%s\",\"device_id\":\"%s\","
		 "\"public_key\":\"%s\"}", code, d->id, b64);
	bs__free(b64);
	return s;
}

static void enroll(struct device *d, const char *branch, const char *who,
		   const char *role)
{
	char code[64], *body;
	struct reply r;

	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch %s --staff %s --role %s", dir,
				 branch, who, role), 0);
	body = enroll_body(d, code);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 200, NULL, NULL);
	assert_string_equal(str(r.doc, "device_id"), d->id);
	assert_string_equal(str(r.doc, "branch"), branch);
	assert_string_equal(str(r.doc, "role"), role);
	reply_free(&r);
	free(body);
}

static const char export_text[] =
	"{\"type\":\"header\",\"format\":\"branchsync-export\",\"version\":1}\n"
	"{\"type\":\"customer\",\"id\":\"C-1\",\"name_masked\":\"张*\","
	"\"phone_masked\":\"138****1234\",\"branch\":\"BR01\"}\n"
	"{\"type\":\"archive\",\"id\":\"A-1\",\"customer_id\":\"C-1\","
	"\"summary\":\"earlier complaint\",\"received_ms\":1700000000000}\n"
	"{\"type\":\"category\",\"code\":\"ATM\",\"name\":\"ATM\"}\n"
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
	"{\"type\":\"activity\",\"id\":\"01890a5d-ac96-774b-bcce-b302099ae001\","
	"\"ticket_id\":\"" T1 "\",\"kind\":\"call_log\",\"body\":\"logged\","
	"\"author\":\"callcenter\",\"device_time_ms\":1795000000000}\n";

static int setup(void **st)
{
	const char *tmp;
	char path[600], self[512];
	ssize_t n;
	FILE *f;

	(void)st;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bs__json_init();
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	/* BUILD/tests/integration/test_hub -> BUILD/branchsync-hub */
	for (int up = 0; up < 3; up++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	backend_setup();
	tmp = tu_tempdir();
	snprintf(dir, sizeof(dir), "%s/hub", tmp);
	assert_int_equal(hub_cmd(NULL, 0, "init --dir %s", dir), 0);
	snprintf(path, sizeof(path), "%s/export.jsonl", tmp);
	f = fopen(path, "w");
	fputs(export_text, f);
	fclose(f);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", dir, path),
			 0);
	start_hub();
	make_key(&staff, DEV_S);
	make_key(&manager, DEV_M);
	make_key(&stranger, DEV_X);
	enroll(&staff, "BR01", "s1", "staff");
	enroll(&manager, "BR01", "m1", "manager");
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	stop_hub();
	mbedtls_pk_free(&staff.key);
	mbedtls_pk_free(&manager.key);
	mbedtls_pk_free(&stranger.key);
	tu_rmrf(dir);
	tu_pg_stop();
	curl_global_cleanup();
	return 0;
}

/* --- enrollment ----------------------------------------------------- */

static void test_hub__enroll_ca_and_mac(void **st)
{
	char code[64], id[8], secret[20], target[64];
	struct reply r;
	mbedtls_x509_crt crt;
	uint8_t mac[32];
	char hex[65];

	(void)st;
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s5", dir), 0);
	assert_int_equal(bs__wire_code_parse(id, secret, code), BS_OK);
	snprintf(target, sizeof(target), "/v1/enroll/ca?code=%s", id);
	request(&r, NULL, 0, "GET", target, NULL, 0, NULL);
	expect(&r, 200, NULL, NULL);
	/* The device checks the CA with its code before trusting it. */
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse(&crt,
		(const uint8_t *)str(r.doc, "ca_pem"),
		strlen(str(r.doc, "ca_pem")) + 1), 0);
	bs__wire_ca_mac(mac, secret, crt.raw.p, crt.raw.len);
	bs__wire_hex(hex, mac, 32);
	assert_string_equal(str(r.doc, "ca_mac"), hex);
	/* A man in the middle with another CA cannot match it. */
	crt.raw.p[crt.raw.len - 1] ^= 1;
	bs__wire_ca_mac(mac, secret, crt.raw.p, crt.raw.len);
	bs__wire_hex(hex, mac, 32);
	assert_string_not_equal(str(r.doc, "ca_mac"), hex);
	mbedtls_x509_crt_free(&crt);
	reply_free(&r);
}

static void test_hub__enroll_refusals(void **st)
{
	struct device d;
	char code[64], wrong[200], *body;
	struct reply r;

	(void)st;
	make_key(&d, "01890a5d-ac96-774b-bcce-b302099ad0a1");
	/* Unknown code id for the CA. */
	request(&r, NULL, 0, "GET", "/v1/enroll/ca?code=ZZZZ", NULL, 0, NULL);
	expect(&r, 403, "refused", "code_unknown");
	reply_free(&r);
	request(&r, NULL, 0, "GET", "/v1/enroll/ca?code=lower", NULL, 0,
		NULL);
	expect(&r, 400, "invalid", "field");
	reply_free(&r);
	/* A right id with a wrong secret reads as unknown. */
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s6", dir), 0);
	snprintf(wrong, sizeof(wrong), "%.5s0000-0000-0000-0000", code);
	body = enroll_body(&d, wrong);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 403, "refused", "code_unknown");
	reply_free(&r);
	free(body);
	/* Used once: the second use is refused. */
	body = enroll_body(&d, code);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 200, NULL, NULL);
	reply_free(&r);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 403, "refused", "code_used");
	reply_free(&r);
	free(body);
	/* Expired. */
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s7 --ttl 1ms", dir),
			 0);
	usleep(20000);
	body = enroll_body(&d, code);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 403, "refused", "code_expired");
	reply_free(&r);
	free(body);
	/* A device id enrolled already. */
	assert_int_equal(hub_cmd(code, sizeof(code), "enroll-code --dir %s "
				 "--branch BR01 --staff s8", dir), 0);
	body = enroll_body(&staff, code);
	request(&r, NULL, 0, "POST", "/v1/enroll", body, strlen(body), NULL);
	expect(&r, 409, "exists", "device_exists");
	reply_free(&r);
	free(body);
	/* Not a P-256 key. */
	snprintf(wrong, sizeof(wrong), "{\"v\":1,\"code\":\"%s\","
		 "\"device_id\":\"%s\",\"public_key\":\"AAAA\"}", code, d.id);
	request(&r, NULL, 0, "POST", "/v1/enroll", wrong, strlen(wrong),
		NULL);
	expect(&r, 400, "invalid", "field");
	reply_free(&r);
	mbedtls_pk_free(&d.key);
}

/* --- the declarative table ----------------------------------------- */

struct tcase {
	const char *name;
	int who;            /* 0 none, 1 staff, 2 manager, 3 stranger */
	unsigned how;
	const char *method, *target, *body;
	long status;
	const char *error, *cause;
};

static const struct tcase table[] = {
	{ "hello", 1, SIGN, "GET", "/v1/hello", NULL, 200, NULL, NULL },
	{ "hello manager", 2, SIGN, "GET", "/v1/hello", NULL, 200, NULL,
	  NULL },
	{ "unsigned", 0, 0, "GET", "/v1/hello", NULL, 401, "bad_key",
	  "unsigned" },
	{ "bad signature", 1, SIGN | BAD_SIG, "GET", "/v1/hello", NULL, 401,
	  "bad_key", "signature" },
	{ "clock skew", 1, SIGN | SKEW, "GET", "/v1/hello", NULL, 401,
	  "bad_key", "clock_skew" },
	{ "unknown device", 3, SIGN, "GET", "/v1/hello", NULL, 401,
	  "bad_key", "unknown_device" },
	{ "no version", 1, SIGN | NO_VERSION, "GET", "/v1/hello", NULL, 400,
	  "invalid", "version" },
	{ "unknown endpoint", 1, SIGN, "GET", "/v1/nothing", NULL, 404,
	  "not_found", "endpoint" },
	{ "wrong method", 1, SIGN, "DELETE", "/v1/sync/push", NULL, 405,
	  "invalid", "method" },
	{ "push unknown version", 1, SIGN, "POST", "/v1/sync/push",
	  "{\"v\":2,\"ops\":[]}", 400, "invalid", "version" },
	{ "push no version", 1, SIGN, "POST", "/v1/sync/push",
	  "{\"ops\":[]}", 400, "invalid", "version" },
	{ "push malformed", 1, SIGN, "POST", "/v1/sync/push",
	  "{\"v\":1,\"ops\":[", 400, "invalid", "malformed" },
	{ "push not utf8", 1, SIGN, "POST", "/v1/sync/push",
	  "{\"v\":1,\"x\":\"\xff\xfe\",\"ops\":[]}", 400, "invalid",
	  "not_utf8" },
	{ "push not deflate", 1, SIGN | RAW_ENC, "POST", "/v1/sync/push",
	  "{\"v\":1,\"ops\":[]}", 400, "invalid", "corrupt" },
	{ "push text/plain", 1, SIGN | TEXT_PLAIN, "POST", "/v1/sync/push",
	  "{\"v\":1,\"ops\":[]}", 415, "invalid", "media_type" },
	{ "push no ops", 1, SIGN, "POST", "/v1/sync/push", "{\"v\":1}", 400,
	  "invalid", "field" },
	{ "push empty", 1, SIGN | DEFLATE, "POST", "/v1/sync/push",
	  "{\"v\":1,\"ops\":[]}", 200, NULL, NULL },
	{ "pull bad cursor", 1, SIGN, "GET", "/v1/sync/pull?cursor=-1", NULL,
	  400, "invalid", "field" },
	{ "pull bad limit", 1, SIGN, "GET", "/v1/sync/pull?limit=100000",
	  NULL, 400, "invalid", "field" },
	{ "pull", 1, SIGN, "GET", "/v1/sync/pull?cursor=0&limit=10", NULL,
	  200, NULL, NULL },
};

static struct device *who(int w)
{
	return w == 1 ? &staff : w == 2 ? &manager : w == 3 ? &stranger
							    : NULL;
}

static void test_hub__table(void **st)
{
	size_t i;

	(void)st;
	for (i = 0; i < BS__ARRAY_LEN(table); i++) {
		const struct tcase *c = &table[i];
		struct reply r;

		print_message("  %s\n", c->name);
		request(&r, who(c->who), c->how, c->method, c->target,
			c->body, c->body ? strlen(c->body) : 0, NULL);
		expect(&r, c->status, c->error, c->cause);
		/* Only a page announces a cursor. */
		if (c->status != 200) {
			assert_string_equal(r.cursor, "");
			assert_string_equal(r.more, "");
		}
		reply_free(&r);
	}
}

static void test_hub__replayed_request(void **st)
{
	struct reply r;
	char nonce[40];

	(void)st;
	request(&r, &staff, SIGN, "GET", "/v1/hello", NULL, 0, NULL);
	expect(&r, 200, NULL, NULL);
	reply_free(&r);
	snprintf(nonce, sizeof(nonce), "%s", last_nonce);
	request(&r, &staff, SIGN, "GET", "/v1/hello", NULL, 0, nonce);
	expect(&r, 401, "bad_key", "replayed");
	reply_free(&r);
}

/*
 * On SQLite the hub keeps nonces in its memory: a request signed before
 * it started could be the replay of one its previous run received, and
 * is refused until signed again; a second hub on the same database is
 * refused.  On PostgreSQL nonces are in the database, shared by every
 * hub: the same request passes.
 */
static void test_hub__signed_before_start(void **st)
{
	struct reply r;
	char out[256];

	(void)st;
	request(&r, &staff, SIGN | EARLY, "GET", "/v1/hello", NULL, 0, NULL);
	if (db_url[0] == '\0')
		expect(&r, 401, "bad_key", "clock_skew");
	else
		expect(&r, 200, NULL, NULL);
	reply_free(&r);
	if (db_url[0] == '\0')
		assert_int_equal(hub_cmd(out, sizeof(out), "serve --dir %s "
					 "--listen 127.0.0.1:0", dir),
				 bs_error_exit_code(BS_EBUSY));
	/* Signed again, now: accepted. */
	request(&r, &staff, SIGN, "GET", "/v1/hello", NULL, 0, NULL);
	expect(&r, 200, NULL, NULL);
	reply_free(&r);
}

static void test_hub__oversized_and_bomb(void **st)
{
	size_t n = BS__WIRE_MAX_BODY + 100, big = (size_t)40 << 20;
	char *b = malloc(big);
	struct reply r;

	(void)st;
	memset(b, ' ', big);
	memcpy(b, "{\"v\":1,\"ops\":[]}", 16);
	request(&r, &staff, SIGN, "POST", "/v1/sync/push", b, n, NULL);
	expect(&r, 413, "invalid", "too_large");
	reply_free(&r);
	/* 40 MiB that deflate to 40 KiB: refused while inflating. */
	request(&r, &staff, SIGN | DEFLATE, "POST", "/v1/sync/push", b, big,
		NULL);
	expect(&r, 413, "invalid", "too_large");
	reply_free(&r);
	free(b);
}

static void test_hub__truncated_body(void **st)
{
	static const char doc[] = "{\"v\":1,\"ops\":[]}";
	uint8_t *z = NULL;
	size_t zn = 0;
	struct reply r;

	(void)st;
	assert_int_equal(bs__wire_deflate(&z, &zn, doc, strlen(doc)), BS_OK);
	request(&r, &staff, SIGN | RAW_ENC, "POST", "/v1/sync/push", z,
		zn - 3, NULL);
	expect(&r, 400, "invalid", "truncated");
	reply_free(&r);
	bs__free(z);
}

/* --- push ----------------------------------------------------------- */

/* An op document for dev (its next seq); fields is JSON text. */
static char *op(struct device *d, const char *entity, const char *op_name,
		const char *entity_id, const char *ticket_id,
		const char *fields, long base_version)
{
	char *s = malloc(4096), hlc[17];

	bs__hlc_format(hlc, bs__hlc_make(bs_os_now_ms(), 0));
	snprintf(s, 4096, "{\"op_id\":\"%s:%ld\",\"entity\":\"%s\","
		 "\"op\":\"%s\",\"entity_id\":\"%s\",\"ticket_id\":\"%s\","
		 "\"fields\":%s,\"hlc\":\"%s\",\"base_version\":%ld,"
		 "\"author\":\"s1\",\"device_time_ms\":%lld}", d->id,
		 ++d->seq, entity, op_name, entity_id, ticket_id, fields, hlc,
		 base_version, (long long)bs_os_now_ms());
	return s;
}

/* Push one op; the result entry (owned by r). */
static const cJSON *push1(struct reply *r, struct device *d, char *o)
{
	char *body = malloc(strlen(o) + 32);
	const cJSON *res;

	sprintf(body, "{\"v\":1,\"ops\":[%s]}", o);
	request(r, d, SIGN, "POST", "/v1/sync/push", body, strlen(body),
		NULL);
	free(body);
	expect(r, 200, NULL, NULL);
	res = cJSON_GetArrayItem(cJSON_GetObjectItem(r->doc, "results"), 0);
	assert_non_null(res);
	return res;
}

static void expect_result(const cJSON *res, const char *result,
			  const char *reason)
{
	if (strcmp(str(res, "result"), result) != 0) {
		char *t = cJSON_Print(res);

		print_error("%s\n", t);
		free(t);
	}
	assert_string_equal(str(res, "result"), result);
	if (reason != NULL)
		assert_string_equal(str(res, "reason"), reason);
}

static void test_hub__push_append_and_replay(void **st)
{
	struct reply r, r2;
	char *o, *first, *second;
	const cJSON *res;

	(void)st;
	o = op(&staff, "activity", "append",
	       "01890a5d-ac96-774b-bcce-b302099ae101", T1,
	       "{\"kind\":\"customer_reply\",\"body\":\"我们已联系您\"}", 1);
	res = push1(&r, &staff, o);
	expect_result(res, "applied", NULL);
	first = cJSON_PrintUnformatted(res);
	/* The same op again: the same answer, nothing applied twice. */
	res = push1(&r2, &staff, o);
	second = cJSON_PrintUnformatted(res);
	assert_string_equal(first, second);
	free(first);
	free(second);
	reply_free(&r);
	reply_free(&r2);
	free(o);
}

static void test_hub__push_rejections(void **st)
{
	struct reply r;
	char *o;

	(void)st;
	/* Another branch's ticket. */
	o = op(&staff, "activity", "append",
	       "01890a5d-ac96-774b-bcce-b302099ae201", T4,
	       "{\"kind\":\"internal_note\",\"body\":\"x\"}", 1);
	expect_result(push1(&r, &staff, o), "rejected", "out_of_scope");
	reply_free(&r);
	free(o);
	/* A colleague's ticket, for a staff device. */
	o = op(&staff, "activity", "append",
	       "01890a5d-ac96-774b-bcce-b302099ae202", T3,
	       "{\"kind\":\"internal_note\",\"body\":\"x\"}", 1);
	expect_result(push1(&r, &staff, o), "rejected", "out_of_scope");
	reply_free(&r);
	free(o);
	/* The manager may: the whole branch is in scope. */
	o = op(&manager, "activity", "append",
	       "01890a5d-ac96-774b-bcce-b302099ae203", T3,
	       "{\"kind\":\"internal_note\",\"body\":\"x\"}", 1);
	expect_result(push1(&r, &manager, o), "applied", NULL);
	reply_free(&r);
	free(o);
	/* Only head office closes. */
	o = op(&staff, "ticket", "move", T1, T1,
	       "{\"from\":\"dispatched\",\"to\":\"closed\",\"reason\":\"x\"}",
	       1);
	expect_result(push1(&r, &staff, o), "rejected", "refused");
	reply_free(&r);
	free(o);
	/* Head office owns priority. */
	o = op(&staff, "ticket", "update", T1, T1,
	       "{\"priority\":\"urgent\"}", 1);
	expect_result(push1(&r, &staff, o), "rejected", "refused");
	reply_free(&r);
	free(o);
	/* A transition that is allowed. */
	o = op(&staff, "ticket", "move", T1, T1,
	       "{\"from\":\"dispatched\",\"to\":\"in_progress\"}", 1);
	expect_result(push1(&r, &staff, o), "applied", NULL);
	assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.doc,
		"results"), 0), "status"), "in_progress");
	reply_free(&r);
	free(o);
}

static void test_hub__push_batch_all_or_nothing(void **st)
{
	struct reply r;
	char *good, *body;

	(void)st;
	good = op(&staff, "activity", "append",
		  "01890a5d-ac96-774b-bcce-b302099ae301", T2,
		  "{\"kind\":\"internal_note\",\"body\":\"kept?\"}", 1);
	body = malloc(strlen(good) + 512);
	/* The second op claims another device's id: the batch is refused
	 * and the first op is not applied either. */
	sprintf(body, "{\"v\":1,\"ops\":[%s,{\"op_id\":\"%s:1\","
		"\"entity\":\"activity\"}]}", good, DEV_M);
	request(&r, &staff, SIGN, "POST", "/v1/sync/push", body,
		strlen(body), NULL);
	expect(&r, 400, "invalid", "field");
	assert_int_equal(cJSON_GetObjectItem(r.doc, "index")->valueint, 1);
	reply_free(&r);
	/* Resent alone, it is new to the hub: applied, not a replay. */
	expect_result(push1(&r, &staff, good), "applied", NULL);
	reply_free(&r);
	free(body);
	free(good);
}

/* The hub's version of ticket id, as d pulls it. */
static long ticket_version(struct device *d, const char *id)
{
	struct reply r;
	const cJSON *ch;
	long v = -1;

	request(&r, d, SIGN, "GET", "/v1/sync/pull?cursor=0&limit=1000",
		NULL, 0, NULL);
	expect(&r, 200, NULL, NULL);
	cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r.doc, "changes")) {
		const cJSON *t = cJSON_GetObjectItem(ch, "ticket");

		if (t != NULL && strcmp(str(t, "id"), id) == 0)
			v = cJSON_GetObjectItem(t, "version")->valueint;
	}
	reply_free(&r);
	return v;
}

static void test_hub__free_text_last_writer_wins(void **st)
{
	struct reply r;
	char *o;
	const cJSON *res;
	long v;

	(void)st;
	/* The manager edits from the current version: applied.  The
	 * staff's edit from an older version has a later clock: it wins
	 * the field, and the manager's text is kept as the loser. */
	v = ticket_version(&manager, T2);
	assert_true(v > 0);
	o = op(&manager, "ticket", "update", T2, T2,
	       "{\"outcome\":\"manager's text\"}", v);
	expect_result(push1(&r, &manager, o), "applied", NULL);
	reply_free(&r);
	free(o);
	usleep(2000);
	o = op(&staff, "ticket", "update", T2, T2,
	       "{\"outcome\":\"staff's text\"}", v);
	res = push1(&r, &staff, o);
	expect_result(res, "merged", NULL);
	assert_string_equal(str(res, "rule"), "last_writer_wins");
	assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(res,
		"conflicts"), 0), "kept"), "yours");
	reply_free(&r);
	free(o);
}

/* --- pull ----------------------------------------------------------- */

/* Pull everything for d from cursor; count ticket changes of id and
 * drops of id. */
static void pull_all(struct device *d, int64_t cursor, const char *id,
		     int *tickets, int *drops, int *pages, int64_t *end)
{
	char target[128];
	int more = 1;

	*tickets = *drops = *pages = 0;
	while (more) {
		struct reply r;
		const cJSON *ch;

		snprintf(target, sizeof(target),
			 "/v1/sync/pull?cursor=%lld&limit=2",
			 (long long)cursor);
		request(&r, d, SIGN, "GET", target, NULL, 0, NULL);
		expect(&r, 200, NULL, NULL);
		(*pages)++;
		cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r.doc, "changes")) {
			int64_t seq = (int64_t)cJSON_GetObjectItem(ch, "seq")
					      ->valuedouble;

			assert_true(seq > cursor);
			if (strcmp(str(ch, "kind"), "ticket") == 0) {
				const char *tid = str(cJSON_GetObjectItem(ch,
					"ticket"), "id");

				if (id == NULL || strcmp(tid, id) == 0)
					(*tickets)++;
				/* Scope: never another branch's ticket. */
				assert_string_not_equal(tid, T4);
			} else if (strcmp(str(ch, "kind"), "drop") == 0 &&
				   (id == NULL ||
				    strcmp(str(ch, "ticket_id"), id) == 0)) {
				(*drops)++;
			}
		}
		cursor = (int64_t)cJSON_GetObjectItem(r.doc, "cursor")
				 ->valuedouble;
		more = cJSON_IsTrue(cJSON_GetObjectItem(r.doc, "more"));
		reply_free(&r);
		assert_true(*pages < 100);
	}
	*end = cursor;
}

/* The change of ticket id in a pull page for d from cursor (asserting
 * it is there); the page's cursor in *end.  Freed with the reply. */
static const cJSON *change_of(struct reply *r, struct device *d,
			      int64_t cursor, const char *id, int64_t *end)
{
	char target[128];
	const cJSON *ch, *found = NULL;

	snprintf(target, sizeof(target), "/v1/sync/pull?cursor=%lld&limit=1000",
		 (long long)cursor);
	request(r, d, SIGN, "GET", target, NULL, 0, NULL);
	expect(r, 200, NULL, NULL);
	cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r->doc, "changes")) {
		const cJSON *t = cJSON_GetObjectItem(ch, "ticket");

		if (t != NULL && strcmp(str(t, "id"), id) == 0)
			found = ch;
	}
	assert_non_null(found);
	*end = (int64_t)cJSON_GetObjectItem(r->doc, "cursor")->valuedouble;
	return found;
}

/* A ticket's change carries its customer and the customer's archive when
 * the device may not have them (the ticket newly in scope, or the
 * customer changed since the cursor), and not otherwise; numbers come
 * through as the integers they are. */
static void test_hub__pull_customer_when_new(void **st)
{
	struct reply r;
	const cJSON *ch, *t, *cu, *ar;
	int64_t end, end2;

	(void)st;
	ch = change_of(&r, &manager, 0, T1, &end);
	t = cJSON_GetObjectItem(ch, "ticket");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ch, "whole")));
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(t, "t0_ms")));
	assert_true(cJSON_GetObjectItem(t, "t0_ms")->valuedouble ==
		    1795000000000.0);
	assert_true(cJSON_GetObjectItem(t, "version")->valuedouble >= 1);
	cu = cJSON_GetObjectItem(ch, "customer");
	assert_non_null(cu);
	assert_string_equal(str(cu, "id"), "C-1");
	assert_string_equal(str(cu, "phone_masked"), "138****1234");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cu, "segment")));
	assert_null(cJSON_GetObjectItem(cu, "seq"));
	ar = cJSON_GetObjectItem(ch, "archive");
	assert_int_equal(cJSON_GetArraySize(ar), 1);
	assert_string_equal(str(cJSON_GetArrayItem(ar, 0), "id"), "A-1");
	assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(ar, 0),
					"received_ms")->valuedouble ==
		    1700000000000.0);
	reply_free(&r);
	/* A ticket without a customer carries none. */
	ch = change_of(&r, &manager, 0, T2, &end2);
	assert_null(cJSON_GetObjectItem(ch, "customer"));
	assert_null(cJSON_GetObjectItem(ch, "archive"));
	reply_free(&r);

	/* The staff member adds a note: T1 changes, its customer and its
	 * scope do not, so the manager's next page carries the ticket and
	 * the new entry alone. */
	{
		char *o = op(&staff, "activity", "append",
			     "01890a5d-ac96-774b-bcce-b302099ae9c1", T1,
			     "{\"kind\":\"customer_reply\",\"body\":\"n\"}",
			     1);

		expect_result(push1(&r, &staff, o), "applied", NULL);
		reply_free(&r);
		free(o);
	}
	ch = change_of(&r, &manager, end, T1, &end2);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(ch, "whole")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ch,
							"activities")), 1);
	assert_null(cJSON_GetObjectItem(ch, "customer"));
	assert_null(cJSON_GetObjectItem(ch, "archive"));
	reply_free(&r);
}

static void test_hub__pull_scope_paging_and_drop(void **st)
{
	int tickets, drops, pages;
	int64_t end, end2;

	(void)st;
	/* Staff: its two tickets, in pages of two. */
	pull_all(&staff, 0, NULL, &tickets, &drops, &pages, &end);
	assert_int_equal(tickets, 2);
	assert_true(pages >= 2);
	/* Manager: the whole branch. */
	pull_all(&manager, 0, NULL, &tickets, &drops, &pages, &end2);
	assert_int_equal(tickets, 3);
	/* Head office reassigns T1 to s2: staff s1 is told to purge it. */
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s %s --branch BR01 "
				 "--staff s2", dir, T1), 0);
	pull_all(&staff, end, T1, &tickets, &drops, &pages, &end);
	assert_int_equal(tickets, 0);
	assert_int_equal(drops, 1);
	/* The manager still sees it, as a change. */
	pull_all(&manager, end2, T1, &tickets, &drops, &pages, &end2);
	assert_int_equal(tickets, 1);
	assert_int_equal(drops, 0);
	/* Moved to another branch, it leaves the staff member's scope and
	 * the branch's in one change: both are told to purge it. */
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s %s --branch BR02 "
				 "--staff s9", dir, T1), 0);
	pull_all(&manager, end2, T1, &tickets, &drops, &pages, &end2);
	assert_int_equal(tickets, 0);
	assert_int_equal(drops, 1);
}

/* Head office closes a ticket while the branch, offline, replies to the
 * customer: the ticket stays in its branch and the reply is kept. */
static void test_hub__reply_after_close_kept(void **st)
{
	struct reply r;
	char *o, line[256];
	const cJSON *res;

	(void)st;
	assert_int_equal(hub_cmd(line, sizeof(line), "move --dir %s %s closed "
				 "--reason settled", dir, T2), 0);
	assert_non_null(strstr(line, "closed"));
	o = op(&staff, "activity", "append",
	       "01890a5d-ac96-774b-bcce-b302099ae201", T2,
	       "{\"kind\":\"customer_reply\",\"body\":\"款项已退回\"}",
	       1);
	res = push1(&r, &staff, o);
	expect_result(res, "applied", NULL);
	reply_free(&r);
	free(o);
	/* Still the branch's: the report has no ticket without one. */
	assert_int_equal(hub_cmd(NULL, 0, "report --dir %s > %s/report.txt",
				 dir, dir), 0);
	{
		char path[700], buf[4096];
		size_t n;
		FILE *f;

		snprintf(path, sizeof(path), "%s/report.txt", dir);
		f = fopen(path, "r");
		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		assert_non_null(strstr(buf, "BR01"));
		assert_null(strstr(buf, "\n0 "));
	}
}

/* A walk-in registered at the counter: head office keeps the full
 * contact for the complaint system, devices get it masked only. */
static void test_hub__walk_in_contact(void **st)
{
	static const char *const tid = "01890a5d-ac96-774b-bcce-b302099a8101";
	struct reply r;
	char *o, *full, path[700];
	const cJSON *res;
	size_t n;
	FILE *f;
	char *text;
	long len;

	(void)st;
	o = op(&staff, "ticket", "create", tid, tid,
	       "{\"channel\":\"branch\",\"subject\":\"燃气费重复扣款\","
	       "\"category\":\"PAY-GAS\",\"t0_ms\":1795000000000}",
	       0);
	n = strlen(o);
	full = malloc(n + 200);
	memcpy(full, o, n - 1);
	snprintf(full + n - 1, 200, ",\"customer\":{\"name\":\"王建国\","
		 "\"phone\":\"13912345678\"}}");
	res = push1(&r, &staff, full);
	expect_result(res, "applied", NULL);
	assert_true(strncmp(str(res, "ref"), "W-", 2) == 0);
	reply_free(&r);
	/* A malformed contact refuses the whole op. */
	memcpy(full, o, n - 1);
	snprintf(full + n - 1, 200, ",\"customer\":{\"phone\":42}}");
	{
		char body[1200];
		snprintf(body, sizeof(body), "{\"v\":1,\"ops\":[%s]}", full);
		request(&r, &staff, SIGN, "POST", "/v1/sync/push", body,
			strlen(body), NULL);
		expect(&r, 400, "invalid", NULL);
		reply_free(&r);
	}
	/* The manager's device pulls the new ticket: masked phone only. */
	request(&r, &manager, SIGN, "GET", "/v1/sync/pull?cursor=0&limit=1000",
		NULL, 0, NULL);
	expect(&r, 200, NULL, NULL);
	assert_non_null(strstr(r.body, "燃气费重复扣款"));
	assert_null(strstr(r.body, "13912345678"));
	assert_null(strstr(r.body, "王建国"));
	assert_non_null(strstr(r.body, "139****5678"));
	reply_free(&r);
	/* The export carries the full contact for the complaint system. */
	snprintf(path, sizeof(path), "%s/contact-export.jsonl", dir);
	assert_int_equal(hub_cmd(NULL, 0, "export --dir %s > %s", dir, path),
			 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	assert_non_null(strstr(text, "\"type\":\"contact\""));
	assert_non_null(strstr(text, "13912345678"));
	free(text);
	free(full);
	free(o);
}

/* --- pull pages and their size ------------------------------------- */

/*
 * These run after the tests that read the whole scope in one page
 * (ticket_version, walk_in_contact): the large tickets they import fill
 * more than one.  Large tickets have ids that share a prefix, numbered
 * in the last four digits.
 */
#define BIG_ID "01890a5d-ac96-774b-bcce-b3020b00"
#define HUGE_ID "01890a5d-ac96-774b-bcce-b3020c000001"
#define AFTER_ID "01890a5d-ac96-774b-bcce-b3020c000002"

/* A text of n bytes of c, in a new buffer. */
static char *filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Start an import file in the hub's folder: its header is written. */
static FILE *import_begin(char *path, size_t cap, const char *name)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"type\":\"header\",\"format\":\"branchsync-export\","
	      "\"version\":1}\n", f);
	return f;
}

static void import_end(FILE *f, const char *path)
{
	assert_int_equal(fclose(f), 0);
	assert_int_equal(hub_cmd(NULL, 0, "import --dir %s %s", dir, path),
			 0);
}

/* A ticket of BR01 for s1 (staff's scope), with a description and a
 * transcript (either may be NULL). */
static void put_ticket(FILE *f, const char *id, const char *ref,
		       const char *description, const char *transcript)
{
	fprintf(f, "{\"type\":\"ticket\",\"id\":\"%s\",\"ref\":\"%s\","
		"\"channel\":\"phone\",\"status\":\"dispatched\","
		"\"subject\":\"%s\",\"branch\":\"BR01\",\"assignee\":\"s1\","
		"\"t0_ms\":1795000000000", id, ref, ref);
	if (description != NULL)
		fprintf(f, ",\"description\":\"%s\"", description);
	if (transcript != NULL)
		fprintf(f, ",\"transcript\":\"%s\"", transcript);
	fputs("}\n", f);
}

/* Pull one page of up to limit changes for d after cursor, the way a
 * device does (deflated; r->len is the body once inflated). */
static void pull_page(struct reply *r, struct device *d, int64_t cursor,
		      int limit)
{
	char target[128];

	snprintf(target, sizeof(target), "/v1/sync/pull?cursor=%lld&limit=%d",
		 (long long)cursor, limit);
	request(r, d, SIGN, "GET", target, NULL, 0, NULL);
	expect(r, 200, NULL, NULL);
}

static int64_t page_cursor(const struct reply *r)
{
	return (int64_t)cJSON_GetObjectItem(r->doc, "cursor")->valuedouble;
}

static int page_more(const struct reply *r)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(r->doc, "more"));
}

/* The id of the ticket a change carries, or NULL. */
static const char *change_ticket(const cJSON *ch)
{
	return str(cJSON_GetObjectItem(ch, "ticket"), "id");
}

/* Everything d can pull after cursor; where it ends. */
static int64_t pull_to_end(struct device *d, int64_t cursor)
{
	struct reply r;
	int more = 1, pages = 0;

	while (more) {
		pull_page(&r, d, cursor, BS__WIRE_MAX_PAGE);
		cursor = page_cursor(&r);
		more = page_more(&r);
		reply_free(&r);
		assert_true(++pages < 100);
	}
	return cursor;
}

/*
 * 24 tickets of 200,000-byte transcripts are about 4.8 MB of JSON: more
 * than one page's budget, though far fewer changes than the 1000 asked
 * for.  The first page stops at the budget and says more; following the
 * cursor brings every ticket exactly once, each page within the size a
 * device accepts.
 */
#define BIG_N 24

static void test_hub__pull_page_byte_budget(void **st)
{
	int seen[BIG_N] = { 0 }, pages = 0, in_first = -1, more = 1, i;
	char path[700], id[64], ref[32], *text = filled(200000, 't');
	int64_t cursor;
	FILE *f;

	(void)st;
	cursor = pull_to_end(&staff, 0);
	f = import_begin(path, sizeof(path), "budget.jsonl");
	for (i = 0; i < BIG_N; i++) {
		snprintf(id, sizeof(id), BIG_ID "%04d", i);
		snprintf(ref, sizeof(ref), "VOC-B%d", i);
		put_ticket(f, id, ref, NULL, text);
	}
	import_end(f, path);
	free(text);
	while (more) {
		struct reply r;
		const cJSON *ch;
		int n = 0;

		pull_page(&r, &staff, cursor, BS__WIRE_MAX_PAGE);
		/* A page passes the budget by one change at most, and stays
		 * well within what a device inflates. */
		assert_true(r.len <= BS__WIRE_PAGE_BYTES + 250000);
		assert_true(r.len <= BS__WIRE_MAX_DOC);
		cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r.doc, "changes")) {
			const char *tid = change_ticket(ch);

			assert_true((int64_t)cJSON_GetObjectItem(ch, "seq")
					    ->valuedouble > cursor);
			if (tid == NULL ||
			    strncmp(tid, BIG_ID, strlen(BIG_ID)) != 0)
				continue;
			i = atoi(tid + strlen(BIG_ID));
			assert_true(i >= 0 && i < BIG_N);
			seen[i]++;
			n++;
		}
		if (in_first < 0)
			in_first = n;
		assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(r.doc,
			"changes")) >= 1);
		assert_true(page_cursor(&r) > cursor);
		/* The headers say the cursor and more before the body. */
		assert_int_equal(atoll(r.cursor), page_cursor(&r));
		assert_string_equal(r.more, page_more(&r) ? "true" : "false");
		/* The cursor is the page's last change. */
		ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r.doc, "changes"),
			cJSON_GetArraySize(cJSON_GetObjectItem(r.doc,
							       "changes")) - 1);
		assert_int_equal(page_cursor(&r),
			(int64_t)cJSON_GetObjectItem(ch, "seq")->valuedouble);
		cursor = page_cursor(&r);
		more = page_more(&r);
		reply_free(&r);
		assert_true(++pages < 100);
	}
	/* The first page was cut by size, not by count, and at the change
	 * that passed the budget: each change is 200,000 bytes of
	 * transcript and less than 2,000 of the rest, so 20 stay under 4
	 * MiB and the 21st passes it. */
	assert_int_equal(in_first, 21);
	assert_true(pages >= 2);
	for (i = 0; i < BIG_N; i++)
		assert_int_equal(seen[i], 1);
}

/*
 * One ticket whose timeline alone passes the budget (64 notes of 65,000
 * bytes) still comes, alone in its page, so the cursor moves past it;
 * the ticket after it comes in the next page.
 */
static void test_hub__pull_change_over_budget_alone(void **st)
{
	char path[700], id[64], *note = filled(65000, 'n');
	char *desc = filled(60000, 'd'), *text = filled(250000, 't');
	const cJSON *ch;
	struct reply r;
	int64_t cursor;
	FILE *f;
	int i;

	(void)st;
	cursor = pull_to_end(&staff, 0);
	f = import_begin(path, sizeof(path), "huge.jsonl");
	put_ticket(f, HUGE_ID, "VOC-H1", desc, text);
	for (i = 0; i < 64; i++) {
		snprintf(id, sizeof(id), "01890a5d-ac96-774b-bcce-b3020c01%04d",
			 i);
		fprintf(f, "{\"type\":\"activity\",\"id\":\"%s\",\"ticket_id\":"
			"\"" HUGE_ID "\",\"kind\":\"internal_note\",\"body\":"
			"\"%s\",\"author\":\"s1\",\"device_time_ms\":"
			"1795000000000}\n", id, note);
	}
	put_ticket(f, AFTER_ID, "VOC-H2", NULL, NULL);
	import_end(f, path);
	free(note);
	free(desc);
	free(text);
	pull_page(&r, &staff, cursor, BS__WIRE_MAX_PAGE);
	assert_true(r.len > BS__WIRE_PAGE_BYTES);
	assert_true(r.len <= BS__WIRE_MAX_DOC);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.doc,
		"changes")), 1);
	ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r.doc, "changes"), 0);
	assert_string_equal(change_ticket(ch), HUGE_ID);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ch,
		"activities")), 64);
	assert_true(page_more(&r));
	assert_true(page_cursor(&r) > cursor);
	assert_int_equal(page_cursor(&r),
		(int64_t)cJSON_GetObjectItem(ch, "seq")->valuedouble);
	cursor = page_cursor(&r);
	reply_free(&r);
	pull_page(&r, &staff, cursor, BS__WIRE_MAX_PAGE);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.doc,
		"changes")), 1);
	ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r.doc, "changes"), 0);
	assert_string_equal(change_ticket(ch), AFTER_ID);
	assert_false(page_more(&r));
	reply_free(&r);
}

/*
 * What a pull page says, member for member.  Three tickets of BR01 share
 * customer C-X (two archive entries, the earlier-received one with the
 * later id), one has no customer, one names a customer the hub does not
 * have.  The first page brings them whole: every activity, in the order
 * the hub took them (which is neither their ids' nor their clocks'),
 * the customer and its archive where there is one.  After that a change
 * brings only the activities taken since the cursor, and the customer
 * only if it changed since; a ticket reassigned is whole again.
 */
#define EX_ID "01890a5d-ac96-774b-bcce-b3020d0000"
#define EX_ACT "01890a5d-ac96-774b-bcce-b3020d0100"

/* The changes of a page as compact JSON, with what differs from run to
 * run checked and then zeroed: change numbers (after cursor, rising,
 * the last the page's cursor) and the times of the import. */
static char *page_text(const struct reply *r, int64_t cursor)
{
	cJSON *changes = cJSON_GetObjectItem(r->doc, "changes"), *ch;
	int64_t prev = cursor, seq;
	char *text;

	assert_false(page_more(r));
	cJSON_ArrayForEach(ch, changes) {
		cJSON *t = cJSON_GetObjectItem(ch, "ticket");
		static const char *const clock[] = { "created_ms",
						     "updated_ms", NULL };
		int k;

		seq = (int64_t)cJSON_GetObjectItem(ch, "seq")->valuedouble;
		assert_true(seq > prev);
		prev = seq;
		cJSON_ReplaceItemInObject(ch, "seq", cJSON_CreateNumber(0));
		for (k = 0; t != NULL && clock[k] != NULL; k++) {
			assert_true(cJSON_GetObjectItem(t, clock[k])
					    ->valuedouble > 1.7e12);
			cJSON_ReplaceItemInObject(t, clock[k],
						  cJSON_CreateNumber(0));
		}
	}
	assert_int_equal(page_cursor(r), prev);
	text = cJSON_PrintUnformatted(changes);
	assert_non_null(text);
	return text;
}

static void expect_page(struct device *d, int64_t *cursor,
			const char *want)
{
	struct reply r;
	char *text;

	pull_page(&r, d, *cursor, BS__WIRE_MAX_PAGE);
	text = page_text(&r, *cursor);
	/* The whole text, which cmocka's messages would cut short. */
	if (strcmp(text, want) != 0)
		fprintf(stderr, "page after %lld:\n%s\nwanted:\n%s\n",
			(long long)*cursor, text, want);
	assert_true(strcmp(text, want) == 0);
	*cursor = page_cursor(&r);
	free(text);
	reply_free(&r);
}

/* An imported ticket of BR01 for s1, of customer cid (may be NULL). */
static void put_ex_ticket(FILE *f, int n, const char *cid)
{
	fprintf(f, "{\"type\":\"ticket\",\"id\":\"" EX_ID "%02d\","
		"\"ref\":\"VOC-X%d\",\"channel\":\"app\",\"status\":"
		"\"dispatched\",\"subject\":\"s%d\",\"branch\":\"BR01\","
		"\"assignee\":\"s1\",\"t0_ms\":1795000000%03d", n, n, n, n);
	if (cid != NULL)
		fprintf(f, ",\"customer_id\":\"%s\"", cid);
	fputs("}\n", f);
}

/* An imported note n on ticket t, at device time ms. */
static void put_ex_note(FILE *f, int n, int t, int64_t ms)
{
	fprintf(f, "{\"type\":\"activity\",\"id\":\"" EX_ACT "%02d\","
		"\"ticket_id\":\"" EX_ID "%02d\",\"kind\":\"internal_note\","
		"\"body\":\"note %d\",\"author\":\"s1\",\"device_time_ms\":"
		"%lld,\"hub_time_ms\":%lld}\n", n, t, n, (long long)ms,
		(long long)ms + 5);
}

static void put_ex_customer(FILE *f)
{
	fputs("{\"type\":\"customer\",\"id\":\"C-X\",\"name_masked\":"
	      "\"李*\",\"phone_masked\":\"139****0000\",\"branch\":\"BR01\"}\n",
	      f);
}

/* C-X and its archive as a change carries them. */
#define EX_CUSTOMER ",\"customer\":{\"id\":\"C-X\",\"name_masked\":" \
	"\"李*\",\"phone_masked\":\"139****0000\",\"id_number_masked\":" \
	"null,\"segment\":null,\"branch\":\"BR01\"},\"archive\":[{\"id\":" \
	"\"A-X2\",\"ticket_id\":null,\"ticket_ref\":null,\"channel\":null," \
	"\"category_code\":null,\"summary\":null,\"outcome\":null," \
	"\"branch\":null,\"received_ms\":1700000001000,\"closed_ms\":null}," \
	"{\"id\":\"A-X1\",\"ticket_id\":\"T-old1\",\"ticket_ref\":" \
	"\"VOC-OLD1\",\"channel\":\"phone\",\"category_code\":\"CARD\"," \
	"\"summary\":\"later\",\"outcome\":\"done\",\"branch\":\"BR01\"," \
	"\"received_ms\":1700000002000,\"closed_ms\":1700000009000}]"

/* Append to the expected page at *p: the change of ticket n (customer
 * cid or NULL, assignee who, version v) with notes (their numbers,
 * ending in 0, each on ticket n at its put_ex_note time), whole or not,
 * with C-X or not. */
static void want_change(char **p, int n, const char *cid, const char *who,
			int v, const int *notes, int whole, int customer)
{
	int k;

	*p += sprintf(*p, "%s{\"seq\":0,\"kind\":\"ticket\",\"ticket\":{"
		"\"id\":\"" EX_ID "%02d\",\"ref\":\"VOC-X%d\",\"external_ref\":"
		"null,\"customer_id\":%s%s%s,\"channel\":\"app\","
		"\"category_code\":null,\"risk_class\":null,\"priority\":"
		"\"normal\",\"status\":\"dispatched\",\"subject\":\"s%d\","
		"\"description\":null,\"transcript\":null,\"outcome\":null,"
		"\"branch\":\"BR01\",\"assignee\":\"%s\",\"merged_into\":null,"
		"\"sla_profile\":null,\"t0_ms\":1795000000%03d,"
		"\"created_ms\":0,\"updated_ms\":0,\"first_response_ms\":null,"
		"\"paused_ms_total\":0,\"paused_since_ms\":null,"
		"\"extension_level\":0,\"closed_ms\":null,\"review\":0,"
		"\"version\":%d},\"activities\":[", (*p)[-1] == '[' ? "" : ",",
		n, n, cid ? "\"" : "", cid ? cid : "null", cid ? "\"" : "", n,
		who, n, v);
	for (k = 0; notes[k] != 0; k++) {
		char hlc[BS__HLC_TEXT_LEN + 1];
		long long ms = 1795000000000LL + notes[k] * 1000LL;

		bs__hlc_format(hlc, bs__hlc_make((uint64_t)ms, 0));
		*p += sprintf(*p, "%s{\"id\":\"" EX_ACT "%02d\",\"kind\":"
			"\"internal_note\",\"visibility\":\"internal\","
			"\"body\":\"note %d\",\"author\":\"s1\","
			"\"device_id\":null,\"hlc\":\"%s\",\"from_status\":"
			"null,\"to_status\":null,\"detail\":null,"
			"\"device_time_ms\":%lld,"
			"\"hub_time_ms\":%lld}", k ? "," : "", notes[k],
			notes[k], hlc, ms, ms + 5);
	}
	*p += sprintf(*p, "],\"whole\":%s%s}", whole ? "true" : "false",
		      customer ? EX_CUSTOMER : "");
}

static void test_hub__pull_page_members(void **st)
{
	static const int none[] = { 0 }, n321[] = { 3, 2, 1, 0 },
			 n4[] = { 4, 0 }, n5[] = { 5, 0 }, n7[] = { 7, 0 },
			 n8[] = { 8, 0 }, n86[] = { 8, 6, 0 };
	char path[700], want[16384], *p;
	int64_t cursor;
	FILE *f;

	(void)st;
	cursor = pull_to_end(&manager, 0);
	f = import_begin(path, sizeof(path), "members1.jsonl");
	put_ex_customer(f);
	fputs("{\"type\":\"archive\",\"id\":\"A-X1\",\"customer_id\":\"C-X\","
	      "\"ticket_id\":\"T-old1\",\"ticket_ref\":\"VOC-OLD1\","
	      "\"channel\":\"phone\",\"received_ms\":1700000002000,"
	      "\"closed_ms\":1700000009000,\"category\":\"CARD\","
	      "\"summary\":\"later\",\"outcome\":\"done\","
	      "\"branch\":\"BR01\"}\n", f);
	fputs("{\"type\":\"archive\",\"id\":\"A-X2\",\"customer_id\":\"C-X\","
	      "\"received_ms\":1700000001000}\n", f);
	put_ex_ticket(f, 1, "C-X");
	put_ex_ticket(f, 2, NULL);
	put_ex_ticket(f, 3, "C-X");
	put_ex_ticket(f, 4, "C-NOT-HERE");
	/* Taken in this order: ids and clocks both falling. */
	put_ex_note(f, 3, 1, 1795000003000);
	put_ex_note(f, 2, 1, 1795000002000);
	put_ex_note(f, 1, 1, 1795000001000);
	put_ex_note(f, 8, 3, 1795000008000);
	import_end(f, path);
	p = strcpy(want, "[") + 1;
	want_change(&p, 2, NULL, "s1", 1, none, 1, 0);
	want_change(&p, 4, "C-NOT-HERE", "s1", 1, none, 1, 0);
	want_change(&p, 1, "C-X", "s1", 1, n321, 1, 1);
	want_change(&p, 3, "C-X", "s1", 1, n8, 1, 1);
	strcpy(p, "]");
	expect_page(&manager, &cursor, want);

	/* Notes on tickets 2 and 1 after C-X changed: each change has its
	 * new note alone; ticket 1 brings C-X again, ticket 2 has none. */
	f = import_begin(path, sizeof(path), "members2.jsonl");
	put_ex_customer(f);
	put_ex_note(f, 4, 2, 1795000004000);
	put_ex_note(f, 5, 1, 1795000005000);
	import_end(f, path);
	p = strcpy(want, "[") + 1;
	want_change(&p, 2, NULL, "s1", 1, n4, 0, 0);
	want_change(&p, 1, "C-X", "s1", 1, n5, 0, 1);
	strcpy(p, "]");
	expect_page(&manager, &cursor, want);

	/* A note on ticket 3, one on ticket 2, then ticket 3 reassigned:
	 * ticket 2 has its note alone and no customer, ticket 3 is whole
	 * again, its older note, customer and all. */
	f = import_begin(path, sizeof(path), "members3.jsonl");
	put_ex_note(f, 6, 3, 1795000006000);
	put_ex_note(f, 7, 2, 1795000007000);
	import_end(f, path);
	assert_int_equal(hub_cmd(NULL, 0, "assign --dir %s " EX_ID "03 "
				 "--branch BR01 --staff s2", dir), 0);
	p = strcpy(want, "[") + 1;
	want_change(&p, 2, NULL, "s1", 1, n7, 0, 0);
	want_change(&p, 3, "C-X", "s2", 2, n86, 1, 1);
	strcpy(p, "]");
	expect_page(&manager, &cursor, want);
}

static void test_hub__history_export(void **st)
{
	char line[256];

	(void)st;
	/* export succeeds and its first line is the header. */
	assert_int_equal(hub_cmd(line, sizeof(line), "export --dir %s", dir),
			 0);
	assert_non_null(strstr(line, "branchsync-hub-export"));
	assert_int_equal(hub_cmd(line, sizeof(line), "report --dir %s", dir),
			 0);
	assert_non_null(strstr(line, "BRANCH"));
}

/* Last: revocation ends the staff device's access. */
static void test_hub__revoked(void **st)
{
	struct reply r;

	(void)st;
	assert_int_equal(hub_cmd(NULL, 0, "revoke --dir %s %s", dir, DEV_S),
			 0);
	request(&r, &staff, SIGN, "GET", "/v1/sync/pull", NULL, 0, NULL);
	expect(&r, 403, "revoked", "revoked");
	reply_free(&r);
	assert_int_equal(hub_cmd(NULL, 0, "revoke --dir %s %s", dir, DEV_S),
			 bs_error_exit_code(BS_ENOTFOUND));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub__enroll_ca_and_mac),
		cmocka_unit_test(test_hub__enroll_refusals),
		cmocka_unit_test(test_hub__table),
		cmocka_unit_test(test_hub__replayed_request),
		cmocka_unit_test(test_hub__signed_before_start),
		cmocka_unit_test(test_hub__oversized_and_bomb),
		cmocka_unit_test(test_hub__truncated_body),
		cmocka_unit_test(test_hub__push_append_and_replay),
		cmocka_unit_test(test_hub__push_rejections),
		cmocka_unit_test(test_hub__push_batch_all_or_nothing),
		cmocka_unit_test(test_hub__free_text_last_writer_wins),
		cmocka_unit_test(test_hub__pull_customer_when_new),
		cmocka_unit_test(test_hub__pull_scope_paging_and_drop),
		cmocka_unit_test(test_hub__reply_after_close_kept),
		cmocka_unit_test(test_hub__walk_in_contact),
		cmocka_unit_test(test_hub__pull_page_byte_budget),
		cmocka_unit_test(test_hub__pull_change_over_budget_alone),
		cmocka_unit_test(test_hub__pull_page_members),
		cmocka_unit_test(test_hub__history_export),
		cmocka_unit_test(test_hub__revoked),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
