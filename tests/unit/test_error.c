/*
 * test_error.c - the thread's last error (agent/core/error.c): a cause
 * appended to a new message, one line always, a long message cut, and
 * a code without detail falling back to its name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"

static void test_error__cause_appended(void **st)
{
	(void)st;
	bs__error(BS_EIO, "disk full while writing page %d", 7);
	assert_int_equal(bs__error(BS_EIO, "cannot store the answer: %s",
				   bs_last_error()), BS_EIO);
	assert_string_equal(bs_last_error(), "cannot store the answer: disk "
			    "full while writing page 7");
	/* Twice over: the cause of a cause. */
	bs__error(BS_ENETWORK, "round failed: %s", bs_last_error());
	assert_string_equal(bs_last_error(), "round failed: cannot store the "
			    "answer: disk full while writing page 7");
}

static void test_error__one_line_and_cut(void **st)
{
	char big[2000];

	(void)st;
	bs__error(BS_EINVAL, "first\nsecond\r\nthird");
	assert_string_equal(bs_last_error(), "first second  third");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bs__error(BS_EINVAL, "%s", big);
	assert_true(strlen(bs_last_error()) > 100);
	assert_true(strlen(bs_last_error()) < sizeof(big) - 1);
	assert_int_equal(bs__error_code(BS_ENOMEM), BS_ENOMEM);
	assert_string_equal(bs_last_error(), bs_strerror(BS_ENOMEM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error__cause_appended),
		cmocka_unit_test(test_error__one_line_and_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
