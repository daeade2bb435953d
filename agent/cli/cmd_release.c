/*
 * cmd_release.c - the commands IT uses to ship builds to tablets:
 * release-key (make the signing key pair), release-sign (make a signed
 * bundle of a build), verify-update (check a bundle, and install it).
 * The format and the checks are in agent/update/bundle.h.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/update/bundle.h"
#include "platform/os.h"
#include "cli.h"

int cmd_release_key(struct cli *c, int argc, char **argv)
{
	const char *out = NULL;
	const struct opt opts[] = {
		{ "--out", &out, NULL },
		{ NULL, NULL, NULL },
	};
	char priv[PATH_MAX], pub[PATH_MAX];
	int rc;

	rc = cli_parse(c, cli_find("release-key"), argc, argv, opts, NULL, 0, 0,
		       NULL);
	if (rc != BS_OK)
		return rc;
	if (out == NULL)
		return bs__error(BS_EINVAL, "release-key: --out DIR is required");
	if (snprintf(priv, sizeof(priv), "%s/release.key", out) >=
		    (int)sizeof(priv) ||
	    snprintf(pub, sizeof(pub), "%s/release.pub", out) >=
		    (int)sizeof(pub))
		return bs__error(BS_EINVAL, "release-key: path too long");
	rc = bs_os_mkdir_private(out);
	if (rc == BS_OK)
		rc = bs__release_keygen(priv, pub);
	if (rc == BS_OK)
		printf("Release key: %s (keep it offline; never on a tablet)\n"
		       "Public key:  %s (install on every device)\n",
		       priv, pub);
	return rc;
}

int cmd_release_sign(struct cli *c, int argc, char **argv)
{
	const char *key = NULL, *target = NULL, *version = BS_VERSION;
	const char *out = NULL;
	const struct opt opts[] = {
		{ "--key", &key, NULL },
		{ "--target", &target, NULL },
		{ "--version", &version, NULL },
		{ "--out", &out, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[1];
	int rc;

	rc = cli_parse(c, cli_find("release-sign"), argc, argv, opts, pos, 1, 1,
		       NULL);
	if (rc != BS_OK)
		return rc;
	if (key == NULL || target == NULL || out == NULL)
		return bs__error(BS_EINVAL, "release-sign: --key, --target and "
					    "--out are required");
	rc = bs__bundle_make(out, pos[0], "branchsync", version, target, key);
	if (rc == BS_OK)
		printf("Signed %s %s for %s: %s\n", "branchsync", version,
		       target, out);
	return rc;
}

int cmd_verify_update(struct cli *c, int argc, char **argv)
{
	const char *key = "/etc/branchsync/release.pub", *install = NULL;
	const struct opt opts[] = {
		{ "--key", &key, NULL },
		{ "--install", &install, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[1];
	struct bs__manifest m;
	int rc;

	rc = cli_parse(c, cli_find("verify-update"), argc, argv, opts, pos, 1,
		       1, NULL);
	if (rc != BS_OK)
		return rc;
	if (install != NULL)
		rc = bs__bundle_install(pos[0], key, bs__build_target(),
					BS_VERSION, install);
	else
		rc = bs__bundle_verify(&m, pos[0], key, bs__build_target(),
				       BS_VERSION);
	if (rc == BS_OK && install != NULL)
		printf("Verified and installed %s.\n", install);
	else if (rc == BS_OK)
		printf("Bundle verified: branchsync %s for %s, signed by the "
		       "release key; newer than this %s.\n",
		       m.version, m.target, BS_VERSION);
	return rc;
}
