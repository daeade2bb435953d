/*
 * gen_main.c - branchsync-gen: write a synthetic head-office export to
 * standard output (gen.h).
 *
 *   branchsync-gen [--seed N] [--tickets N] [--branch CODE]
 *                  [--staff ID[,ID...]] [--now MS] [--no-catalogue]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static int number(const char *s, unsigned long long *out)
{
	char *end = NULL;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const char *staff[17];
	static char staff_buf[1024];
	struct gen_opts o = { 1, 300, "BR-0101", NULL, 1795000000000LL, 1 };
	unsigned long long v;
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-catalogue") == 0) {
			o.catalogue = 0;
			continue;
		}
		if (val == NULL)
			goto usage;
		i++;
		if (strcmp(a, "--seed") == 0 && number(val, &v) == 0) {
			o.seed = v;
		} else if (strcmp(a, "--tickets") == 0 && number(val, &v) == 0 &&
			   v <= 1000000) {
			o.tickets = (unsigned)v;
		} else if (strcmp(a, "--now") == 0 && number(val, &v) == 0) {
			o.now_ms = (long long)v;
		} else if (strcmp(a, "--branch") == 0) {
			o.branch = val;
		} else if (strcmp(a, "--staff") == 0 &&
			   strlen(val) < sizeof(staff_buf)) {
			char *p;
			strcpy(staff_buf, val);
			for (p = strtok(staff_buf, ","); p && n < 16;
			     p = strtok(NULL, ","))
				staff[n++] = p;
			o.staff = staff;
		} else {
			goto usage;
		}
	}
	if (gen_export(stdout, &o) != 0) {
		fprintf(stderr, "branchsync-gen: cannot write the export\n");
		return 11;
	}
	return 0;
usage:
	fprintf(stderr, "usage: branchsync-gen [--seed N] [--tickets N] "
			"[--branch CODE] [--staff ID,...] [--now MS] "
			"[--no-catalogue]\n");
	return 2;
}
