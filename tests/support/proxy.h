/*
 * proxy.h - a fault-injecting TCP proxy on loopback, for the sync tests:
 * it forwards a device's connections to the hub byte for byte (TLS goes
 * through untouched) and can cut a connection after a given number of
 * bytes in either direction, which is a link that drops in the middle
 * of a request or of its answer.
 *
 * One thread serves one connection at a time, which is all a sync round
 * makes (one keep-alive connection).
 */
#ifndef BS_TEST_PROXY_H
#define BS_TEST_PROXY_H

struct tu_proxy;

/* Listen on 127.0.0.1 (a free port) and forward to 127.0.0.1:port. */
struct tu_proxy *tu_proxy_start(int port);

/* The port it listens on. */
int tu_proxy_port(const struct tu_proxy *p);

/*
 * Cut the next `times` connections: each is closed, both ways, once
 * up bytes went from the client to the hub or down bytes came back
 * (counted from the connection's start, TLS handshake included); a
 * negative count never cuts.  Connections after those pass untouched.
 */
void tu_proxy_cut(struct tu_proxy *p, long up, long down, int times);

/* How many connections were cut so far. */
int tu_proxy_cuts(struct tu_proxy *p);

/* Stop and free.  Accepts NULL. */
void tu_proxy_stop(struct tu_proxy *p);

#endif
