/*
 * proxyshim: the DNS stub (dns/stub.c, dns/answer.c), which answers the
 * DNS queries of programs the library cannot reach (static and Go
 * programs under the supervisor) the way the library's name hooks answer
 * getaddrinfo() (docs/behaviour.md#names-for-static-and-go-programs).
 *
 * API (stable):
 *
 *   int dnsstub_listen(struct dnsstub *s);
 *   int dnsstub_serve(const struct dnsstub *s);
 *   int dnsstub_answer_names(const char *name, int qtype,
 *                            struct dnsmsg_answer *out, void *arg);
 *
 * How a caller uses it: bind a UDP socket and a listening TCP socket on
 * loopback (dnsstub_listen() does, on one port; non-blocking or not, the
 * stub sets O_NONBLOCK on both), fill a struct dnsstub_names with the name map
 * and a function that returns the table in force, and run dnsstub_serve() in
 * one thread or more (each serves both sockets, so a slow real lookup in one
 * does not stall the others) with answer = dnsstub_answer_names and arg = that
 * struct.  Write a byte to stop_fd's other end (or close it) to end every
 * dnsstub_serve() on it.  The threads must not themselves be under the
 * filter that sends DNS to the stub: the real lookups of direct names go
 * to the system's resolver.
 */
#ifndef PROXYSHIM_DNSSTUB_H
#define PROXYSHIM_DNSSTUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxyshim/dnsmsg.h"
#include "proxyshim/names.h"
#include "proxyshim/table.h"

#define DNSSTUB_TTL 60 /* seconds, on every answer of dnsstub_answer_names */
/* A TCP connection's time to send one whole query, and to take the whole
 * answer; over it the connection is closed.  Bounds hangs only. */
#define DNSSTUB_TCP_TIMEOUT_MS 10000
#define DNSSTUB_TCP_CONNS 16   /* open TCP connections per serving thread */
#define DNSSTUB_TCP_QUERIES 64 /* queries one TCP connection may send */

struct dnsstub {
	int udp_fd;  /* bound UDP socket, or -1 */
	int tcp_fd;  /* listening TCP socket, or -1 */
	int stop_fd; /* serving ends once this is readable or hung up */
	/* The answer for one question of class IN: fills out (rcode is
	 * the return value; out->ttl starts at DNSSTUB_TTL, out->n at 0)
	 * and returns a DNSMSG_RCODE_*.  name is the presentation form
	 * without the final dot (dnsmsg.h); qtype is the question's type
	 * as it came (DNSMSG_TYPE_A, DNSMSG_TYPE_AAAA or any other).  May
	 * block (a real lookup); called from the serving thread. */
	int (*answer)(const char *name, int qtype, struct dnsmsg_answer *out,
	              void *arg);
	void *arg;
	/* Optional: 1 when the peer may ask (fd is the UDP socket, or the
	 * accepted TCP connection, for sockdiag_peer_owned()); a refused
	 * datagram is dropped, a refused connection closed.  NULL: all. */
	int (*peer_ok)(int fd, int proto, const struct sockaddr *peer,
	               socklen_t len, void *arg);
	int tcp_timeout_ms; /* 0 = DNSSTUB_TCP_TIMEOUT_MS */
};

/* A UDP socket and a listening TCP socket on 127.0.0.1, both on one
 * ephemeral port (close-on-exec), into s->udp_fd and s->tcp_fd: the port
 * (host order), or -errno (nothing left open). */
int dnsstub_listen(struct dnsstub *s);

/* Serve queries until stop_fd says stop: 0, or -errno when poll() fails
 * for good.  Several threads may serve one struct dnsstub at once.  Every
 * query gets one reply (or none, as dnsmsg_build_error() says); a TCP
 * connection is closed after DNSSTUB_TCP_QUERIES queries, on a query over
 * DNSMSG_QUERY_MAX, on a malformed one and on its timeout. */
int dnsstub_serve(const struct dnsstub *s);

/* The default answer: what the library's getaddrinfo() hook does with a
 * name (docs/behaviour.md#name-lookups), through the same code.  A name
 * whose route takes names under dns: remote (or that a block rule
 * catches) gets its fake addresses and causes no query; every other name
 * is resolved with the system's resolver and its addresses are recorded
 * in the map.  localhost is resolved, not recorded; text that is not a
 * host name (an escaped byte, a numeric address) is REFUSED; no usable
 * table is SERVFAIL (fail closed); types other than A and AAAA get no data
 * and no lookup. */
struct dnsstub_names {
	struct names_map *map;
	/* The table in force for one answer (called once per answer);
	 * NULL means none is usable. */
	const struct ps_table_view *(*policy)(void *ctx);
	void *ctx;
};
int dnsstub_answer_names(const char *name, int qtype, struct dnsmsg_answer *out,
                         void *arg);

#endif
