/*
 * test_hub_pg_race.c - two branchsync-hub processes serving one
 * PostgreSQL database, as in production: they start together on an
 * empty database, then devices push operations on one ticket to both at
 * once while another device pulls from both all the while.
 *
 * What must hold: every push is answered 200 with a result for each op;
 * a batch retried on the other hub, or sent to both hubs at the same
 * moment, gets the same answers and changes nothing twice; at the end
 * the database has each operation exactly once (op, activity, history,
 * an unbroken hash chain), and the puller, which saw the change numbers
 * only go up, has every activity the database has - no change committed
 * late under a lower number slipped behind its cursor.
 *
 * The file is in four parts: the hubs (started here, on a throwaway
 * server from tests/support/pg.h), signed requests that do not assert
 * (they run in threads; failures are collected and asserted by the main
 * thread), the pushers and the puller, and the test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <mbedtls/pk.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "pg.h"
#include "testutil.h"

#define T1 "01890a5d-ac96-774b-bcce-b302099a8001" /* BR01, s1: the target */
#define T2 "01890a5d-ac96-774b-bcce-b302099a8002" /* BR01, s2 */

#define PUSHERS 4
#define BATCHES 24
#define OPS_PER_BATCH 4
#define MAX_OPS (BATCHES * OPS_PER_BATCH)
#define PULL_LIMIT "7"

struct hub {
	pid_t pid;
	char base[128];
};

struct device {
	char id[40];
	const char *staff;
	mbedtls_pk_context key;
	long seq;
};

static char tmp[512]; /* this run's folder */
static char dir[600];  /* the hubs' folder in it */
static char hub_bin[600];
static char db_url[512];
static struct hub hubs[2];
static struct device pushers_dev[PUSHERS], puller_dev;

/* Failures in threads: counted, the first few messages kept. */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static char fail_text[2048];

static void note_failure(const char *fmt, ...) BS__PRINTF(1, 2);

static void note_failure(const char *fmt, ...)
{
	va_list ap;
	size_t n;

	pthread_mutex_lock(&fail_mu);
	if (failures++ < 5) {
		n = strlen(fail_text);
		va_start(ap, fmt);
		vsnprintf(fail_text + n, sizeof(fail_text) - n, fmt, ap);
		va_end(ap);
		n = strlen(fail_text);
		if (n + 1 < sizeof(fail_text))
			strcat(fail_text, "\n");
	}
	pthread_mutex_unlock(&fail_mu);
}

static int rng(void *ctx, unsigned char *buf, size_t n)
{
	(void)ctx;
	return bs_os_random(buf, n) == BS_OK ? 0 : -1;
}

/* --- the hubs ------------------------------------------------------- */

/* $BS_TEST_WRAPPER (qemu-user for the ARM builds), then the hub. */
static int hub_argv(const char **argv, int cap, char *words)
{
	const char *w = getenv("BS_TEST_WRAPPER");
	char *p;
	int n = 0;

	snprintf(words, 256, "%s", w != NULL ? w : "");
	for (p = strtok(words, " "); p != NULL && n < cap - 1;
	     p = strtok(NULL, " "))
		argv[n++] = p;
	argv[n++] = hub_bin;
	return n;
}

/* Run an admin command on database db (printf-style args, --dir and
 * --db added); the first line of its stdout into out; its exit status. */
static int hub_cmd(const char *db, char *out, size_t cap, const char *fmt,
		   ...)
{
	char cmd[4096], args[1500];
	const char *wrapper = getenv("BS_TEST_WRAPPER");
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s %s --dir '%s' --db '%s'",
		 wrapper != NULL ? wrapper : "", hub_bin, args, dir, db);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (out != NULL) {
		out[0] = '\0';
		if (fgets(out, (int)cap, p) != NULL)
			out[strcspn(out, "\n")] = '\0';
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Fork a hub that serves; *fd receives the read end of its stdout. */
static pid_t spawn_hub(int *fd)
{
	const char *argv[24];
	char words[256];
	int p[2], n;
	pid_t parent = getpid(), pid;

	n = hub_argv(argv, 12, words);
	argv[n++] = "serve";
	argv[n++] = "--dir";
	argv[n++] = dir;
	argv[n++] = "--db";
	argv[n++] = db_url;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--threads";
	argv[n++] = "4";
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		/* A test that dies takes its hubs with it. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* The hub's "listening on https://..." line: its base URL, by name. */
static void read_base(struct hub *h, int fd)
{
	char line[256] = "", *p;
	FILE *f = fdopen(fd, "r");

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strstr(line, "serving postgres on"));
	p = strstr(line, "https://127.0.0.1:");
	assert_non_null(p);
	p += strlen("https://127.0.0.1:");
	/* The certificate names localhost. */
	snprintf(h->base, sizeof(h->base), "https://localhost:%.*s",
		 (int)strspn(p, "0123456789"), p);
}

static void stop_hubs(void)
{
	int i, st;

	for (i = 0; i < 2; i++) {
		if (hubs[i].pid > 0) {
			kill(hubs[i].pid, SIGTERM);
			waitpid(hubs[i].pid, &st, 0);
			hubs[i].pid = 0;
		}
	}
}

/* --- signed requests ------------------------------------------------ */

struct reply {
	long status;
	char *body;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void reply_free(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* One request, ready to perform on handle c. */
struct req {
	CURL *c;
	struct curl_slist *h;
	struct reply r;
};

static CURL *handle(void)
{
	CURL *c = curl_easy_init();
	char ca[700];

	if (c == NULL)
		return NULL;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "deflate");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	return c;
}

/*
 * Set q up for method target on base, signed by d (NULL: unsigned), with
 * body (NULL for GET).  0, or -1 after note_failure().
 */
static int prepare(struct req *q, CURL *c, struct device *d,
		   const char *base, const char *method, const char *target,
		   const char *body)
{
	char url[512], hdr[600], nonce[33];
	uint8_t rnd[16], hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
	char *canon = NULL, *b64 = NULL;
	size_t len = body != NULL ? strlen(body) : 0, slen = 0;
	int64_t t = bs_os_now_ms();
	int rc = -1;

	memset(q, 0, sizeof(*q));
	q->c = c;
	snprintf(url, sizeof(url), "%s%s", base, target);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->r);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
		q->h = curl_slist_append(q->h, "Content-Type: "
					 "application/json");
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	q->h = curl_slist_append(q->h, "X-BS-Version: 1");
	if (d != NULL) {
		if (bs_os_random(rnd, sizeof(rnd)) != BS_OK)
			goto cleanup;
		bs__wire_hex(nonce, rnd, sizeof(rnd));
		if (bs__wire_canonical(&canon, method, target, d->id, t, nonce,
				       body, len) != BS_OK)
			goto cleanup;
		bs__wire_sha256(hash, canon, strlen(canon));
		if (mbedtls_pk_sign(&d->key, MBEDTLS_MD_SHA256, hash, 32, sig,
				    &slen, rng, NULL) != 0 ||
		    bs__wire_b64(&b64, sig, slen) != BS_OK)
			goto cleanup;
		snprintf(hdr, sizeof(hdr), "X-BS-Device: %s", d->id);
		q->h = curl_slist_append(q->h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Time: %lld", (long long)t);
		q->h = curl_slist_append(q->h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Nonce: %s", nonce);
		q->h = curl_slist_append(q->h, hdr);
		snprintf(hdr, sizeof(hdr), "X-BS-Signature: %s", b64);
		q->h = curl_slist_append(q->h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->h);
	rc = 0;
cleanup:
	if (rc != 0)
		note_failure("cannot sign a request for %s", target);
	bs__free(canon);
	bs__free(b64);
	return rc;
}

/* After the transfer: the status, and the headers freed. */
static void finish(struct req *q)
{
	curl_easy_getinfo(q->c, CURLINFO_RESPONSE_CODE, &q->r.status);
	curl_easy_setopt(q->c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(q->h);
	q->h = NULL;
}

/* Perform q alone.  0, or -1 after note_failure(). */
static int perform(struct req *q)
{
	CURLcode cc = curl_easy_perform(q->c);

	finish(q);
	if (cc != CURLE_OK) {
		note_failure("transfer failed: %s", curl_easy_strerror(cc));
		return -1;
	}
	return 0;
}

/* Perform two requests at the same moment.  0, or -1 after
 * note_failure(). */
static int perform_both(struct req *a, struct req *b)
{
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	int running = 1, left, rc = 0;

	if (m == NULL)
		return -1;
	curl_multi_add_handle(m, a->c);
	curl_multi_add_handle(m, b->c);
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			rc = -1;
			break;
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK) {
			note_failure("transfer failed: %s",
				     curl_easy_strerror(msg->data.result));
			rc = -1;
		}
	curl_multi_remove_handle(m, a->c);
	curl_multi_remove_handle(m, b->c);
	curl_multi_cleanup(m);
	finish(a);
	finish(b);
	return rc;
}

/* --- pushers and puller --------------------------------------------- */

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

struct pusher {
	pthread_t t;
	int index;
	struct device *d;
	int ops, appends, replays;
	char act[MAX_OPS][40]; /* ids of the activities appended */
};

/* The next op of p's device, as JSON text into buf: mostly appends to
 * T1, every fifth an edit of T1's outcome (a last-writer-wins merge). */
static void next_op(struct pusher *p, char *buf, size_t cap)
{
	struct device *d = p->d;
	char hlc[BS__HLC_TEXT_LEN + 1];
	long seq = ++d->seq;

	bs__hlc_format(hlc, bs__hlc_make(bs_os_now_ms(), 0));
	if (seq % 5 == 0) {
		snprintf(buf, cap, "{\"op_id\":\"%s:%ld\",\"entity\":"
			 "\"ticket\",\"op\":\"update\",\"entity_id\":"
			 "\"" T1 "\",\"ticket_id\":\"" T1 "\",\"fields\":"
			 "{\"outcome\":\"outcome %ld from device %d\"},"
			 "\"hlc\":\"%s\",\"author\":\"%s\","
			 "\"device_time_ms\":%lld}", d->id,
			 seq, seq, p->index, hlc, d->staff,
			 (long long)bs_os_now_ms());
		return;
	}
	snprintf(p->act[p->appends], sizeof(p->act[0]),
		 "01890a5d-ac96-7%03x-b%03x-%012lx", p->index, 0x100, seq);
	snprintf(buf, cap, "{\"op_id\":\"%s:%ld\",\"entity\":\"activity\","
		 "\"op\":\"append\",\"entity_id\":\"%s\",\"ticket_id\":\"" T1
		 "\",\"fields\":{\"kind\":\"internal_note\",\"body\":\"note "
		 "%ld of device %d\"},\"hlc\":\"%s\",\"author\":\"%s\","
		 "\"device_time_ms\":%lld}", d->id, seq, p->act[p->appends],
		 seq, p->index, hlc, d->staff, (long long)bs_os_now_ms());
	p->appends++;
}

/*
 * Check a push reply: 200, one applied or merged result per op, in
 * order.  *results receives the results as compact JSON text (free
 * it) to compare with another answer to the same batch.
 */
static int check_push(const struct reply *r, int nops, char **results)
{
	cJSON *doc = NULL;
	const cJSON *res, *it;
	int i = 0, rc = -1;

	*results = NULL;
	if (r->status != 200) {
		note_failure("push: status %ld: %s", r->status,
			     r->body ? r->body : "");
		return -1;
	}
	doc = cJSON_Parse(r->body);
	res = cJSON_GetObjectItem(doc, "results");
	if (cJSON_GetArraySize(res) != nops) {
		note_failure("push: %d results for %d ops",
			     cJSON_GetArraySize(res), nops);
		goto cleanup;
	}
	cJSON_ArrayForEach(it, res) {
		const char *result = str(it, "result");

		if (result == NULL || (strcmp(result, "applied") != 0 &&
				       strcmp(result, "merged") != 0)) {
			note_failure("push: op %d: %s", i, r->body);
			goto cleanup;
		}
		i++;
	}
	*results = cJSON_PrintUnformatted(res);
	rc = *results != NULL ? 0 : -1;
cleanup:
	cJSON_Delete(doc);
	return rc;
}

/*
 * BATCHES batches of OPS_PER_BATCH ops on T1, by turns: to one hub; to
 * one hub and then again to the other (a retry after a lost answer);
 * to both hubs at the same moment (a retry racing the first attempt).
 */
static void *push_all(void *arg)
{
	struct pusher *p = arg;
	CURL *c[2] = { handle(), handle() };
	char body[OPS_PER_BATCH * 1024], op[1000];
	int b, k;

	if (c[0] == NULL || c[1] == NULL) {
		note_failure("no curl handle");
		goto out;
	}
	for (b = 0; b < BATCHES; b++) {
		struct req q1, q2;
		char *res1 = NULL, *res2 = NULL;
		int mode = (b + p->index) % 3, first = (b + p->index) % 2;
		size_t n;

		n = (size_t)snprintf(body, sizeof(body), "{\"v\":1,\"ops\":[");
		for (k = 0; k < OPS_PER_BATCH; k++) {
			next_op(p, op, sizeof(op));
			n += (size_t)snprintf(body + n, sizeof(body) - n,
					      "%s%s", k ? "," : "", op);
		}
		snprintf(body + n, sizeof(body) - n, "]}");
		p->ops += OPS_PER_BATCH;
		if (prepare(&q1, c[first], p->d, hubs[first].base, "POST",
			    "/v1/sync/push", body) != 0)
			break;
		if (mode == 0) {
			if (perform(&q1) == 0)
				check_push(&q1.r, OPS_PER_BATCH, &res1);
			reply_free(&q1.r);
			free(res1);
			continue;
		}
		if (mode == 1 && perform(&q1) != 0) {
			reply_free(&q1.r);
			break;
		}
		if (prepare(&q2, c[!first], p->d, hubs[!first].base, "POST",
			    "/v1/sync/push", body) != 0) {
			reply_free(&q1.r);
			break;
		}
		k = mode == 1 ? perform(&q2) : perform_both(&q1, &q2);
		if (k == 0) {
			if (check_push(&q1.r, OPS_PER_BATCH, &res1) == 0 &&
			    check_push(&q2.r, OPS_PER_BATCH, &res2) == 0 &&
			    strcmp(res1, res2) != 0)
				note_failure("a batch sent twice got two "
					     "answers:\n%s\n%s", res1, res2);
			p->replays++;
		}
		reply_free(&q1.r);
		reply_free(&q2.r);
		free(res1);
		free(res2);
	}
out:
	curl_easy_cleanup(c[0]);
	curl_easy_cleanup(c[1]);
	return NULL;
}

struct puller {
	pthread_t t;
	volatile int stop;
	int64_t cursor, last_seq;
	int pages;
	char **ids; /* activities of T1 received */
	size_t nids, cap;
};

/* Take one pull page into p; *more as the hub said.  0 or -1. */
static int pull_page(struct puller *p, CURL *c, int which, int *more)
{
	struct req q;
	char target[96];
	cJSON *doc = NULL;
	const cJSON *ch, *a;
	int rc = -1;

	snprintf(target, sizeof(target), "/v1/sync/pull?cursor=%lld&limit="
		 PULL_LIMIT, (long long)p->cursor);
	if (prepare(&q, c, &puller_dev, hubs[which].base, "GET", target,
		    NULL) != 0 || perform(&q) != 0)
		goto cleanup;
	if (q.r.status != 200 || (doc = cJSON_Parse(q.r.body)) == NULL) {
		note_failure("pull: status %ld: %s", q.r.status,
			     q.r.body ? q.r.body : "");
		goto cleanup;
	}
	cJSON_ArrayForEach(ch, cJSON_GetObjectItem(doc, "changes")) {
		int64_t seq = (int64_t)cJSON_GetObjectItem(ch, "seq")
				      ->valuedouble;
		const cJSON *t = cJSON_GetObjectItem(ch, "ticket");

		if (seq <= p->last_seq) {
			note_failure("pull: change %lld after %lld",
				     (long long)seq, (long long)p->last_seq);
			goto cleanup;
		}
		p->last_seq = seq;
		if (t == NULL || str(t, "id") == NULL ||
		    strcmp(str(t, "id"), T1) != 0)
			continue;
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(ch, "activities")) {
			if (p->nids == p->cap) {
				size_t ncap = p->cap ? p->cap * 2 : 256;
				char **n = realloc(p->ids, ncap * sizeof(*n));

				if (n == NULL)
					goto cleanup;
				p->ids = n;
				p->cap = ncap;
			}
			p->ids[p->nids++] = strdup(str(a, "id"));
		}
	}
	p->cursor = (int64_t)cJSON_GetObjectItem(doc, "cursor")->valuedouble;
	*more = cJSON_IsTrue(cJSON_GetObjectItem(doc, "more"));
	p->pages++;
	rc = 0;
cleanup:
	cJSON_Delete(doc);
	reply_free(&q.r);
	return rc;
}

/* Pull from both hubs by turns until told to stop, then to the end. */
static void *pull_all(void *arg)
{
	struct puller *p = arg;
	CURL *c[2] = { handle(), handle() };
	int more = 1, last = 0;

	while (c[0] != NULL && c[1] != NULL) {
		last = p->stop;
		if (pull_page(p, c[p->pages % 2], p->pages % 2, &more) != 0)
			break;
		if (last && !more)
			break;
	}
	curl_easy_cleanup(c[0]);
	curl_easy_cleanup(c[1]);
	return NULL;
}

/* --- the test ------------------------------------------------------- */

static void make_key(struct device *d, const char *staff, int n)
{
	snprintf(d->id, sizeof(d->id), "01890a5d-ac96-774b-bcce-b302099ad%03x",
		 n);
	d->staff = staff;
	d->seq = 0;
	mbedtls_pk_init(&d->key);
	assert_int_equal(mbedtls_pk_setup(&d->key,
		mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		mbedtls_pk_ec(d->key), rng, NULL), 0);
}

static void enroll(struct device *d, const char *role)
{
	char code[64], body[1024], *b64 = NULL;
	uint8_t der[200];
	struct req q;
	CURL *c = handle();
	int n;

	assert_non_null(c);
	assert_int_equal(hub_cmd(db_url, code, sizeof(code), "enroll-code "
				 "--branch BR01 --staff %s --role %s",
				 d->staff, role), 0);
	n = mbedtls_pk_write_pubkey_der(&d->key, der, sizeof(der));
	assert_true(n > 0);
	assert_int_equal(bs__wire_b64(&b64, der + sizeof(der) - n, (size_t)n),
			 BS_OK);
	snprintf(body, sizeof(body), "{\"v\":1,\"code\":\"%s\",\"device_id\":"
		 "\"%s\",\"public_key\":\"%s\"}", code, d->id, b64);
	bs__free(b64);
	assert_int_equal(prepare(&q, c, NULL, hubs[0].base, "POST",
				 "/v1/enroll", body), 0);
	if (perform(&q) != 0)
		print_error("enroll at %s: %s", hubs[0].base, fail_text);
	assert_int_equal(failures, 0);
	if (q.r.status != 200)
		print_error("enroll: %s\n", q.r.body ? q.r.body : "");
	assert_int_equal(q.r.status, 200);
	reply_free(&q.r);
	curl_easy_cleanup(c);
}

static const char export_text[] =
	"{\"type\":\"header\",\"format\":\"branchsync-export\",\"version\":1}\n"
	"{\"type\":\"ticket\",\"id\":\"" T1 "\",\"ref\":\"VOC-1\","
	"\"channel\":\"phone\",\"status\":\"in_progress\",\"subject\":\"card\","
	"\"branch\":\"BR01\",\"assignee\":\"s1\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"ticket\",\"id\":\"" T2 "\",\"ref\":\"VOC-2\","
	"\"channel\":\"app\",\"status\":\"dispatched\",\"subject\":\"fee\","
	"\"branch\":\"BR01\",\"assignee\":\"s2\",\"t0_ms\":1795000000000}\n"
	"{\"type\":\"activity\","
	"\"id\":\"01890a5d-ac96-774b-bcce-b302099ae001\","
	"\"ticket_id\":\"" T1 "\",\"kind\":\"call_log\",\"body\":\"logged\","
	"\"author\":\"callcenter\",\"device_time_ms\":1795000000000}\n";

static int setup(void **st)
{
	char self[512], path[700];
	ssize_t n;
	FILE *f;
	int fd[2], i;

	(void)st;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bs__json_init();
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	/* BUILD/tests/integration/test_hub_pg_race -> BUILD/branchsync-hub */
	for (i = 0; i < 3; i++)
		*strrchr(self, '/') = '\0';
	snprintf(hub_bin, sizeof(hub_bin), "%s/branchsync-hub", self);
	assert_int_equal(tu_pg_start(), 0);
	assert_int_equal(tu_pg_createdb(db_url, sizeof(db_url), "race"), 0);
	snprintf(tmp, sizeof(tmp), "%s", tu_tempdir());
	snprintf(dir, sizeof(dir), "%s/hub", tmp);
	/* The CA and keys both hubs serve with; init's own SQLite file is
	 * not used. */
	snprintf(path, sizeof(path), "%s/init.db", tmp);
	assert_int_equal(hub_cmd(path, NULL, 0, "init"), 0);
	/* Both hubs start at once on the empty database: one makes the
	 * schema, the other waits for it; both serve. */
	hubs[0].pid = spawn_hub(&fd[0]);
	hubs[1].pid = spawn_hub(&fd[1]);
	read_base(&hubs[0], fd[0]);
	read_base(&hubs[1], fd[1]);
	snprintf(path, sizeof(path), "%s/export.jsonl", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(export_text, f);
	fclose(f);
	assert_int_equal(hub_cmd(db_url, NULL, 0, "import '%s'", path), 0);
	make_key(&pushers_dev[0], "s1", 1);
	make_key(&pushers_dev[1], "s1", 2);
	make_key(&pushers_dev[2], "m1", 3);
	make_key(&pushers_dev[3], "m2", 4);
	make_key(&puller_dev, "m3", 5);
	enroll(&pushers_dev[0], "staff");
	enroll(&pushers_dev[1], "staff");
	enroll(&pushers_dev[2], "manager");
	enroll(&pushers_dev[3], "manager");
	enroll(&puller_dev, "manager");
	return 0;
}

static int teardown(void **st)
{
	int i;

	(void)st;
	stop_hubs();
	for (i = 0; i < PUSHERS; i++)
		mbedtls_pk_free(&pushers_dev[i].key);
	mbedtls_pk_free(&puller_dev.key);
	tu_rmrf(tmp);
	tu_pg_stop();
	curl_global_cleanup();
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The single integer sql gives on the race database. */
static long long db_int(const char *sql)
{
	char *out = tu_pg_sql("race", sql);
	long long v;

	assert_non_null(out);
	v = strtoll(out, NULL, 10);
	free(out);
	return v;
}

static void test_hub_pg_race__two_hubs_one_ticket(void **st)
{
	static struct pusher p[PUSHERS];
	struct puller pl;
	char *db_ids, *line, *save = NULL, **uniq;
	size_t i, nuniq = 0, ndb = 0;
	int k, ops = 0, appends = 0, replays = 0;

	(void)st;
	/* Both hubs started on the empty database; it was made once. */
	assert_int_equal(db_int("SELECT value::bigint FROM hub_meta WHERE "
				"key = 'schema_version'"), 1);
	assert_int_equal(db_int("SELECT count(*) FROM counter"), 2);
	memset(&pl, 0, sizeof(pl));
	assert_int_equal(pthread_create(&pl.t, NULL, pull_all, &pl), 0);
	for (k = 0; k < PUSHERS; k++) {
		memset(&p[k], 0, sizeof(p[k]));
		p[k].index = k;
		p[k].d = &pushers_dev[k];
		assert_int_equal(pthread_create(&p[k].t, NULL, push_all, &p[k]),
				 0);
	}
	for (k = 0; k < PUSHERS; k++) {
		pthread_join(p[k].t, NULL);
		ops += p[k].ops;
		appends += p[k].appends;
		replays += p[k].replays;
	}
	pl.stop = 1;
	pthread_join(pl.t, NULL);
	print_message("  %d ops (%d appends) in %d batches, %d sent twice; "
		      "%d pull pages\n", ops, appends, PUSHERS * BATCHES,
		      replays, pl.pages);
	if (failures != 0)
		print_error("%d failures:\n%s", failures, fail_text);
	assert_int_equal(failures, 0);
	assert_int_equal(ops, PUSHERS * MAX_OPS);
	assert_true(replays >= PUSHERS * BATCHES / 2);

	/* Each operation once: its answer, its activity, its history
	 * entry; numbers not shared; the chain of T1 unbroken. */
	assert_int_equal(db_int("SELECT count(*) FROM op"), ops);
	assert_int_equal(db_int("SELECT count(*) FROM op WHERE result NOT IN "
				"('applied', 'merged')"), 0);
	assert_int_equal(db_int("SELECT count(*) FROM activity WHERE op_id IS "
				"NOT NULL"), appends);
	assert_int_equal(db_int("SELECT count(DISTINCT op_id) FROM activity"),
			 appends);
	assert_int_equal(db_int("SELECT count(DISTINCT seq) FROM activity "
				"WHERE op_id IS NOT NULL"), appends);
	assert_int_equal(db_int("SELECT count(*) FROM history WHERE op_id IS "
				"NOT NULL"), ops);
	assert_int_equal(db_int("SELECT count(DISTINCT op_id) FROM history"),
			 ops);
	assert_int_equal(db_int("SELECT max(n) - count(*) FROM history WHERE "
				"ticket_id = '" T1 "'"), 0);
	assert_int_equal(db_int("SELECT count(*) FROM history h JOIN history "
				"p ON p.ticket_id = h.ticket_id AND p.n = "
				"h.n - 1 WHERE h.prev_hash <> p.hash"), 0);
	assert_int_equal(db_int("SELECT version - 1 FROM ticket WHERE id = '"
				T1 "'"), ops);

	/* The puller: its cursor at the end of its scope, and every
	 * activity of T1 the database has, none it has not. */
	assert_true(pl.cursor == db_int("SELECT max(seq) FROM ticket WHERE "
					"branch = 'BR01'"));
	qsort(pl.ids, pl.nids, sizeof(char *), cmp_str);
	uniq = malloc((pl.nids + 1) * sizeof(char *));
	assert_non_null(uniq);
	for (i = 0; i < pl.nids; i++)
		if (nuniq == 0 || strcmp(uniq[nuniq - 1], pl.ids[i]) != 0)
			uniq[nuniq++] = pl.ids[i];
	db_ids = tu_pg_sql("race", "SELECT id FROM activity WHERE ticket_id "
			   "= '" T1 "' ORDER BY id COLLATE \"C\"");
	assert_non_null(db_ids);
	for (line = strtok_r(db_ids, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (ndb >= nuniq || strcmp(uniq[ndb], line) != 0)
			print_error("the puller lacks activity %s\n", line);
		assert_true(ndb < nuniq);
		assert_string_equal(uniq[ndb], line);
		ndb++;
	}
	assert_int_equal(ndb, nuniq);
	assert_int_equal(ndb, (size_t)appends + 1); /* and the imported one */
	/* What the pushers appended is all there. */
	for (k = 0; k < PUSHERS; k++)
		for (i = 0; i < (size_t)p[k].appends; i++) {
			const char *id = p[k].act[i];

			assert_non_null(bsearch(&id, uniq, nuniq,
						sizeof(char *), cmp_str));
		}
	free(db_ids);
	free(uniq);
	for (i = 0; i < pl.nids; i++)
		free(pl.ids[i]);
	free(pl.ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_pg_race__two_hubs_one_ticket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
