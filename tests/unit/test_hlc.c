/*
 * test_hlc.c - the hybrid logical clock: monotonic stamps when the wall
 * clock stalls or steps back, causal order between devices whose clocks
 * are three days fast and three days slow, refusal of stamps too far in
 * the future, the total order with node ids, and the text form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"

#define MIN_MS ((int64_t)60 * 1000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
/* 2026-11-22 08:00 UTC, a realistic wall clock. */
#define NOW_MS ((int64_t)1795334400000)

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_hlc__pack(void **st)
{
	uint64_t s = bs__hlc_make(NOW_MS, 7);

	(void)st;
	assert_int_equal(bs__hlc_ms(s), NOW_MS);
	assert_int_equal(bs__hlc_counter(s), 7);
	assert_true(bs__hlc_make(NOW_MS, 0xffff) < bs__hlc_make(NOW_MS + 1, 0));
	assert_int_equal(bs__hlc_ms(bs__hlc_make(BS__HLC_MAX_MS, 0xffff)),
			 BS__HLC_MAX_MS);
}

static void test_hlc__now_follows_wall(void **st)
{
	struct bs__hlc c;
	uint64_t s;

	(void)st;
	bs__hlc_init(&c, 0, 0);
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS, 0));
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS + 5), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 5, 0));
	/* The same millisecond again: the counter moves. */
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS + 5), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 5, 1));
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS + 5), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 5, 2));
	assert_true(c.last == s);
}

static void test_hlc__clock_goes_backwards(void **st)
{
	struct bs__hlc c;
	uint64_t prev, s;
	int i;

	(void)st;
	bs__hlc_init(&c, 0, 0);
	assert_int_equal(bs__hlc_now(&prev, &c, NOW_MS), BS_OK);
	/* The wall clock is set back an hour, then creeps forward. */
	for (i = 0; i < 1000; i++) {
		int64_t wall = NOW_MS - HOUR_MS + i;

		assert_int_equal(bs__hlc_now(&s, &c, wall), BS_OK);
		assert_true(s > prev);
		assert_int_equal(bs__hlc_ms(s), NOW_MS);
		prev = s;
	}
	/* Once the wall clock passes the old time, it leads again. */
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS + 1), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 1, 0));
	assert_true(s > prev);
}

static void test_hlc__random_walls_stay_monotonic(void **st)
{
	struct bs__hlc c;
	uint64_t prev = 0, s;
	int i;

	(void)st;
	bs__hlc_init(&c, 0, 0);
	for (i = 0; i < 100000; i++) {
		int64_t wall = NOW_MS - DAY_MS +
			       (int64_t)(rng() % (2 * DAY_MS));

		assert_int_equal(bs__hlc_now(&s, &c, wall), BS_OK);
		assert_true(s > prev);
		prev = s;
	}
}

static void test_hlc__counter_carries(void **st)
{
	struct bs__hlc c;
	uint64_t s;

	(void)st;
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 0xfffe), 0);
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS, 0xffff));
	/* No wrap to 0 within the same millisecond: it carries. */
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 1, 0));
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS), BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 1, 1));
}

static void test_hlc__exhausted(void **st)
{
	struct bs__hlc c;
	uint64_t s = 42;

	(void)st;
	bs__hlc_init(&c, UINT64_MAX, 0);
	assert_int_equal(bs__hlc_now(&s, &c, NOW_MS), BS_EINVAL);
	assert_true(s == 42);
	assert_true(c.last == UINT64_MAX);
}

static void test_hlc__wall_out_of_range(void **st)
{
	struct bs__hlc c;
	uint64_t s = 42;

	(void)st;
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 3), 0);
	assert_int_equal(bs__hlc_now(&s, &c, -1), BS_EINVAL);
	assert_int_equal(bs__hlc_now(&s, &c, BS__HLC_MAX_MS + 1), BS_EINVAL);
	assert_int_equal(bs__hlc_update(&s, &c, 0, INT64_MIN), BS_EINVAL);
	assert_true(s == 42);
	assert_true(c.last == bs__hlc_make(NOW_MS, 3));
	assert_int_equal(bs__hlc_now(&s, &c, BS__HLC_MAX_MS), BS_OK);
	assert_true(s == bs__hlc_make(BS__HLC_MAX_MS, 0));
}

static void test_hlc__update_rules(void **st)
{
	struct bs__hlc c;
	uint64_t s;

	(void)st;
	/* Remote ahead of both: remote's counter plus one. */
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 4), 0);
	assert_int_equal(bs__hlc_update(&s, &c, bs__hlc_make(NOW_MS + 50, 9),
					NOW_MS + 10),
			 BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS + 50, 10));
	/* Same millisecond on both: the larger counter plus one. */
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 4), 0);
	assert_int_equal(bs__hlc_update(&s, &c, bs__hlc_make(NOW_MS, 2),
					NOW_MS - 1),
			 BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS, 5));
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 4), 0);
	assert_int_equal(bs__hlc_update(&s, &c, bs__hlc_make(NOW_MS, 8),
					NOW_MS - 1),
			 BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS, 9));
	/* Local ahead: local counter plus one. */
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 4), 0);
	assert_int_equal(bs__hlc_update(&s, &c, bs__hlc_make(NOW_MS - 9, 8),
					NOW_MS - 1),
			 BS_OK);
	assert_true(s == bs__hlc_make(NOW_MS, 5));
	/* Wall ahead of both: wall, counter 0. */
	bs__hlc_init(&c, bs__hlc_make(NOW_MS, 4), 0);
	assert_int_equal(bs__hlc_update(NULL, &c, bs__hlc_make(NOW_MS, 8),
					NOW_MS + 1),
			 BS_OK);
	assert_true(c.last == bs__hlc_make(NOW_MS + 1, 0));
}

/*
 * Device F's clock is three days fast, device S's three days slow, the
 * hub is right.  F edits, pushes; the hub takes it in; S pulls, then
 * edits.  S's edit must order after F's, and both after what the hub
 * did before them, though S's wall clock is six days behind F's.
 */
static void test_hlc__three_days_fast_and_slow(void **st)
{
	struct bs__hlc hub, fast, slow;
	uint64_t f_edit, hub_rx, hub_edit, s_edit, s_before, s_rx;
	int64_t real = NOW_MS;

	(void)st;
	bs__hlc_init(&hub, 0, BS__HLC_HUB_MAX_AHEAD_MS);
	bs__hlc_init(&fast, 0, 0);
	bs__hlc_init(&slow, 0, 0);

	assert_int_equal(bs__hlc_now(&hub_edit, &hub, real), BS_OK);
	/* S saw the hub's edit before going offline. */
	assert_int_equal(bs__hlc_update(&s_rx, &slow, hub_edit,
					real - 3 * DAY_MS),
			 BS_OK);
	assert_true(s_rx > hub_edit);
	assert_int_equal(bs__hlc_now(&s_before, &slow, real - 3 * DAY_MS + 1),
			 BS_OK);
	assert_true(s_before > hub_edit);

	assert_int_equal(bs__hlc_now(&f_edit, &fast, real + 3 * DAY_MS + 60000),
			 BS_OK);
	/* Three days ahead is tolerated by the hub. */
	assert_int_equal(bs__hlc_update(&hub_rx, &hub, f_edit, real + 120000),
			 BS_OK);
	assert_true(hub_rx > f_edit);
	/* The hub's own later edits order after what it received. */
	assert_int_equal(bs__hlc_now(&hub_edit, &hub, real + 180000), BS_OK);
	assert_true(hub_edit > hub_rx);

	/* S pulls the change six days "ahead" of its own wall clock. */
	assert_int_equal(bs__hlc_update(&s_rx, &slow, hub_edit,
					real - 3 * DAY_MS + 240000),
			 BS_OK);
	assert_int_equal(bs__hlc_now(&s_edit, &slow,
				     real - 3 * DAY_MS + 300000),
			 BS_OK);
	assert_true(s_edit > s_rx);
	assert_true(bs__hlc_cmp(s_edit, "dev-s", f_edit, "dev-f") > 0);
	assert_true(bs__hlc_cmp(s_edit, "dev-s", hub_edit, "") > 0);
	/* And S's edits keep ordering after that, slow clock or not. */
	assert_true(bs__hlc_ms(s_edit) >= bs__hlc_ms(f_edit));

	/* When S's edit reaches the hub it is accepted and stays ahead. */
	assert_int_equal(bs__hlc_update(&hub_rx, &hub, s_edit, real + 360000),
			 BS_OK);
	assert_true(hub_rx > s_edit);
}

static void test_hlc__future_refused(void **st)
{
	struct bs__hlc c;
	uint64_t s = 42, last;

	(void)st;
	bs__hlc_init(&c, 0, BS__HLC_HUB_MAX_AHEAD_MS);
	assert_int_equal(bs__hlc_now(&last, &c, NOW_MS), BS_OK);

	/* A clock set to next year. */
	assert_int_equal(bs__hlc_update(&s, &c,
					bs__hlc_make(NOW_MS + 365 * DAY_MS, 0),
					NOW_MS),
			 BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "ahead"));
	assert_true(s == 42);
	assert_true(c.last == last);

	/* The limit itself is allowed, one millisecond more is not. */
	assert_int_equal(bs__hlc_update(&s, &c,
					bs__hlc_make(NOW_MS + 7 * DAY_MS + 1,
						     0),
					NOW_MS),
			 BS_EINVAL);
	assert_true(c.last == last);
	assert_int_equal(bs__hlc_update(&s, &c,
					bs__hlc_make(NOW_MS + 7 * DAY_MS,
						     0xffff),
					NOW_MS),
			 BS_OK);
	assert_true(s > bs__hlc_make(NOW_MS + 7 * DAY_MS, 0xffff));

	/* The check alone says the same. */
	assert_int_equal(bs__hlc_check_ahead(bs__hlc_make(NOW_MS + HOUR_MS, 0),
					     NOW_MS, HOUR_MS),
			 BS_OK);
	assert_int_equal(bs__hlc_check_ahead(bs__hlc_make(NOW_MS + HOUR_MS + 1,
							  0),
					     NOW_MS, HOUR_MS),
			 BS_EINVAL);
	assert_int_equal(bs__hlc_check_ahead(UINT64_MAX, NOW_MS, 0), BS_OK);
}

static void test_hlc__device_has_no_limit(void **st)
{
	struct bs__hlc c;
	uint64_t s, remote = bs__hlc_make(NOW_MS + 30 * DAY_MS, 5);

	(void)st;
	bs__hlc_init(&c, 0, 0);
	assert_int_equal(bs__hlc_update(&s, &c, remote, NOW_MS), BS_OK);
	assert_true(s == remote + 1);
	bs__hlc_init(&c, 0, -5);
	assert_int_equal(c.max_ahead_ms, 0);
}

static void test_hlc__cmp_total_order(void **st)
{
	uint64_t a = bs__hlc_make(NOW_MS, 1), b = bs__hlc_make(NOW_MS, 2);

	(void)st;
	assert_true(bs__hlc_cmp(a, "zzz", b, "aaa") < 0);
	assert_true(bs__hlc_cmp(b, "aaa", a, "zzz") > 0);
	assert_true(bs__hlc_cmp(a, "dev-a", a, "dev-b") < 0);
	assert_true(bs__hlc_cmp(a, "dev-b", a, "dev-a") > 0);
	assert_int_equal(bs__hlc_cmp(a, "dev-a", a, "dev-a"), 0);
	assert_true(bs__hlc_cmp(a, NULL, a, "x") < 0);
	assert_int_equal(bs__hlc_cmp(a, NULL, a, ""), 0);
	/* Unsigned: a stamp with the top bit set is the largest. */
	assert_true(bs__hlc_cmp(UINT64_MAX, "", 1, "") > 0);
}

static void test_hlc__text_round_trip(void **st)
{
	static const uint64_t fixed[] = { 0, 1, 0xf, 0x10,
					  0x0123456789abcdefu, UINT64_MAX };
	char text[BS__HLC_TEXT_LEN + 1];
	uint64_t v;
	size_t i;

	(void)st;
	bs__hlc_format(text, 0x0123456789abcdefu);
	assert_string_equal(text, "0123456789abcdef");
	bs__hlc_format(text, 0);
	assert_string_equal(text, "0000000000000000");
	for (i = 0; i < BS__ARRAY_LEN(fixed); i++) {
		bs__hlc_format(text, fixed[i]);
		assert_int_equal(strlen(text), BS__HLC_TEXT_LEN);
		assert_int_equal(bs__hlc_parse(&v, text, strlen(text)), BS_OK);
		assert_true(v == fixed[i]);
	}
	for (i = 0; i < 10000; i++) {
		uint64_t x = rng();

		bs__hlc_format(text, x);
		assert_int_equal(bs__hlc_parse(&v, text, BS__HLC_TEXT_LEN),
				 BS_OK);
		assert_true(v == x);
	}
}

static void test_hlc__text_sorts_like_numbers(void **st)
{
	char ta[BS__HLC_TEXT_LEN + 1], tb[BS__HLC_TEXT_LEN + 1];
	int i;

	(void)st;
	for (i = 0; i < 10000; i++) {
		/* Mix far-apart and near values. */
		uint64_t a = rng() >> (rng() % 64);
		uint64_t b = (i & 1) ? a + (rng() % 3) - 1 : rng() >> (i % 64);
		int num = (a > b) - (a < b);
		int txt;

		bs__hlc_format(ta, a);
		bs__hlc_format(tb, b);
		txt = strcmp(ta, tb);
		assert_int_equal(num, (txt > 0) - (txt < 0));
	}
}

static void test_hlc__parse_malformed(void **st)
{
	static const char *const bad[] = {
		"",
		"0123456789abcde",   /* 15 */
		"0123456789abcdef0", /* 17 */
		"0123456789ABCDEF",  /* uppercase is not canonical */
		"0123456789abcdeg",
		"0123456789abcde ",
		" 123456789abcdef",
		"+123456789abcdef",
		"-123456789abcdef",
		"0x23456789abcdef",
		"0123456789abcd\xc3\xa9",
	};
	uint64_t v = 42;
	size_t i;

	(void)st;
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		assert_int_equal(bs__hlc_parse(&v, bad[i], strlen(bad[i])),
				 BS_EINVAL);
		assert_true(v == 42);
	}
	/* An embedded NUL within the length. */
	assert_int_equal(bs__hlc_parse(&v, "01234567\0" "9abcdef", 16),
			 BS_EINVAL);
	assert_int_equal(bs__hlc_parse(&v, NULL, 16), BS_EINVAL);
	/* Exactly len bytes are read: a longer buffer is fine. */
	assert_int_equal(bs__hlc_parse(&v, "00000000000000ffXYZ", 16), BS_OK);
	assert_true(v == 0xff);
	/* The message says what is wrong. */
	assert_int_equal(bs__hlc_parse(&v, "0123456789ABCDEF", 16), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "lowercase hex digit at 10"));
	assert_int_equal(bs__hlc_parse(&v, "0123", 4), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "got 4"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hlc__pack),
		cmocka_unit_test(test_hlc__now_follows_wall),
		cmocka_unit_test(test_hlc__clock_goes_backwards),
		cmocka_unit_test(test_hlc__random_walls_stay_monotonic),
		cmocka_unit_test(test_hlc__counter_carries),
		cmocka_unit_test(test_hlc__exhausted),
		cmocka_unit_test(test_hlc__wall_out_of_range),
		cmocka_unit_test(test_hlc__update_rules),
		cmocka_unit_test(test_hlc__three_days_fast_and_slow),
		cmocka_unit_test(test_hlc__future_refused),
		cmocka_unit_test(test_hlc__device_has_no_limit),
		cmocka_unit_test(test_hlc__cmp_total_order),
		cmocka_unit_test(test_hlc__text_round_trip),
		cmocka_unit_test(test_hlc__text_sorts_like_numbers),
		cmocka_unit_test(test_hlc__parse_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
