/*
 * table.c - terminal output: cells padded or cut to a number of columns
 * by display width (agent/core/utf8.h: CJK characters take two columns),
 * so tables of Chinese text line up.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/core/utf8.h"
#include "cli.h"

size_t cli_width(const char *s)
{
	return bs__utf8_width(s);
}

void cli_put_cell(const char *s, size_t cols)
{
	const char *p = s ? s : "";
	size_t left = strlen(p);
	size_t total = bs__utf8_width(p);
	/* Keep a column for the ellipsis when the text is cut. */
	size_t room = total > cols && cols > 0 ? cols - 1 : cols;
	size_t used = 0;

	while (left > 0) {
		uint32_t cp;
		size_t n = bs__utf8_decode(&cp, p, left);
		size_t w;

		if (n == 0)
			break;
		/* Line breaks and tabs in a subject become spaces. */
		w = cp < 0x20 ? 1 : (size_t)bs__utf8_cp_width(cp);
		if (used + w > room)
			break;
		if (cp < 0x20)
			putchar(' ');
		else
			fwrite(p, 1, n, stdout);
		used += w;
		p += n;
		left -= n;
	}
	if (left > 0 && used < cols) {
		fputs("…", stdout);
		used++;
	}
	while (used++ < cols)
		putchar(' ');
}

void cli_put_json(const char *json)
{
	fputs(json, stdout);
	putchar('\n');
}
