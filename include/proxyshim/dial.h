/*
 * proxyshim: dialling a chain of upstreams (proto/dial.c, over proto/io.c).
 *
 * The one way every process reaches a proxy: the preload library (on the
 * program's own socket), the TLS relay (on its own sockets, with TLS hops),
 * `check --probe` (one upstream at a time, for a report) and the seccomp
 * supervisor.  The chain is
 *
 *   table upstream -> struct ps_hop        dial_hop_of()
 *   resolve, when the protocol needs it    dial_needs_address()
 *   connect with a deadline                io_connect()
 *   per hop: TLS (https://), greeting,     dial_handshake() over a
 *   auth, tunnel request                   struct dial_io transport
 *   report the step that failed            struct dial_report
 *
 * dial_chain() runs all of it.  A new user (the seccomp supervisor, with
 * the program's fd taken over by pidfd_getfd()) needs no more than:
 *
 *   struct ps_hop hops[PS_MAX_HOPS];
 *   struct dial_route rt = {.hops = hops, .n = n, .sockfam = family,
 *           .connect_ms = connect_timeout, .handshake_ms = handshake_timeout,
 *           .overall = {.none = true}};
 *   struct dial_report rep;
 *   for (i = 0; i < n; i++) dial_hop_of(view, chain[i], &hops[i]);
 *   r = dial_chain(&fd, &rt, &dst, NULL, &rep);   // 0 or -rep.err
 *
 * (a chain with an https:// hop goes to the relay instead, as the
 * library's does: shim/tunnel.c).  No malloc, no stdio and no locks on the way
 * (the resolver's getaddrinfo() aside, for upstreams given by name): the
 * library calls it on the connect path.  The fd may be blocking or not;
 * its flags are never left changed.  See docs/behaviour.md#dialling-a-chain.
 */
#ifndef PROXYSHIM_DIAL_H
#define PROXYSHIM_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxyshim/proto.h"
#include "proxyshim/table.h"

/* --- deadlines ---------------------------------------------------------- */

/* A point in CLOCK_MONOTONIC time, or none (no limit). */
struct ps_deadline {
	bool none;
	int64_t at_ns;
	/* The caller's socket, for the EINTR rule of io_wait(): 0 = ask
	 * fcntl, 1 = non-blocking, -1 = blocking. */
	signed char sock_nb;
};

int64_t io_now_ns(void);
/* timeout_ms <= 0: no limit. */
void io_deadline(struct ps_deadline *d, int timeout_ms);
/* The earlier of two deadlines. */
struct ps_deadline io_deadline_min(struct ps_deadline a, struct ps_deadline b);
/* poll()'s timeout: -1 none, 0 expired, else rounded up. */
int io_left_ms(const struct ps_deadline *d);
/* Wait until fd is ready for events (or has an error or hangup, which the
 * next call on it reports).  A signal goes on waiting or fails with -EINTR
 * as the kernel's connect() would on that socket
 * (docs/behaviour.md#signals-during-a-proxied-connect).  0, -ETIMEDOUT,
 * -EINTR, -EBADF, -errno. */
int io_wait(int fd, short events, const struct ps_deadline *d);

/* --- the transport seam --------------------------------------------------- */

/* recv() saw the peer close.  Outside the -errno range and enum
 * ps_proto_err. */
#define PS_IO_EOF (-2000)

/*
 * What a handshake runs over: the plain socket (io_fd_transport), or a TLS
 * stream (the relay's and the probe's https:// hops).  Both calls never
 * block: they move what they can now.
 *   send: > 0 bytes sent; 0 = would block, *ev = the poll events to wait
 *         for; -errno.
 *   recv: > 0 bytes read (peek: left in place, the next recv returns them
 *         again); 0 = would block (*ev as above); PS_IO_EOF; -errno.
 * poll_first: a reply is never there right after its request, so poll
 * before the first recv of a reply (saves one syscall on a plain socket;
 * a TLS stream may hold decrypted bytes that poll cannot see, so not
 * there).
 */
struct dial_io {
	int fd; /* what io_wait() polls */
	void *ctx;
	bool poll_first;
	ssize_t (*send)(struct dial_io *io, const void *buf, size_t len,
	                short *ev);
	ssize_t (*recv)(struct dial_io *io, void *buf, size_t len, bool peek,
	                short *ev);
};

/* The plain socket fd as a transport: send/recv with MSG_DONTWAIT (never
 * touching its flags) and MSG_NOSIGNAL. */
void io_fd_transport(struct dial_io *io, int fd);

/* --- the report ------------------------------------------------------------
 */

/* The step a dial failed at, in chain order. */
enum dial_step {
	DIAL_OK = 0,
	DIAL_LOCAL,    /* nothing sent: this socket, this route or target
	                  (address family, a bad name, an https:// hop and no
	                  TLS transport) */
	DIAL_RESOLVE,  /* a name did not resolve: hop 0's for connecting,
	                  or the next target of a hop that needs an address */
	DIAL_CONNECT,  /* TCP connect to hop 0 */
	DIAL_TLS,      /* the TLS handshake with an https:// hop */
	DIAL_GREETING, /* the proxy did not answer in its protocol (SOCKS5
	                  method exchange; the first reply of SOCKS4, HTTP) */
	DIAL_AUTH,     /* credentials refused (or no acceptable method) */
	DIAL_TUNNEL,   /* the proxy refused or failed the target */
};

/*
 * What happened, for a log line, a probe line or an errno.  err is always
 * set on failure (positive; the mapping of docs/behaviour.md#errors-by-step,
 * made in one place: dial_fail()).
 */
struct dial_report {
	enum dial_step step;
	size_t hop;           /* the hop that failed (0-based) */
	int err;              /* errno, 0 on success */
	int proto;            /* enum ps_proto_err, or 0 */
	unsigned code;        /* the proxy's own code: SOCKS5 REP, SOCKS4 CD,
	                         HTTP status; 0 = none */
	int gai;              /* DIAL_RESOLVE: getaddrinfo()'s code, 0 = none */
	bool closed;          /* the proxy closed the connection mid-step */
	bool auth_used;       /* credentials were sent to the failing hop */
	int64_t connected_ns; /* io_now_ns() when hop 0 was connected */
	char why[128]; /* DIAL_TLS: the reason in words (the TLS layer's) */
};

const char *dial_step_str(enum dial_step s);
const char *dial_scheme_str(enum ps_scheme s);

/* --- hops ------------------------------------------------------------------
 */

/* Upstream u of the table as a hop: the address when the table has one
 * (then at.name is NULL), else the host name. */
void dial_hop_of(const struct ps_table_view *v, uint32_t u, struct ps_hop *h);

struct dial_route;
/* The table's chain ups[0..n) as hops (into hops, PS_MAX_HOPS of them) and
 * *rt: the chain with the table's connect and handshake timeouts, the
 * socket's family, no overall deadline, no TLS.  0, or -EINVAL when n is 0
 * or more than PS_MAX_HOPS. */
int dial_route_of(const struct ps_table_view *v, const uint32_t *ups, size_t n,
                  int sockfam, struct ps_hop *hops, struct dial_route *rt);

/* socks4 and socks5 carry only an address: their target must be resolved
 * by us (docs/behaviour.md#name-lookups); the others take the name. */
bool dial_needs_address(enum ps_scheme s);

/* --- the TLS seam -------------------------------------------------------- */

/*
 * How https:// hops are dialled, by whoever links a TLS library (the relay
 * and the probe; never the preload library).  start() runs the TLS
 * handshake with hop i (whose TCP stream is *io) by the deadline and, on
 * success, replaces *io with the TLS transport; on failure it returns
 * -errno and fills rep->why.  A chain may hold one TLS layer: an https://
 * hop after another one is refused before anything is sent.
 */
struct dial_tls {
	int (*start)(struct dial_tls *t, size_t i, const struct ps_hop *hop,
	             struct dial_io *io, const struct ps_deadline *dl,
	             struct dial_report *rep);
	void *ctx;
};

/* --- the driver ------------------------------------------------------------
 */

/* No log lines: the caller reports (the probe). */
#define DIAL_QUIET 0x2u

/*
 * Run hop's handshake over io, asking for a tunnel to dst (what goes on the
 * wire: see io_handshake() in proto.h).  Steps, deadline, report as above;
 * rep->hop is left to the caller.  0 or -errno.
 */
int dial_handshake(struct dial_io *io, const struct ps_hop *hop,
                   const struct ps_target *dst, const struct ps_deadline *dl,
                   unsigned flags, struct dial_report *rep);

/* A chain to dial. */
struct dial_route {
	const struct ps_hop *hops; /* hops[0] is dialled first */
	size_t n;                  /* 1..PS_MAX_HOPS */
	int sockfam;      /* the socket's family (an AF_INET socket reaches
	                     IPv4 only), 0 = the first hop's own */
	int connect_ms;   /* TCP connect to hop 0; <= 0: no limit */
	int handshake_ms; /* each hop's TLS + handshake; <= 0: no limit */
	struct ps_deadline overall; /* caps everything (none: no cap) */
	unsigned flags;             /* PS_IO_PIPELINE, DIAL_QUIET */
	struct dial_tls *tls;       /* NULL: an https:// hop is DIAL_LOCAL,
	                               -EPROTONOSUPPORT */
};

/*
 * Dial rt's hops to dst: resolve hop 0 when it has a name, connect *fd
 * to it (*fd < 0: a new SOCK_STREAM | SOCK_CLOEXEC socket of that address's
 * family is made and stored in *fd, for the caller to close), then each
 * hop's handshake for the next hop's address (dst for the last), over the
 * TLS transport after an https:// hop.  io (may be NULL) receives the
 * transport the tunnel ends on.  On failure *fd is left connected to the
 * proxy, or not connected at all: the caller disconnects or closes.
 * 0 or -errno (the errno is rep->err too), rep filled either way.
 */
int dial_chain(int *fd, const struct dial_route *rt,
               const struct ps_target *dst, struct dial_io *io,
               struct dial_report *rep);

#endif
