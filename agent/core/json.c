/*
 * json.c - cJSON allocation hooks and the put/print helpers of json.h.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <threads.h>

#include "common.h"
#include "json.h"

static once_flag hooks_once = ONCE_FLAG_INIT;
static _Thread_local int failed;
/* The arena this thread parses into, while bs__json_parse_in() runs. */
static _Thread_local struct bs__json_arena *parsing;

static void *arena_alloc(struct bs__json_arena *a, size_t n);

/* cJSON answers NULL both for bad text and for no memory; this flag
 * tells the two apart. */
static void *json_malloc(size_t n)
{
	void *p = parsing != NULL ? arena_alloc(parsing, n) : bs__malloc(n);

	if (p == NULL)
		failed = 1;
	return p;
}

static void arena_give_back(struct bs__json_arena *a, void *p);

/* While a parse into an arena runs, all cJSON frees on this thread are
 * of what that parse took from the arena: the scratch buffer it takes
 * and frees at once for every number, a string or a subtree it gives up
 * on.  They go with the arena; the newest block is handed out again. */
static void json_free(void *p)
{
	if (parsing == NULL)
		bs__free(p);
	else
		arena_give_back(parsing, p);
}

static void set_hooks(void)
{
	cJSON_Hooks h = { json_malloc, json_free };

	cJSON_InitHooks(&h);
}

void bs__json_init(void)
{
	call_once(&hooks_once, set_hooks);
}

/* --- arenas ---------------------------------------------------------- */

/*
 * Chunks of CHUNK_BYTES, carved from the front; a request over a quarter
 * of that (a long string) gets a block of its own, not pooled.  A pool
 * keeps at most POOL_MAX chunks; pages in flight use a few dozen.
 */
#define CHUNK_BYTES (256u * 1024u)
#define POOL_MAX 64u
#define ALIGN_TO _Alignof(max_align_t)
#define ROUND(n) (((n) + ALIGN_TO - 1) & ~(size_t)(ALIGN_TO - 1))

struct chunk {
	struct chunk *next;
};

#define CHUNK_HDR ROUND(sizeof(struct chunk))

struct bs__json_pool {
	pthread_mutex_t mu;
	struct chunk *free;
	unsigned n;
};

struct bs__json_arena {
	struct bs__json_pool *pool;
	struct chunk *chunks;   /* CHUNK_BYTES each */
	struct chunk *own;      /* blocks of their own size */
	char *at, *end;         /* what is left of the newest chunk */
	char *last;             /* the block carved last from it, or NULL */
};

struct bs__json_pool *bs__json_pool_new(void)
{
	struct bs__json_pool *p = bs__calloc(1, sizeof(*p));

	if (p != NULL && pthread_mutex_init(&p->mu, NULL) != 0) {
		bs__free(p);
		p = NULL;
	}
	return p;
}

static void chunks_free(struct chunk *c)
{
	struct chunk *next;

	for (; c != NULL; c = next) {
		next = c->next;
		bs__free(c);
	}
}

void bs__json_pool_free(struct bs__json_pool *p)
{
	if (p == NULL)
		return;
	chunks_free(p->free);
	pthread_mutex_destroy(&p->mu);
	bs__free(p);
}

struct bs__json_arena *bs__json_arena_new(struct bs__json_pool *pool)
{
	struct bs__json_arena *a = bs__calloc(1, sizeof(*a));

	if (a != NULL)
		a->pool = pool;
	return a;
}

static struct chunk *chunk_take(struct bs__json_pool *p)
{
	struct chunk *c = NULL;

	if (p != NULL) {
		pthread_mutex_lock(&p->mu);
		if ((c = p->free) != NULL) {
			p->free = c->next;
			p->n--;
		}
		pthread_mutex_unlock(&p->mu);
	}
	return c != NULL ? c : bs__malloc(CHUNK_HDR + CHUNK_BYTES);
}

void bs__json_arena_free(struct bs__json_arena *a)
{
	struct bs__json_pool *p;
	struct chunk *c, *next;

	if (a == NULL)
		return;
	chunks_free(a->own);
	c = a->chunks;
	if ((p = a->pool) != NULL) {
		pthread_mutex_lock(&p->mu);
		for (; c != NULL && p->n < POOL_MAX; c = next, p->n++) {
			next = c->next;
			c->next = p->free;
			p->free = c;
		}
		pthread_mutex_unlock(&p->mu);
	}
	chunks_free(c);
	bs__free(a);
}

static void *arena_alloc(struct bs__json_arena *a, size_t n)
{
	struct chunk *c;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = n == 0 ? ALIGN_TO : ROUND(n);
	if (n <= (size_t)(a->end - a->at)) {
		p = a->last = a->at;
		a->at += n;
		return p;
	}
	if (n > CHUNK_BYTES / 4) {
		if ((c = bs__malloc(CHUNK_HDR + n)) == NULL)
			return NULL;
		c->next = a->own;
		a->own = c;
		return (char *)c + CHUNK_HDR;
	}
	if ((c = chunk_take(a->pool)) == NULL)
		return NULL;
	c->next = a->chunks;
	a->chunks = c;
	a->last = (char *)c + CHUNK_HDR;
	a->at = a->last + n;
	a->end = (char *)c + CHUNK_HDR + CHUNK_BYTES;
	return a->last;
}

/* Freeing the block carved last makes its room the next one's. */
static void arena_give_back(struct bs__json_arena *a, void *p)
{
	if (p != NULL && p == a->last) {
		a->at = a->last;
		a->last = NULL;
	}
}

cJSON *bs__json_parse_in(struct bs__json_arena *a, const char *text,
			 size_t len, const char **end)
{
	struct bs__json_arena *was;
	cJSON *doc;

	bs__json_init();
	was = parsing;
	parsing = a;
	doc = cJSON_ParseWithLengthOpts(text, len, end, 0);
	parsing = was;
	return doc;
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
