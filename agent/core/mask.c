/*
 * mask.c - masking of names, phone numbers and ID numbers.
 *
 * Each mask first normalises its input into a small buffer of the
 * characters that count (digits and '*' for a phone), then writes the
 * kept head, the stars and the kept tail.  Because stars in the input
 * are kept as stars, masking twice changes nothing.
 */
#include <string.h>

#include "common.h"
#include "mask.h"
#include "utf8.h"

#define NAME_MAX_CHARS 64

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int bs__mask_name(char *out, size_t cap, const char *name)
{
	size_t len, n;
	uint32_t cp;

	if (name == NULL)
		return bs__error(BS_EINVAL, "customer name is missing");
	while (is_space(*name))
		name++;
	len = strlen(name);
	while (len > 0 && is_space(name[len - 1]))
		len--;
	if (len == 0)
		return bs__error(BS_EINVAL, "customer name is empty");
	if (!bs__utf8_valid(name, len, NULL))
		return bs__error(BS_EINVAL,
				 "customer name is not valid UTF-8");
	if (bs__utf8_chars(name, len) > NAME_MAX_CHARS)
		return bs__error(BS_EINVAL,
				 "customer name is longer than %d characters",
				 NAME_MAX_CHARS);
	n = bs__utf8_decode(&cp, name, len);
	if (n == len)
		n = 0; /* a one-character name shows nothing */
	if (n + 2 > cap)
		return bs__error(BS_EINVAL, "masked name does not fit");
	memcpy(out, name, n);
	out[n] = '*';
	out[n + 1] = '\0';
	return BS_OK;
}

/*
 * Write head kept characters of v, then stars up to the last tail, then
 * the tail, after prefix.  n is strlen(v).
 */
static int emit(char *out, size_t cap, const char *prefix, const char *v,
		size_t n, size_t head, size_t tail)
{
	size_t plen = strlen(prefix), i;

	if (plen + n + 1 > cap)
		return bs__error(BS_EINVAL, "masked value does not fit");
	memcpy(out, prefix, plen);
	for (i = 0; i < n; i++)
		out[plen + i] = (i < head || i >= n - tail) ? v[i] : '*';
	out[plen + n] = '\0';
	return BS_OK;
}

int bs__mask_phone(char *out, size_t cap, const char *phone)
{
	char d[24];
	size_t n = 0, head, tail;
	const char *p = phone;
	const char *prefix = "";

	if (phone == NULL)
		return bs__error(BS_EINVAL, "phone number is missing");
	while (is_space(*p))
		p++;
	if (*p == '+') {
		prefix = "+";
		p++;
	}
	for (; *p != '\0'; p++) {
		if (*p == ' ' || *p == '-')
			continue;
		if (!((*p >= '0' && *p <= '9') || *p == '*'))
			return bs__error(BS_EINVAL,
					 "phone number may hold only digits, "
					 "spaces, hyphens and a leading '+'");
		if (n == 20)
			return bs__error(BS_EINVAL,
					 "phone number has more than 20 "
					 "digits");
		d[n++] = *p;
	}
	d[n] = '\0';
	if (n < 5)
		return bs__error(BS_EINVAL,
				 "phone number has fewer than 5 digits");
	if (n >= 11) {
		head = n - 8;
		tail = 4;
	} else if (n >= 7) {
		head = 0;
		tail = 4;
	} else {
		head = 0;
		tail = 2;
	}
	return emit(out, cap, prefix, d, n, head, tail);
}

int bs__mask_id_number(char *out, size_t cap, const char *id)
{
	size_t n = 0;
	const char *p;
	char d[33];

	if (id == NULL)
		return bs__error(BS_EINVAL, "ID number is missing");
	for (p = id; *p != '\0'; p++) {
		int ok = (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= 'a' && *p <= 'z') || *p == '*';

		if (!ok)
			return bs__error(BS_EINVAL,
					 "ID number may hold only letters and "
					 "digits");
		if (n == 32)
			return bs__error(BS_EINVAL,
					 "ID number is longer than 32 "
					 "characters");
		d[n++] = *p;
	}
	d[n] = '\0';
	if (n < 6)
		return bs__error(BS_EINVAL,
				 "ID number is shorter than 6 characters");
	if (n >= 10)
		return emit(out, cap, "", d, n, 3, 4);
	return emit(out, cap, "", d, n, 0, 2);
}
