/*
 * net.c - HTTPS to the hub with libcurl: one easy handle per round, so
 * the TCP connection and TLS session are reused (keep-alive) across the
 * round's requests; the hub's CA pinned from memory (CURLOPT_CAINFO_BLOB)
 * with the system's CA file and folder switched off, so no other
 * authority is ever trusted; connect and whole-request timeouts, and a
 * floor on the transfer speed so that a link that hangs is noticed
 * before the whole timeout runs out; proxies from the environment,
 * which is libcurl's default.
 *
 * Bodies are deflated both ways.  The answer is not inflated by libcurl
 * but by agent/core/wire.c, whose limits stop a decompression bomb, and
 * the raw answer is capped at the protocol's body limit while it
 * arrives.
 *
 * Signed requests follow protocol.md, "Signed requests": the device's
 * estimate of the hub's clock, a fresh nonce, and an ECDSA signature
 * over the canonical string.  Every answer carries the hub's clock; the
 * offset is learned from the middle of each request, and every success
 * carries head office's offline policy.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <mbedtls/platform_util.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "sync_internal.h"

#if LIBCURL_VERSION_NUM < 0x074d00
#error "libcurl 7.77 or later is needed (CURLOPT_CAINFO_BLOB)"
#endif

/* Transfers slower than this many bytes per second for LOW_SPEED_S
 * seconds are abandoned as a hung link. */
#define LOW_SPEED_BPS 16L
#define LOW_SPEED_S 30L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void bs__resp_free(struct bs__resp *r)
{
	if (r == NULL)
		return;
	if (r->arena != NULL)
		bs__json_arena_free(r->arena);
	else
		cJSON_Delete(r->doc);
	memset(r, 0, sizeof(*r));
}

int bs__sync_retryable(int rc)
{
	return rc == BS_ENETWORK || rc == BS_ETIMEOUT || rc == BS_EBUSY ||
	       rc == BS_EIO;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct bs__net *n = ud;
	size_t len = size * nmemb, cap;
	uint8_t *nb;

	if (len > BS__WIRE_MAX_BODY - n->body_len)
		return 0; /* too large: libcurl fails with a write error */
	if (n->body_len + len + 1 > n->body_cap) {
		cap = n->body_cap ? n->body_cap : 16384;
		while (cap < n->body_len + len + 1)
			cap *= 2;
		if ((nb = bs__realloc(n->body, cap)) == NULL)
			return 0;
		n->body = nb;
		n->body_cap = cap;
	}
	memcpy(n->body + n->body_len, p, len);
	n->body_len += len;
	return len;
}

/* The value of header line p (len bytes) if it is name, trimmed, in
 * out[cap]; 0 if it is another header. */
static int header_value(const char *p, size_t len, const char *name,
			char *out, size_t cap)
{
	size_t k = strlen(name);

	if (len <= k || strncasecmp(p, name, k) != 0)
		return 0;
	while (k < len && (p[k] == ' ' || p[k] == '\t'))
		k++;
	len -= k;
	while (len > 0 && (p[k + len - 1] == '\r' || p[k + len - 1] == '\n' ||
			   p[k + len - 1] == ' '))
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(out, p + k, len);
	out[len] = '\0';
	return 1;
}

/* A page header's number: digits only, at most 15 of them (exact in
 * the double the body's copy is read as); -1 if not. */
static int64_t header_number(const char *v)
{
	int64_t x = 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 15)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return i > 0 ? x : -1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct bs__net *n = ud;
	size_t len = size * nmemb;
	char v[32];

	if (header_value(p, len, "content-encoding:", n->encoding,
			 sizeof(n->encoding)))
		return len;
	if (header_value(p, len, "x-bs-cursor:", v, sizeof(v)))
		n->hdr_cursor = header_number(v);
	else if (header_value(p, len, "x-bs-more:", v, sizeof(v)))
		n->hdr_more = strcmp(v, "true") == 0    ? 1
			      : strcmp(v, "false") == 0 ? 0
							: -1;
	return len;
}

int bs__net_open(struct bs__net *n, const char *base_url, const char *ca_pem,
		 long connect_ms, long timeout_ms)
{
	struct curl_blob blob;
	size_t len;
	CURL *c;
	int rc;

	memset(n, 0, sizeof(*n));
	mbedtls_pk_init(&n->key);
	if (base_url == NULL || strncmp(base_url, "https://", 8) != 0 ||
	    base_url[8] == '\0' || strlen(base_url) > 1000)
		return bs__error(BS_EINVAL, "the hub's URL must start with "
				 "https:// (got '%.80s')",
				 base_url != NULL ? base_url : "");
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return bs__error(BS_ERR, "libcurl cannot start: %s",
				 curl_easy_strerror(global_rc));
	if ((n->base = bs__strdup(base_url)) == NULL)
		return bs__error_code(BS_ENOMEM);
	len = strlen(n->base);
	while (len > 8 && n->base[len - 1] == '/')
		n->base[--len] = '\0';
	if (ca_pem != NULL && (n->ca_pem = bs__strdup(ca_pem)) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto fail;
	}
	n->connect_ms = connect_ms;
	n->timeout_ms = timeout_ms;
	if ((c = curl_easy_init()) == NULL) {
		rc = bs__error(BS_ENOMEM, "libcurl: no handle");
		goto fail;
	}
	n->curl = c;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BPS);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_S);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, n);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, n);
	/* No system CA, ever: only the CA pinned at enrollment. */
	curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	if (n->ca_pem != NULL) {
		blob.data = n->ca_pem;
		blob.len = strlen(n->ca_pem);
		blob.flags = CURL_BLOB_COPY;
		if (curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob) !=
		    CURLE_OK) {
			rc = bs__error(BS_ERR, "libcurl takes no CA from "
				       "memory (CURLOPT_CAINFO_BLOB)");
			goto fail;
		}
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	} else {
		/* The enrollment's first request: what it fetches is
		 * checked against the code's MAC instead. */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return BS_OK;
fail:
	bs__net_close(n);
	return rc;
}

void bs__net_close(struct bs__net *n)
{
	if (n == NULL)
		return;
	if (n->curl != NULL)
		curl_easy_cleanup(n->curl);
	mbedtls_pk_free(&n->key);
	bs__free(n->base);
	bs__free(n->ca_pem);
	if (n->body != NULL)
		mbedtls_platform_zeroize(n->body, n->body_cap);
	bs__free(n->body);
	memset(n, 0, sizeof(*n));
}

/* The bs_error code whose reason is s, or BS_ERR. */
static int code_of(const char *s)
{
	int rc;

	if (s == NULL)
		return BS_ERR;
	for (rc = -1; rc >= -64; rc--)
		if (strcmp(bs_error_reason(rc), s) == 0)
			return rc;
	return BS_ERR;
}

/* The libcurl failure cc as a bs_error with a message. */
static int transport_error(struct bs__net *n, CURLcode cc, const char *what)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return bs__error(BS_ETIMEOUT, "%s: no answer from %s in time",
				 what, n->base);
	case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
	case CURLE_SSL_CACERT:
#endif
		return bs__error(BS_ENETWORK, "%s: %s did not present a "
				 "certificate of the CA pinned at enrollment "
				 "(someone may be in the middle): %s", what,
				 n->base, curl_easy_strerror(cc));
	case CURLE_WRITE_ERROR:
		return bs__error(BS_ENETWORK, "%s: the hub's answer is larger "
				 "than %zu bytes", what, BS__WIRE_MAX_BODY);
	default:
		return bs__error(BS_ENETWORK, "%s: cannot reach %s: %s", what,
				 n->base, curl_easy_strerror(cc));
	}
}

/* The four headers of a signed request, appended to *h. */
static int sign_headers(struct bs__net *n, struct curl_slist **h,
			const char *method, const char *target,
			const uint8_t *body, size_t len)
{
	uint8_t rnd[BS__WIRE_NONCE_HEX / 2], hash[32];
	uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	char nonce[BS__WIRE_NONCE_HEX + 1], line[600];
	char *canon = NULL, *b64 = NULL;
	struct curl_slist *t;
	int64_t when = bs_os_now_ms() + n->clock.offset_ms;
	size_t slen = 0;
	int rc;

	if (!n->have_key)
		return bs__error(BS_EINVAL, "no device key to sign with");
	if ((rc = bs_os_random(rnd, sizeof(rnd))) != BS_OK)
		return rc;
	bs__wire_hex(nonce, rnd, sizeof(rnd));
	if ((rc = bs__wire_canonical(&canon, method, target, n->device, when,
				     nonce, body, len)) != BS_OK)
		return rc;
	bs__wire_sha256(hash, canon, strlen(canon));
	if (mbedtls_pk_sign(&n->key, MBEDTLS_MD_SHA256, hash, sizeof(hash),
			    sig, &slen, bs__sync_rng, NULL) != 0) {
		rc = bs__error(BS_ERR, "cannot sign the request");
		goto cleanup;
	}
	if ((rc = bs__wire_b64(&b64, sig, slen)) != BS_OK)
		goto cleanup;
	rc = BS_ENOMEM;
	snprintf(line, sizeof(line), "X-BS-Device: %s", n->device);
	if ((t = curl_slist_append(*h, line)) == NULL)
		goto cleanup;
	*h = t;
	snprintf(line, sizeof(line), "X-BS-Time: %lld", (long long)when);
	if ((t = curl_slist_append(*h, line)) == NULL)
		goto cleanup;
	*h = t;
	snprintf(line, sizeof(line), "X-BS-Nonce: %s", nonce);
	if ((t = curl_slist_append(*h, line)) == NULL)
		goto cleanup;
	*h = t;
	snprintf(line, sizeof(line), "X-BS-Signature: %s", b64);
	if ((t = curl_slist_append(*h, line)) == NULL)
		goto cleanup;
	*h = t;
	rc = BS_OK;
cleanup:
	if (rc == BS_ENOMEM)
		bs__error_code(BS_ENOMEM);
	bs__free(canon);
	bs__free(b64);
	return rc;
}

/*
 * The offline policy a 200 answer to a signed request carries
 * (protocol.md, "Offline policy"): kept in n until the round stores it.
 * An answer without it (an older hub) leaves the last one known; a value
 * out of range is a broken answer, never a lifted limit.
 */
static int read_policy(struct bs__hub_clock *clock, const cJSON *doc,
		       const char *what)
{
	int64_t v;
	int present = 0;

	if (bs__wire_int(&v, &present, doc, "max_offline_ms", 0,
			 BS__SYNC_MAX_OFFLINE_MS, 1) != BS_OK)
		return bs__sync_because(BS_ENETWORK, "%s: the hub's answer "
					"is not a protocol document", what);
	if (present) {
		clock->max_offline_ms = v;
		clock->have_policy = 1;
	}
	return BS_OK;
}

/*
 * Decode an answer's body into *out (its status already set): the hub's
 * clock, taken at the middle of the request (t0..t1), and a signed
 * request's offline policy go to *clock.  The result code of a 2xx
 * answer or of the refusal it holds.
 */
static int answer(struct bs__resp *out, const uint8_t *body, size_t len,
		  const char *encoding, int64_t t0, int64_t t1,
		  const char *what, struct bs__hub_clock *clock, int sign)
{
	struct bs__wire_fault f = { 0, NULL };
	const char *msg;
	int64_t ht;
	int rc;

	rc = bs__wire_decode_in(out->arena, &out->doc, NULL, body, len,
				encoding[0] ? encoding : NULL, &f);
	if (rc != BS_OK)
		return bs__sync_because(out->status >= 500 ? BS_EBUSY
							   : BS_ENETWORK,
					"%s: the hub's answer (HTTP %ld) is "
					"not a protocol document", what,
					out->status);
	if (bs__wire_int(&ht, NULL, out->doc, "hub_time_ms", 0,
			 BS__HLC_MAX_MS, 0) == BS_OK) {
		out->hub_time_ms = ht;
		clock->offset_ms = ht - (t0 + (t1 - t0) / 2);
		clock->have_offset = 1;
	}
	bs__error_clear();
	if (out->status >= 200 && out->status < 300)
		return sign ? read_policy(clock, out->doc, what) : BS_OK;
	bs__wire_str(&out->error, out->doc, "error", 64, 1);
	bs__wire_str(&out->cause, out->doc, "cause", 64, 1);
	if (bs__wire_str(&msg, out->doc, "message", 1000, 1) != BS_OK ||
	    msg == NULL)
		msg = "no message";
	rc = out->status >= 500 ? BS_EBUSY : code_of(out->error);
	if (rc == BS_OK)
		rc = BS_ERR;
	return bs__error(rc, "%s: the hub answered %ld %s/%s: %s", what,
			 out->status, out->error ? out->error : "?",
			 out->cause ? out->cause : "-", msg);
}

/* One attempt of a request; *out filled whenever an answer came, or
 * *raw with a page to decode later (raw NULL: never). */
static int attempt(struct bs__net *n, struct bs__resp *out,
		   struct bs__raw *raw, const char *method,
		   const char *target, const uint8_t *body, size_t len,
		   int sign)
{
	static const char *const fixed[] = {
		"X-BS-Version: " BS__STR(BS__WIRE_VERSION),
		"Accept-Encoding: deflate", "Expect:", NULL
	};
	struct curl_slist *h = NULL, *t;
	CURL *c = n->curl;
	char url[1300], what[160];
	int64_t t0, t1;
	CURLcode cc;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "%s %.100s", method, target);
	if ((size_t)snprintf(url, sizeof(url), "%s%s", n->base, target) >=
	    sizeof(url))
		return bs__error(BS_EINVAL, "request target too long");
	for (i = 0; fixed[i] != NULL; i++) {
		if ((t = curl_slist_append(h, fixed[i])) == NULL)
			goto oom;
		h = t;
	}
	if (body != NULL) {
		if ((t = curl_slist_append(h, "Content-Type: "
					   "application/json")) == NULL)
			goto oom;
		h = t;
		if ((t = curl_slist_append(h, "Content-Encoding: deflate")) ==
		    NULL)
			goto oom;
		h = t;
	}
	if (sign && (rc = sign_headers(n, &h, method, target, body, len)))
		goto cleanup;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
				 body != NULL ? (const char *)body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body != NULL ? len : 0));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	n->body_len = 0;
	n->encoding[0] = '\0';
	n->hdr_cursor = -1;
	n->hdr_more = -1;
	t0 = bs_os_now_ms();
	cc = curl_easy_perform(c);
	t1 = bs_os_now_ms();
	/* The headers live in h; libcurl must not keep the pointer. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	if (cc != CURLE_OK) {
		rc = transport_error(n, cc, what);
		goto cleanup;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (raw != NULL && out->status >= 200 && out->status < 300 &&
	    n->hdr_cursor >= 0 && n->hdr_more >= 0 && n->body_len > 0) {
		/* A page to decode elsewhere: its body changes hands. */
		raw->body = n->body;
		raw->len = n->body_len;
		n->body = NULL;
		n->body_len = n->body_cap = 0;
		snprintf(raw->encoding, sizeof(raw->encoding), "%s",
			 n->encoding);
		snprintf(raw->what, sizeof(raw->what), "%s", what);
		raw->status = out->status;
		raw->t0 = t0;
		raw->t1 = t1;
		raw->cursor = n->hdr_cursor;
		raw->more = n->hdr_more;
		raw->sign = sign;
		rc = BS_OK;
		goto cleanup;
	}
	rc = answer(out, n->body, n->body_len, n->encoding, t0, t1, what,
		    &n->clock, sign);
cleanup:
	curl_slist_free_all(h);
	return rc;
oom:
	curl_slist_free_all(h);
	return bs__error_code(BS_ENOMEM);
}

static int request(struct bs__net *n, struct bs__resp *out,
		   struct bs__raw *raw, const char *method,
		   const char *target, const cJSON *body, int sign)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc, tries;

	memset(out, 0, sizeof(*out));
	if (body != NULL && (rc = bs__wire_encode(&buf, &len, body, 1)))
		return rc;
	for (tries = 0;; tries++) {
		rc = attempt(n, out, raw, method, target, buf, len, sign);
		/*
		 * A clock the hub finds skewed: the refusal carried the
		 * hub's time, so the second attempt signs with it.  A nonce
		 * seen before: libcurl resent the request on a fresh
		 * connection after the first one died with the request
		 * delivered but no answer back; a new signature makes it a
		 * new request, and every request is safe to repeat (pulls
		 * read, pushes are answered by op id).
		 */
		if (rc == BS_EBADKEY && sign && tries == 0 &&
		    out->cause != NULL &&
		    ((strcmp(out->cause, "clock_skew") == 0 &&
		      out->hub_time_ms > 0) ||
		     strcmp(out->cause, "replayed") == 0)) {
			bs__resp_free(out);
			continue;
		}
		break;
	}
	bs__free(buf);
	return rc;
}

int bs__net_request(struct bs__net *n, struct bs__resp *out,
		    const char *method, const char *target, const cJSON *body,
		    int sign)
{
	return request(n, out, NULL, method, target, body, sign);
}

int bs__net_get_page(struct bs__net *n, struct bs__raw *raw,
		     struct bs__resp *out, const char *target)
{
	memset(raw, 0, sizeof(*raw));
	return request(n, out, raw, "GET", target, NULL, 1);
}

void bs__raw_free(struct bs__raw *raw)
{
	if (raw == NULL)
		return;
	bs__free(raw->body);
	memset(raw, 0, sizeof(*raw));
}

int bs__net_decode(struct bs__raw *raw, struct bs__json_pool *pool,
		   struct bs__resp *out, struct bs__hub_clock *clock)
{
	int64_t cursor = -1;
	int more = -1, rc;

	memset(out, 0, sizeof(*out));
	out->status = raw->status;
	if ((out->arena = bs__json_arena_new(pool)) == NULL) {
		bs__raw_free(raw);
		return bs__error_code(BS_ENOMEM);
	}
	rc = answer(out, raw->body, raw->len, raw->encoding, raw->t0,
		    raw->t1, raw->what, clock, raw->sign);
	if (rc == BS_OK &&
	    (bs__wire_int(&cursor, NULL, out->doc, "cursor", 0,
			  INT64_MAX / 2, 0) != BS_OK ||
	     bs__wire_bool(&more, out->doc, "more", 0) != BS_OK ||
	     cursor != raw->cursor || more != raw->more))
		rc = bs__sync_because(BS_ENETWORK, "%s: the hub's page says "
				      "cursor %lld, more %d in its headers "
				      "but not in its body", raw->what,
				      (long long)raw->cursor, raw->more);
	bs__raw_free(raw);
	return rc;
}
