/*
 * test_os.c - what the platform layer promises a long-running server
 * about its allocator: once bs_os_reuse_freed_memory() is called, a
 * buffer of a couple of megabytes comes from the heap, not a mapping of
 * its own, and once freed it stays in the process for the next one.
 * glibc is the C library that offers the choice; under the sanitizers
 * the allocator is theirs, so the figures of glibc's heap say nothing
 * there and only the call itself is exercised.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#include <malloc.h>
#define GLIBC_HEAP 1
#endif

#include "platform/os.h"

#define BUF ((size_t)2 << 20)

static void test_os__freed_buffers_are_kept(void **st)
{
	unsigned char *p;
	int round;

	(void)st;
	bs_os_reuse_freed_memory((size_t)64 << 20);
	for (round = 0; round < 3; round++) {
#ifdef GLIBC_HEAP
		struct mallinfo2 before = mallinfo2(), after;
#endif
		p = malloc(BUF);
		assert_non_null(p);
		memset(p, round, BUF);
#ifdef GLIBC_HEAP
		after = mallinfo2();
		/* Not a mapping of its own. */
		assert_int_equal(after.hblkhd, before.hblkhd);
#endif
		free(p);
#ifdef GLIBC_HEAP
		/* Kept in the heap for the next buffer, not handed back. */
		after = mallinfo2();
		assert_true(after.fordblks >= BUF);
#endif
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_os__freed_buffers_are_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
