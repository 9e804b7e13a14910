/*
 * bench/client: what bench/connect (the plain client) and bench/aware (the
 * proxy-aware client) share, so that the two differ only in how a
 * connection is dialled: the HTTP request, reading the whole reply,
 * checking it, and timing N sequential connections.
 */
#ifndef PROXYSHIM_BENCH_CLIENT_H
#define PROXYSHIM_BENCH_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>

#define CLIENT_BUF 4096

struct client_opts {
	unsigned long n;           /* sequential connections */
	struct sockaddr_in origin; /* where the HTTP request is meant for */
	char origin_str[32];       /* "127.0.0.1:PORT", for requests */
	char expect[64];           /* body the origin must send: "peer=IP\n" */
	size_t expect_len;
	char request[128]; /* "GET / HTTP/1.0" with Host: */
	size_t request_len;
};

/*
 * Dial one connection that leads to the origin: a socket, connected,
 * with any tunnel set up.  Bytes already read past the tunnel's set-up
 * (none, in practice) go to buf, their count to *len.  Returns the fd, or
 * -1 with a message printed.
 */
typedef int (*client_dial_fn)(const struct client_opts *o, void *arg, char *buf,
                              size_t *len);

/* "A.B.C.D:PORT" → sin.  0 or -1. */
int client_parse_addr(const char *s, struct sockaddr_in *sin);
/* Fill o's request and expected body from origin and the expected peer
 * address (the address the origin should see the connection come from). */
int client_setup(struct client_opts *o, const char *origin, const char *peer);
/* Write all of buf on a blocking fd.  0 or -1. */
int client_write_all(int fd, const void *buf, size_t len);
/* Run o->n connections and print one result line:
 *   NAME conns=N seconds=S conn_per_s=R p50_us=L p99_us=L
 * Returns 0, or 1 at the first failed connection (with a message). */
int client_run(const char *name, const struct client_opts *o,
               client_dial_fn dial, void *arg);

#endif
