/*
 * testutil.c - see testutil.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "testutil.h"

const char *tu_tempdir(void)
{
	static char dir[512];
	static char keystore[600];
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/bs-test-XXXXXX",
		 base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(keystore, sizeof(keystore), "%s/keystore", dir);
	setenv("BRANCHSYNC_KEYSTORE", keystore, 1);
	return dir;
}

void tu_rmrf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char sub[1024];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			tu_rmrf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

const char *tu_path(const char *dir, const char *name)
{
	static char ring[8][1024];
	static unsigned next;
	char *p = ring[next++ % 8];

	snprintf(p, 1024, "%s/%s", dir, name);
	return p;
}

uint8_t *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

void tu_patch(const char *path, long off, const void *data, size_t len)
{
	FILE *f = fopen(path, "r+b");

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

void tu_flip(const char *path, long off, uint8_t mask)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	c = fgetc(f);
	assert_true(c != EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	fputc(c ^ mask, f);
	fclose(f);
}

int tu_copy(const char *src, const char *dst)
{
	size_t len;
	uint8_t *buf = tu_read(src, &len);
	FILE *f;

	if (buf == NULL)
		return 0;
	f = fopen(dst, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	return 1;
}

int tu_file_contains(const char *path, const char *needle)
{
	size_t len;
	uint8_t *buf = tu_read(path, &len);
	int found;

	if (buf == NULL)
		return 0;
	found = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

bs_key tu_pin(const char *staff, const char *pin)
{
	bs_key k = { BS_KEY_PIN, staff, pin, strlen(pin) };
	return k;
}

bs_store *tu_create(const char *dir, int device_slot)
{
	bs_store_opts o = { TEST_KDF_MS, device_slot, 0 };
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = NULL;
	int rc = bs_store_create(&st, dir, &k, &o);

	if (rc != BS_OK)
		fail_msg("create: %s", bs_last_error());
	return st;
}

bs_store *tu_open(const char *dir)
{
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = NULL;
	int rc = bs_store_open(&st, dir, &k);

	if (rc != BS_OK)
		fail_msg("open: %s", bs_last_error());
	return st;
}

void tu_exec(bs_store *st, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(bs_store_db(st), sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

long long tu_int(bs_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v;

	assert_int_equal(sqlite3_prepare_v2(bs_store_db(st), sql, -1, &s, NULL),
			 SQLITE_OK);
	if (sqlite3_step(s) != SQLITE_ROW)
		fail_msg("%s: %s", sql, sqlite3_errmsg(bs_store_db(st)));
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

const char *tu_trigrams(const char *q)
{
	static char out[1024];
	size_t starts[128], nc = 0, i, o = 0, len = strlen(q);

	for (i = 0; i < len && nc < 127; i++)
		if (((unsigned char)q[i] & 0xc0) != 0x80)
			starts[nc++] = i;
	starts[nc] = len;
	out[0] = '\0';
	for (i = 0; i + 3 <= nc && o + 32 < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\"%.*s\"",
				      i > 0 ? " AND " : "",
				      (int)(starts[i + 3] - starts[i]),
				      q + starts[i]);
	return out;
}
