/*
 * common.h - internals every part of branchsync uses: the allocation
 * wrapper (so tests can inject out-of-memory), the thread-local last
 * error, and small byte-order helpers for what goes to disk and wire.
 */
#ifndef BS_CORE_COMMON_H
#define BS_CORE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "branchsync/error.h"

#if defined(__GNUC__)
#define BS__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BS__PRINTF(a, b)
#endif

/* Allocation: NULL on failure (or injected failure), like malloc. */
void *bs__malloc(size_t n);
void *bs__calloc(size_t n, size_t size);
void *bs__realloc(void *p, size_t n);
char *bs__strdup(const char *s);
void bs__free(void *p);

/*
 * Fail the n-th allocation from now (1 = the next one) and every one
 * after it while sticky is set; 0 turns injection off.  Tests only.
 */
void bs__alloc_fail_after(long n, int sticky);

/*
 * Record rc and a printf-style one-line message as this thread's last
 * error, and return rc so callers can write "return bs__error(...)".
 */
int bs__error(int rc, const char *fmt, ...) BS__PRINTF(2, 3);

/* Record rc with no detail: bs_last_error() then gives bs_strerror(rc). */
int bs__error_code(int rc);

/* Forget the last error of this thread. */
void bs__error_clear(void);

/* Big-endian encoding: explicit byte order for every on-disk format. */
static inline void bs__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void bs__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void bs__put_be64(uint8_t *p, uint64_t v)
{
	bs__put_be32(p, (uint32_t)(v >> 32));
	bs__put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t bs__get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t bs__get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t bs__get_be64(const uint8_t *p)
{
	return ((uint64_t)bs__get_be32(p) << 32) | bs__get_be32(p + 4);
}

#define BS__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define BS__STR_(x) #x
#define BS__STR(x) BS__STR_(x)

#endif
