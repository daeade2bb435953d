/*
 * term.c - input for the command: PINs from the terminal (no echo) or a
 * file descriptor, text from arguments or standard input, UTF-8 checks.
 * A PIN never comes from the command line, where other users could see
 * it in the process list.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "agent/core/common.h"
#include "agent/core/utf8.h"
#include "cli.h"

/* Read one line from fd into out (without the newline). */
static int read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bs__error(BS_EIO, "cannot read the PIN: %s",
					 strerror(errno));
		if (r == 0 || ch == '\n')
			break;
		if (n + 1 >= cap)
			return bs__error(BS_EINVAL, "PIN is too long");
		out[n++] = ch;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return BS_OK;
}

static int read_tty(const char *prompt, char *out, size_t cap)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return bs__error(BS_EINVAL, "no terminal to read the PIN from "
					    "(use --pin-fd N)");
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return bs__error(BS_EINVAL, "no terminal to read the PIN from "
					    "(use --pin-fd N)");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* nothing to do: the prompt is a courtesy */
	}
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = read_line(fd, out, cap);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* likewise */
	}
	close(fd);
	return rc;
}

int cli_read_pin(const struct cli *c, const char *prompt, int confirm,
		 char *out, size_t cap)
{
	char again[1025];
	int rc;

	if (c->pin_fd >= 0) {
		rc = read_line(c->pin_fd, out, cap);
	} else {
		rc = read_tty(prompt, out, cap);
		if (rc == BS_OK && confirm) {
			rc = read_tty("Repeat the PIN: ", again, sizeof(again));
			if (rc == BS_OK && strcmp(again, out) != 0)
				rc = bs__error(BS_EINVAL, "the PINs differ");
			explicit_bzero(again, sizeof(again));
		}
	}
	if (rc == BS_OK && out[0] == '\0')
		rc = bs__error(BS_EINVAL, "the PIN is empty");
	if (rc == BS_OK && !bs__utf8_valid(out, strlen(out), NULL))
		rc = bs__error(BS_EINVAL, "the PIN is not valid UTF-8");
	if (rc != BS_OK)
		explicit_bzero(out, cap);
	return rc;
}

int cli_open(const struct cli *c, bs_store **out)
{
	char pin[1025];
	bs_key key;
	int rc;

	rc = cli_read_pin(c, "PIN: ", 0, pin, sizeof(pin));
	if (rc != BS_OK)
		return rc;
	key.kind = BS_KEY_PIN;
	key.staff = c->staff;
	key.secret = pin;
	key.secret_len = strlen(pin);
	rc = bs_store_open(out, c->store_dir, &key);
	explicit_bzero(pin, sizeof(pin));
	return rc;
}

int cli_open_tickets(const struct cli *c, bs_store **out)
{
	int rc = cli_open(c, out);

	if (rc == BS_OK && (rc = bs_sync_check_lock(*out)) != BS_OK) {
		bs_store_close(*out);
		*out = NULL;
	}
	return rc;
}

int cli_text_arg(const char *arg, const char *what, char **out)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	if (strcmp(arg, "-") != 0) {
		len = strlen(arg);
		buf = strdup(arg);
		if (buf == NULL)
			return bs__error_code(BS_ENOMEM);
	} else {
		for (;;) {
			size_t r;
			if (len + 4096 + 1 > cap) {
				char *nb;
				cap = cap ? cap * 2 : 8192;
				if (cap > (16u << 20)) {
					free(buf);
					return bs__error(BS_EINVAL,
							 "%s is longer than 16 "
							 "MiB",
							 what);
				}
				nb = realloc(buf, cap);
				if (nb == NULL) {
					free(buf);
					return bs__error_code(BS_ENOMEM);
				}
				buf = nb;
			}
			r = fread(buf + len, 1, 4096, stdin);
			len += r;
			if (r < 4096)
				break;
		}
		if (ferror(stdin)) {
			free(buf);
			return bs__error(BS_EIO, "cannot read %s from standard "
						 "input",
					 what);
		}
		buf[len] = '\0';
		/* One trailing newline is the shell's, not the text's. */
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
	}
	if (!bs__utf8_valid(buf, len, NULL)) {
		free(buf);
		return bs__error(BS_EINVAL, "%s is not valid UTF-8 text", what);
	}
	if (len == 0) {
		free(buf);
		return bs__error(BS_EINVAL, "%s is empty", what);
	}
	*out = buf;
	return BS_OK;
}
