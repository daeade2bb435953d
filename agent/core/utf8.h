/*
 * utf8.h - UTF-8 validation, decoding and display width, shared by the
 * agent and the hub.  Every text that enters branchsync (a reply typed
 * on a tablet, a line of a head-office export, a wire document) is
 * checked here before it is stored, so that a store never holds bytes
 * that another program cannot display or index.
 *
 * Valid means RFC 3629: shortest form only, no UTF-16 surrogates, no
 * code point above U+10FFFF.  NUL bytes are refused too, because every
 * consumer of this text treats it as a C string.
 *
 * Display width follows the usual terminal convention (East Asian Wide
 * and Fullwidth characters take two columns, combining marks none), so
 * that tables of Chinese text line up in a terminal.
 *
 * Pure: no allocation, no I/O.
 */
#ifndef BS_CORE_UTF8_H
#define BS_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * 1 if the len bytes at s are valid UTF-8 without NUL bytes, else 0 and
 * *bad_off (if not NULL) is the offset of the first byte that is not.
 * Cannot fail.
 */
int bs__utf8_valid(const char *s, size_t len, size_t *bad_off);

/*
 * Decode one code point from the len bytes at s into *cp.  Returns the
 * number of bytes it takes (1 to 4), or 0 if the bytes there are not a
 * valid sequence (or len is 0).
 */
size_t bs__utf8_decode(uint32_t *cp, const char *s, size_t len);

/* Number of code points in the valid UTF-8 text s[0..len). */
size_t bs__utf8_chars(const char *s, size_t len);

/*
 * Columns a terminal gives code point cp: 2 for East Asian Wide and
 * Fullwidth, 0 for combining marks, zero-width characters and controls,
 * 1 otherwise.
 */
int bs__utf8_cp_width(uint32_t cp);

/* Columns the NUL-terminated valid UTF-8 text s takes. */
size_t bs__utf8_width(const char *s);

/*
 * Length in bytes of the longest prefix of the NUL-terminated valid
 * UTF-8 text s that fits in max_width columns, cut at a character
 * boundary; *width_out (if not NULL) receives its width.
 */
size_t bs__utf8_fit(const char *s, size_t max_width, size_t *width_out);

/*
 * Byte offset of the start of the character that contains byte off of
 * the valid UTF-8 text s (off itself if it already starts one).
 */
size_t bs__utf8_floor(const char *s, size_t off);

#endif
