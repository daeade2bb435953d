/*
 * bundle.h - signed release bundles: how IT ships agent builds to
 * tablets and how the agent checks one before it installs it.
 *
 * A bundle is one file:
 *
 *   "BSBUNDLE1\n"
 *   4-byte big-endian length M, then M bytes of manifest (text)
 *   4-byte big-endian length S, then S bytes of signature (DER ECDSA)
 *   the payload (the agent binary), exactly as many bytes as the
 *   manifest's size says
 *
 * The manifest is lines of key=value: format, name, version, target,
 * size, sha256 (of the payload, hex).  The signature is ECDSA P-256 over
 * SHA-256 of the manifest bytes, made with IT's release key; verifying
 * the signature and then the payload's hash against the manifest proves
 * both.  A bundle is refused unless its target is this build's and its
 * version is newer than the running one.
 */
#ifndef BS_UPDATE_BUNDLE_H
#define BS_UPDATE_BUNDLE_H

#include <stdint.h>

struct bs__manifest {
	char name[64];
	char version[32];
	char target[32];
	uint64_t size;
	uint8_t sha256[32];
};

/*
 * Generate a release key pair: the private key to priv_path (PEM, 0600,
 * refused with BS_EEXISTS if it exists) and the public key to pub_path.
 */
int bs__release_keygen(const char *priv_path, const char *pub_path);

/* Make a bundle at out_path of the file payload_path, signed with the
 * private key at key_path. */
int bs__bundle_make(const char *out_path, const char *payload_path,
		    const char *name, const char *version, const char *target,
		    const char *key_path);

/*
 * Check the bundle at path against the public key at pub_path: the
 * signature (BS_EBADKEY if it does not verify), the payload's size and
 * hash (BS_EDAMAGED), the target (BS_EREFUSED unless it equals target)
 * and the version (BS_EREFUSED unless newer than version).  A malformed
 * file is BS_EINVAL.  The manifest goes to *out if not NULL.
 */
int bs__bundle_verify(struct bs__manifest *out, const char *path,
		      const char *pub_path, const char *target,
		      const char *version);

/* Verify, then write the payload to dest atomically with mode 0755. */
int bs__bundle_install(const char *path, const char *pub_path,
		       const char *target, const char *version,
		       const char *dest);

/*
 * Compare two versions "MAJOR.MINOR.PATCH" numerically: <0, 0, >0.
 * BS_EINVAL-style failure is reported as *ok = 0.
 */
int bs__version_cmp(const char *a, const char *b, int *ok);

/* The target this build runs on ("amd64", "aarch64", "armhf"). */
const char *bs__build_target(void);

#endif
