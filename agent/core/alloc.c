/*
 * alloc.c - the one allocation wrapper.  Every allocation of branchsync
 * goes through here so that tests can make the n-th one fail and check
 * that each caller reports BS_ENOMEM and leaks nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Countdown to the injected failure; 0 means injection is off. */
static _Thread_local long fail_countdown;
static _Thread_local int fail_sticky;

void bs__alloc_fail_after(long n, int sticky)
{
	fail_countdown = n;
	fail_sticky = sticky;
}

static int should_fail(void)
{
	if (fail_countdown <= 0)
		return 0;
	if (fail_countdown == 1) {
		if (!fail_sticky)
			fail_countdown = 0;
		return 1;
	}
	fail_countdown--;
	return 0;
}

void *bs__malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *bs__calloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *bs__realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *bs__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bs__malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void bs__free(void *p)
{
	free(p);
}
