/*
 * mask.h - masking of customer data before it is kept on a device
 * (PIPL Art. 51, JR/T 0171-2020 class C2), shared by the agent, which
 * masks what staff type at the counter, and the hub, which masks what it
 * sends.
 *
 *   name       张三丰 -> 张*          first character, then one '*'
 *   phone      13812341234 -> 138****1234
 *   ID number  110101199001011234 -> 110***********1234
 *
 * Every mask is idempotent: masking a masked value gives it back
 * unchanged, so a value can be masked again wherever it enters the
 * device (an import, a pull) without knowing whether head office
 * already did.  A '*' in the input counts as a hidden character.
 *
 * Pure: no allocation.  Each function writes a NUL-terminated result of
 * at most cap bytes and returns BS_OK, or BS_EINVAL with a message when
 * the input is not a name, phone number or ID number, or does not fit.
 */
#ifndef BS_CORE_MASK_H
#define BS_CORE_MASK_H

#include <stddef.h>

/* Room enough for any masked value. */
#define BS__MASK_MAX 64

/*
 * A person's name: 1 to 64 characters of valid UTF-8 (surrounding
 * spaces ignored).  The first character and a single '*', whatever the
 * length, so that the mask does not tell how long the name is; a
 * one-character name becomes "*".
 */
int bs__mask_name(char *out, size_t cap, const char *name);

/*
 * A phone number: an optional leading '+', then 5 to 20 digits (or
 * '*'), spaces and hyphens allowed and dropped.  With 11 or more
 * digits, all but the last 8 are kept, then 4 '*' and the last 4
 * (13812341234 -> 138****1234, +8613812341234 -> +86138****1234); with
 * 7 to 10, only the last 4 are kept; with fewer, the last 2.
 */
int bs__mask_phone(char *out, size_t cap, const char *phone);

/*
 * An identity document number: 6 to 32 letters or digits (or '*').
 * With 10 or more, the first 3 and last 4 are kept (the resident ID
 * card's region prefix and checksum end); with fewer, the last 2.
 */
int bs__mask_id_number(char *out, size_t cap, const char *id);

#endif
