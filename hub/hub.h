/*
 * hub.h - what the files of branchsync-hub share.
 *
 * Files: main.c (the command line), admin.c (the admin commands),
 * pki.c (the CA, the server certificate, device keys), http.c (the
 * HTTPS server: requests in, documents out), auth.c (enrollment and
 * signed requests), sync.c (push and pull), ticket.c (changes to
 * tickets shared by push and the admin commands: history, change
 * numbers, scope exits), store*.c (the database seam, store.h).
 *
 * The protocol is schema/protocol.md; every document the hub reads or
 * writes goes through agent/core/wire.h.
 */
#ifndef BS_HUB_HUB_H
#define BS_HUB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/core/hlc.h"
#include "agent/core/state.h"
#include "agent/core/uuid.h"
#include "agent/core/wire.h"
#include "hub/store.h"

#define BS_HUB_DB_FILE "hub.db"
#define BS_HUB_CA_KEY "ca.key"
#define BS_HUB_CA_CERT "ca.crt"
#define BS_HUB_KEY "server.key"
#define BS_HUB_CERT "server.crt"

/* Node name of head office in clocks and history. */
#define BS_HUB_NODE "hub"

/* The running hub: what every request needs. */
struct bs_hub {
	bs_hub_store *store;
	uint8_t *ca_der;    /* the CA certificate, DER */
	size_t ca_der_len;
	char *ca_pem;
	int64_t skew_ms;    /* allowed |device time - hub time| */
	int64_t max_ahead_ms; /* HLC stamps further ahead are refused */
	int64_t max_offline_ms; /* policy: devices lock after this long
				   without a sync; 0 for never */
	/* Nonces in memory (replay.c), for the only hub serving its
	 * database; NULL: in the database, shared by every hub. */
	struct bs_hub_replay *replay;
	int64_t start_ms; /* requests signed before it are refused when
			     replay is set */
};

/* A request as the handlers see it.  Everything is borrowed. */
struct bs_hub_req {
	const char *method;
	const char *target;   /* path and query exactly as sent */
	const char *path;     /* without the query */
	const char *query;    /* after '?', or "" */
	const char *encoding; /* Content-Encoding, or NULL */
	const char *content_type;
	const char *device, *time, *nonce, *signature; /* X-BS-* */
	const uint8_t *body;
	size_t body_len;
	int64_t now_ms;       /* hub time at receipt */
};

/* The authenticated device of a signed request. */
struct bs_hub_device {
	char id[BS__UUID_TEXT_LEN + 1];
	char branch[BS__WIRE_CODE_MAX + 1];
	char staff[BS__WIRE_CODE_MAX + 1];
	char role[16];      /* "staff" or "manager" */
	enum bs__actor actor;
};

/* A handler's answer: status and a document (owned). */
struct bs_hub_resp {
	int status;
	cJSON *doc;
	/* Or the document already written as text (bs__malloc'd). */
	char *body;
	size_t body_len;
	/* A pull page's cursor and more, repeated in its headers. */
	int paged, page_more;
	int64_t page_cursor;
};

/*
 * Fill rs with an error document for rc: status from f if set, else
 * from bs__wire_http_status(); message from bs_last_error().  Returns
 * BS_OK, or BS_ENOMEM.
 */
int bs__hub_error(struct bs_hub_resp *rs, int version, int rc,
		  const struct bs__wire_fault *f);

/*
 * The value of parameter name in the query string q (after '?'),
 * copied into out[cap]: BS_ENOTFOUND if absent, BS_EINVAL if longer
 * than cap - 1 or percent-encoded (no parameter of the protocol needs
 * encoding).
 */
int bs__hub_query_param(const char *q, const char *name, char *out,
			size_t cap);

/*
 * Serve h over HTTPS on listen ("ADDRESS:PORT"; port 0 picks a free
 * one) with dir's server certificate, threads workers, until SIGINT or
 * SIGTERM.  Prints one line with the URL once listening.
 */
int bs__hub_serve(struct bs_hub *h, const char *dir, const char *listen,
		  int threads);

/* --- pki.c ---------------------------------------------------------- */

/*
 * Create dir's CA and server certificate (subjectAltNames: localhost,
 * 127.0.0.1, ::1 and the nhosts names in hosts).  Refuses (BS_EEXISTS)
 * if dir already has a CA.
 */
int bs__hub_pki_init(const char *dir, const char *const *hosts,
		     int nhosts);

/* Load dir's CA certificate (DER and PEM) into h. */
int bs__hub_pki_load_ca(struct bs_hub *h, const char *dir);

/*
 * Check that der (len bytes) is an ECDSA P-256 SubjectPublicKeyInfo.
 * BS_EINVAL otherwise.
 */
int bs__hub_pki_check_key(const uint8_t *der, size_t len);

/*
 * Verify an ECDSA-SHA256 signature (DER) over msg with the key in b64
 * (base64 SubjectPublicKeyInfo).  BS_OK, or BS_EBADKEY.
 */
int bs__hub_pki_verify(const char *key_b64, const char *msg,
		       const uint8_t *sig, size_t sig_len);

/* --- auth.c --------------------------------------------------------- */

int bs__hub_enroll_ca(struct bs_hub *h, const struct bs_hub_req *rq,
		      struct bs_hub_resp *rs);
int bs__hub_enroll(struct bs_hub *h, const struct bs_hub_req *rq,
		   struct bs_hub_resp *rs);

/*
 * The nonces one hub process has seen (replay.c).  check: BS_OK if
 * (device, nonce) is new, and now remembered until expires_ms;
 * BS_EEXISTS if it was seen.  Thread-safe.
 */
struct bs_hub_replay;
int bs__hub_replay_new(struct bs_hub_replay **out);
void bs__hub_replay_free(struct bs_hub_replay *r);
int bs__hub_replay_check(struct bs_hub_replay *r, const char *device,
			 const char *nonce, int64_t expires_ms,
			 int64_t now_ms);
size_t bs__hub_replay_count(struct bs_hub_replay *r);

/*
 * Authenticate a signed request: *dev is its device.  On failure rs
 * holds the error document to send and the return is negative.
 */
int bs__hub_authenticate(struct bs_hub *h, const struct bs_hub_req *rq,
			 struct bs_hub_device *dev, struct bs_hub_resp *rs);

/*
 * Make an enrollment code for branch/staff/role valid for ttl_ms and
 * write its text to out.  The database keeps only its hash and the MAC
 * of the CA certificate (ca_der) keyed by its secret.
 */
int bs__hub_code_new(bs_hub_store *st, const uint8_t *ca_der, size_t ca_len,
		     char out[BS__WIRE_CODE_TEXT_LEN + 1],
		     const char *branch, const char *staff, const char *role,
		     int64_t now_ms, int64_t ttl_ms);

/* --- sync.c --------------------------------------------------------- */

int bs__hub_hello(struct bs_hub *h, const struct bs_hub_req *rq,
		  const struct bs_hub_device *dev, struct bs_hub_resp *rs);
int bs__hub_push(struct bs_hub *h, const struct bs_hub_req *rq,
		 const struct bs_hub_device *dev, struct bs_hub_resp *rs);
int bs__hub_pull(struct bs_hub *h, const struct bs_hub_req *rq,
		 const struct bs_hub_device *dev, struct bs_hub_resp *rs);

/* --- ticket.c ------------------------------------------------------- */

/* Who made a change and when, for history. */
struct bs_hub_who {
	const char *op_id;     /* NULL for an admin command */
	const char *author;
	const char *device_id; /* NULL at head office */
	int64_t device_ms;
	int64_t hub_ms;
	const char *hlc;       /* NULL: none */
};

/*
 * Append an entry to ticket_id's hash-chained history: action (e.g.
 * "ticket.move"), body the JSON of what changed (borrowed).
 */
int bs__hub_history_add(bs_hub_conn *c, const char *ticket_id,
			const char *action, const struct bs_hub_who *who,
			const cJSON *body);

/*
 * Every change of a ticket is one write transaction with one change
 * number, taken first with bs__hub_change_seq(): the ticket's new seq,
 * the seq of the activities it adds and of the scope exits it causes.
 * Devices never see two rows with one number (a scope exit and the
 * ticket go to different scopes), so a page may end anywhere.
 */
int bs__hub_change_seq(bs_hub_conn *c, int64_t *seq);

/*
 * Finish the change seq of ticket_id: version + 1 (not for a new
 * ticket), seq; when the branch or assignee differ from old_branch and
 * old_assignee (the values before; ignored when is_new), a scope exit
 * for each scope the ticket left and scope_seq = seq.
 */
int bs__hub_ticket_touch(bs_hub_conn *c, const char *ticket_id, int64_t seq,
			 const char *old_branch, const char *old_assignee,
			 int is_new, int64_t now_ms);

/* A new stamp of the hub's clock, after every stamp seen (text). */
void bs__hub_stamp(char out[BS__HLC_TEXT_LEN + 1], int64_t now_ms);

/* Take in a device's stamp so later hub stamps follow it. */
void bs__hub_witness(uint64_t stamp, int64_t now_ms);

/* A new UUIDv7 as text. */
int bs__hub_new_id(char out[BS__UUID_TEXT_LEN + 1], int64_t now_ms);

/*
 * Verify the history chain of ticket_id: BS_OK, or BS_EDAMAGED naming
 * the first entry whose hash does not match.
 */
int bs__hub_history_verify(bs_hub_conn *c, const char *ticket_id,
			   int64_t *entries);

/*
 * A head-office transition of ticket_id to `to`, checked by
 * bs__state_check() as HO, with its SLA effects, history and change.
 * ctx as in state.h; target for a merge, branch for a dispatch.
 */
int bs__hub_ho_move(bs_hub_conn *c, const char *ticket_id,
		    enum bs__status to, const char *reason,
		    const char *target, const char *branch,
		    const char *author, int64_t now_ms);

#endif
