/*
 * utf8.c - UTF-8 validation, decoding and display width.
 *
 * The decoder is the one place that knows the encoding; validation,
 * counting and width are loops over it.  The width table lists only the
 * ranges that matter for the scripts branch staff type (CJK, Hangul,
 * fullwidth forms, emoji) and the common combining marks; everything
 * else is one column.
 */
#include "utf8.h"

#include <string.h>

size_t bs__utf8_decode(uint32_t *cp, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c, min;
	size_t n, i;

	if (len == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, or 0xc0, 0xc1, 0xf5.. */
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Bytes in a word of ASCII text without NUL: no high bit, no zero byte. */
static int ascii_word(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;

	return ((w | ((w - ones) & ~w)) & highs) == 0;
}

int bs__utf8_valid(const char *s, size_t len, size_t *bad_off)
{
	size_t off = 0, n;
	uint32_t cp;
	uint64_t w;

	while (off < len) {
		/* Most text on the wire is ASCII: eight bytes at a time. */
		if (len - off >= sizeof(w)) {
			memcpy(&w, s + off, sizeof(w));
			if (ascii_word(w)) {
				off += sizeof(w);
				continue;
			}
		}
		/* Then Chinese text: three-byte characters, checked here
		 * as the decoder would (what fails goes to it for the
		 * verdict). */
		if (len - off >= 3) {
			const unsigned char *p = (const unsigned char *)s + off;

			if (p[0] >= 0xe0 && p[0] <= 0xef &&
			    (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
				cp = ((uint32_t)(p[0] & 0x0f) << 12) |
				     ((uint32_t)(p[1] & 0x3f) << 6) |
				     (p[2] & 0x3f);
				if (cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) {
					off += 3;
					continue;
				}
			}
		}
		n = bs__utf8_decode(&cp, s + off, len - off);
		if (n == 0 || cp == 0) {
			if (bad_off != NULL)
				*bad_off = off;
			return 0;
		}
		off += n;
	}
	return 1;
}

size_t bs__utf8_chars(const char *s, size_t len)
{
	size_t off = 0, count = 0, n;
	uint32_t cp;

	while (off < len) {
		n = bs__utf8_decode(&cp, s + off, len - off);
		off += n ? n : 1;
		count++;
	}
	return count;
}

struct range {
	uint32_t lo, hi;
};

/* East Asian Wide (W) and Fullwidth (F) blocks. */
static const struct range wide[] = {
	{ 0x1100, 0x115f },   { 0x231a, 0x231b },   { 0x2329, 0x232a },
	{ 0x23e9, 0x23ec },   { 0x23f0, 0x23f0 },   { 0x23f3, 0x23f3 },
	{ 0x25fd, 0x25fe },   { 0x2614, 0x2615 },   { 0x2648, 0x2653 },
	{ 0x267f, 0x267f },   { 0x2693, 0x2693 },   { 0x26a1, 0x26a1 },
	{ 0x26aa, 0x26ab },   { 0x26bd, 0x26be },   { 0x26c4, 0x26c5 },
	{ 0x26ce, 0x26ce },   { 0x26d4, 0x26d4 },   { 0x26ea, 0x26ea },
	{ 0x26f2, 0x26f3 },   { 0x26f5, 0x26f5 },   { 0x26fa, 0x26fa },
	{ 0x26fd, 0x26fd },   { 0x2705, 0x2705 },   { 0x270a, 0x270b },
	{ 0x2728, 0x2728 },   { 0x274c, 0x274c },   { 0x274e, 0x274e },
	{ 0x2753, 0x2755 },   { 0x2757, 0x2757 },   { 0x2795, 0x2797 },
	{ 0x27b0, 0x27b0 },   { 0x27bf, 0x27bf },   { 0x2b1b, 0x2b1c },
	{ 0x2b50, 0x2b50 },   { 0x2b55, 0x2b55 },   { 0x2e80, 0x303e },
	{ 0x3041, 0x33ff },   { 0x3400, 0x4dbf },   { 0x4e00, 0x9fff },
	{ 0xa000, 0xa4cf },   { 0xa960, 0xa97f },   { 0xac00, 0xd7a3 },
	{ 0xf900, 0xfaff },   { 0xfe10, 0xfe19 },   { 0xfe30, 0xfe6f },
	{ 0xff00, 0xff60 },   { 0xffe0, 0xffe6 },   { 0x16fe0, 0x16fe4 },
	{ 0x17000, 0x18cff }, { 0x1b000, 0x1b2ff }, { 0x1f004, 0x1f004 },
	{ 0x1f0cf, 0x1f0cf }, { 0x1f18e, 0x1f18e }, { 0x1f191, 0x1f19a },
	{ 0x1f200, 0x1f251 }, { 0x1f300, 0x1f64f }, { 0x1f680, 0x1f6ff },
	{ 0x1f7e0, 0x1f7eb }, { 0x1f90c, 0x1f9ff }, { 0x1fa70, 0x1faff },
	{ 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
};

/* Combining marks and zero-width characters. */
static const struct range zero[] = {
	{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
	{ 0x0610, 0x061a }, { 0x064b, 0x065f }, { 0x0e31, 0x0e31 },
	{ 0x0e34, 0x0e3a }, { 0x0e47, 0x0e4e }, { 0x1ab0, 0x1aff },
	{ 0x1dc0, 0x1dff }, { 0x200b, 0x200f }, { 0x2028, 0x202e },
	{ 0x2060, 0x2064 }, { 0x20d0, 0x20ff }, { 0x302a, 0x302d },
	{ 0x3099, 0x309a }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
	{ 0xfeff, 0xfeff }, { 0xe0100, 0xe01ef },
};

static int in_table(uint32_t cp, const struct range *t, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < t[mid].lo)
			hi = mid;
		else if (cp > t[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int bs__utf8_cp_width(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		return 0;
	if (cp < 0x300)
		return 1;
	if (in_table(cp, zero, sizeof(zero) / sizeof(zero[0])))
		return 0;
	if (in_table(cp, wide, sizeof(wide) / sizeof(wide[0])))
		return 2;
	return 1;
}

size_t bs__utf8_width(const char *s)
{
	size_t w;

	bs__utf8_fit(s, (size_t)-1, &w);
	return w;
}

size_t bs__utf8_fit(const char *s, size_t max_width, size_t *width_out)
{
	size_t off = 0, w = 0, n;
	uint32_t cp;
	int cw;

	while (s[off] != '\0') {
		n = bs__utf8_decode(&cp, s + off, 4);
		if (n == 0) {
			n = 1; /* not valid UTF-8: count the byte as one */
			cw = 1;
		} else {
			cw = bs__utf8_cp_width(cp);
		}
		if (w + (size_t)cw > max_width)
			break;
		w += (size_t)cw;
		off += n;
	}
	if (width_out != NULL)
		*width_out = w;
	return off;
}

size_t bs__utf8_floor(const char *s, size_t off)
{
	const unsigned char *p = (const unsigned char *)s;

	while (off > 0 && (p[off] & 0xc0) == 0x80)
		off--;
	return off;
}
