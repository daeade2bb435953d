/*
 * uuid.c - UUIDv7 minting, formatting and validation.
 *
 * The 74 random bits sit in two pieces, rand_a (12 bits, after the
 * version) and rand_b (62 bits, after the variant).  The monotonic
 * generator treats them as one 74-bit number, rand_a high, so adding to
 * it keeps byte order equal to minting order.
 */
#include <string.h>

#include "common.h"
#include "uuid.h"

#define TS_MAX ((int64_t)0xffffffffffff)
#define RAND_B_LIMIT ((uint64_t)1 << 62)
#define RAND_A_LIMIT ((uint64_t)1 << 12)

/* Assemble an id from its fields; the version and variant are set here. */
static void pack(uint8_t out[BS__UUID_LEN], int64_t ms, uint64_t rand_a,
		 uint64_t rand_b)
{
	uint64_t hi = ((uint64_t)ms << 16) | (0x7u << 12) | (rand_a & 0xfff);
	uint64_t lo = ((uint64_t)0x2 << 62) | (rand_b & (RAND_B_LIMIT - 1));

	bs__put_be64(out, hi);
	bs__put_be64(out + 8, lo);
}

static void unpack(const uint8_t u[BS__UUID_LEN], int64_t *ms,
		   uint64_t *rand_a, uint64_t *rand_b)
{
	uint64_t hi = bs__get_be64(u);
	uint64_t lo = bs__get_be64(u + 8);

	*ms = (int64_t)(hi >> 16);
	*rand_a = hi & 0xfff;
	*rand_b = lo & (RAND_B_LIMIT - 1);
}

static int check_ms(int64_t ms)
{
	if (ms < 0 || ms > TS_MAX)
		return bs__error(BS_EINVAL,
				 "time %lld ms cannot be put in a UUIDv7",
				 (long long)ms);
	return BS_OK;
}

int bs__uuid_v7(uint8_t out[BS__UUID_LEN], int64_t ms,
		const uint8_t rnd[BS__UUID_RANDOM_LEN])
{
	uint64_t rand_a, rand_b;
	int rc;

	if ((rc = check_ms(ms)) != BS_OK)
		return rc;
	rand_a = bs__get_be16(rnd);
	rand_b = bs__get_be64(rnd + 2);
	pack(out, ms, rand_a, rand_b);
	return BS_OK;
}

int bs__uuid_next(uint8_t out[BS__UUID_LEN], struct bs__uuid_gen *g,
		  int64_t ms, const uint8_t rnd[BS__UUID_RANDOM_LEN])
{
	int64_t last_ms;
	uint64_t rand_a, rand_b, inc;
	int rc;

	if ((rc = check_ms(ms)) != BS_OK)
		return rc;
	unpack(g->last, &last_ms, &rand_a, &rand_b);
	/* A generator that has minted nothing has version 0 in its last. */
	if ((g->last[6] >> 4) != 7 || ms > last_ms) {
		bs__uuid_v7(g->last, ms, rnd);
		memcpy(out, g->last, BS__UUID_LEN);
		return BS_OK;
	}
	inc = (uint64_t)bs__get_be32(rnd) + 1;
	rand_b += inc;
	if (rand_b >= RAND_B_LIMIT) {
		rand_b -= RAND_B_LIMIT;
		rand_a++;
	}
	if (rand_a >= RAND_A_LIMIT) {
		/* The random space of this millisecond is used up. */
		if (last_ms == TS_MAX)
			return bs__error(BS_EINVAL,
					 "UUIDv7 timestamp space exhausted");
		bs__uuid_v7(g->last, last_ms + 1, rnd);
	} else {
		pack(g->last, last_ms, rand_a, rand_b);
	}
	memcpy(out, g->last, BS__UUID_LEN);
	return BS_OK;
}

int64_t bs__uuid_ms(const uint8_t u[BS__UUID_LEN])
{
	return (int64_t)(bs__get_be64(u) >> 16);
}

int bs__uuid_cmp(const uint8_t a[BS__UUID_LEN], const uint8_t b[BS__UUID_LEN])
{
	int r = memcmp(a, b, BS__UUID_LEN);

	return (r > 0) - (r < 0);
}

static const char hex[] = "0123456789abcdef";

static int is_dash_at(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

void bs__uuid_format(char out[BS__UUID_TEXT_LEN + 1],
		     const uint8_t u[BS__UUID_LEN])
{
	size_t i, b = 0;

	for (i = 0; i < BS__UUID_TEXT_LEN; i++) {
		if (is_dash_at(i)) {
			out[i] = '-';
			continue;
		}
		out[i] = hex[(b & 1) ? (u[b / 2] & 0xf) : (u[b / 2] >> 4)];
		b++;
	}
	out[BS__UUID_TEXT_LEN] = '\0';
}

int bs__uuid_parse(uint8_t out[BS__UUID_LEN], const char *s, size_t len)
{
	uint8_t u[BS__UUID_LEN] = { 0 };
	size_t i, b = 0;

	if (s == NULL || len != BS__UUID_TEXT_LEN)
		return bs__error(BS_EINVAL,
				 "id must be %d characters, got %zu",
				 BS__UUID_TEXT_LEN, s == NULL ? 0 : len);
	for (i = 0; i < len; i++) {
		char ch = s[i];
		unsigned d;

		if (is_dash_at(i)) {
			if (ch != '-')
				return bs__error(BS_EINVAL,
						 "id needs a '-' at %zu", i);
			continue;
		}
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return bs__error(BS_EINVAL,
					 "id has a character that is not a "
					 "lowercase hex digit at %zu",
					 i);
		u[b / 2] = (uint8_t)(u[b / 2] | (d << ((b & 1) ? 0 : 4)));
		b++;
	}
	if ((u[6] >> 4) != 7)
		return bs__error(BS_EINVAL, "id is a version %u UUID, not 7",
				 (unsigned)(u[6] >> 4));
	if ((u[8] & 0xc0) != 0x80)
		return bs__error(BS_EINVAL,
				 "id does not have the RFC 9562 variant");
	if (out != NULL)
		memcpy(out, u, BS__UUID_LEN);
	return BS_OK;
}
