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
 * The bytes s takes printed as a JSON string, quotes included.  cJSON
 * writes a quote, a backslash and \b \f \n \r \t as two bytes, the other
 * control characters as six (\u001b), everything else as it is: a
 * transcript of control characters prints six times its length, enough
 * to take a page past what a device inflates if they were not counted.
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

size_t bs__json_size(const cJSON *o)
{
	const cJSON *c;
	size_t n;

	if (o == NULL)
		return 0;
	if (cJSON_IsRaw(o))
		return o->valuestring ? strlen(o->valuestring) : 0;
	if (cJSON_IsString(o))
		return string_size(o->valuestring);
	/* The widest number cJSON prints: -1.2345678901234567e-308. */
	if (cJSON_IsNumber(o))
		return 24;
	if (!cJSON_IsArray(o) && !cJSON_IsObject(o))
		return 5; /* null, true, false */
	n = 2;
	for (c = o->child; c != NULL; c = c->next) {
		n += bs__json_size(c) + 1;
		if (c->string != NULL)
			n += string_size(c->string) + 1;
	}
	return n;
}
