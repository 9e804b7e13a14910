/*
 * The DNS stub's server (docs/behaviour.md#names-for-static-and-go-
 * programs): UDP datagrams and TCP connections (2-byte framing) on the
 * sockets it is given, one reply per query, built by proto/dnsmsg.c from
 * what the answer callback says.  One poll loop per serving thread; every
 * socket non-blocking; each TCP connection has a deadline for each query
 * and its answer, a cap on its queries, and a slot in a fixed array.
 * See dnsstub.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/dnsstub.h"
#include "proxyshim/log.h"
#include "proxyshim/dial.h" /* io_now_ns */

/* Datagrams taken in one turn of the loop before the TCP side is looked
 * at again. */
#define STUB_UDP_BURST 32

struct stub_conn {
	int fd; /* -1: free */
	int64_t deadline_ns;
	unsigned queries;
	size_t have;             /* bytes in in */
	size_t out_len, out_off; /* a reply being written */
	int close_after;         /* close once the reply is out */
	uint8_t in[2 + DNSMSG_QUERY_MAX];
	uint8_t out[2 + DNSMSG_REPLY_MAX];
};

/* The reply to one message in out (at most size bytes): its length, 0
 * for none.  *bad: the message was malformed. */
static int
stub_reply(const struct dnsstub *s, const uint8_t *msg, size_t len,
           uint8_t *out, size_t size, int *bad)
{
	struct dnsmsg_query q;
	struct dnsmsg_answer a;
	int r;

	r = dnsmsg_parse_query(msg, len, &q);
	*bad = r < 0;
	if (r < 0)
		return dnsmsg_build_error(out, size, msg, len, r) > 0
		               ? DNSMSG_HDR_LEN
		               : 0;
	memset(&a, 0, sizeof(a));
	a.ttl = DNSSTUB_TTL;
	if (q.qclass != DNSMSG_CLASS_IN)
		a.rcode = DNSMSG_RCODE_REFUSED;
	else
		a.rcode = s->answer(q.name, q.qtype, &a, s->arg);
	if (a.rcode < 0 || a.rcode > 15)
		a.rcode = DNSMSG_RCODE_SERVFAIL;
	if (a.rcode != DNSMSG_RCODE_NOERROR)
		a.n = 0;
	r = dnsmsg_build_reply(out, size, &q, &a);
	if (r == DNSMSG_E_INVAL) {
		a.rcode = DNSMSG_RCODE_SERVFAIL;
		a.n = 0;
		r = dnsmsg_build_reply(out, size, &q, &a);
	}
	return r > 0 ? r : 0;
}

static void
stub_udp(const struct dnsstub *s)
{
	uint8_t in[DNSMSG_QUERY_MAX], out[DNSMSG_UDP_MAX];
	struct sockaddr_storage peer;
	socklen_t plen;
	ssize_t n;
	int i, r, bad;

	for (i = 0; i < STUB_UDP_BURST; i++) {
		plen = sizeof(peer);
		/* A longer datagram is cut: nothing past the question is
		 * read anyway. */
		n = recvfrom(s->udp_fd, in, sizeof(in), 0,
		             (struct sockaddr *)&peer, &plen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* another thread took it */
		if (n < 0)
			continue; /* an error reported and cleared */
		if (s->peer_ok != NULL &&
		    !s->peer_ok(s->udp_fd, IPPROTO_UDP,
		                (const struct sockaddr *)&peer, plen, s->arg))
			continue;
		r = stub_reply(s, in, (size_t)n, out, sizeof(out), &bad);
		if (r > 0)
			(void)sendto(s->udp_fd, out, (size_t)r,
			             MSG_DONTWAIT | MSG_NOSIGNAL,
			             (const struct sockaddr *)&peer, plen);
	}
}

static void
stub_close(struct stub_conn *c)
{
	close(c->fd);
	c->fd = -1;
}

static void
stub_accept(const struct dnsstub *s, struct stub_conn *c, int64_t timeout_ns)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fd = accept4(s->tcp_fd, (struct sockaddr *)&peer, &plen,
	                 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->peer_ok != NULL &&
	    !s->peer_ok(fd, IPPROTO_TCP, (const struct sockaddr *)&peer, plen,
	                s->arg)) {
		close(fd);
		return;
	}
	memset(c, 0, offsetof(struct stub_conn, in));
	c->fd = fd;
	c->deadline_ns = io_now_ns() + timeout_ns;
}

/* The next whole query in c->in, if any, becomes the reply in c->out. */
static void
stub_tcp_next(const struct dnsstub *s, struct stub_conn *c)
{
	size_t need;
	int n, r, bad;

	if (c->out_len > 0 || c->close_after)
		return;
	n = dnsmsg_tcp_next(c->in, c->have, DNSMSG_QUERY_MAX, &need);
	if (n == DNSMSG_MORE)
		return;
	if (n < 0) {
		stub_close(c);
		return;
	}
	r = stub_reply(s, c->in + 2, (size_t)n, c->out + 2, DNSMSG_REPLY_MAX,
	               &bad);
	c->have -= 2 + (size_t)n;
	memmove(c->in, c->in + 2 + n, c->have);
	if (r == 0) {
		stub_close(c);
		return;
	}
	dnsmsg_tcp_put_len(c->out, (size_t)r);
	c->out_len = 2 + (size_t)r;
	c->out_off = 0;
	c->close_after = bad || ++c->queries >= DNSSTUB_TCP_QUERIES;
}

static void
stub_tcp_io(const struct dnsstub *s, struct stub_conn *c, short revents,
            int64_t timeout_ns)
{
	ssize_t n;

	if (c->out_len > 0 && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		         MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			stub_close(c);
			return;
		}
		if (n > 0 && (c->out_off += (size_t)n) == c->out_len) {
			c->out_len = 0;
			if (c->close_after) {
				stub_close(c);
				return;
			}
			c->deadline_ns = io_now_ns() + timeout_ns;
		}
	} else if (c->out_len == 0 &&
	           (revents & (POLLIN | POLLERR | POLLHUP))) {
		n = recv(c->fd, c->in + c->have, sizeof(c->in) - c->have,
		         MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			stub_close(c);
			return;
		}
		if (n > 0)
			c->have += (size_t)n;
	}
	stub_tcp_next(s, c);
}

/* The poll set: stop, UDP, the listener while a slot is free, then one
 * entry per open connection (its index in conn[] in map[]).  Returns the
 * poll timeout: the nearest connection deadline, or -1. */
static int
stub_pollset(const struct dnsstub *s, struct stub_conn *conn, struct pollfd *p,
             int *map, nfds_t *np)
{
	int64_t now = io_now_ns(), next = INT64_MAX;
	nfds_t n = 3;
	int i, free_slot = 0;

	p[0] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = s->udp_fd, .events = POLLIN};
	p[2] = (struct pollfd){.fd = -1, .events = POLLIN};
	for (i = 0; i < DNSSTUB_TCP_CONNS; i++) {
		if (conn[i].fd < 0) {
			free_slot = 1;
			continue;
		}
		map[n] = i;
		p[n++] = (struct pollfd){
		        .fd = conn[i].fd,
		        .events = conn[i].out_len > 0 ? POLLOUT : POLLIN};
		if (conn[i].deadline_ns < next)
			next = conn[i].deadline_ns;
	}
	if (free_slot)
		p[2].fd = s->tcp_fd;
	*np = n;
	if (next == INT64_MAX)
		return -1;
	/* rounded up, so a wake-up is never before the deadline */
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void
stub_expire(struct stub_conn *conn)
{
	int64_t now = io_now_ns();
	int i;

	for (i = 0; i < DNSSTUB_TCP_CONNS; i++)
		if (conn[i].fd >= 0 && now >= conn[i].deadline_ns)
			stub_close(&conn[i]);
}

static int
stub_loop(const struct dnsstub *s, struct stub_conn *conn)
{
	struct pollfd p[3 + DNSSTUB_TCP_CONNS];
	int map[3 + DNSSTUB_TCP_CONNS];
	int64_t timeout_ns =
	        (int64_t)(s->tcp_timeout_ms > 0 ? s->tcp_timeout_ms
	                                        : DNSSTUB_TCP_TIMEOUT_MS) *
	        1000000;
	nfds_t n, k;
	int i, ms;

	for (;;) {
		ms = stub_pollset(s, conn, p, map, &n);
		if (poll(p, n, ms) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents != 0)
			return 0;
		if (p[1].revents & (POLLIN | POLLERR))
			stub_udp(s);
		if (p[2].revents & POLLIN) {
			for (i = 0; i < DNSSTUB_TCP_CONNS && conn[i].fd >= 0;
			     i++)
				;
			if (i < DNSSTUB_TCP_CONNS)
				stub_accept(s, &conn[i], timeout_ns);
		}
		for (k = 3; k < n; k++)
			if (p[k].revents != 0 && conn[map[k]].fd == p[k].fd)
				stub_tcp_io(s, &conn[map[k]], p[k].revents,
				            timeout_ns);
		stub_expire(conn);
	}
}

static int
stub_nonblock(int fd)
{
	int fl;

	if (fd < 0)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
dnsstub_serve(const struct dnsstub *s)
{
	struct stub_conn *conn;
	int i, r;

	if (s->answer == NULL)
		return -EINVAL;
	r = stub_nonblock(s->udp_fd);
	if (r == 0)
		r = stub_nonblock(s->tcp_fd);
	if (r < 0)
		return r;
	conn = calloc(DNSSTUB_TCP_CONNS, sizeof(*conn));
	if (conn == NULL)
		return -ENOMEM;
	for (i = 0; i < DNSSTUB_TCP_CONNS; i++)
		conn[i].fd = -1;
	r = stub_loop(s, conn);
	for (i = 0; i < DNSSTUB_TCP_CONNS; i++)
		if (conn[i].fd >= 0)
			close(conn[i].fd);
	free(conn);
	if (r < 0)
		log_err("dns stub: poll: %s", strerror(-r));
	return r;
}

/* A loopback socket of type on port (0: any); the fd or -errno. */
static int
stub_bind(int type, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* The TCP listener's port is the kernel's choice; the UDP port beside it
 * may be taken: a few tries, then the error. */
int
dnsstub_listen(struct dnsstub *s)
{
	struct sockaddr_in sin;
	socklen_t len;
	int tries, tcp, udp = -EADDRINUSE;

	for (tries = 0; tries < 16 && udp == -EADDRINUSE; tries++) {
		tcp = stub_bind(SOCK_STREAM, 0);
		if (tcp < 0)
			return tcp;
		len = sizeof(sin);
		if (getsockname(tcp, (struct sockaddr *)&sin, &len) < 0) {
			udp = -errno;
			close(tcp);
			return udp;
		}
		udp = stub_bind(SOCK_DGRAM, ntohs(sin.sin_port));
		if (udp >= 0) {
			s->tcp_fd = tcp;
			s->udp_fd = udp;
			return ntohs(sin.sin_port);
		}
		close(tcp);
	}
	return udp;
}
