/*
 * test_uuid.c - UUIDv7: the RFC 9562 test vector, version and variant
 * bits, time order of ids and of their text, the monotonic generator
 * inside one millisecond and across a clock that steps back, and the
 * validation of ids that come in over the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "agent/core/uuid.h"

#define NOW_MS ((int64_t)1795334400000)
#define TS_MAX ((int64_t)0xffffffffffff)

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(uint8_t rnd[BS__UUID_RANDOM_LEN])
{
	uint64_t a = rng(), b = rng();

	bs__put_be64(rnd, a);
	bs__put_be16(rnd + 8, (uint16_t)b);
}

/* Version and variant as RFC 9562 sets them, and the time inside. */
static void assert_v7(const uint8_t u[BS__UUID_LEN], int64_t ms)
{
	char text[BS__UUID_TEXT_LEN + 1];

	assert_int_equal(u[6] >> 4, 7);
	assert_int_equal(u[8] >> 6, 2);
	assert_int_equal(bs__uuid_ms(u), ms);
	bs__uuid_format(text, u);
	assert_int_equal(bs__uuid_parse(NULL, text, strlen(text)), BS_OK);
}

/* RFC 9562 Appendix A.6: 017f22e2-79b0-7cc3-98c4-dc0c0c07398f. */
static void test_uuid__rfc_vector(void **st)
{
	static const uint8_t rnd[BS__UUID_RANDOM_LEN] = {
		0x0c, 0xc3, 0x18, 0xc4, 0xdc, 0x0c, 0x0c, 0x07, 0x39, 0x8f
	};
	uint8_t u[BS__UUID_LEN], back[BS__UUID_LEN];
	char text[BS__UUID_TEXT_LEN + 1];

	(void)st;
	assert_int_equal(bs__uuid_v7(u, 0x017f22e279b0, rnd), BS_OK);
	bs__uuid_format(text, u);
	assert_string_equal(text, "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
	assert_int_equal(bs__uuid_parse(back, text, strlen(text)), BS_OK);
	assert_memory_equal(u, back, BS__UUID_LEN);
	assert_int_equal(bs__uuid_ms(u), 0x017f22e279b0);
}

static void test_uuid__bits_whatever_the_random(void **st)
{
	uint8_t u[BS__UUID_LEN], rnd[BS__UUID_RANDOM_LEN];
	int i;

	(void)st;
	memset(rnd, 0xff, sizeof(rnd));
	assert_int_equal(bs__uuid_v7(u, NOW_MS, rnd), BS_OK);
	assert_v7(u, NOW_MS);
	memset(rnd, 0, sizeof(rnd));
	assert_int_equal(bs__uuid_v7(u, 0, rnd), BS_OK);
	assert_v7(u, 0);
	assert_int_equal(bs__uuid_v7(u, TS_MAX, rnd), BS_OK);
	assert_v7(u, TS_MAX);
	for (i = 0; i < 1000; i++) {
		fill(rnd);
		assert_int_equal(bs__uuid_v7(u, NOW_MS + i, rnd), BS_OK);
		assert_v7(u, NOW_MS + i);
		/* The random bytes land where RFC 9562 puts them. */
		assert_int_equal(u[6] & 0xf, rnd[0] & 0xf);
		assert_int_equal(u[7], rnd[1]);
		assert_int_equal(u[8] & 0x3f, rnd[2] & 0x3f);
		assert_memory_equal(u + 9, rnd + 3, 7);
	}
}

static void test_uuid__time_out_of_range(void **st)
{
	uint8_t u[BS__UUID_LEN], rnd[BS__UUID_RANDOM_LEN] = { 0 };
	struct bs__uuid_gen g;

	(void)st;
	memset(&g, 0, sizeof(g));
	assert_int_equal(bs__uuid_v7(u, -1, rnd), BS_EINVAL);
	assert_int_equal(bs__uuid_v7(u, TS_MAX + 1, rnd), BS_EINVAL);
	assert_int_equal(bs__uuid_next(u, &g, INT64_MIN, rnd), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "UUIDv7"));
}

static void test_uuid__ordered_by_time(void **st)
{
	uint8_t prev[BS__UUID_LEN], u[BS__UUID_LEN];
	uint8_t rnd[BS__UUID_RANDOM_LEN];
	char tp[BS__UUID_TEXT_LEN + 1], tu[BS__UUID_TEXT_LEN + 1];
	int i;

	(void)st;
	fill(rnd);
	assert_int_equal(bs__uuid_v7(prev, NOW_MS, rnd), BS_OK);
	for (i = 1; i < 2000; i++) {
		/* Any random bits: a later millisecond always sorts later. */
		fill(rnd);
		assert_int_equal(bs__uuid_v7(u, NOW_MS + i, rnd), BS_OK);
		assert_true(bs__uuid_cmp(prev, u) < 0);
		assert_true(bs__uuid_cmp(u, prev) > 0);
		bs__uuid_format(tp, prev);
		bs__uuid_format(tu, u);
		assert_true(strcmp(tp, tu) < 0);
		memcpy(prev, u, BS__UUID_LEN);
	}
	assert_int_equal(bs__uuid_cmp(u, u), 0);
}

static void test_uuid__generator_same_ms(void **st)
{
	struct bs__uuid_gen g;
	uint8_t prev[BS__UUID_LEN] = { 0 }, u[BS__UUID_LEN];
	uint8_t rnd[BS__UUID_RANDOM_LEN];
	int i;

	(void)st;
	memset(&g, 0, sizeof(g));
	for (i = 0; i < 20000; i++) {
		fill(rnd);
		assert_int_equal(bs__uuid_next(u, &g, NOW_MS, rnd), BS_OK);
		assert_v7(u, NOW_MS);
		assert_true(bs__uuid_cmp(prev, u) < 0);
		memcpy(prev, u, BS__UUID_LEN);
	}
}

static void test_uuid__generator_clock_back(void **st)
{
	struct bs__uuid_gen g;
	uint8_t prev[BS__UUID_LEN], u[BS__UUID_LEN];
	uint8_t rnd[BS__UUID_RANDOM_LEN];
	int i;

	(void)st;
	memset(&g, 0, sizeof(g));
	fill(rnd);
	assert_int_equal(bs__uuid_next(prev, &g, NOW_MS, rnd), BS_OK);
	/* The clock is set back a day: ids keep increasing. */
	for (i = 0; i < 1000; i++) {
		fill(rnd);
		assert_int_equal(bs__uuid_next(u, &g, NOW_MS - 86400000 + i,
					       rnd),
				 BS_OK);
		assert_true(bs__uuid_cmp(prev, u) < 0);
		assert_int_equal(bs__uuid_ms(u), NOW_MS);
		memcpy(prev, u, BS__UUID_LEN);
	}
	/* A later time leads again, with fresh random bits. */
	fill(rnd);
	assert_int_equal(bs__uuid_next(u, &g, NOW_MS + 1, rnd), BS_OK);
	assert_true(bs__uuid_cmp(prev, u) < 0);
	assert_int_equal(bs__uuid_ms(u), NOW_MS + 1);
	assert_memory_equal(u + 9, rnd + 3, 7);
}

static void test_uuid__generator_carries_into_time(void **st)
{
	static const uint8_t full[BS__UUID_RANDOM_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
	};
	struct bs__uuid_gen g;
	uint8_t u[BS__UUID_LEN], rnd[BS__UUID_RANDOM_LEN] = { 0 };

	(void)st;
	/* The last id has every random bit set. */
	assert_int_equal(bs__uuid_v7(g.last, NOW_MS, full), BS_OK);
	assert_int_equal(bs__uuid_next(u, &g, NOW_MS, rnd), BS_OK);
	assert_v7(u, NOW_MS + 1);
	assert_true(bs__uuid_cmp(g.last, u) == 0);

	/* At the end of time there is nowhere to carry. */
	assert_int_equal(bs__uuid_v7(g.last, TS_MAX, full), BS_OK);
	memcpy(u, g.last, BS__UUID_LEN);
	assert_int_equal(bs__uuid_next(u, &g, TS_MAX, rnd), BS_EINVAL);
	assert_int_equal(bs__uuid_ms(g.last), TS_MAX);
	assert_int_equal(g.last[15], 0xff);
}

static void test_uuid__text_round_trip(void **st)
{
	uint8_t u[BS__UUID_LEN], back[BS__UUID_LEN];
	uint8_t rnd[BS__UUID_RANDOM_LEN];
	char text[BS__UUID_TEXT_LEN + 1];
	int i;

	(void)st;
	for (i = 0; i < 5000; i++) {
		fill(rnd);
		assert_int_equal(bs__uuid_v7(u, (int64_t)(rng() & TS_MAX), rnd),
				 BS_OK);
		bs__uuid_format(text, u);
		assert_int_equal(strlen(text), BS__UUID_TEXT_LEN);
		assert_int_equal(text[8], '-');
		assert_int_equal(text[13], '-');
		assert_int_equal(text[14], '7');
		assert_int_equal(text[18], '-');
		assert_non_null(strchr("89ab", text[19]));
		assert_int_equal(text[23], '-');
		memset(back, 0, sizeof(back));
		assert_int_equal(bs__uuid_parse(back, text, strlen(text)),
				 BS_OK);
		assert_memory_equal(u, back, BS__UUID_LEN);
	}
}

static void test_uuid__parse_rejects(void **st)
{
	static const char *const bad[] = {
		"",
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398",   /* 35 */
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398f0", /* 37 */
		"017f22e279b07cc398c4dc0c0c07398f",      /* no hyphens */
		"017f22e2-79b07-cc3-98c4-dc0c0c07398f",  /* hyphen moved */
		"017f22e2_79b0_7cc3_98c4_dc0c0c07398f",
		"017F22E2-79B0-7CC3-98C4-DC0C0C07398F",  /* uppercase */
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398g",
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398 ",
		"{17f22e2-79b0-7cc3-98c4-dc0c0c07398f",
		"550e8400-e29b-41d4-a716-446655440000",  /* version 4 */
		"00000000-0000-0000-0000-000000000000",  /* nil */
		"ffffffff-ffff-ffff-ffff-ffffffffffff",  /* max */
		"017f22e2-79b0-8cc3-98c4-dc0c0c07398f",  /* version 8 */
		"017f22e2-79b0-7cc3-c8c4-dc0c0c07398f",  /* variant 110 */
		"017f22e2-79b0-7cc3-68c4-dc0c0c07398f",  /* variant 0 */
		"017f22e2-79b0-7cc3-98c4-dc0c0c0739\xc3\xa9",
	};
	uint8_t u[BS__UUID_LEN], zero[BS__UUID_LEN] = { 0 };
	size_t i;

	(void)st;
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		memset(u, 0, sizeof(u));
		assert_int_equal(bs__uuid_parse(u, bad[i], strlen(bad[i])),
				 BS_EINVAL);
		assert_memory_equal(u, zero, BS__UUID_LEN);
	}
	assert_int_equal(bs__uuid_parse(u, NULL, 36), BS_EINVAL);
	assert_int_equal(bs__uuid_parse(u,
					"017f22e2-79b0-7cc3-98c4-dc0c0c07\0"
					"98f",
					36),
			 BS_EINVAL);
	/* The messages say what is wrong. */
	assert_int_equal(bs__uuid_parse(u, bad[10], 36), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "version 4"));
	assert_int_equal(bs__uuid_parse(u, bad[14], 36), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "variant"));
	assert_int_equal(bs__uuid_parse(u, bad[4], 36), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "'-' at 13"));
	/* Exactly len bytes are read. */
	assert_int_equal(bs__uuid_parse(u,
					"017f22e2-79b0-7cc3-98c4-dc0c0c07398f"
					"trailing",
					36),
			 BS_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid__rfc_vector),
		cmocka_unit_test(test_uuid__bits_whatever_the_random),
		cmocka_unit_test(test_uuid__time_out_of_range),
		cmocka_unit_test(test_uuid__ordered_by_time),
		cmocka_unit_test(test_uuid__generator_same_ms),
		cmocka_unit_test(test_uuid__generator_clock_back),
		cmocka_unit_test(test_uuid__generator_carries_into_time),
		cmocka_unit_test(test_uuid__text_round_trip),
		cmocka_unit_test(test_uuid__parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
