/*
 * error.c - error strings generated from BS_ERROR_LIST, and the
 * thread-local last error that carries a one-line detail message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static _Thread_local char last_msg[512];
static _Thread_local int last_rc;

const char *bs_strerror(int rc)
{
	switch (rc) {
#define BS__ERROR_MSG(name, code, exit, reason, msg) \
	case code:                                   \
		return msg;
		BS_ERROR_LIST(BS__ERROR_MSG)
#undef BS__ERROR_MSG
	}
	return "unknown error";
}

const char *bs_error_reason(int rc)
{
	switch (rc) {
#define BS__ERROR_REASON(name, code, exit, reason, msg) \
	case code:                                      \
		return reason;
		BS_ERROR_LIST(BS__ERROR_REASON)
#undef BS__ERROR_REASON
	}
	return "error";
}

int bs_error_exit_code(int rc)
{
	switch (rc) {
#define BS__ERROR_EXIT(name, code, exit, reason, msg) \
	case code:                                    \
		return exit;
		BS_ERROR_LIST(BS__ERROR_EXIT)
#undef BS__ERROR_EXIT
	}
	return 1;
}

const char *bs_last_error(void)
{
	if (last_msg[0] != '\0')
		return last_msg;
	return bs_strerror(last_rc);
}

int bs__error(int rc, const char *fmt, ...)
{
	char buf[sizeof(last_msg)];
	va_list ap;
	char *nl;

	/* Formatted aside: an argument may be bs_last_error() itself, a
	 * cause appended to a new message. */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(last_msg, buf, sizeof(last_msg));
	/* One line, always: a message must never break a log or a table. */
	while ((nl = strpbrk(last_msg, "\r\n")) != NULL)
		*nl = ' ';
	last_rc = rc;
	return rc;
}

int bs__error_code(int rc)
{
	last_msg[0] = '\0';
	last_rc = rc;
	return rc;
}

void bs__error_clear(void)
{
	last_msg[0] = '\0';
	last_rc = BS_OK;
}
