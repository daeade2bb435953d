/*
 * http.c - the hub's HTTPS server on libmicrohttpd (Debian's, built with
 * GnuTLS): a thread pool, TLS 1.2 or later with the certificate made by
 * `init`, bodies collected up to the protocol's limit, and one dispatch
 * table from method and path to the handlers of auth.c and sync.c.
 *
 * Every answer is a protocol document (agent/core/wire.h), compressed
 * when the client accepts deflate; every refusal is an error document
 * with a status, a reason from bs_error_reason() and a cause.  The
 * request-target exactly as sent (path and query) is what devices sign,
 * so it is captured by the URI log callback before microhttpd decodes
 * it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <microhttpd.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "hub/hub.h"
#include "platform/os.h"

/* One request in flight. */
struct req_ctx {
	char *target;       /* as sent */
	uint8_t *body;
	size_t len, cap;
	int started;
	int too_large;
};

int bs__hub_error(struct bs_hub_resp *rs, int version, int rc,
		  const struct bs__wire_fault *f)
{
	cJSON *d;

	rs->status = f != NULL && f->status ? f->status :
					      bs__wire_http_status(rc);
	d = bs__wire_error_doc(version, rc, f != NULL ? f->cause : NULL,
			       bs_last_error());
	if (d != NULL &&
	    bs__json_put_int(d, "hub_time_ms", bs_os_now_ms()) != BS_OK) {
		cJSON_Delete(d);
		d = NULL;
	}
	cJSON_Delete(rs->doc);
	rs->doc = d;
	return d != NULL ? BS_OK : BS_ENOMEM;
}

int bs__hub_query_param(const char *q, const char *name, char *out,
			size_t cap)
{
	size_t nlen = strlen(name), vlen;
	const char *p = q, *amp, *v;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			v = p + nlen + 1;
			vlen = amp != NULL ? (size_t)(amp - v) : strlen(v);
			if (vlen >= cap || memchr(v, '%', vlen) != NULL)
				return BS_EINVAL;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return BS_OK;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return BS_ENOTFOUND;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct req_ctx *x = bs__calloc(1, sizeof(*x));

	(void)cls;
	(void)con;
	if (x != NULL && (x->target = bs__strdup(uri)) == NULL) {
		bs__free(x);
		x = NULL;
	}
	return x;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *x = *con_cls;

	(void)cls;
	(void)con;
	(void)toe;
	if (x == NULL)
		return;
	bs__free(x->target);
	bs__free(x->body);
	bs__free(x);
	*con_cls = NULL;
}

/* Send rs (its document encoded, deflated if the client takes it). */
static enum MHD_Result send_doc(struct MHD_Connection *con,
				struct bs_hub_resp *rs)
{
	struct MHD_Response *r;
	const char *ae = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_ACCEPT_ENCODING);
	uint8_t *buf = NULL;
	size_t len = 0;
	int deflate = ae != NULL && strstr(ae, "deflate") != NULL;
	enum MHD_Result ok;

	if (rs->body != NULL && !deflate) {
		buf = (uint8_t *)rs->body;
		len = rs->body_len;
		rs->body = NULL;
	} else if (rs->body != NULL) {
		if (bs__wire_deflate(&buf, &len, rs->body, rs->body_len) !=
		    BS_OK)
			buf = NULL;
	} else if (rs->doc != NULL &&
		   bs__wire_encode(&buf, &len, rs->doc, deflate) != BS_OK) {
		buf = NULL;
	}
	if (buf == NULL) {
		static const char oom[] = "{\"v\":1,\"error\":\"no_memory\","
					  "\"message\":\"out of memory\"}";

		r = MHD_create_response_from_buffer(sizeof(oom) - 1,
			(void *)(uintptr_t)oom, MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
		ok = MHD_queue_response(con, 503, r);
		MHD_destroy_response(r);
		return ok;
	}
	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
	bs__free(buf);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (deflate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING,
					"deflate");
	if (rs->paged) {
		char cursor[24];

		snprintf(cursor, sizeof(cursor), "%lld",
			 (long long)rs->page_cursor);
		MHD_add_response_header(r, "X-BS-Cursor", cursor);
		MHD_add_response_header(r, "X-BS-More",
					rs->page_more ? "true" : "false");
	}
	ok = MHD_queue_response(con, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return ok;
}

static const char *hdr(struct MHD_Connection *con, const char *name)
{
	return MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
}

/* Turn a request into an answer in rs. */
static void dispatch(struct bs_hub *h, struct bs_hub_req *rq,
		     struct bs_hub_resp *rs, int version)
{
	struct bs_hub_device dev;
	struct bs__wire_fault f = { 0, NULL };
	int is_get = strcmp(rq->method, "GET") == 0;
	int is_post = strcmp(rq->method, "POST") == 0;
	int signed_ep = 0, known = 1;

	(void)version;
	if (strcmp(rq->path, "/v1/enroll/ca") == 0) {
		known = is_get;
	} else if (strcmp(rq->path, "/v1/enroll") == 0) {
		known = is_post;
	} else if (strcmp(rq->path, "/v1/hello") == 0 ||
		   strcmp(rq->path, "/v1/sync/pull") == 0) {
		known = is_get;
		signed_ep = 1;
	} else if (strcmp(rq->path, "/v1/sync/push") == 0) {
		known = is_post;
		signed_ep = 1;
	} else {
		f.status = 404;
		f.cause = "endpoint";
		bs__hub_error(rs, BS__WIRE_VERSION, bs__error(BS_ENOTFOUND,
			      "no endpoint %.64s", rq->path), &f);
		return;
	}
	if (!known) {
		f.status = 405;
		f.cause = "method";
		bs__hub_error(rs, BS__WIRE_VERSION, bs__error(BS_EINVAL,
			      "%s is not allowed on %.64s", rq->method,
			      rq->path), &f);
		return;
	}
	if (is_post && (rq->content_type == NULL ||
			strncmp(rq->content_type, "application/json", 16) !=
				0)) {
		f.status = 415;
		f.cause = "media_type";
		bs__hub_error(rs, BS__WIRE_VERSION, bs__error(BS_EINVAL,
			      "a request body must be application/json"), &f);
		return;
	}
	if (signed_ep) {
		if (bs__hub_authenticate(h, rq, &dev, rs) != BS_OK)
			return;
		if (strcmp(rq->path, "/v1/hello") == 0)
			bs__hub_hello(h, rq, &dev, rs);
		else if (is_get)
			bs__hub_pull(h, rq, &dev, rs);
		else
			bs__hub_push(h, rq, &dev, rs);
		return;
	}
	if (is_get)
		bs__hub_enroll_ca(h, rq, rs);
	else
		bs__hub_enroll(h, rq, rs);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *con,
			       const char *url, const char *method,
			       const char *http_version,
			       const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct bs_hub *h = cls;
	struct req_ctx *x = *con_cls;
	struct bs_hub_req rq;
	struct bs_hub_resp rs = { 0, NULL, NULL, 0, 0, 0, 0 };
	struct bs__wire_fault f = { 0, NULL };
	const char *vh, *q;
	char path[1024];
	enum MHD_Result ok;
	int version = BS__WIRE_VERSION;

	(void)url;
	(void)http_version;
	if (x == NULL)
		return MHD_NO; /* out of memory at the start */
	if (!x->started) {
		const char *cl = hdr(con, MHD_HTTP_HEADER_CONTENT_LENGTH);

		x->started = 1;
		if (cl != NULL && strtoull(cl, NULL, 10) > BS__WIRE_MAX_BODY)
			x->too_large = 1;
		if (!x->too_large)
			return MHD_YES;
	}
	if (*upload_data_size > 0 && !x->too_large) {
		size_t n = *upload_data_size;

		if (x->len + n > BS__WIRE_MAX_BODY) {
			x->too_large = 1;
		} else {
			if (x->len + n > x->cap) {
				size_t nc = (x->len + n) * 2;
				uint8_t *nb;

				if (nc > BS__WIRE_MAX_BODY)
					nc = BS__WIRE_MAX_BODY;
				nb = bs__realloc(x->body, nc);
				if (nb == NULL)
					return MHD_NO;
				x->body = nb;
				x->cap = nc;
			}
			memcpy(x->body + x->len, upload_data, n);
			x->len += n;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* Too large: read and drop the rest, then answer 413. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is here (or is too large to take). */
	if (x->too_large) {
		f.status = 413;
		f.cause = "too_large";
		bs__hub_error(&rs, version, bs__error(BS_EINVAL, "body is "
			      "larger than %zu bytes", BS__WIRE_MAX_BODY),
			      &f);
		goto send;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.target = x->target;
	q = strchr(x->target, '?');
	snprintf(path, sizeof(path), "%.*s",
		 (int)(q != NULL ? (size_t)(q - x->target) :
				   strlen(x->target)),
		 x->target);
	rq.path = path;
	rq.query = q != NULL ? q + 1 : "";
	rq.encoding = hdr(con, MHD_HTTP_HEADER_CONTENT_ENCODING);
	rq.content_type = hdr(con, MHD_HTTP_HEADER_CONTENT_TYPE);
	rq.device = hdr(con, "X-BS-Device");
	rq.time = hdr(con, "X-BS-Time");
	rq.nonce = hdr(con, "X-BS-Nonce");
	rq.signature = hdr(con, "X-BS-Signature");
	rq.body = x->body;
	rq.body_len = x->len;
	rq.now_ms = bs_os_now_ms();
	vh = hdr(con, "X-BS-Version");
	if (vh == NULL || strlen(vh) > 4 || atoi(vh) < BS__WIRE_VERSION_MIN ||
	    atoi(vh) > BS__WIRE_VERSION ||
	    strspn(vh, "0123456789") != strlen(vh)) {
		f.status = 400;
		f.cause = "version";
		bs__hub_error(&rs, BS__WIRE_VERSION, bs__error(BS_EINVAL,
			      "X-BS-Version must name a protocol version "
			      "from %d to %d", BS__WIRE_VERSION_MIN,
			      BS__WIRE_VERSION), &f);
		goto send;
	}
	version = atoi(vh);
	dispatch(h, &rq, &rs, version);
send:
	ok = send_doc(con, &rs);
	cJSON_Delete(rs.doc);
	bs__free(rs.body);
	return ok;
}

/* Parse "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			int *is_v6)
{
	char host[128];
	const char *colon;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	*is_v6 = 0;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' ||
		    (size_t)(rb - s - 1) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - s - 1),
			 s + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535 || colon[1] == '\0')
		goto bad;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		return BS_OK;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*is_v6 = 1;
		return BS_OK;
	}
bad:
	return bs__error(BS_EINVAL, "--listen takes ADDRESS:PORT, like "
			 "127.0.0.1:8443 or [::1]:8443");
}

/*
 * As many connections as descriptors allow, less some for the database
 * and the rest: the soft limit raised to the hard one first, since a
 * thousand devices each keep a connection open.  The threads share it.
 */
static unsigned conn_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000)
		return 100000;
	return rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;
}

int bs__hub_serve(struct bs_hub *h, const char *dir, const char *listen,
		  int threads)
{
	struct MHD_Daemon *d = NULL;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	uint8_t *key = NULL, *cert = NULL;
	char path[4096];
	size_t klen = 0, clen = 0;
	sigset_t set;
	int rc, sig, is_v6;
	unsigned flags;

	if ((rc = parse_listen(listen, &ss, &is_v6)) != BS_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, BS_HUB_KEY);
	if ((rc = bs_os_read_file(&key, &klen, path, 65536)) != BS_OK)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/%s", dir, BS_HUB_CERT);
	if ((rc = bs_os_read_file(&cert, &clen, path, 65536)) != BS_OK)
		goto cleanup;
	/* microhttpd wants NUL-terminated PEM. */
	{
		uint8_t *k2 = bs__realloc(key, klen + 1);
		uint8_t *c2;

		if (k2 == NULL) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
		key = k2;
		key[klen] = 0;
		c2 = bs__realloc(cert, clen + 1);
		if (c2 == NULL) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
		cert = c2;
		cert[clen] = 0;
	}
	/* Signals are taken by sigwait below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* MHD_USE_AUTO: epoll on Linux, poll elsewhere; never select(),
	 * which costs a scan of every connection each time it wakes and
	 * cannot watch a descriptor numbered 1024 or more. */
	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS |
		MHD_USE_ERROR_LOG | (is_v6 ? MHD_USE_IPv6 : 0);
	d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_HTTPS_MEM_KEY, (const char *)key,
		MHD_OPTION_HTTPS_MEM_CERT, (const char *)cert,
		MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_CONNECTION_LIMIT, conn_limit(),
		MHD_OPTION_END);
	if (d == NULL) {
		rc = bs__error(BS_EIO, "cannot listen on %s (in use, or not "
			       "an address of this machine)", listen);
		goto cleanup;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	{
		char a[INET6_ADDRSTRLEN];

		if (is_v6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&ss)->sin6_addr, a,
				  sizeof(a));
		else
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)&ss)->sin_addr, a,
				  sizeof(a));
		/* The first line is for people and for scripts alike:
		 * tests start the hub on port 0 and read the port here. */
		printf("branchsync-hub: serving %s on https://%s%s%s:%u/\n",
		       bs__hub_store_backend(h->store), is_v6 ? "[" : "", a,
		       is_v6 ? "]" : "", info != NULL ? info->port : 0);
	}
	fflush(stdout);
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGPIPE);
	rc = BS_OK;
cleanup:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (key != NULL) {
		memset(key, 0, klen);
		bs__free(key);
	}
	bs__free(cert);
	return rc;
}
