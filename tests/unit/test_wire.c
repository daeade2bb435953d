/*
 * test_wire.c - the protocol codec: deflate round trips, every kind of
 * bad body (truncated, corrupt, trailing bytes, oversized, a
 * decompression bomb, not UTF-8, NUL escapes, lone surrogates, too
 * deep, duplicate keys, wrong version), the field getters and their
 * messages, the signed string, enrollment codes and the CA MAC,
 * base64 and hex, and out-of-memory at every allocation of a decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/utf8.h"
#include "agent/core/wire.h"

#define UUID "01890a5d-ac96-774b-bcce-b302099a8057"

/* Decode text (plain) and return rc, keeping the fault. */
static int decode(const char *text, struct bs__wire_fault *f)
{
	cJSON *d = NULL;
	int rc = bs__wire_decode(&d, NULL, text, strlen(text), NULL, f);

	if (rc == BS_OK)
		assert_non_null(d);
	else
		assert_null(d);
	cJSON_Delete(d);
	return rc;
}

static void expect_fault(const char *text, int status, const char *cause)
{
	struct bs__wire_fault f = { 0, NULL };

	assert_int_equal(decode(text, &f), BS_EINVAL);
	assert_int_equal(f.status, status);
	assert_string_equal(f.cause, cause);
}

static void test_wire__deflate_round_trip(void **st)
{
	static const char text[] = "{\"v\":1,\"ops\":[\"reply\",\"reply\"]}";
	uint8_t *z = NULL, *back = NULL;
	size_t zn = 0, bn = 0;
	cJSON *d = NULL;
	int v = 0;

	(void)st;
	assert_int_equal(bs__wire_deflate(&z, &zn, text, strlen(text)),
			 BS_OK);
	assert_int_equal(bs__wire_inflate(&back, &bn, z, zn, 1000, NULL),
			 BS_OK);
	assert_int_equal(bn, strlen(text));
	assert_memory_equal(back, text, bn);
	assert_int_equal(back[bn], 0);
	assert_int_equal(bs__wire_decode(&d, &v, z, zn, "deflate", NULL),
			 BS_OK);
	assert_int_equal(v, 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "ops")),
			 2);
	cJSON_Delete(d);
	bs__free(z);
	bs__free(back);
}

/*
 * Every size around the points where the window changes, and past the
 * largest window, in text that repeats at long distances: what zlib
 * itself inflates gives the input back, and repetitive text shrinks.
 */
static void test_wire__deflate_sizes(void **st)
{
	static const size_t sizes[] = { 0, 1, 2, 255, 256, 257, 511, 512,
					513, 1023, 1025, 4096, 16383, 16385,
					32767, 32769, 100000, 300001 };
	uint8_t *in, *z = NULL, *back;
	uint32_t x = 12345;
	size_t k, i, zn = 0;

	(void)st;
	in = malloc(300001);
	back = malloc(300001);
	assert_non_null(in);
	assert_non_null(back);
	/* 20,000 bytes of noise over a 26-letter alphabet, repeated: only
	 * a window of 32 KiB finds the repeats. */
	for (i = 0; i < 300001; i++) {
		if (i < 20000) {
			x = x * 1103515245u + 12345u;
			in[i] = (uint8_t)('a' + (x >> 16) % 26);
		} else {
			in[i] = in[i - 20000];
		}
	}
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uLongf bn = 300001;

		assert_int_equal(bs__wire_deflate(&z, &zn, in, sizes[k]),
				 BS_OK);
		assert_int_equal(uncompress(back, &bn, z, (uLong)zn), Z_OK);
		assert_int_equal(bn, sizes[k]);
		assert_memory_equal(back, in, sizes[k]);
		if (sizes[k] >= 100000)
			assert_true(zn < sizes[k] / 3);
		bs__free(z);
		z = NULL;
	}
	free(in);
	free(back);
}

static void test_wire__encode_decode_both_ways(void **st)
{
	cJSON *doc = bs__wire_doc(BS__WIRE_VERSION), *back = NULL;
	uint8_t *body = NULL;
	size_t n = 0;
	int deflate;

	(void)st;
	assert_non_null(doc);
	cJSON_AddStringToObject(doc, "text", "张三 complained: 账户被冻结");
	for (deflate = 0; deflate < 2; deflate++) {
		assert_int_equal(bs__wire_encode(&body, &n, doc, deflate),
				 BS_OK);
		assert_int_equal(bs__wire_decode(&back, NULL, body, n,
						 deflate ? "deflate" : NULL,
						 NULL), BS_OK);
		assert_string_equal(cJSON_GetObjectItem(back, "text")
				    ->valuestring,
				    "张三 complained: 账户被冻结");
		cJSON_Delete(back);
		bs__free(body);
	}
	cJSON_Delete(doc);
}

static void test_wire__truncated_and_corrupt_deflate(void **st)
{
	static const char text[] = "{\"v\":1,\"a\":\"aaaaaaaaaaaaaaaaaaaaa\"}";
	struct bs__wire_fault f;
	uint8_t *z = NULL, *out = NULL, *junk;
	size_t zn = 0, on = 0, cut;
	cJSON *d = NULL;

	(void)st;
	assert_int_equal(bs__wire_deflate(&z, &zn, text, strlen(text)),
			 BS_OK);
	/* Every truncation is refused, never read past, never accepted. */
	for (cut = 0; cut < zn; cut++) {
		f.cause = NULL;
		assert_int_equal(bs__wire_decode(&d, NULL, z, cut, "deflate",
						 &f), BS_EINVAL);
		assert_null(d);
		assert_int_equal(f.status, 400);
		assert_true(strcmp(f.cause, "truncated") == 0 ||
			    strcmp(f.cause, "corrupt") == 0 ||
			    strcmp(f.cause, "malformed") == 0);
	}
	/* A flipped header byte. */
	z[0] ^= 0x55;
	assert_int_equal(bs__wire_inflate(&out, &on, z, zn, 1000, &f),
			 BS_EINVAL);
	assert_string_equal(f.cause, "corrupt");
	z[0] ^= 0x55;
	/* Bytes after the end of the stream. */
	junk = malloc(zn + 3);
	memcpy(junk, z, zn);
	memcpy(junk + zn, "abc", 3);
	assert_int_equal(bs__wire_inflate(&out, &on, junk, zn + 3, 1000, &f),
			 BS_EINVAL);
	assert_string_equal(f.cause, "corrupt");
	/* Not a stream at all, in the deflate encoding. */
	assert_int_equal(bs__wire_decode(&d, NULL, text, strlen(text),
					 "deflate", &f), BS_EINVAL);
	assert_string_equal(f.cause, "corrupt");
	free(junk);
	bs__free(z);
}

static void test_wire__bomb(void **st)
{
	/* 64 MiB of spaces compress to about 64 KiB: a bomb. */
	size_t big = (size_t)64 << 20, zn = 0, on = 0;
	char *plain = malloc(big);
	uint8_t *z = NULL, *out = NULL;
	struct bs__wire_fault f = { 0, NULL };
	cJSON *d = NULL;

	(void)st;
	assert_non_null(plain);
	memset(plain, ' ', big);
	memcpy(plain, "{\"v\":1}", 7);
	assert_int_equal(bs__wire_deflate(&z, &zn, plain, big), BS_OK);
	free(plain);
	assert_true(zn < BS__WIRE_MAX_BODY);
	assert_int_equal(bs__wire_decode(&d, NULL, z, zn, "deflate", &f),
			 BS_EINVAL);
	assert_int_equal(f.status, 413);
	assert_string_equal(f.cause, "too_large");
	/* A small limit stops at the limit. */
	assert_int_equal(bs__wire_inflate(&out, &on, z, zn, 100, &f),
			 BS_EINVAL);
	assert_string_equal(f.cause, "too_large");
	assert_null(out);
	bs__free(z);
}

static void test_wire__oversized_body(void **st)
{
	size_t n = BS__WIRE_MAX_BODY + 1;
	char *b = malloc(n);
	struct bs__wire_fault f = { 0, NULL };
	cJSON *d = NULL;

	(void)st;
	memset(b, ' ', n);
	assert_int_equal(bs__wire_decode(&d, NULL, b, n, NULL, &f),
			 BS_EINVAL);
	assert_int_equal(f.status, 413);
	assert_string_equal(f.cause, "too_large");
	free(b);
}

static void test_wire__unknown_encoding(void **st)
{
	struct bs__wire_fault f = { 0, NULL };
	cJSON *d = NULL;

	(void)st;
	assert_int_equal(bs__wire_decode(&d, NULL, "{\"v\":1}", 7, "gzip",
					 &f), BS_EINVAL);
	assert_int_equal(f.status, 415);
	assert_string_equal(f.cause, "encoding");
	assert_int_equal(bs__wire_decode(&d, NULL, "{\"v\":1}", 7,
					 "identity", &f), BS_OK);
	cJSON_Delete(d);
}

static void test_wire__malformed(void **st)
{
	static const char *const bad[] = {
		"", " ", "{", "{\"v\":1", "{\"v\":1,}", "{\"v\" 1}", "[1,2",
		"{\"v\":1}}", "{\"v\":1} x", "{\"v\":1}{\"v\":1}", "nul",
		"{\"v\":1,\"s\":\"abc}", "{\"v\":1,\"s\":\"\\q\"}",
		"{\"v\":1,\"s\":\"\\u12\"}", "{'v':1}", "{\"v\":01x}",
		NULL,
	};
	int i;

	(void)st;
	for (i = 0; bad[i] != NULL; i++) {
		struct bs__wire_fault f = { 0, NULL };

		assert_int_equal(decode(bad[i], &f), BS_EINVAL);
		assert_int_equal(f.status, 400);
		assert_string_equal(f.cause, "malformed");
	}
	/* Whitespace after the document is fine. */
	assert_int_equal(decode("{\"v\":1}\r\n", NULL), BS_OK);
}

static void test_wire__not_object(void **st)
{
	(void)st;
	expect_fault("[1]", 400, "not_object");
	expect_fault("\"v\"", 400, "not_object");
	expect_fault("42", 400, "not_object");
}

static void test_wire__not_utf8(void **st)
{
	(void)st;
	expect_fault("{\"v\":1,\"s\":\"\xff\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\xc0\xaf\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\xed\xa0\x80\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\xe4\xb8\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\\ud800\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\\udc00\\ud800\"}", 400, "not_utf8");
	expect_fault("{\"v\":1,\"s\":\"\\ud800x\"}", 400, "not_utf8");
	/* A proper pair is fine. */
	assert_int_equal(decode("{\"v\":1,\"s\":\"\\ud83d\\ude00\"}", NULL),
			 BS_OK);
	/* Escapes decode to valid UTF-8, in keys and strings alike (the
	 * decoder relies on it and does not look at them again). */
	{
		static const char text[] =
			"{\"v\":1,\"k\\u00e9\\ud83d\\ude00\":"
			"\"\\u00e9\\u4e2d\\ud83d\\ude00\\u001f\\n\"}";
		cJSON *d = NULL;
		const cJSON *m;

		assert_int_equal(bs__wire_decode(&d, NULL, text, strlen(text),
						 NULL, NULL),
				 BS_OK);
		m = d->child->next;
		assert_string_equal(m->string, "k\xc3\xa9\xf0\x9f\x98\x80");
		assert_string_equal(m->valuestring,
				    "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\x1f\n");
		assert_true(bs__utf8_valid(m->string, strlen(m->string), NULL));
		assert_true(bs__utf8_valid(m->valuestring,
					   strlen(m->valuestring), NULL));
		cJSON_Delete(d);
	}
}

static void test_wire__nul(void **st)
{
	struct bs__wire_fault f = { 0, NULL };
	cJSON *d = NULL;

	(void)st;
	expect_fault("{\"v\":1,\"s\":\"a\\u0000b\"}", 400, "malformed");
	/* A raw NUL byte. */
	assert_int_equal(bs__wire_decode(&d, NULL, "{\"v\":1,\"s\":\"a\0\"}",
					 16, NULL, &f), BS_EINVAL);
	assert_string_equal(f.cause, "not_utf8");
	/* An escaped backslash before u0000 is just text. */
	assert_int_equal(decode("{\"v\":1,\"s\":\"\\\\u0000\"}", NULL),
			 BS_OK);
}

static void test_wire__depth(void **st)
{
	char buf[256];
	int i, n = 0;

	(void)st;
	n += sprintf(buf + n, "{\"v\":1,\"a\":");
	for (i = 0; i < BS__WIRE_MAX_DEPTH - 1; i++)
		buf[n++] = '[';
	for (i = 0; i < BS__WIRE_MAX_DEPTH - 1; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	assert_int_equal(decode(buf, NULL), BS_OK);
	n = 0;
	n += sprintf(buf + n, "{\"v\":1,\"a\":");
	for (i = 0; i < BS__WIRE_MAX_DEPTH; i++)
		buf[n++] = '[';
	for (i = 0; i < BS__WIRE_MAX_DEPTH; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	expect_fault(buf, 400, "too_deep");
	/* Brackets inside strings do not count. */
	assert_int_equal(decode("{\"v\":1,\"s\":\"[[[[[[[[[[[[[[[[[[[[\"}",
				NULL), BS_OK);
}

static void test_wire__duplicate_keys(void **st)
{
	char *big;
	size_t n = 0;
	int i;

	(void)st;
	expect_fault("{\"v\":1,\"a\":1,\"a\":2}", 400, "malformed");
	expect_fault("{\"v\":1,\"o\":{\"b\":1,\"c\":2,\"b\":3}}", 400,
		     "malformed");
	big = malloc(16 * 300);
	n += (size_t)sprintf(big, "{\"v\":1");
	for (i = 0; i < 300; i++)
		n += (size_t)sprintf(big + n, ",\"k%d\":1", i);
	strcpy(big + n, "}");
	expect_fault(big, 400, "malformed");
	free(big);
}

static void test_wire__version(void **st)
{
	struct bs__wire_fault f = { 0, NULL };

	(void)st;
	expect_fault("{}", 400, "version");
	expect_fault("{\"v\":\"1\"}", 400, "version");
	expect_fault("{\"v\":1.5}", 400, "version");
	expect_fault("{\"v\":0}", 400, "version");
	expect_fault("{\"v\":2}", 400, "version");
	expect_fault("{\"v\":99999999999}", 400, "version");
	assert_int_equal(decode("{\"v\":2}", &f), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "version 2 is not served"));
}

static void test_wire__fields(void **st)
{
	cJSON *d = NULL;
	const char *s = NULL;
	const cJSON *o = NULL;
	int64_t n = 0;
	uint64_t h = 0;
	int b = 0, present = 7, idx = 0;
	static const char *const kinds[] = { "a", "b", NULL };

	(void)st;
	assert_int_equal(bs__wire_decode(&d, NULL,
		"{\"v\":1,\"s\":\"hello\",\"n\":42,\"f\":1.5,\"b\":true,"
		"\"u\":\"" UUID "\",\"h\":\"0001020304050607\","
		"\"c\":\"BR-01\",\"k\":\"b\",\"nul\":null,\"o\":{},"
		"\"a\":[1,2,3]}", strlen("{\"v\":1,\"s\":\"hello\",\"n\":42,"
		"\"f\":1.5,\"b\":true,\"u\":\"" UUID "\",\"h\":"
		"\"0001020304050607\",\"c\":\"BR-01\",\"k\":\"b\","
		"\"nul\":null,\"o\":{},\"a\":[1,2,3]}"), NULL, NULL), BS_OK);
	assert_int_equal(bs__wire_str(&s, d, "s", 5, 0), BS_OK);
	assert_string_equal(s, "hello");
	assert_int_equal(bs__wire_str(&s, d, "s", 4, 0), BS_EINVAL);
	assert_string_equal(bs_last_error(),
			    "field 's' must be a string of at most 4 bytes");
	assert_int_equal(bs__wire_str(&s, d, "n", 4, 0), BS_EINVAL);
	assert_int_equal(bs__wire_str(&s, d, "missing", 4, 0), BS_EINVAL);
	assert_string_equal(bs_last_error(), "field 'missing' is missing");
	assert_int_equal(bs__wire_str(&s, d, "missing", 4, 1), BS_OK);
	assert_null(s);
	assert_int_equal(bs__wire_str(&s, d, "nul", 4, 1), BS_OK);
	assert_null(s);
	assert_int_equal(bs__wire_int(&n, &present, d, "n", 0, 100, 0),
			 BS_OK);
	assert_int_equal(n, 42);
	assert_int_equal(present, 1);
	assert_int_equal(bs__wire_int(&n, NULL, d, "n", 0, 41, 0), BS_EINVAL);
	assert_int_equal(bs__wire_int(&n, NULL, d, "f", 0, 41, 0), BS_EINVAL);
	assert_int_equal(bs__wire_int(&n, &present, d, "x", 0, 1, 1), BS_OK);
	assert_int_equal(present, 0);
	assert_int_equal(bs__wire_bool(&b, d, "b", 0), BS_OK);
	assert_true(b);
	assert_int_equal(bs__wire_bool(&b, d, "n", 0), BS_EINVAL);
	assert_int_equal(bs__wire_uuid(&s, d, "u", 0), BS_OK);
	assert_int_equal(bs__wire_uuid(&s, d, "s", 0), BS_EINVAL);
	assert_int_equal(bs__wire_hlc(&h, d, "h"), BS_OK);
	assert_int_equal(h, 0x0001020304050607ull);
	assert_int_equal(bs__wire_hlc(&h, d, "s"), BS_EINVAL);
	assert_int_equal(bs__wire_code(&s, d, "c", 0), BS_OK);
	assert_int_equal(bs__wire_code(&s, d, "u", 0), BS_OK);
	assert_int_equal(bs__wire_enum(&idx, d, "k", kinds, 0), BS_OK);
	assert_int_equal(idx, 1);
	assert_int_equal(bs__wire_enum(&idx, d, "s", kinds, 0), BS_EINVAL);
	assert_int_equal(bs__wire_object(&o, d, "o", 0), BS_OK);
	assert_int_equal(bs__wire_object(&o, d, "a", 0), BS_EINVAL);
	assert_int_equal(bs__wire_array(&o, d, "a", 3, 0), BS_OK);
	assert_int_equal(bs__wire_array(&o, d, "a", 2, 0), BS_EINVAL);
	cJSON_Delete(d);
}

static void test_wire__codes(void **st)
{
	(void)st;
	assert_true(bs__wire_is_code("BR-001"));
	assert_true(bs__wire_is_code("staff.li@br_7:x"));
	assert_false(bs__wire_is_code(""));
	assert_false(bs__wire_is_code("has space"));
	assert_false(bs__wire_is_code("张"));
	assert_false(bs__wire_is_code(
		"0123456789012345678901234567890123456789012345678901234567890"
		"1234"));
}

static void test_wire__error_doc(void **st)
{
	cJSON *d = bs__wire_error_doc(1, BS_EREVOKED, "revoked",
				      "device was\nrevoked");
	char *long_msg = malloc(1000);

	(void)st;
	assert_string_equal(cJSON_GetObjectItem(d, "error")->valuestring,
			    "revoked");
	assert_string_equal(cJSON_GetObjectItem(d, "cause")->valuestring,
			    "revoked");
	assert_string_equal(cJSON_GetObjectItem(d, "message")->valuestring,
			    "device was revoked");
	assert_int_equal(cJSON_GetObjectItem(d, "v")->valueint, 1);
	cJSON_Delete(d);
	/* Cut at a character boundary, never in the middle of one. */
	memset(long_msg, 0, 1000);
	for (int i = 0; i < 100; i++)
		strcat(long_msg, "账户");
	d = bs__wire_error_doc(1, BS_EINVAL, NULL, long_msg);
	assert_null(cJSON_GetObjectItem(d, "cause"));
	assert_true(strlen(cJSON_GetObjectItem(d, "message")->valuestring) <=
		    300);
	assert_int_equal(strlen(cJSON_GetObjectItem(d, "message")
				->valuestring) % 3, 0);
	cJSON_Delete(d);
	free(long_msg);
	assert_int_equal(bs__wire_http_status(BS_EBADKEY), 401);
	assert_int_equal(bs__wire_http_status(BS_EREVOKED), 403);
	assert_int_equal(bs__wire_http_status(BS_ESCOPE), 403);
	assert_int_equal(bs__wire_http_status(BS_ECONFLICT), 409);
	assert_int_equal(bs__wire_http_status(BS_ERR), 500);
}

static void test_wire__canonical(void **st)
{
	char *s = NULL;
	const char *nonce = "00112233445566778899aabbccddeeff";

	(void)st;
	assert_int_equal(bs__wire_canonical(&s, "POST", "/v1/sync/push",
					    UUID, 1700000000000, nonce,
					    "abc", 3), BS_OK);
	assert_string_equal(s, "BS-SIG-1\nPOST\n/v1/sync/push\n" UUID
			    "\n1700000000000\n" "00112233445566778899aabbccddeeff"
			    "\nba7816bf8f01cfea414140de5dae2223b00361a396177a"
			    "9cb410ff61f20015ad");
	bs__free(s);
	/* An empty body hashes as the empty string. */
	assert_int_equal(bs__wire_canonical(&s, "GET",
					    "/v1/sync/pull?cursor=0", UUID,
					    0, nonce, NULL, 0), BS_OK);
	assert_non_null(strstr(s, "e3b0c44298fc1c149afbf4c8996fb924"));
	bs__free(s);
	/* Nothing that could make two requests sign the same string. */
	assert_int_equal(bs__wire_canonical(&s, "GET", "/a\nb", UUID, 0,
					    nonce, NULL, 0), BS_EINVAL);
	assert_int_equal(bs__wire_canonical(&s, "GET", "a", UUID, 0, nonce,
					    NULL, 0), BS_EINVAL);
	assert_int_equal(bs__wire_canonical(&s, "GET", "/a", "x y", 0, nonce,
					    NULL, 0), BS_EINVAL);
	assert_int_equal(bs__wire_canonical(&s, "GET", "/a", UUID, -1, nonce,
					    NULL, 0), BS_EINVAL);
	assert_int_equal(bs__wire_canonical(&s, "GET", "/a", UUID, 0,
					    "0011", NULL, 0), BS_EINVAL);
	assert_int_equal(bs__wire_canonical(&s, "GET", "/a", UUID, 0,
					    "00112233445566778899AABBCCDDEEFF",
					    NULL, 0), BS_EINVAL);
	assert_null(s);
}

static void test_wire__enroll_code(void **st)
{
	uint8_t rnd[BS__WIRE_CODE_RANDOM_LEN];
	char text[BS__WIRE_CODE_TEXT_LEN + 1];
	char id[BS__WIRE_CODE_ID_CHARS + 1], id2[BS__WIRE_CODE_ID_CHARS + 1];
	char sec[BS__WIRE_CODE_SECRET_CHARS + 1];
	char sec2[BS__WIRE_CODE_SECRET_CHARS + 1];
	char typed[64];
	uint8_t h1[32], h2[32];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(i * 37 + 11);
	bs__wire_code_make(text, id, sec, rnd);
	assert_int_equal(strlen(text), BS__WIRE_CODE_TEXT_LEN);
	assert_true(bs__wire_code_id_valid(id));
	assert_int_equal(strlen(sec), BS__WIRE_CODE_SECRET_CHARS);
	assert_int_equal(bs__wire_code_parse(id2, sec2, text), BS_OK);
	assert_string_equal(id, id2);
	assert_string_equal(sec, sec2);
	/* As a person types it: lower case, spaces, O for 0, l for 1. */
	for (i = 0; text[i] != '\0'; i++) {
		char c = text[i];

		typed[i] = c == '0' ? 'o' : c == '1' ? 'l' :
			   c == '-' ? ' ' : (char)(c >= 'A' && c <= 'Z' ?
						    c - 'A' + 'a' : c);
	}
	typed[i] = '\0';
	assert_int_equal(bs__wire_code_parse(id2, sec2, typed), BS_OK);
	assert_string_equal(id, id2);
	assert_string_equal(sec, sec2);
	assert_int_equal(bs__wire_code_parse(id2, sec2, "ABCD-EFGH"),
			 BS_EINVAL);
	assert_int_equal(bs__wire_code_parse(id2, sec2,
		"ABCD-EFGH-JKMN-PQRS-TVWX-Y"), BS_EINVAL);
	assert_int_equal(bs__wire_code_parse(id2, sec2,
		"ABCD-EFGH-JKMN-PQRS-TVWU"), BS_EINVAL);
	/* Zero random bytes make a valid code too. */
	memset(rnd, 0, sizeof(rnd));
	bs__wire_code_make(text, id, sec, rnd);
	assert_string_equal(text, "0000-0000-0000-0000-0000");
	memset(rnd, 0xff, sizeof(rnd));
	bs__wire_code_make(text, id, sec, rnd);
	assert_string_equal(text, "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
	/* Hash binds both parts. */
	bs__wire_code_hash(h1, "ABCD", "0000000000000000");
	bs__wire_code_hash(h2, "ABCD", "0000000000000001");
	assert_false(bs__wire_ct_equal(h1, h2, 32));
	bs__wire_code_hash(h2, "ABCD", "0000000000000000");
	assert_true(bs__wire_ct_equal(h1, h2, 32));
}

static void test_wire__ca_mac(void **st)
{
	uint8_t a[32], b[32];
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

	(void)st;
	bs__wire_ca_mac(a, "SECRETSECRET0000", der, sizeof(der));
	bs__wire_ca_mac(b, "SECRETSECRET0000", der, sizeof(der));
	assert_memory_equal(a, b, 32);
	bs__wire_ca_mac(b, "SECRETSECRET0001", der, sizeof(der));
	assert_memory_not_equal(a, b, 32);
	bs__wire_ca_mac(b, "SECRETSECRET0000", der, sizeof(der) - 1);
	assert_memory_not_equal(a, b, 32);
}

static void test_wire__hex_b64(void **st)
{
	uint8_t raw[5] = { 0, 1, 0xab, 0xcd, 0xff }, back[5];
	char hex[11];
	char *b = NULL;
	uint8_t *d = NULL;
	size_t n = 0;

	(void)st;
	bs__wire_hex(hex, raw, 5);
	assert_string_equal(hex, "0001abcdff");
	assert_int_equal(bs__wire_unhex(back, 5, hex, 10), BS_OK);
	assert_memory_equal(back, raw, 5);
	assert_int_equal(bs__wire_unhex(back, 5, "0001ABCDFF", 10),
			 BS_EINVAL);
	assert_int_equal(bs__wire_unhex(back, 5, hex, 9), BS_EINVAL);
	assert_int_equal(bs__wire_b64(&b, raw, 5), BS_OK);
	assert_string_equal(b, "AAGrzf8=");
	assert_int_equal(bs__wire_unb64(&d, &n, b, strlen(b), 5), BS_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(d, raw, 5);
	bs__free(d);
	assert_int_equal(bs__wire_unb64(&d, &n, b, strlen(b), 4), BS_EINVAL);
	assert_int_equal(bs__wire_unb64(&d, &n, "AAGrzf8", 7, 5), BS_EINVAL);
	assert_int_equal(bs__wire_unb64(&d, &n, "AA*rzf8=", 8, 5), BS_EINVAL);
	assert_int_equal(bs__wire_unb64(&d, &n, "AAGr zf8", 8, 5), BS_EINVAL);
	assert_int_equal(bs__wire_unb64(&d, &n, "", 0, 5), BS_EINVAL);
	bs__free(b);
}

static void test_wire__out_of_memory(void **st)
{
	static const char text[] =
		"{\"v\":1,\"ops\":[{\"a\":\"x\",\"b\":[1,2]},{\"c\":null}]}";
	uint8_t *z = NULL;
	size_t zn = 0;
	long k;
	int enc, ok = 0;

	(void)st;
	assert_int_equal(bs__wire_deflate(&z, &zn, text, strlen(text)),
			 BS_OK);
	/* Fail each allocation in turn: an error, never a crash or leak. */
	for (enc = 0; enc < 2; enc++) {
		for (k = 1; k < 200; k++) {
			cJSON *d = NULL;
			int rc;

			bs__alloc_fail_after(k, 0);
			rc = enc ? bs__wire_decode(&d, NULL, z, zn, "deflate",
						   NULL) :
				   bs__wire_decode(&d, NULL, text,
						   strlen(text), NULL, NULL);
			bs__alloc_fail_after(0, 0);
			if (rc == BS_OK) {
				cJSON_Delete(d);
				ok++;
				break;
			}
			assert_null(d);
			assert_true(rc == BS_ENOMEM || rc == BS_EINVAL);
		}
	}
	assert_int_equal(ok, 2);
	bs__free(z);
}

/* The size estimate a pull page is cut by: never below the printed
 * size, and not far above it. */
/*
 * The text writer (struct bs__jw) prints what cJSON prints for the same
 * members: strings with and without escapes, null, integers at both
 * ends of the range a page carries; and after a failed allocation it
 * stops, says so, and leaks nothing.
 */
static void test_wire__json_writer(void **state)
{
	static const char *const strs[] = {
		"", "plain", "ATM 吞卡，客户要求退还",
		"客户：\"卡被吞了\"\n坐席：\t好的\r\n",
		"\x01\x02\x1b\x1f\b\f/\\end",
	};
	static const int64_t ints[] = {
		0, 7, -1, 1795000000000LL, -999999999999999LL,
		999999999999999LL,
	};
	struct bs__jw w = { NULL, 0, 0, 0 };
	cJSON *d;
	char *want, key[16];
	size_t i;
	int first = 1;
	long k;

	(void)state;
	bs__json_init();
	d = cJSON_CreateObject();
	bs__jw_raw(&w, "{", 1);
	for (i = 0; i < BS__ARRAY_LEN(strs); i++) {
		snprintf(key, sizeof(key), "s%zu", i);
		assert_int_equal(bs__json_put_str(d, key, strs[i]), BS_OK);
		bs__jw_key(&w, &first, key);
		bs__jw_str(&w, strs[i]);
	}
	assert_int_equal(bs__json_put_str(d, "none", NULL), BS_OK);
	bs__jw_key(&w, &first, "none");
	bs__jw_str(&w, NULL);
	assert_int_equal(bs__json_put_bool(d, "yes", 1), BS_OK);
	bs__jw_key(&w, &first, "yes");
	bs__jw_bool(&w, 1);
	assert_int_equal(bs__json_put_bool(d, "no", 0), BS_OK);
	bs__jw_key(&w, &first, "no");
	bs__jw_bool(&w, 0);
	for (i = 0; i < BS__ARRAY_LEN(ints); i++) {
		snprintf(key, sizeof(key), "i%zu", i);
		assert_int_equal(bs__json_put_int(d, key, ints[i]), BS_OK);
		bs__jw_key(&w, &first, key);
		bs__jw_int(&w, ints[i]);
	}
	bs__jw_raw(&w, "}", 1);
	assert_false(w.failed);
	assert_int_equal(bs__json_print(&want, d), BS_OK);
	assert_string_equal(w.buf, want);
	assert_int_equal(w.len, strlen(want));
	bs__free(want);
	cJSON_Delete(d);
	bs__jw_free(&w);
	assert_null(w.buf);
	/* Each character to escape at every place in and around the
	 * eight-byte blocks the writer scans; and none, next to the
	 * bytes just above them. */
	{
		static const char special[] = { '"', '\\', '\n', 0x1f, 0x01,
						' ' };
		char text[24], *one;
		size_t p, c;

		for (c = 0; c < sizeof(special); c++) {
			for (p = 0; p < 20; p++) {
				memset(text, '!', sizeof(text));
				memcpy(text, "#]\x7f", 3);
				text[p] = special[c];
				text[20] = '\0';
				d = cJSON_CreateString(text);
				assert_int_equal(bs__json_print(&one, d),
						 BS_OK);
				bs__jw_str(&w, text);
				assert_string_equal(w.buf, one);
				bs__free(one);
				cJSON_Delete(d);
				bs__jw_free(&w);
			}
		}
	}
	/* Wider integers exactly, where cJSON would round to 15 digits. */
	bs__jw_int(&w, 9007199254740992LL);
	bs__jw_raw(&w, " ", 1);
	bs__jw_int(&w, INT64_MIN);
	assert_string_equal(w.buf, "9007199254740992 -9223372036854775808");
	bs__jw_free(&w);

	/* Out of memory at the first allocation and at a later one. */
	for (k = 1; k <= 2; k++) {
		bs__alloc_fail_after(k, 0);
		for (i = 0; i < 2000; i++)
			bs__jw_str(&w, strs[2]);
		bs__jw_int(&w, 12);
		bs__alloc_fail_after(0, 0);
		assert_true(w.failed);
		bs__jw_free(&w);
	}
}

/*
 * A document parsed into an arena is the tree a plain parse gives,
 * whatever it holds: a string too long for a shared chunk, more values
 * than one chunk holds, escapes.  A failed parse leaves nothing behind
 * once its arena is freed (the sanitizer run checks leaks).  A pool
 * hands a freed arena's chunks to the next arena: once it is warm, a
 * parse allocates nothing but the arena itself, which without the pool
 * fails for want of memory.
 */
static void test_wire__arena(void **st)
{
	static const char *const bad[] = {
		"{\"a\":[1,2,", "{\"a\":\"open", "[{\"k\":tru}]", "{\"a\":1}}",
	};
	struct bs__json_pool *pool;
	struct bs__json_arena *a;
	static const char item[] = ",\"s\":\"客户 \\\"甲\\\"\\n\"}";
	struct bs__jw w = { NULL, 0, 0, 0 };
	cJSON *plain, *in;
	const char *end;
	char *p1, *p2;
	size_t i, many;
	int first = 1;

	(void)st;
	bs__json_init();
	pool = bs__json_pool_new();
	assert_non_null(pool);
	/* Many small values first: the document the warm pool parses
	 * again is this part alone. */
	bs__jw_raw(&w, "{", 1);
	bs__jw_key(&w, &first, "items");
	bs__jw_raw(&w, "[", 1);
	for (i = 0; i < 20000; i++) {
		bs__jw_raw(&w, i ? ",{\"i\":" : "{\"i\":", i ? 6 : 5);
		bs__jw_int(&w, (int64_t)i);
		bs__jw_raw(&w, item, strlen(item));
	}
	bs__jw_raw(&w, "]", 1);
	many = w.len;
	bs__jw_key(&w, &first, "big");
	bs__jw_raw(&w, "\"", 1);
	for (i = 0; i < 100000; i++)
		bs__jw_raw(&w, "x", 1);
	bs__jw_raw(&w, "\"}", 2);
	assert_false(w.failed);

	plain = cJSON_ParseWithLengthOpts(w.buf, w.len, NULL, 0);
	assert_non_null(plain);
	a = bs__json_arena_new(pool);
	assert_non_null(a);
	in = bs__json_parse_in(a, w.buf, w.len, &end);
	assert_non_null(in);
	assert_ptr_equal(end, w.buf + w.len);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(in, "items")),
			 20000);
	assert_int_equal(strlen(cJSON_GetObjectItem(in, "big")->valuestring),
			 100000);
	p1 = cJSON_PrintUnformatted(plain);
	p2 = cJSON_PrintUnformatted(in);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_string_equal(p1, p2);
	cJSON_free(p1);
	cJSON_free(p2);
	cJSON_Delete(plain);
	bs__json_arena_free(a);

	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		a = bs__json_arena_new(pool);
		assert_non_null(a);
		in = bs__json_parse_in(a, bad[i], strlen(bad[i]), &end);
		if (in != NULL) /* text after the value: end says where */
			assert_true(end < bad[i] + strlen(bad[i]));
		bs__json_arena_free(a);
	}

	/* The items again, "]}" closing them, with only one allocation
	 * allowed: the arena's. */
	memcpy(w.buf + many, "}", 2);
	bs__alloc_fail_after(2, 1);
	a = bs__json_arena_new(pool);
	assert_non_null(a);
	in = bs__json_parse_in(a, w.buf, many + 1, &end);
	bs__alloc_fail_after(0, 0);
	assert_non_null(in);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(in, "items")),
			 20000);
	bs__json_arena_free(a);

	bs__json_oom_clear();
	bs__alloc_fail_after(2, 1);
	a = bs__json_arena_new(NULL);
	assert_non_null(a);
	in = bs__json_parse_in(a, w.buf, many + 1, &end);
	bs__alloc_fail_after(0, 0);
	assert_null(in);
	assert_true(bs__json_oom());
	bs__json_oom_clear();
	bs__json_arena_free(a);

	bs__jw_free(&w);
	bs__json_pool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire__deflate_round_trip),
		cmocka_unit_test(test_wire__deflate_sizes),
		cmocka_unit_test(test_wire__encode_decode_both_ways),
		cmocka_unit_test(test_wire__truncated_and_corrupt_deflate),
		cmocka_unit_test(test_wire__bomb),
		cmocka_unit_test(test_wire__oversized_body),
		cmocka_unit_test(test_wire__unknown_encoding),
		cmocka_unit_test(test_wire__malformed),
		cmocka_unit_test(test_wire__not_object),
		cmocka_unit_test(test_wire__not_utf8),
		cmocka_unit_test(test_wire__nul),
		cmocka_unit_test(test_wire__depth),
		cmocka_unit_test(test_wire__duplicate_keys),
		cmocka_unit_test(test_wire__version),
		cmocka_unit_test(test_wire__fields),
		cmocka_unit_test(test_wire__codes),
		cmocka_unit_test(test_wire__error_doc),
		cmocka_unit_test(test_wire__canonical),
		cmocka_unit_test(test_wire__enroll_code),
		cmocka_unit_test(test_wire__ca_mac),
		cmocka_unit_test(test_wire__hex_b64),
		cmocka_unit_test(test_wire__out_of_memory),
		cmocka_unit_test(test_wire__json_writer),
		cmocka_unit_test(test_wire__arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
