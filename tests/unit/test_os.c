/*
 * test_os.c - what the platform layer promises a long-running server
 * about its allocator: once bs_os_reuse_freed_memory() is called, a
 * buffer of a couple of megabytes comes from the heap, not a mapping of
 * its own, and once freed it stays in the process for the next one.
 * glibc is the C library that offers the choice; under the sanitizers
 * the allocator is theirs, so the figures of glibc's heap say nothing
 * there and only the call itself is exercised.  And that a thread which
 * yields its priority runs below the rest of its process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
	!defined(__SANITIZE_THREAD__)
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

static int thread_nice(void)
{
	return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

static void *yielding(void *arg)
{
	int *nice = arg;

	nice[0] = thread_nice();
	bs_os_thread_yield_priority();
	nice[1] = thread_nice();
	return NULL;
}

static void test_os__yielding_thread_runs_below(void **st)
{
	pthread_t t;
	int nice[2] = { -100, -100 }, own = thread_nice();

	(void)st;
	assert_int_equal(pthread_create(&t, NULL, yielding, nice), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* A new thread starts at its creator's priority, and only the
	 * thread that yields goes down. */
	assert_int_equal(nice[0], own);
	assert_true(nice[1] > own || own == 19);
	assert_int_equal(thread_nice(), own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_os__freed_buffers_are_kept),
		cmocka_unit_test(test_os__yielding_thread_runs_below),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
