/*
 * gen.h - a synthetic head-office export: complaints of a Chinese retail
 * bank across its classification codes, channels, risk classes and
 * priorities, with masked customers, their earlier complaints and call
 * transcripts, in the import format (schema/import.md).  Deterministic:
 * the same seed and options give the same bytes.  The demo, the tests
 * and the benchmarks all use it.
 */
#ifndef BS_GEN_H
#define BS_GEN_H

#include <stdint.h>
#include <stdio.h>

struct gen_opts {
	uint64_t seed;
	unsigned tickets;     /* complaints to generate */
	const char *branch;   /* branch they are dispatched to */
	const char **staff;   /* assignees, round robin; NULL-terminated */
	int64_t now_ms;       /* "now" of the export; T0s fall before it */
	int catalogue;        /* also emit head office's catalogue */
};

/* Write the export to out.  Returns 0, or -1 if writing failed. */
int gen_export(FILE *out, const struct gen_opts *o);

#endif
