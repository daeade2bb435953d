/*
 * main.c - branchsync [global options] COMMAND [args]: global options,
 * the command table, help, and the mapping of failures to one line on
 * standard error and a distinct exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "cli.h"

const struct command bs__commands[] = {
	{ "init", cmd_init,
	  "--staff ID --branch CODE [--role staff|manager] [--device-key] "
	  "[--cipher NAME]",
	  "create the encrypted store for a staff member",
	  "Asks for a new PIN twice (or reads it once from --pin-fd) and\n"
	  "creates the store with the default catalogue.  --device-key also\n"
	  "keeps a device key in this computer's key store.  --cipher\n"
	  "aes-256-gcm or chacha20-poly1305 overrides the choice made for\n"
	  "this device (the faster one with hardware AES, else ChaCha20)." },
	{ "import", cmd_import, "FILE|-", "import a head-office export",
	  "FILE is JSON Lines (schema/import.md).  All or nothing: a bad\n"
	  "line is reported with its number and nothing is imported." },
	{ "list", cmd_list, "[--branch] [--all] [--status STATE] [--limit N]",
	  "the queue, most urgent first",
	  "Your assigned tickets; --branch shows the whole branch, --all\n"
	  "includes closed ones." },
	{ "show", cmd_show, "TICKET",
	  "a ticket with its timeline and the customer's history", NULL },
	{ "reply", cmd_reply, "TICKET TEXT|- [--template ID]",
	  "write a reply to the customer",
	  "TEXT - reads the reply from standard input.  --template ID fills\n"
	  "in a response template instead (see `templates`)." },
	{ "note", cmd_note, "TICKET TEXT|-", "write an internal note", NULL },
	{ "call", cmd_call, "TICKET TEXT|-", "log a call with the customer",
	  NULL },
	{ "move", cmd_move, "TICKET STATE [--reason TEXT]",
	  "move a ticket to another state",
	  "States a branch may set: acknowledged, in_progress,\n"
	  "pending_external, resolution_proposed, transfer_requested,\n"
	  "extension_requested, withdrawn (with --reason).  Only head office\n"
	  "closes a ticket." },
	{ "new", cmd_new,
	  "--category CODE --channel CHANNEL --subject TEXT --description TEXT|-"
	  " [--priority P] [--customer-name NAME] [--customer-phone PHONE]",
	  "register a walk-in complaint",
	  "The device keeps the customer's name and phone masked; the full\n"
	  "values wait in the outbox for head office." },
	{ "search", cmd_search, "QUERY [--limit N]",
	  "full-text search, Chinese or English", NULL },
	{ "categories", cmd_categories, "", "the classification codes", NULL },
	{ "templates", cmd_templates, "[--category CODE]",
	  "the response templates", NULL },
	{ "enroll", cmd_enroll, "HUB_URL CODE",
	  "register this device with head office's hub",
	  "HUB_URL is https://host:port; CODE is the one-time code IT gave\n"
	  "(e.g. 7KQD-9XG2-M4TB-HW0C-ZR5E).  The hub's certificate is checked\n"
	  "against the code and pinned: no other is ever trusted." },
	{ "sync", cmd_sync, "[--watch [--interval SECONDS]]",
	  "send your changes to head office and fetch theirs",
	  "One round: the outbox goes to the hub, then the changes in your\n"
	  "scope come back, page by page.  --watch keeps running: a round\n"
	  "soon after each change and every --interval seconds (default\n"
	  "300), retrying with growing delays while the hub is unreachable.\n"
	  "A device head office has revoked wipes its store." },
	{ "conflicts", cmd_conflicts,
	  "[--all] | show ID | resolve ID --keep-mine|--take-theirs|--edit "
	  "TEXT|-",
	  "what head office refused or overruled, with both sides",
	  "Nothing is deleted: resolving records the decision beside both\n"
	  "texts.  --keep-mine and --edit send your text again as a new\n"
	  "change where the ticket is still on this device." },
	{ "passwd", cmd_passwd, "", "change your PIN",
	  "Asks for the current PIN, then the new one twice (with --pin-fd:\n"
	  "two lines, current then new)." },
	{ "rekey", cmd_rekey, "", "re-encrypt the store under a new data key",
	  "Other staff members' PIN slots cannot be carried over (their PINs\n"
	  "are not known here) and are removed; they are told how many." },
	{ "doctor", cmd_doctor, "", "check every page and the database",
	  NULL },
	{ "wipe", cmd_wipe, "--yes", "destroy the store and its keys",
	  "Asks for the PIN, then destroys the key slots (after which the\n"
	  "data cannot be read by anyone) and the files." },
	{ "status", cmd_status, "", "queue, outbox and store facts", NULL },
	{ "release-key", cmd_release_key, "--out DIR",
	  "IT: make the key pair that signs agent builds",
	  "Writes DIR/release.key (private, 0600; keep it off the devices)\n"
	  "and DIR/release.pub (install it on every device)." },
	{ "release-sign", cmd_release_sign,
	  "BINARY --key KEY --target TARGET --out BUNDLE [--version V]",
	  "IT: make a signed release bundle of a build", NULL },
	{ "verify-update", cmd_verify_update,
	  "BUNDLE [--key PUB] [--install PATH]",
	  "check a release bundle before installing it",
	  "Checks the signature against the release public key (default\n"
	  "/etc/branchsync/release.pub), the binary against the signed\n"
	  "manifest, that the bundle is for this device's target, and that\n"
	  "it is newer than this build.  --install writes the binary\n"
	  "atomically once all of that holds." },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct command *cli_find(const char *name)
{
	const struct command *cmd;

	for (cmd = bs__commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

int cli_usage(const struct cli *c, const struct command *cmd)
{
	return bs__error(BS_EINVAL, "usage: %s %s %s", c->prog, cmd->name,
			 cmd->args);
}

int cli_parse(const struct cli *c, const struct command *cmd, int argc,
	      char **argv, const struct opt *opts, const char **pos, int min,
	      int max, int *npos)
{
	int n = 0;
	int i;

	for (i = 1; i < argc; i++) {
		const struct opt *o = NULL;

		if (argv[i][0] == '-' && argv[i][1] == '-') {
			for (o = opts; o != NULL && o->name != NULL; o++)
				if (strcmp(o->name, argv[i]) == 0)
					break;
			if (o == NULL || o->name == NULL)
				return bs__error(BS_EINVAL,
						 "%s: unknown option '%s'; "
						 "usage: %s %s %s",
						 cmd->name, argv[i], c->prog,
						 cmd->name, cmd->args);
			if (o->value == NULL) {
				*o->flag = 1;
				continue;
			}
			if (i + 1 >= argc)
				return bs__error(BS_EINVAL,
						 "%s: %s needs a value",
						 cmd->name, argv[i]);
			*o->value = argv[++i];
			continue;
		}
		if (n >= max)
			return cli_usage(c, cmd);
		pos[n++] = argv[i];
	}
	if (n < min)
		return cli_usage(c, cmd);
	if (npos != NULL)
		*npos = n;
	return BS_OK;
}

int cli_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int cli_help(const struct cli *c, const struct command *cmd)
{
	printf("usage: %s [global options] %s %s\n\n%s.\n", c->prog, cmd->name,
	       cmd->args, cmd->summary);
	if (cmd->help != NULL)
		printf("\n%s\n", cmd->help);
	return BS_OK;
}

static void usage(const char *prog, FILE *out)
{
	const struct command *cmd;

	fprintf(out,
		"usage: %s [--store DIR] [--staff ID] [--pin-fd N] [--json] "
		"COMMAND [ARGS]\n\n"
		"Work customer complaints offline, in an encrypted store.\n\n"
		"Commands:\n",
		prog);
	for (cmd = bs__commands; cmd->name != NULL; cmd++)
		fprintf(out, "  %-11s %s\n", cmd->name, cmd->summary);
	fprintf(out,
		"\nGlobal options:\n"
		"  --store DIR   the store (default: $BRANCHSYNC_STORE, or the\n"
		"                platform's data folder)\n"
		"  --staff ID    whose PIN slot to open (default: try each)\n"
		"  --pin-fd N    read the PIN from file descriptor N, not the "
		"terminal\n"
		"  --json        print JSON for scripts\n"
		"  --version     print the version\n\n"
		"`%s COMMAND --help` explains a command.\n",
		prog);
}

static int parse_fd(const char *s, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 65535)
		return bs__error(BS_EINVAL, "--pin-fd needs a file descriptor "
					    "number, not '%s'",
				 s);
	*out = (int)v;
	return BS_OK;
}

int main(int argc, char **argv)
{
	struct cli c;
	const struct command *cmd;
	int i = 1;
	int rc = BS_OK;

	memset(&c, 0, sizeof(c));
	c.pin_fd = -1;
	c.prog = "branchsync";
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(c.prog, stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("branchsync %s\n", BS_VERSION);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			c.json = 1;
		} else if (strcmp(a, "--store") == 0 && v != NULL) {
			c.store_dir = v;
			i++;
		} else if (strcmp(a, "--staff") == 0 && v != NULL) {
			c.staff = v;
			i++;
		} else if (strcmp(a, "--pin-fd") == 0 && v != NULL) {
			if ((rc = parse_fd(v, &c.pin_fd)) != BS_OK)
				goto out;
			i++;
		} else {
			rc = bs__error(BS_EINVAL, "unknown option '%s' (see "
						  "--help)",
				       a);
			goto out;
		}
	}
	if (i >= argc) {
		usage(c.prog, stderr);
		return bs_error_exit_code(BS_EINVAL);
	}
	cmd = cli_find(argv[i]);
	if (cmd == NULL) {
		rc = bs__error(BS_EINVAL, "unknown command '%s' (see --help)",
			       argv[i]);
		goto out;
	}
	if (c.store_dir == NULL) {
		rc = bs_os_default_store_dir(c.store_buf, sizeof(c.store_buf));
		if (rc != BS_OK)
			goto out;
		c.store_dir = c.store_buf;
	}
	if (cli_wants_help(argc - i, argv + i))
		rc = cli_help(&c, cmd);
	else
		rc = cmd->run(&c, argc - i, argv + i);
out:
	if (fflush(stdout) != 0 && rc == BS_OK)
		rc = bs__error(BS_EIO, "cannot write the output");
	if (rc != BS_OK) {
		fprintf(stderr, "%s: %s\n", c.prog, bs_last_error());
		return bs_error_exit_code(rc);
	}
	return 0;
}
