/*
 * uuid.h - UUIDv7 (RFC 9562 §5.7): the ids of tickets, activities and
 * devices.  Head office and every device mint ids without coordinating;
 * 74 random bits make collisions negligible, and the 48-bit millisecond
 * prefix makes ids sort by creation time, which keeps SQLite's b-trees
 * appending rather than splitting.
 *
 * Layout, big-endian: unix_ts_ms (48) | ver = 0111 (4) | rand_a (12) |
 * var = 10 (2) | rand_b (62).  Text: 36 lowercase characters,
 * 8-4-4-4-12 hex digits.
 *
 * Pure: the caller supplies the time and 10 random bytes
 * (bs_os_now_ms and bs_os_random).  A generator kept by the caller makes
 * ids from one writer strictly increasing even inside one millisecond or
 * when the wall clock steps back (RFC 9562 §6.2, method 2: the random
 * part of the previous id plus a random increment).
 */
#ifndef BS_CORE_UUID_H
#define BS_CORE_UUID_H

#include <stddef.h>
#include <stdint.h>

#define BS__UUID_LEN 16
#define BS__UUID_RANDOM_LEN 10
#define BS__UUID_TEXT_LEN 36

struct bs__uuid_gen {
	uint8_t last[BS__UUID_LEN]; /* all zero before the first id */
};

/*
 * Mint a UUIDv7 from ms (0 <= ms < 2^48) and 10 random bytes, with no
 * state.  BS_EINVAL if ms is out of range.
 */
int bs__uuid_v7(uint8_t out[BS__UUID_LEN], int64_t ms,
		const uint8_t rnd[BS__UUID_RANDOM_LEN]);

/*
 * Mint the next id of generator g: greater than every id g minted
 * before.  If ms is ahead of g's last id, this is bs__uuid_v7(); if not
 * (same millisecond, or a clock that went back), the last id's random
 * bits are increased by a random amount of 1 to 2^32, carrying into the
 * timestamp if they run out.  BS_EINVAL if ms is out of range or the
 * timestamp space is exhausted; g is then unchanged.
 */
int bs__uuid_next(uint8_t out[BS__UUID_LEN], struct bs__uuid_gen *g,
		  int64_t ms, const uint8_t rnd[BS__UUID_RANDOM_LEN]);

/* The millisecond timestamp inside u.  Cannot fail. */
int64_t bs__uuid_ms(const uint8_t u[BS__UUID_LEN]);

/* Byte order, which is also time order and text order.  <0, 0, >0. */
int bs__uuid_cmp(const uint8_t a[BS__UUID_LEN], const uint8_t b[BS__UUID_LEN]);

/* Write the 36 lowercase characters and a NUL.  Cannot fail. */
void bs__uuid_format(char out[BS__UUID_TEXT_LEN + 1],
		     const uint8_t u[BS__UUID_LEN]);

/*
 * Parse and validate exactly len bytes of s (no NUL needed): 36
 * characters, hyphens at 8, 13, 18 and 23, lowercase hex elsewhere,
 * version 7 and the RFC 9562 variant.  Uppercase is refused so that one
 * id has one spelling in every table and index.  out may be NULL to
 * validate only.  BS_EINVAL with a message saying what is wrong.
 */
int bs__uuid_parse(uint8_t out[BS__UUID_LEN], const char *s, size_t len);

#endif
