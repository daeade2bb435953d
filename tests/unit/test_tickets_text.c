/*
 * test_tickets_text.c - the text helpers the ticket code stands on,
 * shared with the hub: UTF-8 validation and display width
 * (agent/core/utf8.h) and the masking of customer data
 * (agent/core/mask.h).  Pure functions, no store.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/mask.h"
#include "agent/core/utf8.h"
#include "testutil.h"

static int valid(const char *s)
{
	return bs__utf8_valid(s, strlen(s), NULL);
}

static void test_tickets__utf8_valid(void **state)
{
	size_t bad = 99;

	(void)state;
	assert_true(valid(""));
	assert_true(valid("plain ASCII"));
	assert_true(valid("燃气费代扣失败"));
	assert_true(valid("\xc2\x80"));           /* U+0080 */
	assert_true(valid("\xef\xbf\xbf"));       /* U+FFFF */
	assert_true(valid("\xf0\x9f\x98\x80"));   /* U+1F600 */
	assert_true(valid("\xf4\x8f\xbf\xbf"));   /* U+10FFFF */
	assert_false(valid("\x80"));              /* lone continuation */
	assert_false(valid("\xc0\xaf"));          /* overlong '/' */
	assert_false(valid("\xe0\x80\xaf"));      /* overlong, 3 bytes */
	assert_false(valid("\xf0\x80\x80\xaf"));  /* overlong, 4 bytes */
	assert_false(valid("\xed\xa0\x80"));      /* surrogate U+D800 */
	assert_false(valid("\xf4\x90\x80\x80"));  /* above U+10FFFF */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\xff"));
	assert_false(valid("\xe7\x87"));          /* truncated */
	assert_false(bs__utf8_valid("ab\0cd", 5, &bad));
	assert_int_equal(bad, 2);                 /* NUL refused */
	assert_false(bs__utf8_valid("燃\xe7\x87", 5, &bad));
	assert_int_equal(bad, 3);
	/* Three-byte characters, which Chinese text is made of, at the
	 * edges of their range and broken in each byte. */
	assert_true(valid("\xe0\xa0\x80"));       /* U+0800 */
	assert_true(valid("\xed\x9f\xbf"));       /* U+D7FF */
	assert_true(valid("\xee\x80\x80"));       /* U+E000 */
	assert_false(valid("\xed\xbf\xbf"));      /* surrogate U+DFFF */
	assert_false(valid("\xe0\x9f\xbf"));      /* overlong U+07FF */
	assert_false(bs__utf8_valid("燃\xe4\x41\x80", 6, &bad));
	assert_int_equal(bad, 3);
	assert_false(bs__utf8_valid("燃气\xe4\xb8\x41", 9, &bad));
	assert_int_equal(bad, 6);
	assert_true(valid("燃\xc4\xb8"));          /* then two bytes */

	/* Runs of ASCII are checked a word at a time: a NUL or a bad byte
	 * anywhere in or after a word is still found, at its offset. */
	assert_true(valid("0123456789abcdef燃气0123456789"));
	assert_false(bs__utf8_valid("0123456789\0bcdefgh", 18, &bad));
	assert_int_equal(bad, 10);
	assert_false(bs__utf8_valid("01234567\0", 9, &bad));
	assert_int_equal(bad, 8);
	assert_false(valid("0123456\x80" "ghijklmn"));
	assert_false(bs__utf8_valid("abcdefghijklmno\xff", 16, &bad));
	assert_int_equal(bad, 15);
	assert_false(bs__utf8_valid("abcdefgh\x7f\x80", 10, &bad));
	assert_int_equal(bad, 9);
}

static void test_tickets__utf8_width(void **state)
{
	size_t w;

	(void)state;
	assert_int_equal(bs__utf8_chars("燃气ab", strlen("燃气ab")), 4);
	assert_int_equal(bs__utf8_width("abc"), 3);
	assert_int_equal(bs__utf8_width("燃气费"), 6);
	assert_int_equal(bs__utf8_width("ＡＢ"), 4);        /* fullwidth */
	assert_int_equal(bs__utf8_width("한국"), 4);        /* Hangul */
	assert_int_equal(bs__utf8_width("e\xcc\x81"), 1);  /* e + acute */
	assert_int_equal(bs__utf8_width("\xe2\x80\x8b"), 0); /* ZWSP */
	assert_int_equal(bs__utf8_width("\xf0\x9f\x98\x80"), 2);
	/* Cutting at a character that would not fit. */
	assert_int_equal(bs__utf8_fit("燃气费", 5, &w), 6);
	assert_int_equal(w, 4);
	assert_int_equal(bs__utf8_fit("a燃", 2, &w), 1);
	assert_int_equal(bs__utf8_fit("abc", 10, &w), 3);
	assert_int_equal(bs__utf8_floor("燃气", 4), 3);
	assert_int_equal(bs__utf8_floor("燃气", 3), 3);
}

static const char *mask(int (*fn)(char *, size_t, const char *),
			const char *in)
{
	static char out[BS__MASK_MAX];

	if (fn(out, sizeof(out), in) != BS_OK)
		return NULL;
	return out;
}

static void test_tickets__mask_name(void **state)
{
	(void)state;
	assert_string_equal(mask(bs__mask_name, "张三"), "张*");
	assert_string_equal(mask(bs__mask_name, "张三丰"), "张*");
	assert_string_equal(mask(bs__mask_name, "欧阳娜娜"), "欧*");
	assert_string_equal(mask(bs__mask_name, "  李四 "), "李*");
	assert_string_equal(mask(bs__mask_name, "John Smith"), "J*");
	assert_string_equal(mask(bs__mask_name, "王"), "*");
	/* Idempotent. */
	assert_string_equal(mask(bs__mask_name, "张*"), "张*");
	assert_string_equal(mask(bs__mask_name, "*"), "*");
	assert_null(mask(bs__mask_name, ""));
	assert_null(mask(bs__mask_name, "   "));
	assert_null(mask(bs__mask_name, "\xe5\xbc"));
	assert_null(mask(bs__mask_name, NULL));
	assert_non_null(strstr(bs_last_error(), "missing"));
}

static void test_tickets__mask_phone(void **state)
{
	(void)state;
	assert_string_equal(mask(bs__mask_phone, "13812341234"),
			    "138****1234");
	assert_string_equal(mask(bs__mask_phone, "138 1234-1234"),
			    "138****1234");
	assert_string_equal(mask(bs__mask_phone, "+86 138 1234 1234"),
			    "+86138****1234");
	assert_string_equal(mask(bs__mask_phone, "88886666"), "****6666");
	assert_string_equal(mask(bs__mask_phone, "95555"), "***55");
	/* Idempotent. */
	assert_string_equal(mask(bs__mask_phone, "138****1234"),
			    "138****1234");
	assert_string_equal(mask(bs__mask_phone, "+86138****1234"),
			    "+86138****1234");
	assert_string_equal(mask(bs__mask_phone, "****6666"), "****6666");
	assert_null(mask(bs__mask_phone, "1234"));
	assert_null(mask(bs__mask_phone, "call me"));
	assert_null(mask(bs__mask_phone, "123456789012345678901"));
	assert_null(mask(bs__mask_phone, "138+1234"));
}

static void test_tickets__mask_id_number(void **state)
{
	(void)state;
	assert_string_equal(mask(bs__mask_id_number, "110101199001011234"),
			    "110***********1234");
	assert_string_equal(mask(bs__mask_id_number, "11010119900101123X"),
			    "110***********123X");
	assert_string_equal(mask(bs__mask_id_number, "110***********1234"),
			    "110***********1234");
	assert_string_equal(mask(bs__mask_id_number, "E12345678"),
			    "*******78");
	assert_null(mask(bs__mask_id_number, "12345"));
	assert_null(mask(bs__mask_id_number, "1101-0119"));
	assert_null(mask(bs__mask_id_number, ""));
}

/* The output never exceeds cap, and a cap too small is an error. */
static void test_tickets__mask_small_buffer(void **state)
{
	char out[6];

	(void)state;
	assert_int_equal(bs__mask_phone(out, sizeof(out), "13812341234"),
			 BS_EINVAL);
	assert_int_equal(bs__mask_name(out, 3, "张三"), BS_EINVAL);
	assert_int_equal(bs__mask_name(out, 5, "张三"), BS_OK);
	assert_string_equal(out, "张*");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tickets__utf8_valid),
		cmocka_unit_test(test_tickets__utf8_width),
		cmocka_unit_test(test_tickets__mask_name),
		cmocka_unit_test(test_tickets__mask_phone),
		cmocka_unit_test(test_tickets__mask_id_number),
		cmocka_unit_test(test_tickets__mask_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
