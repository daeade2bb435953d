/*
 * run.c - see run.h.  fork, dup2 and execvp; the output is gathered with
 * poll() so that a command writing much to both streams never blocks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

const char *tu_cli_path(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX - 32];
	ssize_t n;
	char *p;

	if (path[0] != '\0')
		return path;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return "branchsync";
	self[n] = '\0';
	/* BUILD/tests/<kind>/test_x -> BUILD/branchsync */
	for (int up = 0; up < 3; up++) {
		p = strrchr(self, '/');
		if (p == NULL)
			return "branchsync";
		*p = '\0';
	}
	snprintf(path, sizeof(path), "%s/branchsync", self);
	return path;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (nb == NULL)
		abort();
	memcpy(nb + *len, data, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
}

struct tu_result tu_run(const char *pins, const char *input,
			const char *const *argv)
{
	struct tu_result r = { -1, NULL, NULL };
	int in[2], out[2], err[2], pin[2];
	const char *wrapper = getenv("BS_TEST_WRAPPER");
	char *words = strdup(wrapper ? wrapper : "");
	const char *args[64];
	size_t outlen = 0, errlen = 0;
	int n = 0, status = 0;
	pid_t pid;
	char *w;

	for (w = strtok(words, " "); w != NULL && n < 8; w = strtok(NULL, " "))
		args[n++] = w;
	args[n++] = tu_cli_path();
	for (int i = 0; argv[i] != NULL && n < 62; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	if (pipe(in) || pipe(out) || pipe(err) || pipe(pin))
		abort();
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		dup2(pin[0], 3);
		for (int fd = 4; fd < 64; fd++)
			close(fd);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(pin[0]);
	if (pins != NULL && write(pin[1], pins, strlen(pins)) < 0)
		abort();
	close(pin[1]);
	if (input != NULL && write(in[1], input, strlen(input)) < 0) {
		/* the command may exit before reading: not our failure */
	}
	close(in[1]);
	append(&r.out, &outlen, "", 0);
	append(&r.err, &errlen, "", 0);
	for (;;) {
		struct pollfd p[2] = { { out[0], POLLIN, 0 },
				       { err[0], POLLIN, 0 } };
		char buf[8192];
		int open_fds = 0;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t got;
			if (p[i].fd < 0)
				continue;
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			got = read(p[i].fd, buf, sizeof(buf));
			if (got > 0) {
				if (i == 0)
					append(&r.out, &outlen, buf, (size_t)got);
				else
					append(&r.err, &errlen, buf, (size_t)got);
			} else {
				close(p[i].fd);
				if (i == 0)
					out[0] = -1;
				else
					err[0] = -1;
			}
		}
		open_fds = (out[0] >= 0) + (err[0] >= 0);
		if (open_fds == 0)
			break;
	}
	waitpid(pid, &status, 0);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status)
				     : 128 + WTERMSIG(status);
	free(words);
	return r;
}

void tu_result_free(struct tu_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
