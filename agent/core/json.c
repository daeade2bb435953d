/*
 * json.c - cJSON allocation hooks and the put/print helpers of json.h.
 */
#include <math.h>
#include <string.h>
#include <threads.h>

#include "common.h"
#include "json.h"

static once_flag hooks_once = ONCE_FLAG_INIT;
static _Thread_local int failed;

/* cJSON answers NULL both for bad text and for no memory; this flag
 * tells the two apart. */
static void *json_malloc(size_t n)
{
	void *p = bs__malloc(n);

	if (p == NULL)
		failed = 1;
	return p;
}

static void set_hooks(void)
{
	cJSON_Hooks h = { json_malloc, bs__free };

	cJSON_InitHooks(&h);
}

void bs__json_init(void)
{
	call_once(&hooks_once, set_hooks);
}

void bs__json_oom_clear(void)
{
	failed = 0;
}

int bs__json_oom(void)
{
	return failed;
}

int bs__json_put(cJSON *o, const char *k, cJSON *v)
{
	if (v == NULL)
		return bs__error_code(BS_ENOMEM);
	if (!cJSON_AddItemToObject(o, k, v)) {
		cJSON_Delete(v);
		return bs__error_code(BS_ENOMEM);
	}
	return BS_OK;
}

int bs__json_put_str(cJSON *o, const char *k, const char *s)
{
	return bs__json_put(o, k,
			    s != NULL ? cJSON_CreateString(s)
				      : cJSON_CreateNull());
}

int bs__json_put_int(cJSON *o, const char *k, int64_t v)
{
	return bs__json_put(o, k, cJSON_CreateNumber((double)v));
}

int bs__json_put_bool(cJSON *o, const char *k, int v)
{
	return bs__json_put(o, k, cJSON_CreateBool(v ? 1 : 0));
}

int bs__json_put_null(cJSON *o, const char *k)
{
	return bs__json_put(o, k, cJSON_CreateNull());
}

int bs__json_push(cJSON *a, cJSON *v)
{
	if (v == NULL)
		return bs__error_code(BS_ENOMEM);
	if (!cJSON_AddItemToArray(a, v)) {
		cJSON_Delete(v);
		return bs__error_code(BS_ENOMEM);
	}
	return BS_OK;
}

int bs__json_print(char **out, const cJSON *o)
{
	bs__json_init();
	*out = cJSON_PrintUnformatted(o);
	if (*out == NULL)
		return bs__error_code(BS_ENOMEM);
	return BS_OK;
}

int bs__json_int(const cJSON *j, int64_t min, int64_t max, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return 0;
	d = j->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)min ||
	    d > (double)max)
		return 0;
	*out = (int64_t)d;
	return 1;
}

/*
 * The bytes s takes printed as a JSON string, quotes included, escaped
 * as cJSON escapes it (and bs__jw_str() too): a quote, a backslash and
 * \b \f \n \r \t as two bytes, the other control characters as six
 * (\u001b), everything else as it is.
 */
static size_t string_size(const char *s)
{
	size_t n = 2;

	if (s == NULL)
		return n;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\' || ch == '\b' || ch == '\f' ||
		    ch == '\n' || ch == '\r' || ch == '\t')
			n += 2;
		else if (ch < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

/* --- writing text directly ------------------------------------------- */

/* Room for n more bytes and the NUL; 0 once failed. */
static int jw_room(struct bs__jw *w, size_t n)
{
	size_t cap;
	char *nb;

	if (w->failed)
		return 0;
	if (w->len + n + 1 <= w->cap)
		return 1;
	cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			w->failed = 1;
			return 0;
		}
		cap *= 2;
	}
	if ((nb = bs__realloc(w->buf, cap)) == NULL) {
		w->failed = 1;
		return 0;
	}
	w->buf = nb;
	w->cap = cap;
	return 1;
}

void bs__jw_raw(struct bs__jw *w, const char *s, size_t n)
{
	if (!jw_room(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/*
 * Whether any of the n bytes at s must be escaped in a JSON string (a
 * quote, a backslash, a control character), eight bytes at a time: a
 * byte below 0x20, or equal to '"' or '\\' once XORed to zero, borrows
 * into its own top bit, and only a true match starts a borrow.
 */
static int has_escape(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v, q, b;

		memcpy(&v, s + i, 8);
		q = v ^ (ones * '"');
		b = v ^ (ones * '\\');
		if ((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) |
		     ((b - ones) & ~b)) & highs)
			return 1;
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"' || c == '\\')
			return 1;
	}
	return 0;
}

void bs__jw_str(struct bs__jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t n;
	char *o;

	if (s == NULL) {
		bs__jw_raw(w, "null", 4);
		return;
	}
	n = strlen(s);
	if (!has_escape(s, n)) {
		/* Nothing to escape: the common case, copied whole. */
		if (!jw_room(w, n + 2))
			return;
		o = w->buf + w->len;
		*o = '"';
		memcpy(o + 1, s, n);
		o[n + 1] = '"';
		o[n + 2] = '\0';
		w->len += n + 2;
		return;
	}
	if (!jw_room(w, string_size(s)))
		return;
	o = w->buf + w->len;
	*o++ = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\b': *o++ = '\\'; *o++ = 'b'; break;
		case '\f': *o++ = '\\'; *o++ = 'f'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		default:
			if (*p < 0x20) {
				memcpy(o, "\\u00", 4);
				o[4] = hex[*p >> 4];
				o[5] = hex[*p & 15];
				o += 6;
			} else {
				*o++ = (char)*p;
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->buf);
}

void bs__jw_int(struct bs__jw *w, int64_t v)
{
	char t[24], *e = t + sizeof(t), *p = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	bs__jw_raw(w, p, (size_t)(e - p));
}

void bs__jw_bool(struct bs__jw *w, int v)
{
	bs__jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void bs__jw_key(struct bs__jw *w, int *first, const char *k)
{
	if (!*first)
		bs__jw_raw(w, ",", 1);
	*first = 0;
	bs__jw_str(w, k);
	bs__jw_raw(w, ":", 1);
}

void bs__jw_free(struct bs__jw *w)
{
	bs__free(w->buf);
	memset(w, 0, sizeof(*w));
}
