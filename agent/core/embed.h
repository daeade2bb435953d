/*
 * embed.h - files compiled into the binary by platform/tools/embed.sh
 * (schema migrations, the default catalogue).  Arrays end with a NULL
 * name.
 */
#ifndef BS_CORE_EMBED_H
#define BS_CORE_EMBED_H

struct bs__embedded {
	const char *name;
	const char *text;
};

/* schema/agent/NNN_*.sql, in order. */
extern const struct bs__embedded bs__migrations[];

/* schema/catalogue/NN_*.jsonl: the catalogue a new store starts with, in
 * the import format (schema/import.md). */
extern const struct bs__embedded bs__default_catalogue[];

#endif
