/*
 * branchsync/error.h - error codes of the branchsync library.
 *
 * One list, BS_ERROR_LIST, generates the enum, bs_strerror(), the exit
 * codes of the branchsync command and the machine-readable reason strings
 * that the hub sends.  Codes are never renumbered: add new ones at the end.
 * Detail (which page is damaged, which field conflicted) goes into the
 * thread-local last error, read with bs_last_error().
 */
#ifndef BRANCHSYNC_ERROR_H
#define BRANCHSYNC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, code, exit status, reason, message) */
#define BS_ERROR_LIST(X)                                                     \
	X(OK, 0, 0, "ok", "success")                                         \
	X(ERR, -1, 1, "error", "internal error")                             \
	X(ENOMEM, -2, 70, "no_memory", "out of memory")                      \
	X(EINVAL, -3, 2, "invalid", "invalid argument or input")             \
	X(ENOTFOUND, -4, 3, "not_found", "not found")                        \
	X(EDAMAGED, -5, 4, "damaged", "store is damaged")                    \
	X(EBADKEY, -6, 5, "bad_key", "wrong PIN or key")                     \
	X(ENOTSTORE, -7, 6, "not_a_store", "not a branchsync store")         \
	X(ECONFLICT, -8, 7, "conflict", "conflicting change")                \
	X(ESCOPE, -9, 8, "out_of_scope", "outside this device's scope")      \
	X(ENETWORK, -10, 9, "network", "network failure")                    \
	X(ETIMEOUT, -11, 10, "timeout", "timed out")                         \
	X(EIO, -12, 11, "io", "input/output error")                          \
	X(EEXISTS, -13, 12, "exists", "already exists")                      \
	X(EBUSY, -14, 13, "busy", "in use by another process")               \
	X(EREFUSED, -15, 14, "refused", "operation not allowed")             \
	X(ELOCKED, -16, 15, "locked", "store is locked by policy")           \
	X(EREVOKED, -17, 16, "revoked", "device has been revoked")

enum bs_error {
#define BS__ERROR_ENUM(name, code, exit, reason, msg) BS_##name = code,
	BS_ERROR_LIST(BS__ERROR_ENUM)
#undef BS__ERROR_ENUM
};

/* Static text for rc; never NULL, "unknown error" for unknown codes. */
const char *bs_strerror(int rc);

/* Machine-readable reason ("bad_key", ...) for rc; never NULL. */
const char *bs_error_reason(int rc);

/* Process exit status the branchsync command uses for rc. */
int bs_error_exit_code(int rc);

/*
 * The one-line message of the last failure in this thread, or
 * bs_strerror() of the last code if no detail was recorded.  The string
 * lives until the next failing call in the same thread.
 */
const char *bs_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
