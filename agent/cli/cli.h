/*
 * cli.h - the branchsync command: what the command files share.
 *
 * main.c parses the global options and dispatches; term.c reads PINs
 * and text from the terminal, files and standard input; table.c prints
 * tables aligned by display width (CJK characters are two columns); the
 * cmd_*.c files implement the commands.  A command returns a bs_error
 * code; main prints its one-line message and exits with the code's exit
 * status (README.md lists them).
 */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stddef.h>

#include "branchsync.h"
#include "branchsync/sync.h"
#include "branchsync/tickets.h"

struct cli {
	const char *store_dir; /* resolved: --store, $BRANCHSYNC_STORE, default */
	char store_buf[4096];
	const char *staff;     /* --staff: which PIN slot */
	int pin_fd;            /* --pin-fd, or -1 for the terminal */
	int json;              /* --json */
	const char *prog;
};

struct command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *args;
	const char *summary;
	const char *help; /* the rest of --help, may be NULL */
};

/* The commands (cmd_*.c). */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_release_key(struct cli *c, int argc, char **argv);
int cmd_release_sign(struct cli *c, int argc, char **argv);
int cmd_verify_update(struct cli *c, int argc, char **argv);
int cmd_passwd(struct cli *c, int argc, char **argv);
int cmd_rekey(struct cli *c, int argc, char **argv);
int cmd_doctor(struct cli *c, int argc, char **argv);
int cmd_wipe(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_show(struct cli *c, int argc, char **argv);
int cmd_reply(struct cli *c, int argc, char **argv);
int cmd_note(struct cli *c, int argc, char **argv);
int cmd_call(struct cli *c, int argc, char **argv);
int cmd_move(struct cli *c, int argc, char **argv);
int cmd_new(struct cli *c, int argc, char **argv);
int cmd_search(struct cli *c, int argc, char **argv);
int cmd_categories(struct cli *c, int argc, char **argv);
int cmd_templates(struct cli *c, int argc, char **argv);
int cmd_enroll(struct cli *c, int argc, char **argv);
int cmd_sync(struct cli *c, int argc, char **argv);
int cmd_conflicts(struct cli *c, int argc, char **argv);

/* Every command, NULL-terminated (main.c). */
extern const struct command bs__commands[];

/* Print "usage: ..." for cmd to stderr and return BS_EINVAL. */
int cli_usage(const struct cli *c, const struct command *cmd);

/* 1 if argv has --help or -h (commands call this first). */
int cli_wants_help(int argc, char **argv);

/* Print a command's full help to stdout; returns BS_OK. */
int cli_help(const struct cli *c, const struct command *cmd);

/* An option of a command: a flag (value NULL) or one with a value. */
struct opt {
	const char *name;   /* "--reason" */
	const char **value; /* where the value goes, or NULL for a flag */
	int *flag;          /* set to 1 when a flag is given */
};

/*
 * Parse argv[1..argc) of cmd against opts (ended by a NULL name):
 * positional arguments go to pos[], between min and max of them.
 * Unknown options, missing values and wrong counts give BS_EINVAL with
 * the command's usage line.
 */
int cli_parse(const struct cli *c, const struct command *cmd, int argc,
	      char **argv, const struct opt *opts, const char **pos, int min,
	      int max, int *npos);

/* Find a command by name, or NULL. */
const struct command *cli_find(const char *name);

/*
 * Read a PIN: from --pin-fd (one line), or from the terminal without
 * echo after prompt.  confirm asks twice on a terminal and requires both
 * to match.  out[cap] gets a NUL-terminated PIN; wipe it after use.
 */
int cli_read_pin(const struct cli *c, const char *prompt, int confirm,
		 char *out, size_t cap);

/* Open the store with a PIN read as above. */
int cli_open(const struct cli *c, bs_store **out);

/*
 * cli_open() for a command that reads or changes tickets: BS_ELOCKED
 * (and no store) while head office's offline policy locks the device
 * (branchsync/sync.h, bs_sync_check_lock()).
 */
int cli_open_tickets(const struct cli *c, bs_store **out);

/*
 * The text of a command argument: the argument itself, or all of
 * standard input when it is "-".  Checked to be valid UTF-8 and not
 * empty.  *out is malloc'd; free with free().
 */
int cli_text_arg(const char *arg, const char *what, char **out);

/* Display width of a UTF-8 string in terminal columns. */
size_t cli_width(const char *s);

/* Print s padded (or cut, with an ellipsis) to exactly cols columns. */
void cli_put_cell(const char *s, size_t cols);

/* Print the JSON text to stdout followed by a newline. */
void cli_put_json(const char *json);

#endif
