/*
 * json.h - small helpers around cJSON, shared by the agent and the hub.
 *
 * cJSON's allocations are routed through bs__malloc/bs__free (set once,
 * by bs__json_init()), so out-of-memory injection reaches them and text
 * printed by cJSON may be released with bs__free() or bs_free().
 *
 * The put helpers add a value to an object and report failure as an
 * error code, so that a builder can chain them and stop at the first
 * out-of-memory; they never leak the value on failure.  Times and counts
 * go out as JSON numbers; every int64_t this project puts into JSON is
 * below 2^53 and so exact in a double.
 */
#ifndef BS_CORE_JSON_H
#define BS_CORE_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Route cJSON's allocations through bs__malloc.  Idempotent and
 * thread-safe; call it before the first cJSON use.  Cannot fail. */
void bs__json_init(void);

/*
 * Whether a cJSON allocation failed in this thread since the last
 * bs__json_oom_clear(): after cJSON_Parse() returns NULL, this says
 * "out of memory" rather than "not JSON".  Cannot fail.
 */
void bs__json_oom_clear(void);
int bs__json_oom(void);

/*
 * Arenas, for documents parsed in bulk (pull pages hold tens of
 * thousands of values).  A tree parsed into an arena takes its nodes and
 * strings from large chunks, not one allocation each, and is freed only
 * by freeing its arena: never with cJSON_Delete(), and never changed.
 * The chunks of a freed arena go back to its pool, if it has one, for
 * the next arena to reuse: memory the process has touched already, so a
 * stream of pages does not fault in fresh memory for every page.  A pool
 * may be shared by arenas of several threads; it is freed after every
 * arena that uses it.
 */
struct bs__json_pool;
struct bs__json_arena;

/* NULL if out of memory. */
struct bs__json_pool *bs__json_pool_new(void);
void bs__json_pool_free(struct bs__json_pool *pool);

/* An empty arena drawing on pool (NULL: none).  NULL if out of memory. */
struct bs__json_arena *bs__json_arena_new(struct bs__json_pool *pool);
void bs__json_arena_free(struct bs__json_arena *a);

/*
 * cJSON_ParseWithLengthOpts(text, len, end, 0) with the tree in a (a
 * failed parse leaves what it took in a, freed with it).
 */
cJSON *bs__json_parse_in(struct bs__json_arena *a, const char *text,
			 size_t len, const char **end);

/* Add v under key k to object o; v NULL means out of memory.
 * BS_OK or BS_ENOMEM (v is freed). */
int bs__json_put(cJSON *o, const char *k, cJSON *v);

/* s NULL puts JSON null. */
int bs__json_put_str(cJSON *o, const char *k, const char *s);
int bs__json_put_int(cJSON *o, const char *k, int64_t v);
int bs__json_put_bool(cJSON *o, const char *k, int v);
int bs__json_put_null(cJSON *o, const char *k);

/* Append v to array a; v NULL means out of memory.  BS_OK or BS_ENOMEM
 * (v is freed). */
int bs__json_push(cJSON *a, cJSON *v);

/*
 * The object as compact text in a new bs__malloc'd string (*out).
 * BS_OK or BS_ENOMEM.
 */
int bs__json_print(char **out, const cJSON *o);

/*
 * A document written as text straight into a growing buffer, for one too
 * large to build as a tree first (a pull page holds tens of thousands
 * of members; building, printing and freeing the tree cost the hub more
 * than reading the rows).  The text is what bs__json_print() prints for
 * the same members: strings escaped as cJSON escapes them, integers in
 * decimal.  After a failed allocation every call is a no-op and failed
 * stays set, so a writer checks once at the end.
 */
struct bs__jw {
	char *buf;      /* NUL-terminated while not failed; bs__malloc'd */
	size_t len, cap;
	int failed;
};

/* Raw text, as it is (punctuation, a member already valid JSON). */
void bs__jw_raw(struct bs__jw *w, const char *s, size_t n);
/* s as a JSON string; NULL as null. */
void bs__jw_str(struct bs__jw *w, const char *s);
void bs__jw_int(struct bs__jw *w, int64_t v);
void bs__jw_bool(struct bs__jw *w, int v);
/* A member's key: a comma first unless *first (then cleared). */
void bs__jw_key(struct bs__jw *w, int *first, const char *k);
void bs__jw_free(struct bs__jw *w);

/*
 * j as an integer: a JSON number with no fraction between min and max.
 * 1 and *out set if so, else 0.
 */
int bs__json_int(const cJSON *j, int64_t min, int64_t max, int64_t *out);

#endif
