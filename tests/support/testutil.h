/*
 * testutil.h - helpers shared by the test programs: private temporary
 * folders, whole-file reads and byte surgery, and a store made quickly
 * (a low KDF work factor is for tests only; the product never uses one).
 */
#ifndef BS_TESTUTIL_H
#define BS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "branchsync.h"

/* KDF target for tests, in milliseconds. */
#define TEST_KDF_MS 1
#define TEST_PIN "4711-test"

/*
 * A fresh private folder under $TMPDIR; also points BRANCHSYNC_KEYSTORE
 * inside it so tests never touch the user's key store.  Returns a static
 * buffer valid until the next call.
 */
const char *tu_tempdir(void);

/* rm -rf path. */
void tu_rmrf(const char *path);

/* path joined with name, in a static ring of 8 buffers: use it at once,
 * never keep it. */
const char *tu_path(const char *dir, const char *name);

/* Whole file in a malloc'd buffer (NULL if missing); *len its size. */
uint8_t *tu_read(const char *path, size_t *len);

/* Write len bytes at off in the file at path (no truncation). */
void tu_patch(const char *path, long off, const void *data, size_t len);

/* XOR the byte at off with mask. */
void tu_flip(const char *path, long off, uint8_t mask);

/* Copy a file; return 0 if src does not exist. */
int tu_copy(const char *src, const char *dst);

/* 1 if needle occurs in the file at path. */
int tu_file_contains(const char *path, const char *needle);

/* A bs_key for the test PIN of staff. */
bs_key tu_pin(const char *staff, const char *pin);

/* Create a store in dir for staff "s1" with TEST_PIN (asserts success). */
bs_store *tu_create(const char *dir, int device_slot);

/* Open with the PIN (asserts success). */
bs_store *tu_open(const char *dir);

/* Run sql on the store, asserting SQLITE_OK. */
void tu_exec(bs_store *st, const char *sql);

/* sql's first column of the first row as an integer (asserts a row). */
long long tu_int(bs_store *st, const char *sql);

/* The full-text query that finds q (UTF-8, 3 characters or more) in a
 * trigram index without positions: q's trigrams, each quoted, joined by
 * AND (schema/agent/003_fts_lean.sql).  Static buffer. */
const char *tu_trigrams(const char *q);

#endif
