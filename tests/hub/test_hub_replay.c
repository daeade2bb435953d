/*
 * test_hub_replay.c - the nonces a hub serving SQLite keeps in memory
 * (hub/replay.c): a nonce is accepted once per device, remembered until
 * its time, forgotten after it when the table is rebuilt, and exactly
 * one of several threads presenting the same nonce at once gets it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "hub/hub.h"

#define DEV_A "01890a5d-ac96-774b-bcce-b302099ad001"
#define DEV_B "01890a5d-ac96-774b-bcce-b302099ad002"
#define THREADS 8

static void nonce(char out[33], unsigned i)
{
	snprintf(out, 33, "%08x%024x", i, 0xabcu);
}

static void test_hub_replay__once_per_device(void **st)
{
	struct bs_hub_replay *r = NULL;
	char n[33];

	(void)st;
	assert_int_equal(bs__hub_replay_new(&r), BS_OK);
	nonce(n, 1);
	assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 2000, 1000), BS_OK);
	assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 2000, 1000),
			 BS_EEXISTS);
	/* The same nonce from another device is another request. */
	assert_int_equal(bs__hub_replay_check(r, DEV_B, n, 2000, 1000), BS_OK);
	assert_int_equal(bs__hub_replay_check(r, DEV_B, n, 2000, 1500),
			 BS_EEXISTS);
	/* Malformed: refused, not remembered. */
	assert_int_equal(bs__hub_replay_check(r, "short", n, 2000, 1000),
			 BS_EINVAL);
	assert_int_equal(bs__hub_replay_check(r, DEV_A, "00ff", 2000, 1000),
			 BS_EINVAL);
	assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 0, 1000),
			 BS_EINVAL);
	assert_true(bs__hub_replay_count(r) == 2);
	bs__hub_replay_free(r);
}

/*
 * 100,000 nonces that expire at 10,000 and 100,000 that expire later:
 * while the first are still in their window every one is refused again;
 * once their time has passed the table no longer holds them, and every
 * later nonce is still refused.
 */
static void test_hub_replay__expiry_and_growth(void **st)
{
	struct bs_hub_replay *r = NULL;
	char n[33];
	unsigned i;

	(void)st;
	assert_int_equal(bs__hub_replay_new(&r), BS_OK);
	for (i = 0; i < 100000; i++) {
		nonce(n, i);
		assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 10000,
						      5000), BS_OK);
	}
	assert_true(bs__hub_replay_count(r) == 100000);
	for (i = 0; i < 100000; i += 7) {
		nonce(n, i);
		assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 10000,
						      9000), BS_EEXISTS);
	}
	for (i = 100000; i < 200000; i++) {
		nonce(n, i);
		assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 90000,
						      20000), BS_OK);
	}
	/* Rebuilt at least once after time 10,000: the first are gone. */
	assert_true(bs__hub_replay_count(r) < 200000);
	assert_true(bs__hub_replay_count(r) >= 100000);
	for (i = 100000; i < 200000; i += 3) {
		nonce(n, i);
		assert_int_equal(bs__hub_replay_check(r, DEV_A, n, 90000,
						      30000), BS_EEXISTS);
	}
	bs__hub_replay_free(r);
}

struct racer {
	struct bs_hub_replay *r;
	pthread_barrier_t *go;
	int won; /* how many of the shared nonces this thread got */
};

static void *race(void *arg)
{
	struct racer *x = arg;
	char n[33];
	unsigned i;

	pthread_barrier_wait(x->go);
	for (i = 0; i < 2000; i++) {
		nonce(n, i);
		if (bs__hub_replay_check(x->r, DEV_A, n, 5000, 1000) == BS_OK)
			x->won++;
	}
	return NULL;
}

static void test_hub_replay__threads(void **st)
{
	struct bs_hub_replay *r = NULL;
	struct racer x[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t go;
	int i, total = 0;

	(void)st;
	assert_int_equal(bs__hub_replay_new(&r), BS_OK);
	pthread_barrier_init(&go, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].r = r;
		x[i].go = &go;
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += x[i].won;
	}
	/* Each of the 2,000 nonces went to exactly one thread. */
	assert_int_equal(total, 2000);
	assert_true(bs__hub_replay_count(r) == 2000);
	pthread_barrier_destroy(&go);
	bs__hub_replay_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_replay__once_per_device),
		cmocka_unit_test(test_hub_replay__expiry_and_growth),
		cmocka_unit_test(test_hub_replay__threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
