/*
 * hub_load.c - see hub_load.h.  In four parts: names and the fleet;
 * requests (bodies, signatures, sending); answers (what each one moves
 * a device to, and what it counts); the loop that runs a phase.
 *
 * One thread drives every device, so that a thousand devices cost a
 * thousand easy handles and sockets rather than a thousand threads.  It
 * waits in epoll and hands libcurl only the sockets that are ready
 * (curl_multi_socket_action): curl_multi_perform() and poll() would
 * walk all thousand transfers on every wake-up, and the simulator
 * would take the CPU the hub needs.  For the same reason the devices
 * sign with GnuTLS (on the machine already as the hub's TLS library),
 * whose P-256 signs in about 60 microseconds where mbedTLS takes close
 * to a millisecond: the simulator shares the machine's cores with the
 * hub it measures.  The signature is the same, ECDSA-SHA256 over the
 * string of bs__wire_canonical(), in DER.
 *
 * Each device keeps a connection of its own, as a real one does: it
 * names the hub with a host name of its own (HL_HOST_PATTERN), and
 * libcurl keeps connections by host name.  Under one name, the devices
 * would crowd onto the few connections libcurl finds first, and so onto
 * the few hub threads that accepted them; and libcurl would look at
 * every idle connection (a system call each) to find one, a thousand
 * times for each request.
 *
 * Latency is taken from the moment a request is handed to libcurl
 * until its answer is read: time in the hub's queue counts, as it
 * would for a device.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "hub_load.h"

#define PULL_LIMIT 200
#define TIMEOUT_S 60L
#define DRAIN_US ((int64_t)30 * 1000000)
#define LATE_US ((int64_t)100 * 1000) /* a paced round this late: late */
#define RETRY_US ((int64_t)100 * 1000) /* after a failed round */
#define EVENTS 256
#define WARM_MAX_US ((int64_t)15 * 1000000) /* longest closed warm-up */

enum state { IDLE, ENROLL, PUSH, PULL };

struct dev {
	int i;
	char id[40], branch[16], staff[16];
	char tickets[HL_TICKETS][40];
	char code[32];
	gnutls_privkey_t key;
	char *pub_b64;
	CURL *c;
	struct curl_slist *h;
	struct curl_slist *resolve; /* its host name to 127.0.0.1 */
	char *body;         /* the body being sent, owned */
	char *resp;         /* the answer so far */
	size_t len, cap;
	enum state state;
	int hub, nops;
	int warm;           /* finished a round in this phase */
	long seq;           /* the outbox counter */
	int64_t cursor;
	int64_t sent_us;    /* this request handed to libcurl */
	int64_t round_us;   /* this round's push handed to libcurl */
	int64_t due_us;     /* when the next round starts */
};

/* Latencies of one kind, in microseconds. */
struct lats {
	int64_t *v;
	long n, cap;
};

/* The phase being run. */
struct run {
	const struct hl_phase *ph;
	int ndev;
	int catchup;        /* enrollment: no rounds, stop when all idle */
	int recording, stopping;
	int warmed;         /* devices that finished a round */
	int64_t t0, t_rec, t_end, t_stop, period_us;
	long ends, requests, ops, late, errors, connects;
	char first_error[240];
	struct lats push, pull, round;
};

struct hl_fleet {
	int n;
	struct dev *d;
	CURLM *m;
	int ep;             /* epoll descriptor, -1 if none */
	int64_t timer_us;   /* when libcurl wants to be called; -1: never */
	int ports[HL_MAX_HUBS];
	int nhubs;
	char ca[600];
	int inflight;
	uint64_t rnd;       /* xorshift state: which ticket, how many ops */
	struct run *run;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t next_rnd(hl_fleet *f)
{
	f->rnd ^= f->rnd << 13;
	f->rnd ^= f->rnd >> 7;
	f->rnd ^= f->rnd << 17;
	return (uint32_t)(f->rnd >> 16);
}

/* --- names and the fleet -------------------------------------------- */

void hl_device_id(char *out, size_t cap, int i)
{
	snprintf(out, cap, "01890a5d-ac96-7d00-b000-%012x", (unsigned)i);
}

void hl_branch(char *out, size_t cap, int i)
{
	snprintf(out, cap, "B%03d", i / HL_PER_BRANCH);
}

void hl_staff(char *out, size_t cap, int i)
{
	snprintf(out, cap, "s%04d", i);
}

void hl_ticket_id(char *out, size_t cap, int i, int k)
{
	snprintf(out, cap, "01890a5d-ac96-7e00-b%03x-%012x", (unsigned)k,
		 (unsigned)i);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct dev *d = ud;
	size_t add = size * n;

	if (d->len + add + 1 > d->cap) {
		size_t nc = (d->len + add + 1) * 2;
		char *nb = realloc(d->resp, nc);

		if (nb == NULL)
			return 0;
		d->resp = nb;
		d->cap = nc;
	}
	memcpy(d->resp + d->len, p, add);
	d->len += add;
	d->resp[d->len] = '\0';
	return add;
}

/* A new key for d and its public half as base64 DER. */
static int make_key(struct dev *d)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 };
	int rc = -1;

	if (gnutls_privkey_init(&d->key) < 0 ||
	    gnutls_privkey_generate(d->key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, d->key, 0, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0 ||
	    bs__wire_b64(&d->pub_b64, der.data, der.size) != BS_OK)
		goto cleanup;
	rc = 0;
cleanup:
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return rc;
}

int hl_fleet_new(hl_fleet **out, int n)
{
	hl_fleet *f = calloc(1, sizeof(*f));
	int i, k;

	*out = NULL;
	if (f == NULL || (f->d = calloc((size_t)n, sizeof(*f->d))) == NULL)
		goto fail;
	f->n = n;
	f->ep = -1;
	f->rnd = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < n; i++) {
		struct dev *d = &f->d[i];

		d->i = i;
		hl_device_id(d->id, sizeof(d->id), i);
		hl_branch(d->branch, sizeof(d->branch), i);
		hl_staff(d->staff, sizeof(d->staff), i);
		for (k = 0; k < HL_TICKETS; k++)
			hl_ticket_id(d->tickets[k], sizeof(d->tickets[k]), i,
				     k);
		if (make_key(d) != 0) {
			fprintf(stderr, "bench: cannot make a device key\n");
			goto fail;
		}
	}
	*out = f;
	return 0;
fail:
	hl_fleet_free(f);
	return -1;
}

void hl_fleet_close(hl_fleet *f)
{
	int i;

	for (i = 0; i < f->n; i++) {
		struct dev *d = &f->d[i];

		if (d->c != NULL && f->m != NULL && d->state != IDLE)
			curl_multi_remove_handle(f->m, d->c);
		curl_easy_cleanup(d->c);
		d->c = NULL;
		curl_slist_free_all(d->h);
		d->h = NULL;
		curl_slist_free_all(d->resolve);
		d->resolve = NULL;
		free(d->body);
		d->body = NULL;
		d->state = IDLE;
	}
	curl_multi_cleanup(f->m);
	f->m = NULL;
	if (f->ep >= 0)
		close(f->ep);
	f->ep = -1;
	f->inflight = 0;
}

void hl_fleet_free(hl_fleet *f)
{
	int i;

	if (f == NULL)
		return;
	if (f->d != NULL) {
		hl_fleet_close(f);
		for (i = 0; i < f->n; i++) {
			gnutls_privkey_deinit(f->d[i].key);
			bs__free(f->d[i].pub_b64);
			free(f->d[i].resp);
		}
	}
	free(f->d);
	free(f);
}

/* libcurl's socket callback: watch s for what it wants. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud,
		     void *sp)
{
	hl_fleet *f = ud;
	struct epoll_event ev;

	(void)e;
	(void)sp;
	if (what == CURL_POLL_REMOVE) {
		/* It may be closed already, which removed it. */
		epoll_ctl(f->ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
		    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
	ev.data.fd = s;
	if (epoll_ctl(f->ep, EPOLL_CTL_MOD, s, &ev) != 0 &&
	    (errno != ENOENT || epoll_ctl(f->ep, EPOLL_CTL_ADD, s, &ev) != 0))
		return -1;
	return 0;
}

/* libcurl's timer callback: call it back in ms (-1: no need). */
static int on_timer(CURLM *m, long ms, void *ud)
{
	hl_fleet *f = ud;

	(void)m;
	f->timer_us = ms < 0 ? -1 : now_us() + (int64_t)ms * 1000;
	return 0;
}

int hl_fleet_target(hl_fleet *f, const int *ports, int nhubs,
		    const char *ca_file)
{
	int i;

	hl_fleet_close(f);
	if (nhubs < 1 || nhubs > HL_MAX_HUBS)
		return -1;
	f->nhubs = nhubs;
	for (i = 0; i < nhubs; i++)
		f->ports[i] = ports[i];
	snprintf(f->ca, sizeof(f->ca), "%s", ca_file);
	f->timer_us = -1;
	if ((f->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (f->m = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(f->m, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(f->m, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->m, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(f->m, CURLMOPT_TIMERDATA, f);
	/* HTTP/1.1, one request at a time on a connection; idle
	 * connections kept for every device, not the default of four per
	 * handle in the multi at the moment. */
	curl_multi_setopt(f->m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	curl_multi_setopt(f->m, CURLMOPT_MAXCONNECTS, (long)f->n + 16);
	for (i = 0; i < f->n; i++) {
		struct dev *d = &f->d[i];
		CURL *c = curl_easy_init();
		char name[80];

		if (c == NULL)
			return -1;
		d->c = c;
		d->hub = i % nhubs;
		d->cursor = 0;
		snprintf(name, sizeof(name), "d%d.devices.localhost:%d:"
			 "127.0.0.1", i, ports[d->hub]);
		if ((d->resolve = curl_slist_append(NULL, name)) == NULL)
			return -1;
		curl_easy_setopt(c, CURLOPT_RESOLVE, d->resolve);
		curl_easy_setopt(c, CURLOPT_CAINFO, f->ca);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
				 (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, TIMEOUT_S);
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "deflate");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
		curl_easy_setopt(c, CURLOPT_PRIVATE, d);
	}
	return 0;
}

void hl_fleet_code(hl_fleet *f, int i, const char *code)
{
	snprintf(f->d[i].code, sizeof(f->d[i].code), "%s", code);
}

/* --- requests ------------------------------------------------------- */

static void fail(hl_fleet *f, const char *fmt, ...) BS__PRINTF(2, 3);

/* Count a failure; keep the first message. */
static void fail(hl_fleet *f, const char *fmt, ...)
{
	struct run *r = f->run;
	va_list ap;

	r->errors++;
	if (r->first_error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
	va_end(ap);
}

/* The four X-BS-* headers of a signed request, appended to d->h. */
static int sign(struct dev *d, const char *method, const char *target,
		const char *body)
{
	char hdr[300], nonce[BS__WIRE_NONCE_HEX + 1], *canon = NULL;
	char *b64 = NULL;
	uint8_t rnd[BS__WIRE_NONCE_HEX / 2];
	gnutls_datum_t data, sig = { NULL, 0 };
	int64_t t = bs_os_now_ms();
	int rc = -1;

	if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd)) < 0)
		return -1;
	bs__wire_hex(nonce, rnd, sizeof(rnd));
	if (bs__wire_canonical(&canon, method, target, d->id, t, nonce, body,
			       body != NULL ? strlen(body) : 0) != BS_OK)
		goto cleanup;
	data.data = (unsigned char *)canon;
	data.size = (unsigned)strlen(canon);
	if (gnutls_privkey_sign_data(d->key, GNUTLS_DIG_SHA256, 0, &data,
				     &sig) < 0 ||
	    bs__wire_b64(&b64, sig.data, sig.size) != BS_OK)
		goto cleanup;
	snprintf(hdr, sizeof(hdr), "X-BS-Device: %s", d->id);
	d->h = curl_slist_append(d->h, hdr);
	snprintf(hdr, sizeof(hdr), "X-BS-Time: %lld", (long long)t);
	d->h = curl_slist_append(d->h, hdr);
	snprintf(hdr, sizeof(hdr), "X-BS-Nonce: %s", nonce);
	d->h = curl_slist_append(d->h, hdr);
	snprintf(hdr, sizeof(hdr), "X-BS-Signature: %s", b64);
	d->h = curl_slist_append(d->h, hdr);
	rc = 0;
cleanup:
	gnutls_free(sig.data);
	bs__free(canon);
	bs__free(b64);
	return rc;
}

/*
 * Hand d's next request to libcurl: method on target with body (owned
 * from here on; NULL for a GET), signed unless it is enrollment.
 */
static int send_req(hl_fleet *f, struct dev *d, enum state st,
		    const char *method, const char *target, char *body)
{
	char url[300];

	curl_slist_free_all(d->h);
	d->h = NULL;
	free(d->body);
	d->body = body;
	d->len = 0;
	d->state = st;
	snprintf(url, sizeof(url), "https://d%d.devices.localhost:%d%s", d->i,
		 f->ports[d->hub], target);
	curl_easy_setopt(d->c, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(d->c, CURLOPT_POST, 1L);
		curl_easy_setopt(d->c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(d->c, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body));
		d->h = curl_slist_append(d->h, "Content-Type: "
					 "application/json");
		/* No "Expect: 100-continue" wait before a body. */
		d->h = curl_slist_append(d->h, "Expect:");
	} else {
		curl_easy_setopt(d->c, CURLOPT_HTTPGET, 1L);
	}
	d->h = curl_slist_append(d->h, "X-BS-Version: 1");
	if (st != ENROLL && sign(d, method, target, body) != 0) {
		fail(f, "cannot sign a request of device %d", d->i);
		d->state = IDLE;
		return -1;
	}
	curl_easy_setopt(d->c, CURLOPT_HTTPHEADER, d->h);
	d->sent_us = now_us();
	if (curl_multi_add_handle(f->m, d->c) != CURLM_OK) {
		fail(f, "libcurl refused a transfer");
		d->state = IDLE;
		return -1;
	}
	f->inflight++;
	return 0;
}

static int send_pull(hl_fleet *f, struct dev *d)
{
	char target[96];

	snprintf(target, sizeof(target), "/v1/sync/pull?cursor=%lld&limit=%d",
		 (long long)d->cursor, PULL_LIMIT);
	return send_req(f, d, PULL, "GET", target, NULL);
}

/* One append: a reply or a note on one of d's tickets. */
static size_t put_op(hl_fleet *f, struct dev *d, char *out, size_t cap)
{
	char hlc[BS__HLC_TEXT_LEN + 1], act[40];
	long seq = ++d->seq;
	int64_t ms = bs_os_now_ms();
	int reply = seq % 3 == 0;
	const char *ticket = d->tickets[next_rnd(f) % HL_TICKETS];

	bs__hlc_format(hlc, bs__hlc_make(ms, 0));
	snprintf(act, sizeof(act), "01890a5d-%04x-7a00-b000-%012lx",
		 (unsigned)d->i, (unsigned long)seq);
	return (size_t)snprintf(out, cap, "{\"op_id\":\"%s:%ld\",\"entity\":"
		"\"activity\",\"op\":\"append\",\"entity_id\":\"%s\","
		"\"ticket_id\":\"%s\",\"fields\":{\"kind\":\"%s\",\"body\":"
		"\"%s %ld from %s: we checked the ATM's journal for the "
		"day of the complaint and will call the customer back "
		"before noon.\"},\"hlc\":\"%s\",\"author\":\"%s\","
		"\"device_time_ms\":%lld}", d->id, seq, act, ticket,
		reply ? "customer_reply" : "internal_note",
		reply ? "Reply" : "Note", seq, d->staff, hlc, d->staff,
		(long long)ms);
}

/* Start a round: a push of 1 to 3 operations. */
static int start_round(hl_fleet *f, struct dev *d)
{
	size_t cap = 4096, n;
	char *body = malloc(cap);
	int k;

	if (body == NULL)
		return -1;
	d->nops = 1 + (int)(next_rnd(f) % 3);
	n = (size_t)snprintf(body, cap, "{\"v\":1,\"ops\":[");
	for (k = 0; k < d->nops; k++) {
		if (k > 0)
			body[n++] = ',';
		n += put_op(f, d, body + n, cap - n);
	}
	snprintf(body + n, cap - n, "]}");
	d->round_us = now_us();
	return send_req(f, d, PUSH, "POST", "/v1/sync/push", body);
}

static char *enroll_body(const struct dev *d)
{
	size_t cap = 1024;
	char *s = malloc(cap);

	if (s != NULL)
		snprintf(s, cap, "{\"v\":1,\"code\":\"%s\",\"device_id\":"
			 "\"%s\",\"public_key\":\"%s\"}", d->code, d->id,
			 d->pub_b64);
	return s;
}

/* --- answers -------------------------------------------------------- */

static int lat_add(struct lats *l, int64_t us)
{
	if (l->n == l->cap) {
		long nc = l->cap ? l->cap * 2 : 4096;
		int64_t *nv = realloc(l->v, (size_t)nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = us;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sort l and summarize it in milliseconds; free it. */
static void lat_sum(struct hl_lat *out, struct lats *l)
{
	memset(out, 0, sizeof(*out));
	out->n = l->n;
	if (l->n > 0) {
		long i99 = (long)((double)l->n * 0.99 + 0.999999) - 1;

		qsort(l->v, (size_t)l->n, sizeof(int64_t), cmp_i64);
		out->p50 = (double)l->v[(l->n - 1) / 2] / 1000.0;
		out->p99 = (double)l->v[i99 < 0 ? 0 : i99] / 1000.0;
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* When d should start its next round, after one that ended now. */
static void schedule(hl_fleet *f, struct dev *d, int64_t now, int failed)
{
	struct run *r = f->run;

	d->state = IDLE;
	if (r->catchup)
		return;
	if (r->period_us == 0) {
		d->due_us = failed ? now + RETRY_US : now;
		return;
	}
	d->due_us += r->period_us;
	/* A device a whole period behind skips the rounds it missed
	 * rather than firing them all at once. */
	if (d->due_us < now - r->period_us)
		d->due_us = now;
}

/* A push answer: one applied or merged result for each op. */
static int check_push(hl_fleet *f, struct dev *d, const cJSON *doc)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results");
	const cJSON *it;

	if (cJSON_GetArraySize(res) != d->nops) {
		fail(f, "push: %d results for %d ops", cJSON_GetArraySize(res),
		     d->nops);
		return -1;
	}
	cJSON_ArrayForEach(it, res) {
		const cJSON *j = cJSON_GetObjectItemCaseSensitive(it,
								  "result");

		if (!cJSON_IsString(j) ||
		    (strcmp(j->valuestring, "applied") != 0 &&
		     strcmp(j->valuestring, "merged") != 0)) {
			fail(f, "push: an op was not applied: %.160s",
			     d->resp);
			return -1;
		}
	}
	return 0;
}

/* A pull answer: the new cursor, and whether more follows. */
static int check_pull(hl_fleet *f, struct dev *d, const cJSON *doc,
		      int *more)
{
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, "cursor");

	if (!cJSON_IsNumber(cur)) {
		fail(f, "pull: no cursor: %.160s", d->resp);
		return -1;
	}
	d->cursor = (int64_t)cur->valuedouble;
	*more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "more"));
	return 0;
}

/* d's request is answered (or failed with cc): count it, go on. */
static void answered(hl_fleet *f, struct dev *d, CURLcode cc)
{
	struct run *r = f->run;
	int64_t now = now_us(), lat = now - d->sent_us;
	long status = 0, conns = 0;
	cJSON *doc = NULL;
	int more = 0;

	curl_multi_remove_handle(f->m, d->c);
	f->inflight--;
	curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(d->c, CURLINFO_NUM_CONNECTS, &conns);
	if (r->recording)
		r->connects += conns;
	if (cc != CURLE_OK) {
		fail(f, "device %d: %s", d->i, curl_easy_strerror(cc));
		goto failed;
	}
	if (status != 200 || (doc = cJSON_Parse(d->resp)) == NULL) {
		fail(f, "device %d: status %ld: %.160s", d->i, status,
		     d->resp != NULL ? d->resp : "");
		goto failed;
	}
	if (r->recording)
		r->requests++;
	switch (d->state) {
	case ENROLL:
		d->cursor = 0;
		if (send_pull(f, d) != 0)
			goto failed;
		break;
	case PUSH:
		if (check_push(f, d, doc) != 0)
			goto failed;
		if (r->recording) {
			r->ops += d->nops;
			r->ends++;
			lat_add(&r->push, lat);
		}
		if (send_pull(f, d) != 0)
			goto failed;
		break;
	case PULL:
		if (check_pull(f, d, doc, &more) != 0)
			goto failed;
		if (r->recording)
			lat_add(&r->pull, lat);
		if (more) {
			if (send_pull(f, d) != 0)
				goto failed;
			break;
		}
		if (r->recording && !r->catchup) {
			r->ends++;
			lat_add(&r->round, now - d->round_us);
		}
		if (!d->warm) {
			d->warm = 1;
			r->warmed++;
		}
		schedule(f, d, now, 0);
		break;
	case IDLE:
		break;
	}
	cJSON_Delete(doc);
	return;
failed:
	cJSON_Delete(doc);
	schedule(f, d, now, 1);
}

/* --- the loop ------------------------------------------------------- */

/* Start the rounds that are due; the time until the next one, in ms. */
static int start_due(hl_fleet *f, int64_t now)
{
	struct run *r = f->run;
	int64_t next = now + 50000;
	int i;

	for (i = 0; i < r->ndev; i++) {
		struct dev *d = &f->d[i];

		if (d->state != IDLE)
			continue;
		if (d->due_us <= now) {
			if (r->recording && r->period_us > 0 &&
			    now - d->due_us > LATE_US)
				r->late++;
			if (start_round(f, d) != 0)
				schedule(f, d, now, 1);
			continue;
		}
		if (d->due_us < next)
			next = d->due_us;
	}
	return (int)((next - now + 999) / 1000);
}

/* Abandon whatever is still in flight; count it as failed if asked. */
static void abandon(hl_fleet *f, int count)
{
	int i;

	for (i = 0; i < f->n; i++) {
		struct dev *d = &f->d[i];

		if (d->state == IDLE)
			continue;
		curl_multi_remove_handle(f->m, d->c);
		f->inflight--;
		d->state = IDLE;
		if (count)
			fail(f, "device %d: no answer %d s after the end",
			     d->i, (int)(DRAIN_US / 1000000));
	}
}

/* Read libcurl's finished transfers. */
static void reap(hl_fleet *f)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->m, &left)) != NULL) {
		struct dev *d = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&d);
		answered(f, d, msg->data.result);
	}
}

/* Drive the multi handle until r's end (see struct run). */
static int pump(hl_fleet *f, struct run *r)
{
	const struct hl_phase *ph = r->ph;
	struct epoll_event ev[EVENTS];
	int running, wait, n, i;
	CURLMcode mc = CURLM_OK;

	for (;;) {
		int64_t now = now_us();

		if (!r->catchup && !r->recording && !r->stopping &&
		    now >= r->t_rec && (r->period_us > 0 ||
					r->warmed * 10 >= r->ndev * 9 ||
					now >= r->t0 + WARM_MAX_US)) {
			r->recording = 1;
			if (ph->window != NULL)
				ph->window(ph->ctx, 1);
			r->t_rec = now_us();
			r->t_end = r->t_rec + (int64_t)(ph->secs * 1e6);
		}
		if (r->recording && !r->catchup && now >= r->t_end) {
			r->recording = 0;
			r->stopping = 1;
			r->t_stop = now;
			if (ph->window != NULL)
				ph->window(ph->ctx, 0);
		}
		wait = 50;
		if (!r->stopping && !r->catchup)
			wait = start_due(f, now);
		if ((r->stopping || r->catchup) && f->inflight == 0)
			break;
		if (r->stopping && (ph->last || now > r->t_stop + DRAIN_US)) {
			abandon(f, !ph->last);
			break;
		}
		if (f->timer_us >= 0) {
			int t = (int)((f->timer_us - now + 999) / 1000);

			if (t < wait)
				wait = t;
		}
		n = epoll_wait(f->ep, ev, EVENTS, wait > 0 ? wait : 0);
		if (n < 0 && errno != EINTR)
			mc = CURLM_INTERNAL_ERROR;
		for (i = 0; i < n && mc == CURLM_OK; i++) {
			int what = 0;

			if (ev[i].events & (EPOLLIN | EPOLLHUP))
				what |= CURL_CSELECT_IN;
			if (ev[i].events & EPOLLOUT)
				what |= CURL_CSELECT_OUT;
			if (ev[i].events & EPOLLERR)
				what |= CURL_CSELECT_ERR;
			mc = curl_multi_socket_action(f->m, ev[i].data.fd, what,
						      &running);
		}
		if (mc == CURLM_OK && f->timer_us >= 0 &&
		    now_us() >= f->timer_us) {
			f->timer_us = -1;
			mc = curl_multi_socket_action(f->m, CURL_SOCKET_TIMEOUT,
						      0, &running);
		}
		if (mc != CURLM_OK) {
			fprintf(stderr, "bench: libcurl's loop failed: %s\n",
				curl_multi_strerror(mc));
			abandon(f, 1);
			return -1;
		}
		reap(f);
	}
	return 0;
}

int hl_fleet_enroll(hl_fleet *f, int from, int to, double *secs)
{
	struct hl_phase ph;
	struct run r;
	int64_t t0 = now_us();
	int i, rc;

	memset(&ph, 0, sizeof(ph));
	memset(&r, 0, sizeof(r));
	r.ph = &ph;
	r.ndev = to;
	r.catchup = 1;
	r.recording = 1;
	f->run = &r;
	for (i = from; i < to; i++)
		if (send_req(f, &f->d[i], ENROLL, "POST", "/v1/enroll",
			     enroll_body(&f->d[i])) != 0)
			break;
	rc = pump(f, &r);
	*secs = (double)(now_us() - t0) / 1e6;
	if (rc == 0 && r.errors > 0) {
		fprintf(stderr, "bench: %ld of %d devices failed to enroll "
			"or catch up; the first: %s\n", r.errors, to - from,
			r.first_error);
		rc = -1;
	}
	free(r.push.v);
	free(r.pull.v);
	free(r.round.v);
	f->run = NULL;
	return rc;
}

int hl_fleet_run(hl_fleet *f, const struct hl_phase *ph,
		 struct hl_result *out)
{
	struct run r;
	int64_t t0 = now_us();
	int i, rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (ph->devices < 1 || ph->devices > f->n || f->m == NULL)
		return -1;
	r.ph = ph;
	r.ndev = ph->devices;
	r.t0 = t0;
	r.t_rec = t0 + (int64_t)(ph->warm_secs * 1e6);
	if (ph->rate > 0)
		r.period_us = (int64_t)((double)ph->devices / ph->rate * 1e6);
	f->run = &r;
	/* Paced devices start spread over one period; in a closed loop
	 * they all start at once (the warm-up absorbs the rush). */
	for (i = 0; i < r.ndev; i++) {
		f->d[i].warm = 0;
		f->d[i].due_us = t0 + (r.period_us > 0 ?
			(int64_t)(next_rnd(f) % (uint32_t)r.period_us) : 0);
	}
	rc = pump(f, &r);
	out->secs = (double)(r.t_stop - r.t_rec) / 1e6;
	out->rounds = r.ends / 2;
	out->requests = r.requests;
	out->ops = r.ops;
	out->late = r.late;
	out->errors = r.errors;
	out->connects = r.connects;
	snprintf(out->first_error, sizeof(out->first_error), "%s",
		 r.first_error);
	lat_sum(&out->push, &r.push);
	lat_sum(&out->pull, &r.pull);
	lat_sum(&out->round, &r.round);
	f->run = NULL;
	return rc;
}
