/*
 * wire.h - the codec of the sync protocol (schema/protocol.md), shared
 * by the agent and the hub so that both read and write exactly the same
 * bytes.
 *
 * Four parts:
 *   - bodies: zlib "deflate" compression both ways, with limits on the
 *     compressed and the decompressed size, so a small body cannot
 *     expand into gigabytes (a decompression bomb);
 *   - documents: a body is UTF-8 JSON text holding one object with the
 *     protocol version "v"; decoding checks size, encoding, nesting
 *     depth, escapes and version before the caller sees a single field;
 *   - fields: typed getters that check presence, type, range and size
 *     and say which field is wrong in one line;
 *   - security: the canonical string a device signs, the enrollment code
 *     and the MAC that binds the hub's CA certificate to it, hex and
 *     base64, and a comparison in constant time.
 *
 * Pure except for allocation: no I/O, no clock, no randomness (callers
 * pass random bytes in).  Every function returns BS_OK or a negative
 * bs_error code with a one-line message in the last error, unless it
 * says otherwise.
 */
#ifndef BS_CORE_WIRE_H
#define BS_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "json.h"

/* The protocol version this build speaks, and the oldest it serves. */
#define BS__WIRE_VERSION 1
#define BS__WIRE_VERSION_MIN 1

/* The tag at the start of every signed string, with the version. */
#define BS__WIRE_SIG_TAG "BS-SIG-1"

/* Limits (schema/protocol.md, "Limits"). */
#define BS__WIRE_MAX_BODY ((size_t)4 << 20)   /* bytes as sent */
#define BS__WIRE_MAX_DOC ((size_t)16 << 20)   /* bytes after inflate */
#define BS__WIRE_MAX_DEPTH 16                 /* nesting of [ and { */
#define BS__WIRE_MAX_BATCH 500                /* ops in one push */
#define BS__WIRE_MAX_PAGE 1000                /* changes in one pull */
#define BS__WIRE_DEFAULT_PAGE 200
#define BS__WIRE_PAGE_BYTES ((size_t)4 << 20) /* a pull page's JSON, about */
#define BS__WIRE_CODE_MAX 64                  /* ids, codes, names */
#define BS__WIRE_TEXT_MAX 65536               /* replies, notes */
#define BS__WIRE_TRANSCRIPT_MAX 262144
#define BS__WIRE_KEY_MAX 256                  /* a public key, DER */
#define BS__WIRE_SKEW_MS ((int64_t)5 * 60 * 1000)
#define BS__WIRE_NONCE_HEX 32                 /* 128 bits */

/*
 * What went wrong with a request, beyond the bs_error code: the HTTP
 * status to answer with and a fixed machine-readable cause (the
 * "cause" member of an error document; protocol.md lists them).
 */
struct bs__wire_fault {
	int status;
	const char *cause;
};

/* Record status and cause in f (may be NULL) and return rc. */
int bs__wire_fail(struct bs__wire_fault *f, int status, const char *cause,
		  int rc);

/* The HTTP status that answers rc when nothing more precise is known. */
int bs__wire_http_status(int rc);

/* --- bodies --------------------------------------------------------- */

/*
 * Compress len bytes at in with zlib (RFC 1950, what HTTP calls
 * "deflate") into a new bs__malloc'd buffer *out of *out_len bytes.
 * BS_ENOMEM, or BS_ERR if zlib fails.
 */
int bs__wire_deflate(uint8_t **out, size_t *out_len, const void *in,
		     size_t len);

/*
 * Decompress the zlib stream of len bytes at in into a new bs__malloc'd
 * buffer *out of *out_len bytes, NUL-terminated (not counted).  The
 * stream must end exactly at len.  BS_EINVAL with f set to 400
 * "truncated" or "corrupt", or 413 "too_large" as soon as the output
 * would pass max: the output is never allowed to grow beyond max + 1.
 */
int bs__wire_inflate(uint8_t **out, size_t *out_len, const void *in,
		     size_t len, size_t max, struct bs__wire_fault *f);

/* --- documents ------------------------------------------------------ */

/*
 * Decode a request or response body: encoding is the Content-Encoding
 * header (NULL or "identity" for none, "deflate" for zlib; anything
 * else is 415 "encoding"); the body as sent is at most BS__WIRE_MAX_BODY
 * bytes and at most BS__WIRE_MAX_DOC once inflated (413 "too_large");
 * it must be valid UTF-8 without NUL (400 "not_utf8"), JSON (400
 * "malformed"), an object (400 "not_object"), nested at most
 * BS__WIRE_MAX_DEPTH deep (400 "too_deep"), without the escape \u0000
 * or an unpaired surrogate, and carry "v", a version from
 * BS__WIRE_VERSION_MIN to BS__WIRE_VERSION (400 "version").
 *
 * *out is the document (free with cJSON_Delete) and *version (may be
 * NULL) its version.  On failure *out is NULL and f says why.
 */
int bs__wire_decode(cJSON **out, int *version, const void *body, size_t len,
		    const char *encoding, struct bs__wire_fault *f);

/* The same with the tree in arena (NULL: none), which frees it. */
int bs__wire_decode_in(struct bs__json_arena *arena, cJSON **out,
		       int *version, const void *body, size_t len,
		       const char *encoding, struct bs__wire_fault *f);

/*
 * A new document: an object with "v" set to version.  NULL if out of
 * memory.
 */
cJSON *bs__wire_doc(int version);

/*
 * The text of doc in a new bs__malloc'd buffer, compressed when
 * deflate is set.  BS_ENOMEM or BS_ERR.
 */
int bs__wire_encode(uint8_t **out, size_t *out_len, const cJSON *doc,
		    int deflate);

/*
 * An error document {"v", "error": bs_error_reason(rc), "cause",
 * "message"} in a new cJSON object (NULL if out of memory).  cause may
 * be NULL (then it is left out); message is made one line and cut to
 * 300 bytes at a character boundary.
 */
cJSON *bs__wire_error_doc(int version, int rc, const char *cause,
			  const char *message);

/* --- fields --------------------------------------------------------- */

/*
 * The getters read member key of object o.  A missing member or JSON
 * null is "absent": with optional set that is BS_OK and the output is
 * set to NULL / left unchanged with *present 0; without it, BS_EINVAL.
 * Every refusal names the field: "field 'subject' must be a string of
 * at most 2000 bytes".  Strings point into o and live as long as it.
 */

/* A string of at most max bytes (valid UTF-8 is checked at decode). */
int bs__wire_str(const char **out, const cJSON *o, const char *key,
		 size_t max, int optional);

/* A code: 1 to BS__WIRE_CODE_MAX of [A-Za-z0-9._:@-]. */
int bs__wire_code(const char **out, const cJSON *o, const char *key,
		  int optional);

/* An integer (no fraction) from min to max; *present may be NULL. */
int bs__wire_int(int64_t *out, int *present, const cJSON *o,
		 const char *key, int64_t min, int64_t max, int optional);

/* A boolean; absent with optional means 0. */
int bs__wire_bool(int *out, const cJSON *o, const char *key, int optional);

/* A UUIDv7 in canonical text (agent/core/uuid.h). */
int bs__wire_uuid(const char **out, const cJSON *o, const char *key,
		  int optional);

/* A clock stamp: 16 lowercase hex digits (agent/core/hlc.h). */
int bs__wire_hlc(uint64_t *out, const cJSON *o, const char *key);

/* One of the NULL-terminated names; *index gets its position. */
int bs__wire_enum(int *index, const cJSON *o, const char *key,
		  const char *const *names, int optional);

/* An object or array member (type cJSON_Object or cJSON_Array). */
int bs__wire_object(const cJSON **out, const cJSON *o, const char *key,
		    int optional);
int bs__wire_array(const cJSON **out, const cJSON *o, const char *key,
		   size_t max_items, int optional);

/* 1 if s is a code as bs__wire_code() accepts it.  Cannot fail. */
int bs__wire_is_code(const char *s);

/* --- security ------------------------------------------------------- */

/* Hex of len bytes into out (2 * len + 1 bytes).  Cannot fail. */
void bs__wire_hex(char *out, const void *in, size_t len);

/* Exactly 2 * n lowercase hex digits into n bytes.  BS_EINVAL. */
int bs__wire_unhex(uint8_t *out, size_t n, const char *hex, size_t len);

/*
 * Base64 (RFC 4648, padded) into a new bs__malloc'd string, or from s
 * into a new buffer of at most max bytes.  BS_EINVAL for bad input or
 * more than max bytes, BS_ENOMEM.
 */
int bs__wire_b64(char **out, const void *in, size_t len);
int bs__wire_unb64(uint8_t **out, size_t *out_len, const char *s,
		   size_t len, size_t max);

/* 1 if the n bytes at a and b are equal, in time independent of them. */
int bs__wire_ct_equal(const void *a, const void *b, size_t n);

/*
 * The string a device signs for one request (protocol.md, "Signed
 * requests"), in a new bs__malloc'd buffer:
 *
 *   BS-SIG-1 \n METHOD \n PATH?QUERY \n DEVICE \n TIME_MS \n NONCE \n
 *   hex(SHA-256(body as sent))
 *
 * with no final newline.  method, path and device must be printable
 * ASCII without newline, nonce BS__WIRE_NONCE_HEX lowercase hex digits,
 * time_ms 0 to 2^53: anything else is BS_EINVAL, so that no two
 * requests can produce the same string.
 */
int bs__wire_canonical(char **out, const char *method, const char *path,
		       const char *device, int64_t time_ms, const char *nonce,
		       const void *body, size_t body_len);

/* SHA-256 of len bytes.  Cannot fail. */
void bs__wire_sha256(uint8_t out[32], const void *in, size_t len);

/*
 * Enrollment codes.  A code is an id part of BS__WIRE_CODE_ID_CHARS and
 * a secret part of BS__WIRE_CODE_SECRET_CHARS characters of Crockford's
 * base32 (0-9 A-Z without I L O U), 5 bits each: 20 bits of id and 80
 * of secret, written in groups of four: "7KQD-9XG2-M4TB-HW0C-ZR5E".
 */
#define BS__WIRE_CODE_ID_CHARS 4
#define BS__WIRE_CODE_SECRET_CHARS 16
#define BS__WIRE_CODE_TEXT_LEN 24 /* with the four hyphens */
#define BS__WIRE_CODE_RANDOM_LEN 13 /* random bytes that make one */

/*
 * Make a code from BS__WIRE_CODE_RANDOM_LEN random bytes: the text to
 * print (out), and its id (id) and secret (secret) parts in canonical
 * form.  Cannot fail.
 */
void bs__wire_code_make(char out[BS__WIRE_CODE_TEXT_LEN + 1],
			char id[BS__WIRE_CODE_ID_CHARS + 1],
			char secret[BS__WIRE_CODE_SECRET_CHARS + 1],
			const uint8_t rnd[BS__WIRE_CODE_RANDOM_LEN]);

/*
 * Read a code as a person typed it: case, hyphens and spaces do not
 * matter, O reads as 0 and I, L as 1.  BS_EINVAL unless it is exactly
 * 20 characters of the alphabet.
 */
int bs__wire_code_parse(char id[BS__WIRE_CODE_ID_CHARS + 1],
			char secret[BS__WIRE_CODE_SECRET_CHARS + 1],
			const char *text);

/* 1 if s is an id part in canonical form.  Cannot fail. */
int bs__wire_code_id_valid(const char *s);

/*
 * What the hub keeps of a code: SHA-256 over "branchsync-enroll-1",
 * NUL, id, NUL, secret.  Cannot fail.
 */
void bs__wire_code_hash(uint8_t out[32], const char *id, const char *secret);

/*
 * The MAC that binds the hub's CA certificate to a code:
 * HMAC-SHA256(key = secret part, "branchsync-ca-1" NUL || DER).
 * Cannot fail.
 */
void bs__wire_ca_mac(uint8_t out[32], const char *secret, const void *der,
		     size_t der_len);

#endif
