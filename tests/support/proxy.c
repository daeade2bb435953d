/*
 * proxy.c - see proxy.h.
 *
 * The thread polls the listening socket, and then the two ends of the
 * connection it serves, every 50 ms so that a stop is noticed quickly.
 * A cut forwards exactly the bytes allowed and then closes both ends,
 * so the peer sees a connection that ends in the middle of a record.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

struct tu_proxy {
	int lfd;
	int port, upstream;
	pthread_t thread;
	pthread_mutex_t mu;
	int stop;
	long cut_up, cut_down;
	int cut_times, cuts;
};

static int connect_upstream(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Forward what is readable on from to to, at most limit bytes (limit <
 * 0: no limit).  Returns bytes moved, 0 at end of stream, -1 on error. */
static long pump(int from, int to, long limit)
{
	char buf[16384];
	size_t want = sizeof(buf);
	ssize_t n, w, off = 0;

	if (limit >= 0 && (size_t)limit < want)
		want = (size_t)limit;
	if (want == 0)
		return -1;
	n = read(from, buf, want);
	if (n <= 0)
		return n == 0 ? 0 : -1;
	while (off < n) {
		w = write(to, buf + off, (size_t)(n - off));
		if (w <= 0)
			return -1;
		off += w;
	}
	return (long)n;
}

static void serve(struct tu_proxy *p, int cfd)
{
	struct pollfd fds[2];
	long up = 0, down = 0, cut_up = -1, cut_down = -1, n;
	int ufd = connect_upstream(p->upstream), stop;

	if (ufd < 0) {
		close(cfd);
		return;
	}
	pthread_mutex_lock(&p->mu);
	if (p->cut_times > 0) {
		p->cut_times--;
		cut_up = p->cut_up;
		cut_down = p->cut_down;
	}
	pthread_mutex_unlock(&p->mu);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		fds[0].fd = cfd;
		fds[0].events = POLLIN;
		fds[1].fd = ufd;
		fds[1].events = POLLIN;
		if (poll(fds, 2, 50) < 0)
			break;
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = pump(cfd, ufd, cut_up < 0 ? -1 : cut_up - up);
			if (n <= 0)
				break;
			up += n;
			if (cut_up >= 0 && up >= cut_up)
				goto cut;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = pump(ufd, cfd, cut_down < 0 ? -1 : cut_down - down);
			if (n <= 0)
				break;
			down += n;
			if (cut_down >= 0 && down >= cut_down)
				goto cut;
		}
	}
	close(cfd);
	close(ufd);
	return;
cut:
	pthread_mutex_lock(&p->mu);
	p->cuts++;
	pthread_mutex_unlock(&p->mu);
	shutdown(cfd, SHUT_RDWR);
	shutdown(ufd, SHUT_RDWR);
	close(cfd);
	close(ufd);
}

static void *run(void *arg)
{
	struct tu_proxy *p = arg;
	struct pollfd pfd;
	int cfd, stop;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		pfd.fd = p->lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((cfd = accept(p->lfd, NULL, NULL)) < 0)
			continue;
		serve(p, cfd);
	}
	return NULL;
}

struct tu_proxy *tu_proxy_start(int port)
{
	struct tu_proxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;

	if (p == NULL)
		return NULL;
	p->upstream = port;
	pthread_mutex_init(&p->mu, NULL);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(p->lfd, 16) ||
	    getsockname(p->lfd, (struct sockaddr *)&sa, &len) ||
	    pthread_create(&p->thread, NULL, run, p) != 0) {
		if (p->lfd >= 0)
			close(p->lfd);
		free(p);
		return NULL;
	}
	p->port = ntohs(sa.sin_port);
	return p;
}

int tu_proxy_port(const struct tu_proxy *p)
{
	return p->port;
}

void tu_proxy_cut(struct tu_proxy *p, long up, long down, int times)
{
	pthread_mutex_lock(&p->mu);
	p->cut_up = up;
	p->cut_down = down;
	p->cut_times = times;
	pthread_mutex_unlock(&p->mu);
}

int tu_proxy_cuts(struct tu_proxy *p)
{
	int n;

	pthread_mutex_lock(&p->mu);
	n = p->cuts;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void tu_proxy_stop(struct tu_proxy *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	close(p->lfd);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
