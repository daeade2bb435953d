/*
 * run.h - running the branchsync command from a test, as a user would:
 * arguments, standard input, a PIN on a file descriptor (the command's
 * --pin-fd), and the exit status, standard output and standard error
 * captured.  The command is the one built beside the test program
 * (BUILD/branchsync); $BS_TEST_WRAPPER (qemu-user for ARM builds) goes
 * before it.
 */
#ifndef BS_TEST_RUN_H
#define BS_TEST_RUN_H

struct tu_result {
	int status; /* exit status, or 128 + signal */
	char *out;  /* standard output, NUL-terminated */
	char *err;  /* standard error */
};

/*
 * Run branchsync with argv (NULL-terminated, without the program name).
 * pins, if not NULL, is written to a pipe passed as --pin-fd 3 (put
 * "--pin-fd", "3" in argv yourself); input, if not NULL, is standard
 * input.  Free the result with tu_result_free().
 */
struct tu_result tu_run(const char *pins, const char *input,
			const char *const *argv);

void tu_result_free(struct tu_result *r);

/* Path of the built branchsync command. */
const char *tu_cli_path(void);

#endif
