/*
 * wire.c - the protocol codec of wire.h.
 *
 * In order: faults and statuses, zlib bodies, document decoding (a scan
 * of the raw text for what cJSON would accept but the protocol must
 * not, then cJSON, then a walk of the tree), the field getters, and the
 * security helpers (hex, base64, the signed string, enrollment codes).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <zlib.h>

#include "common.h"
#include "hlc.h"
#include "json.h"
#include "utf8.h"
#include "uuid.h"
#include "wire.h"

/* Most members one object may have; see check_tree(). */
#define MAX_MEMBERS 256

int bs__wire_fail(struct bs__wire_fault *f, int status, const char *cause,
		  int rc)
{
	if (f != NULL) {
		f->status = status;
		f->cause = cause;
	}
	return rc;
}

int bs__wire_http_status(int rc)
{
	switch (rc) {
	case BS_OK:
		return 200;
	case BS_EINVAL:
		return 400;
	case BS_EBADKEY:
		return 401;
	case BS_ESCOPE:
	case BS_EREFUSED:
	case BS_EREVOKED:
		return 403;
	case BS_ENOTFOUND:
		return 404;
	case BS_ECONFLICT:
	case BS_EEXISTS:
		return 409;
	case BS_EBUSY:
	case BS_ENOMEM:
		return 503;
	case BS_ETIMEOUT:
		return 504;
	default:
		return 500;
	}
}

/* --- bodies --------------------------------------------------------- */

/* zlib's allocators, routed through bs__malloc for failure injection;
 * deflate initialises all it reads, so its memory need not be zeroed. */
static voidpf z_alloc_raw(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	if (size != 0 && items > SIZE_MAX / size)
		return NULL;
	return bs__malloc((size_t)items * size);
}
static void z_free(voidpf opaque, voidpf p);

/*
 * A zlib stream of in.  The window and the hash table are sized to the
 * input (a window larger than the input finds nothing more): setting up
 * zlib's defaults, 256 KiB written over for every call, cost more than
 * compressing a typical answer of a few hundred bytes.
 */
int bs__wire_deflate(uint8_t **out, size_t *out_len, const void *in,
		     size_t len)
{
	z_stream z;
	uint8_t *buf;
	int zrc, wbits = 9;

	*out = NULL;
	*out_len = 0;
	if (len > UINT_MAX / 2)
		return bs__error(BS_EINVAL, "body too large to deflate");
	while (wbits < 15 && ((size_t)1 << wbits) < len)
		wbits++;
	memset(&z, 0, sizeof(z));
	z.zalloc = z_alloc_raw;
	z.zfree = z_free;
	zrc = deflateInit2(&z, 6, Z_DEFLATED, wbits, wbits < 14 ? wbits - 6 : 8,
			   Z_DEFAULT_STRATEGY);
	if (zrc != Z_OK)
		return bs__error(zrc == Z_MEM_ERROR ? BS_ENOMEM : BS_ERR,
				 "deflate failed: %s", zError(zrc));
	z.avail_out = (uInt)deflateBound(&z, (uLong)len);
	buf = bs__malloc(z.avail_out);
	if (buf == NULL) {
		deflateEnd(&z);
		return bs__error_code(BS_ENOMEM);
	}
	z.next_in = (z_const Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	zrc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (zrc != Z_STREAM_END) {
		bs__free(buf);
		*out_len = 0;
		return bs__error(BS_ERR, "deflate failed: %s", zError(zrc));
	}
	*out = buf;
	return BS_OK;
}

/* zlib's allocator, routed through bs__malloc for failure injection. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return bs__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	bs__free(p);
}

int bs__wire_inflate(uint8_t **out, size_t *out_len, const void *in,
		     size_t len, size_t max, struct bs__wire_fault *f)
{
	z_stream z;
	uint8_t *buf = NULL, *nb;
	size_t cap, used = 0;
	int zrc, rc = BS_OK, started = 0;

	*out = NULL;
	*out_len = 0;
	memset(&z, 0, sizeof(z));
	z.zalloc = z_alloc;
	z.zfree = z_free;
	/* Start small and double: a tiny body must not reserve max. */
	cap = len * 4 + 64 < max + 2 ? len * 4 + 64 : max + 2;
	buf = bs__malloc(cap);
	if (buf == NULL)
		return bs__error_code(BS_ENOMEM);
	if (inflateInit(&z) != Z_OK) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	started = 1;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	for (;;) {
		if (used + 1 >= cap) {
			size_t ncap;

			if (used > max) {
				rc = bs__wire_fail(f, 413, "too_large",
					bs__error(BS_EINVAL,
					"body inflates to more than %zu bytes",
					max));
				goto cleanup;
			}
			ncap = cap * 2 < max + 2 ? cap * 2 : max + 2;
			nb = bs__realloc(buf, ncap);
			if (nb == NULL) {
				rc = bs__error_code(BS_ENOMEM);
				goto cleanup;
			}
			buf = nb;
			cap = ncap;
		}
		/* Keep one byte for the NUL. */
		z.next_out = buf + used;
		z.avail_out = (uInt)(cap - used - 1);
		zrc = inflate(&z, Z_NO_FLUSH);
		used = cap - 1 - z.avail_out;
		if (used > max) {
			rc = bs__wire_fail(f, 413, "too_large",
				bs__error(BS_EINVAL,
				"body inflates to more than %zu bytes", max));
			goto cleanup;
		}
		if (zrc == Z_STREAM_END)
			break;
		if (zrc == Z_MEM_ERROR) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
		if (zrc == Z_DATA_ERROR || zrc == Z_NEED_DICT) {
			rc = bs__wire_fail(f, 400, "corrupt",
				bs__error(BS_EINVAL,
				"body is not a valid deflate (zlib) stream"));
			goto cleanup;
		}
		if (zrc == Z_BUF_ERROR && z.avail_in == 0) {
			rc = bs__wire_fail(f, 400, "truncated",
				bs__error(BS_EINVAL,
				"deflate body ends before its stream does"));
			goto cleanup;
		}
	}
	if (z.avail_in != 0) {
		rc = bs__wire_fail(f, 400, "corrupt",
			bs__error(BS_EINVAL,
			"%u bytes follow the end of the deflate stream",
			z.avail_in));
		goto cleanup;
	}
	buf[used] = 0;
	*out = buf;
	*out_len = used;
	buf = NULL;
cleanup:
	if (started)
		inflateEnd(&z);
	bs__free(buf);
	return rc;
}

/* --- documents ------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The four hex digits at p as a number, or -1. */
static long hex4(const char *p, size_t left)
{
	long v = 0;
	int i, d;

	if (left < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((d = hexval((unsigned char)p[i])) < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * What cJSON would accept and the protocol refuses, found in the raw
 * text: nesting deeper than BS__WIRE_MAX_DEPTH (checked before cJSON
 * recurses), the escape \u0000 (a NUL inside a C string would cut it
 * short), and surrogate escapes that are not a high-low pair.  The
 * text is valid UTF-8 already.  Structure errors are left to cJSON.
 */
static int scan_raw(const char *s, size_t len, struct bs__wire_fault *f)
{
	size_t i;
	int depth = 0, in_str = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!in_str) {
			if (c == '"') {
				in_str = 1;
			} else if (c == '[' || c == '{') {
				if (++depth > BS__WIRE_MAX_DEPTH)
					return bs__wire_fail(f, 400,
						"too_deep", bs__error(
						BS_EINVAL, "document is nested "
						"more than %d deep",
						BS__WIRE_MAX_DEPTH));
			} else if (c == ']' || c == '}') {
				depth--;
			}
			continue;
		}
		if (c == '"') {
			in_str = 0;
		} else if (c == '\\' && i + 1 < len) {
			long u, lo;

			i++;
			if (s[i] != 'u')
				continue;
			u = hex4(s + i + 1, len - i - 1);
			if (u < 0)
				continue; /* cJSON refuses it */
			i += 4;
			if (u == 0)
				return bs__wire_fail(f, 400, "malformed",
					bs__error(BS_EINVAL,
					"document holds the escape \\u0000"));
			if (u >= 0xdc00 && u <= 0xdfff)
				goto lone;
			if (u < 0xd800 || u > 0xdbff)
				continue;
			if (i + 2 >= len || s[i + 1] != '\\' ||
			    s[i + 2] != 'u')
				goto lone;
			lo = hex4(s + i + 3, len - i - 3);
			if (lo < 0xdc00 || lo > 0xdfff)
				goto lone;
			i += 6;
		}
	}
	return BS_OK;
lone:
	return bs__wire_fail(f, 400, "not_utf8", bs__error(BS_EINVAL,
		"document holds an unpaired UTF-16 surrogate escape"));
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Walk the parsed tree: no object with more than MAX_MEMBERS members or
 * with a key twice (which member would count is a question two
 * implementations can answer differently).  Every string and key is
 * valid UTF-8 without looking again: the text was, a string cannot end
 * inside a character (quotes and backslashes are ASCII), and scan_raw()
 * refused the only escapes whose decoding is not (\u0000 and unpaired
 * surrogates).
 */
static int check_tree(const cJSON *j, struct bs__wire_fault *f)
{
	const cJSON *c;
	const char *keys[MAX_MEMBERS];
	size_t n = 0, i;
	int rc;

	for (c = j->child; c != NULL; c = c->next) {
		if (cJSON_IsObject(j)) {
			if (n == MAX_MEMBERS)
				return bs__wire_fail(f, 400, "malformed",
					bs__error(BS_EINVAL, "an object "
					"has more than %d members",
					MAX_MEMBERS));
			if (c->string == NULL)
				return bs__wire_fail(f, 400, "malformed",
					bs__error(BS_EINVAL, "an object "
					"member has no key"));
			keys[n++] = c->string;
		}
		if ((rc = check_tree(c, f)) != BS_OK)
			return rc;
	}
	if (n > 1) {
		qsort(keys, n, sizeof(keys[0]), cmp_str_ptr);
		for (i = 1; i < n; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0)
				return bs__wire_fail(f, 400, "malformed",
					bs__error(BS_EINVAL, "member '%.64s' "
					"appears twice in one object",
					keys[i]));
	}
	return BS_OK;
}

int bs__wire_decode(cJSON **out, int *version, const void *body, size_t len,
		    const char *encoding, struct bs__wire_fault *f)
{
	return bs__wire_decode_in(NULL, out, version, body, len, encoding, f);
}

int bs__wire_decode_in(struct bs__json_arena *arena, cJSON **out,
		       int *version, const void *body, size_t len,
		       const char *encoding, struct bs__wire_fault *f)
{
	uint8_t *plain = NULL;
	const char *text = body, *end = NULL;
	size_t tlen = len, bad;
	cJSON *doc = NULL;
	int64_t v;
	int rc = BS_OK;

	*out = NULL;
	bs__json_init();
	if (len > BS__WIRE_MAX_BODY)
		return bs__wire_fail(f, 413, "too_large", bs__error(BS_EINVAL,
			"body of %zu bytes is larger than %zu", len,
			BS__WIRE_MAX_BODY));
	if (encoding != NULL && strcmp(encoding, "deflate") == 0) {
		rc = bs__wire_inflate(&plain, &tlen, body, len,
				      BS__WIRE_MAX_DOC, f);
		if (rc != BS_OK)
			return rc;
		text = (const char *)plain;
	} else if (encoding != NULL && encoding[0] != '\0' &&
		   strcmp(encoding, "identity") != 0) {
		return bs__wire_fail(f, 415, "encoding", bs__error(BS_EINVAL,
			"content encoding '%.32s' is not deflate or identity",
			encoding));
	} else if (len > BS__WIRE_MAX_DOC) {
		return bs__wire_fail(f, 413, "too_large", bs__error(BS_EINVAL,
			"document larger than %zu bytes", BS__WIRE_MAX_DOC));
	}
	if (tlen == 0) {
		rc = bs__wire_fail(f, 400, "malformed",
				   bs__error(BS_EINVAL, "body is empty"));
		goto cleanup;
	}
	if (!bs__utf8_valid(text, tlen, &bad)) {
		rc = bs__wire_fail(f, 400, "not_utf8", bs__error(BS_EINVAL,
			"body is not UTF-8 text (byte %zu)", bad));
		goto cleanup;
	}
	if ((rc = scan_raw(text, tlen, f)) != BS_OK)
		goto cleanup;
	doc = bs__json_parse_in(arena, text, tlen, &end);
	if (doc == NULL) {
		/* cJSON cannot tell out-of-memory from bad text; a retry
		 * of a body that parses elsewhere is the client's cue. */
		rc = bs__wire_fail(f, 400, "malformed", bs__error(BS_EINVAL,
			"body is not JSON (near byte %zu)",
			end != NULL && end >= text ? (size_t)(end - text) :
			(size_t)0));
		goto cleanup;
	}
	while (end != NULL && (size_t)(end - text) < tlen &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end == NULL || (size_t)(end - text) != tlen) {
		rc = bs__wire_fail(f, 400, "malformed", bs__error(BS_EINVAL,
			"text follows the JSON document"));
		goto cleanup;
	}
	if (!cJSON_IsObject(doc)) {
		rc = bs__wire_fail(f, 400, "not_object", bs__error(BS_EINVAL,
			"document is not a JSON object"));
		goto cleanup;
	}
	if ((rc = check_tree(doc, f)) != BS_OK)
		goto cleanup;
	if (!bs__json_int(cJSON_GetObjectItemCaseSensitive(doc, "v"), 0,
			  1000000, &v)) {
		rc = bs__wire_fail(f, 400, "version", bs__error(BS_EINVAL,
			"document has no protocol version \"v\""));
		goto cleanup;
	}
	if (v < BS__WIRE_VERSION_MIN || v > BS__WIRE_VERSION) {
		rc = bs__wire_fail(f, 400, "version", bs__error(BS_EINVAL,
			"protocol version %lld is not served here (%d to %d "
			"are)", (long long)v, BS__WIRE_VERSION_MIN,
			BS__WIRE_VERSION));
		goto cleanup;
	}
	if (version != NULL)
		*version = (int)v;
	*out = doc;
	doc = NULL;
cleanup:
	if (arena == NULL)
		cJSON_Delete(doc);
	bs__free(plain);
	return rc;
}

cJSON *bs__wire_doc(int version)
{
	cJSON *d;

	bs__json_init();
	d = cJSON_CreateObject();
	if (d != NULL && bs__json_put_int(d, "v", version) != BS_OK) {
		cJSON_Delete(d);
		d = NULL;
	}
	return d;
}

int bs__wire_encode(uint8_t **out, size_t *out_len, const cJSON *doc,
		    int deflate)
{
	char *text = NULL;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = bs__json_print(&text, doc)) != BS_OK)
		return rc;
	if (!deflate) {
		*out = (uint8_t *)text;
		*out_len = strlen(text);
		return BS_OK;
	}
	rc = bs__wire_deflate(out, out_len, text, strlen(text));
	bs__free(text);
	return rc;
}

cJSON *bs__wire_error_doc(int version, int rc, const char *cause,
			  const char *message)
{
	char line[304];
	size_t n, i;
	cJSON *d = bs__wire_doc(version);

	if (d == NULL)
		return NULL;
	if (message == NULL)
		message = bs_strerror(rc);
	n = strlen(message);
	if (n > 300)
		n = bs__utf8_floor(message, 300);
	memcpy(line, message, n);
	line[n] = '\0';
	for (i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (!bs__utf8_valid(line, n, NULL))
		snprintf(line, sizeof(line), "%s", bs_strerror(rc));
	if (bs__json_put_str(d, "error", bs_error_reason(rc)) ||
	    (cause != NULL && bs__json_put_str(d, "cause", cause)) ||
	    bs__json_put_str(d, "message", line)) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

/* --- fields --------------------------------------------------------- */

/* The member, or NULL if it is missing or null. */
static const cJSON *member(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	return j == NULL || cJSON_IsNull(j) ? NULL : j;
}

static int absent(const char *key, int optional)
{
	if (optional)
		return BS_OK;
	return bs__error(BS_EINVAL, "field '%s' is missing", key);
}

int bs__wire_str(const char **out, const cJSON *o, const char *key,
		 size_t max, int optional)
{
	const cJSON *j = member(o, key);

	*out = NULL;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsString(j) || j->valuestring == NULL ||
	    strlen(j->valuestring) > max)
		return bs__error(BS_EINVAL,
				 "field '%s' must be a string of at most "
				 "%zu bytes", key, max);
	*out = j->valuestring;
	return BS_OK;
}

int bs__wire_is_code(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == BS__WIRE_CODE_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == ':' || c == '@'))
			return 0;
	}
	return 1;
}

int bs__wire_code(const char **out, const cJSON *o, const char *key,
		  int optional)
{
	const cJSON *j = member(o, key);

	*out = NULL;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsString(j) || !bs__wire_is_code(j->valuestring))
		return bs__error(BS_EINVAL, "field '%s' must be a code: 1 to "
				 "%d of A-Z a-z 0-9 . _ : @ -", key,
				 BS__WIRE_CODE_MAX);
	*out = j->valuestring;
	return BS_OK;
}

int bs__wire_int(int64_t *out, int *present, const cJSON *o,
		 const char *key, int64_t min, int64_t max, int optional)
{
	const cJSON *j = member(o, key);

	if (present != NULL)
		*present = 0;
	if (j == NULL)
		return absent(key, optional);
	if (!bs__json_int(j, min, max, out))
		return bs__error(BS_EINVAL, "field '%s' must be an integer "
				 "from %lld to %lld", key, (long long)min,
				 (long long)max);
	if (present != NULL)
		*present = 1;
	return BS_OK;
}

int bs__wire_bool(int *out, const cJSON *o, const char *key, int optional)
{
	const cJSON *j = member(o, key);

	*out = 0;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsBool(j))
		return bs__error(BS_EINVAL, "field '%s' must be true or false",
				 key);
	*out = cJSON_IsTrue(j);
	return BS_OK;
}

int bs__wire_uuid(const char **out, const cJSON *o, const char *key,
		  int optional)
{
	const cJSON *j = member(o, key);

	*out = NULL;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsString(j) ||
	    bs__uuid_parse(NULL, j->valuestring,
			   strlen(j->valuestring)) != BS_OK)
		return bs__error(BS_EINVAL, "field '%s' must be a UUIDv7 in "
				 "lowercase text", key);
	*out = j->valuestring;
	return BS_OK;
}

int bs__wire_hlc(uint64_t *out, const cJSON *o, const char *key)
{
	const cJSON *j = member(o, key);

	if (j == NULL)
		return absent(key, 0);
	if (!cJSON_IsString(j) ||
	    bs__hlc_parse(out, j->valuestring,
			  strlen(j->valuestring)) != BS_OK)
		return bs__error(BS_EINVAL, "field '%s' must be a clock stamp "
				 "of 16 lowercase hex digits", key);
	return BS_OK;
}

int bs__wire_enum(int *index, const cJSON *o, const char *key,
		  const char *const *names, int optional)
{
	const cJSON *j = member(o, key);
	int i;

	*index = -1;
	if (j == NULL)
		return absent(key, optional);
	if (cJSON_IsString(j))
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(names[i], j->valuestring) == 0) {
				*index = i;
				return BS_OK;
			}
	return bs__error(BS_EINVAL, "field '%s' has a value that is not "
			 "one of its names", key);
}

int bs__wire_object(const cJSON **out, const cJSON *o, const char *key,
		    int optional)
{
	const cJSON *j = member(o, key);

	*out = NULL;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsObject(j))
		return bs__error(BS_EINVAL, "field '%s' must be an object",
				 key);
	*out = j;
	return BS_OK;
}

int bs__wire_array(const cJSON **out, const cJSON *o, const char *key,
		   size_t max_items, int optional)
{
	const cJSON *j = member(o, key);

	*out = NULL;
	if (j == NULL)
		return absent(key, optional);
	if (!cJSON_IsArray(j) ||
	    (size_t)cJSON_GetArraySize(j) > max_items)
		return bs__error(BS_EINVAL, "field '%s' must be an array of "
				 "at most %zu items", key, max_items);
	*out = j;
	return BS_OK;
}

/* --- security ------------------------------------------------------- */

void bs__wire_hex(char *out, const void *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int bs__wire_unhex(uint8_t *out, size_t n, const char *hex, size_t len)
{
	size_t i;

	if (len != 2 * n)
		goto bad;
	for (i = 0; i < len; i++) {
		char c = hex[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			goto bad;
	}
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
				   hexval(hex[2 * i + 1]));
	return BS_OK;
bad:
	return bs__error(BS_EINVAL, "expected %zu lowercase hex digits",
			 2 * n);
}

int bs__wire_b64(char **out, const void *in, size_t len)
{
	size_t n = 4 * ((len + 2) / 3) + 1, olen = 0;
	char *s = bs__malloc(n);

	*out = NULL;
	if (s == NULL)
		return bs__error_code(BS_ENOMEM);
	if (mbedtls_base64_encode((unsigned char *)s, n, &olen, in, len) !=
	    0) {
		bs__free(s);
		return bs__error(BS_ERR, "base64 encoding failed");
	}
	s[olen] = '\0';
	*out = s;
	return BS_OK;
}

int bs__wire_unb64(uint8_t **out, size_t *out_len, const char *s,
		   size_t len, size_t max)
{
	size_t need = 0;
	uint8_t *b;
	int mrc;

	*out = NULL;
	*out_len = 0;
	/* mbedTLS skips spaces and newlines; the protocol has none. */
	if (len == 0 || len % 4 != 0 || strcspn(s, " \t\r\n") < len)
		goto bad;
	mrc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)s,
				    len);
	if (mrc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER)
		goto bad;
	if (need > max)
		return bs__error(BS_EINVAL, "base64 value longer than %zu "
				 "bytes", max);
	b = bs__malloc(need);
	if (b == NULL)
		return bs__error_code(BS_ENOMEM);
	if (mbedtls_base64_decode(b, need, out_len, (const unsigned char *)s,
				  len) != 0) {
		bs__free(b);
		goto bad;
	}
	*out = b;
	return BS_OK;
bad:
	return bs__error(BS_EINVAL, "not base64 (RFC 4648, padded)");
}

int bs__wire_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void bs__wire_sha256(uint8_t out[32], const void *in, size_t len)
{
	mbedtls_sha256_ret(in, len, out, 0);
}

/* Printable ASCII, no space, no newline, 1 to max bytes. */
static int is_token(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n == max || s[n] <= 0x20 || s[n] >= 0x7f)
			return 0;
	return 1;
}

int bs__wire_canonical(char **out, const char *method, const char *path,
		       const char *device, int64_t time_ms, const char *nonce,
		       const void *body, size_t body_len)
{
	uint8_t hash[32];
	char hex[65];
	size_t n;
	char *s;

	*out = NULL;
	if (!is_token(method, 16) || !is_token(path, 8192) ||
	    path[0] != '/' || !bs__wire_is_code(device) || time_ms < 0 ||
	    time_ms > ((int64_t)1 << 53) || nonce == NULL ||
	    strlen(nonce) != BS__WIRE_NONCE_HEX ||
	    bs__wire_unhex((uint8_t[BS__WIRE_NONCE_HEX / 2]){ 0 },
			   BS__WIRE_NONCE_HEX / 2, nonce,
			   BS__WIRE_NONCE_HEX) != BS_OK)
		return bs__error(BS_EINVAL, "request cannot be signed: bad "
				 "method, path, device, time or nonce");
	bs__wire_sha256(hash, body_len ? body : "", body_len);
	bs__wire_hex(hex, hash, 32);
	n = strlen(BS__WIRE_SIG_TAG) + strlen(method) + strlen(path) +
	    strlen(device) + 24 + BS__WIRE_NONCE_HEX + 64 + 8;
	s = bs__malloc(n);
	if (s == NULL)
		return bs__error_code(BS_ENOMEM);
	snprintf(s, n, "%s\n%s\n%s\n%s\n%lld\n%s\n%s", BS__WIRE_SIG_TAG,
		 method, path, device, (long long)time_ms, nonce, hex);
	*out = s;
	return BS_OK;
}

static const char code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void bs__wire_code_make(char out[BS__WIRE_CODE_TEXT_LEN + 1],
			char id[BS__WIRE_CODE_ID_CHARS + 1],
			char secret[BS__WIRE_CODE_SECRET_CHARS + 1],
			const uint8_t rnd[BS__WIRE_CODE_RANDOM_LEN])
{
	char all[BS__WIRE_CODE_ID_CHARS + BS__WIRE_CODE_SECRET_CHARS];
	size_t i, bit, o = 0;

	/* Five bits at a time from the random bytes, most significant
	 * first: 100 of the 104 bits. */
	for (i = 0; i < sizeof(all); i++) {
		unsigned v = 0, k;

		for (k = 0; k < 5; k++) {
			bit = i * 5 + k;
			v = v << 1 | ((rnd[bit / 8] >> (7 - bit % 8)) & 1);
		}
		all[i] = code_alphabet[v];
	}
	memcpy(id, all, BS__WIRE_CODE_ID_CHARS);
	id[BS__WIRE_CODE_ID_CHARS] = '\0';
	memcpy(secret, all + BS__WIRE_CODE_ID_CHARS,
	       BS__WIRE_CODE_SECRET_CHARS);
	secret[BS__WIRE_CODE_SECRET_CHARS] = '\0';
	for (i = 0; i < sizeof(all); i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = all[i];
	}
	out[o] = '\0';
}

/* The canonical character for c as typed, or 0. */
static char code_char(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'O')
		return '0';
	if (c == 'I' || c == 'L')
		return '1';
	if (c != '\0' && strchr(code_alphabet, c) != NULL)
		return c;
	return 0;
}

int bs__wire_code_parse(char id[BS__WIRE_CODE_ID_CHARS + 1],
			char secret[BS__WIRE_CODE_SECRET_CHARS + 1],
			const char *text)
{
	char all[BS__WIRE_CODE_ID_CHARS + BS__WIRE_CODE_SECRET_CHARS];
	size_t n = 0;
	const char *p;

	if (text == NULL)
		goto bad;
	for (p = text; *p != '\0'; p++) {
		char c;

		if (*p == '-' || *p == ' ')
			continue;
		if ((c = code_char(*p)) == 0 || n == sizeof(all))
			goto bad;
		all[n++] = c;
	}
	if (n != sizeof(all))
		goto bad;
	memcpy(id, all, BS__WIRE_CODE_ID_CHARS);
	id[BS__WIRE_CODE_ID_CHARS] = '\0';
	memcpy(secret, all + BS__WIRE_CODE_ID_CHARS,
	       BS__WIRE_CODE_SECRET_CHARS);
	secret[BS__WIRE_CODE_SECRET_CHARS] = '\0';
	return BS_OK;
bad:
	return bs__error(BS_EINVAL, "an enrollment code is %d letters and "
			 "digits, like 7KQD-9XG2-M4TB-HW0C-ZR5E",
			 BS__WIRE_CODE_ID_CHARS + BS__WIRE_CODE_SECRET_CHARS);
}

int bs__wire_code_id_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != BS__WIRE_CODE_ID_CHARS)
		return 0;
	for (i = 0; i < BS__WIRE_CODE_ID_CHARS; i++)
		if (strchr(code_alphabet, s[i]) == NULL)
			return 0;
	return 1;
}

void bs__wire_code_hash(uint8_t out[32], const char *id, const char *secret)
{
	static const char tag[] = "branchsync-enroll-1";
	mbedtls_sha256_context c;

	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts_ret(&c, 0);
	mbedtls_sha256_update_ret(&c, (const uint8_t *)tag, sizeof(tag));
	mbedtls_sha256_update_ret(&c, (const uint8_t *)id, strlen(id) + 1);
	mbedtls_sha256_update_ret(&c, (const uint8_t *)secret,
				  strlen(secret));
	mbedtls_sha256_finish_ret(&c, out);
	mbedtls_sha256_free(&c);
}

void bs__wire_ca_mac(uint8_t out[32], const char *secret, const void *der,
		     size_t der_len)
{
	static const char tag[] = "branchsync-ca-1";
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(
		MBEDTLS_MD_SHA256);
	mbedtls_md_context_t c;

	mbedtls_md_init(&c);
	if (mbedtls_md_setup(&c, md, 1) != 0) {
		/* Only out of memory; a MAC of zeros never verifies. */
		memset(out, 0, 32);
		goto cleanup;
	}
	mbedtls_md_hmac_starts(&c, (const uint8_t *)secret, strlen(secret));
	mbedtls_md_hmac_update(&c, (const uint8_t *)tag, sizeof(tag));
	mbedtls_md_hmac_update(&c, der, der_len);
	mbedtls_md_hmac_finish(&c, out);
cleanup:
	mbedtls_md_free(&c);
}
