/*
 * sync_internal.h - what the files of agent/sync share.
 *
 * Files: net.c (HTTPS with libcurl: the pinned CA, timeouts, deflate,
 * signed requests, the hub's clock), state.c (the device's sync settings
 * in sync_state, its key), policy.c (the offline lock), enroll.c, push.c (outbox operations to the
 * protocol's and the hub's answers back), pull.c (pages of changes
 * applied with their cursor), round.c (a round, revocation), watch.c
 * (backoff and the watch loop), conflict.c (listing and resolving).
 *
 * Nothing here trusts the hub's documents further than the protocol
 * promises: every field is read through agent/core/wire.h's getters, and
 * a page that does not fit the store is refused whole.
 */
#ifndef BS_SYNC_INTERNAL_H
#define BS_SYNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>
#include <sqlite3.h>

#include "agent/core/json.h"
#include "agent/core/uuid.h"
#include "branchsync/sync.h"

/* Defaults of bs_sync_opts. */
#define BS__SYNC_CONNECT_MS 10000L
#define BS__SYNC_TIMEOUT_MS 120000L
#define BS__SYNC_BATCH 200u
#define BS__SYNC_PAGE 500u

/* sync_state keys this module owns (tickets reads some of them). */
#define BS__SK_HUB_URL "hub_url"
#define BS__SK_CA "hub_ca_pem"
#define BS__SK_KEY "device_key"          /* BLOB: private key, DER */
#define BS__SK_ENROLL "enroll_state"     /* 'pending' or 'done' */
#define BS__SK_ENROLLED "enrolled_ms"
#define BS__SK_SCOPE "scope"             /* JSON text */
#define BS__SK_CURSOR "pull_cursor"
#define BS__SK_OFFSET "hub_clock_offset_ms"
#define BS__SK_LAST_SYNC "last_sync_ms"  /* device time of last contact */
#define BS__SK_LAST_ROUND "last_round_ms" /* device time of last round */
#define BS__SK_REVOKED "revoked"
#define BS__SK_MAX_OFFLINE "max_offline_ms" /* the hub's policy; 0: none */

/* The longest offline policy a hub may set (branchsync-hub serve
 * --max-offline takes up to 100000 days); more, or less than 0, is not a
 * policy but a broken answer. */
#define BS__SYNC_MAX_OFFLINE_MS ((int64_t)100000 * 24 * 3600 * 1000)

/* --- net.c ---------------------------------------------------------- */

/* What the hub's answers taught about its clock and its policy, kept
 * until a transaction stores it (bs__sync_save_clock). */
struct bs__hub_clock {
	int64_t offset_ms;       /* hub clock minus device clock */
	int have_offset;         /* offset learned in this process */
	int64_t max_offline_ms;  /* the hub's offline policy; 0: no limit */
	int have_policy;         /* an answer carried it */
};

/* A connection to the hub for one round: one libcurl handle, reused so
 * that the TLS session and the TCP connection are kept alive. */
struct bs__net {
	void *curl;              /* CURL * */
	char *base;              /* "https://host:port", no final slash */
	char *ca_pem;            /* the pinned CA; NULL: trust nothing yet */
	long connect_ms, timeout_ms;
	int have_key;
	mbedtls_pk_context key;  /* the device's signing key */
	char device[BS__UUID_TEXT_LEN + 1];
	struct bs__hub_clock clock;
	/* The last answer's raw body, kept between requests. */
	uint8_t *body;
	size_t body_len, body_cap;
	char encoding[32];
	/* Its X-BS-Cursor and X-BS-More headers; -1 when absent. */
	int64_t hdr_cursor;
	int hdr_more;
};

/* A pull page's answer as it arrived: its body not yet inflated nor
 * parsed, with the cursor and more its headers announce. */
struct bs__raw {
	uint8_t *body;           /* owned; NULL: none */
	size_t len;
	char encoding[32];
	long status;
	int64_t t0, t1;          /* the request's start and end, device ms */
	int64_t cursor;
	int more;
	int sign;
	char what[160];
};

void bs__raw_free(struct bs__raw *raw);

/* An answer: its status and document (owned), and its error, if any. */
struct bs__resp {
	long status;
	cJSON *doc;
	struct bs__json_arena *arena; /* holds doc, if not NULL */
	const char *error;      /* points into doc, or NULL */
	const char *cause;      /* likewise */
	int64_t hub_time_ms;    /* 0 if the answer had none */
};

void bs__resp_free(struct bs__resp *r);

/*
 * Open a connection to base_url (must be https://).  ca_pem NULL makes
 * an unverified connection, for the enrollment's first request only;
 * otherwise only that CA is trusted, never the system's.  The key, if
 * the caller sets have_key, signs requests.
 */
int bs__net_open(struct bs__net *n, const char *base_url, const char *ca_pem,
		 long connect_ms, long timeout_ms);
void bs__net_close(struct bs__net *n);

/*
 * Make a request: method and target (path and query), body a document
 * or NULL, signed if sign is set.  The body is deflated; the answer is
 * decoded with the protocol's limits.  A signed request refused for
 * clock skew is made once more with the offset the refusal taught.
 *
 * BS_OK for a 2xx answer with *out filled.  Otherwise: BS_ENETWORK or
 * BS_ETIMEOUT when no answer came (or a damaged one), BS_EBUSY for 5xx,
 * and for a refusal the code of its "error" (BS_EBADKEY, BS_EREVOKED,
 * BS_EREFUSED, BS_EEXISTS, BS_EINVAL, BS_ENOTFOUND), with *out holding
 * the error document and the message in the last error.
 */
int bs__net_request(struct bs__net *n, struct bs__resp *out,
		    const char *method, const char *target, const cJSON *body,
		    int sign);

/*
 * A signed GET of a pull page.  A 2xx answer whose headers announce the
 * page's cursor and more (protocol.md §7) is moved undecoded into *raw,
 * so that the next page can be asked for at once; bs__net_decode()
 * finishes it, on any thread.  Any other answer is decoded into *out as
 * bs__net_request() does, with the same result codes, and raw->body
 * stays NULL.
 */
int bs__net_get_page(struct bs__net *n, struct bs__raw *raw,
		     struct bs__resp *out, const char *target);

/*
 * Decode *raw (freed) into *out with the protocol's limits, as
 * bs__net_request() would have: the hub clock its answer carries and
 * the offline policy go to *clock.  The document must say the cursor
 * and more its headers announced.  Its tree is parsed into an arena
 * drawing on pool (NULL: none), freed by bs__resp_free() before pool.
 */
int bs__net_decode(struct bs__raw *raw, struct bs__json_pool *pool,
		   struct bs__resp *out, struct bs__hub_clock *clock);

/* 1 for the failures a later attempt may cure.  Cannot fail. */
int bs__sync_retryable(int rc);

/* --- state.c -------------------------------------------------------- */

/* Options with defaults filled in and limits applied (round.c). */
void bs__sync_defaults(bs_sync_opts *o, const bs_sync_opts *in);

/* Read a text setting into a new bs__malloc'd string (*out NULL if
 * absent). */
int bs__ss_text(sqlite3 *db, const char *key, char **out);
/* Read an integer setting; *present 0 and *out 0 if absent. */
int bs__ss_int(sqlite3 *db, const char *key, int64_t *out, int *present);
/* Read a BLOB setting into a new bs__malloc'd buffer. */
int bs__ss_blob(sqlite3 *db, const char *key, uint8_t **out, size_t *len);
/* Write settings (inside the caller's transaction, or alone). */
int bs__ss_put_text(sqlite3 *db, const char *key, const char *v);
int bs__ss_put_int(sqlite3 *db, const char *key, int64_t v);
int bs__ss_put_blob(sqlite3 *db, const char *key, const void *v,
		    size_t len);
int bs__ss_delete(sqlite3 *db, const char *key);

/* A row of the local audit log; detail may be NULL (borrowed). */
int bs__sync_audit(sqlite3 *db, const char *actor, const char *action,
		   const char *entity, const char *entity_id,
		   const cJSON *detail);

/* Run sql (no parameters, no rows).  Errors mapped with what. */
int bs__sync_exec(sqlite3 *db, const char *sql, const char *what);

/*
 * Run sql once (rows it returns are stepped over) with parameters by
 * types, one character each: 't' a const char * (NULL binds NULL), 'i'
 * an int64_t.  Errors mapped with what.
 */
int bs__sync_q(sqlite3 *db, const char *what, const char *sql,
	       const char *types, ...);

/*
 * rc with the message fmt, then ": " and the last error's message (the
 * cause), which cannot be passed to bs__error() as an argument: it is
 * the buffer being written.  Returns rc.
 */
int bs__sync_because(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A SQLite result code as a bs_error with a message. */
int bs__sync_sqlerr(sqlite3 *db, int src, const char *what);

/* The random source mbedTLS wants, over bs_os_random(). */
int bs__sync_rng(void *ctx, unsigned char *buf, size_t n);

/*
 * Open the connection of an enrolled store: hub URL, pinned CA, device
 * id and key, the stored clock offset.  BS_EINVAL if the store is not
 * enrolled ("run branchsync enroll first").
 */
int bs__sync_connect(struct bs__net *n, sqlite3 *db, const bs_sync_opts *o);

/* Store what answers taught about the hub's clock (offset, time of
 * the contact) and its offline policy. */
int bs__sync_save_clock(sqlite3 *db, const struct bs__hub_clock *c);

/* --- policy.c ------------------------------------------------------- */

/*
 * A span of time for people, its two largest units: "15 days 3 hours",
 * "40 minutes"; the sign is dropped.  Cut to fit out[cap].  Cannot fail.
 */
void bs__sync_span(char *out, size_t cap, int64_t ms);

/* --- push.c, pull.c -------------------------------------------------- */

/* One round's shared state. */
struct bs__round {
	bs_store *st;
	sqlite3 *db;
	struct bs__net net;
	bs_sync_opts o;
	bs_sync_report *rep;
};

/* Push the outbox; BS_OK when every operation the protocol carries has
 * its answer stored. */
int bs__sync_push(struct bs__round *r);

/* Pull until the hub has no more pages. */
int bs__sync_pull(struct bs__round *r);

/* Test hook: how long a batch of pulled pages may grow before it
 * commits, in nanoseconds (0 commits every page), and how long it waits
 * for the next page, in milliseconds; less than 0 restores a default.
 * Not for use while a pull runs. */
void bs__sync_batch(int64_t ns, long wait_ms);

/* Test hook: how long a batch waits for the next page before it indexes
 * the text it added so far, in milliseconds; less than 0 restores the
 * default.  Not for use while a pull runs. */
void bs__sync_index_after(long ms);

/* --- conflict.c ------------------------------------------------------ */

/*
 * Record a conflict (inside the caller's transaction).  mine and theirs
 * are JSON values or NULL (borrowed); the ticket, if still here, is
 * flagged (bit 1).
 */
struct bs__conflict {
	const char *ticket_id, *entity, *entity_id, *op_id, *field;
	const cJSON *mine, *theirs;
	const char *mine_hlc, *theirs_hlc, *theirs_author;
	const char *reason, *detail;
};

int bs__conflict_add(sqlite3 *db, const struct bs__conflict *c,
		     int64_t now_ms);

#endif
