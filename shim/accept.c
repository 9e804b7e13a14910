/*
 * accept(), accept4() and getpeername(): the reverse-proxy side
 * (docs/behaviour.md#reverse-proxy-side).
 *
 * For a connection whose socket peer is in reverseProxy.trustedOrigins,
 * the configured headers name the real client:
 *   PROXY    the PROXY protocol header (v1 or v2) is required; it is read
 *            and consumed inside accept(), before the program can see a
 *            byte, within rp_timeout_ms;
 *   X-Forwarded-For, X-Real-IP, True-Client-IP, CF-Connecting-IP
 *            the first request's header block is peeked (never consumed,
 *            at most PS_XFF_PEEK_MAX bytes, within rp_timeout_ms).
 * The client is what accept() reports and what getpeername() reports for
 * that socket from then on (shim/fdstate.c); untrusted peers are never
 * read from and see no change at all.
 *
 * Waiting happens inside accept(), for blocking and non-blocking
 * listeners alike (poll with one deadline; the fds' flags are never
 * touched: MSG_DONTWAIT).  An event loop therefore stalls at most
 * rp_timeout_ms for a trusted origin that is slow to send its header; a
 * good proxy sends it with the first segment, so in practice the bytes are
 * already there.
 *
 * errno contract: on -1, errno is the real accept()/getpeername() error,
 * or ECONNABORTED when a non-blocking listener's connection from a
 * trusted origin was closed for a missing or invalid PROXY header (a
 * blocking accept() moves on to the next connection instead).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdstate.h"
#include "proxyshim/addr.h"
#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/proxyproto.h"
#include "proxyshim/route.h"
#include "proxyshim/xff.h"
#include "shim.h"

/* A v2 header with up to 16 KiB of TLVs; longer ones are refused. */
#define ACCEPT_PP_BUF (PS_PP_V2_HDR + 16384)

struct accept_client {
	int family; /* AF_INET / AF_INET6; 0 = keep the socket's peer */
	uint8_t addr[16];
	uint16_t port; /* host order */
};

/* 1 when the reverse-proxy side has work to do: a table with trusted
 * origins and at least one header.  Computed once (the table is fixed). */
static int
accept_rp_on(void)
{
	static atomic_int on = -1;
	const struct ps_table_view *v = &shim.view;
	int r = atomic_load_explicit(&on, memory_order_relaxed);
	size_t i;

	if (r >= 0)
		return r;
	shim_init();
	r = 0;
	if (shim.mode == SHIM_ACTIVE && v->hdr->settings.nheaders > 0) {
		for (i = 0; i < v->ntrust4 && !r; i++)
			r = v->trust4[i].prio == 0;
		for (i = 0; i < v->ntrust6 && !r; i++)
			r = v->trust6[i].prio == 0;
	}
	atomic_store_explicit(&on, r, memory_order_relaxed);
	return r;
}

static int
accept_trusted(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return route_trusted(
		        &shim.view, AF_INET,
		        (const uint8_t *)&(
		                (const struct sockaddr_in *)(const void *)ss)
		                ->sin_addr);
	if (ss->ss_family == AF_INET6)
		return route_trusted(
		        &shim.view, AF_INET6,
		        ((const struct sockaddr_in6 *)(const void *)ss)
		                ->sin6_addr.s6_addr);
	return 0;
}

static int
accept_xff_trusted(const void *ctx, int family, const uint8_t *addr)
{
	return route_trusted(ctx, family, addr);
}

/* Read exactly n bytes that are known to be queued already. */
static int
accept_consume(int fd, uint8_t *buf, size_t n)
{
	ssize_t r;
	int tries;

	for (tries = 0; n > 0 && tries < 8; tries++) {
		r = recv(fd, buf, n, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		buf += r;
		n -= (size_t)r;
	}
	return n == 0 ? 0 : -EIO;
}

/*
 * Read and consume the PROXY header, and not one byte more: peek, parse,
 * consume only bytes the parser says are header (all of them while it
 * needs more), then wait on an empty queue.  0, a parser error, or -errno.
 */
static int
accept_read_pp(int fd, const struct ps_deadline *deadline,
               struct ps_pp_info *pi)
{
	uint8_t buf[ACCEPT_PP_BUF];
	size_t have = 0, want = PS_PP_V1_MAX, need;
	ssize_t n;
	int r;

	for (;;) {
		n = recv(fd, buf + have, want - have, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if (n > 0) {
			r = proxyproto_parse(buf, have + (size_t)n, &need, pi);
			if (r > 0)
				return accept_consume(fd, buf + have,
				                      (size_t)r - have);
			if (r < 0)
				return r;
			r = accept_consume(fd, buf + have, (size_t)n);
			if (r < 0)
				return r;
			have += (size_t)n;
			if (need > sizeof(buf))
				return PS_PP_E_TOO_BIG;
			want = need > PS_PP_V1_MAX ? need : PS_PP_V1_MAX;
		}
		r = io_wait(fd, POLLIN | POLLRDHUP, deadline);
		if (r < 0)
			return r;
	}
}

/*
 * Peek the first request's header block into buf (never consumed): until
 * the blank line, PS_XFF_PEEK_MAX bytes, the end of the stream, bytes that
 * are not HTTP, or the deadline.  Returns the bytes peeked (0: nothing
 * usable).  SO_RCVLOWAT makes poll() wait for more than what is queued.
 */
static size_t
accept_peek_http(int fd, const struct ps_deadline *deadline, char *buf)
{
	int lowat = 1, orig = 1, r;
	socklen_t ol = sizeof(orig);
	ssize_t n = 0;
	size_t have = 0;
	long end;

	getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &orig, &ol);
	for (;;) {
		n = recv(fd, buf, PS_XFF_PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0) {
			have = (size_t)n;
			end = xff_header_end(buf, have);
			if (end != 0 || have == PS_XFF_PEEK_MAX)
				break;
			lowat = (int)have + 1;
			setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat,
			           sizeof(lowat));
		}
		r = io_wait(fd, POLLIN | POLLRDHUP, deadline);
		if (r < 0)
			break;
	}
	if (lowat != 1)
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &orig, sizeof(orig));
	if (have > 0 && xff_header_end(buf, have) < 0)
		return 0;
	return have;
}

static void
accept_format(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a =
	        &((const struct sockaddr_in *)(const void *)ss)->sin_addr;

	if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
	if (inet_ntop(ss->ss_family, a, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

/*
 * The client of nfd, from the configured headers in order.  0 (cl set, or
 * cl->family 0: keep the peer), or < 0: the connection must be closed.
 */
static int
accept_client_of(int nfd, const struct sockaddr_storage *peer,
                 struct accept_client *cl)
{
	const struct ps_t_settings *s = &shim.view.hdr->settings;
	struct ps_deadline deadline;
	struct ps_pp_info pi = {0};
	char http[PS_XFF_PEEK_MAX], who[INET6_ADDRSTRLEN];
	size_t i, nhttp = 0, npp = 0;
	int r, peeked = 0;

	memset(cl, 0, sizeof(*cl));
	io_deadline(&deadline,
	            (int)(s->rp_timeout_ms ? s->rp_timeout_ms : 3000));
	for (i = 0; i < s->nheaders && i < sizeof(s->headers); i++)
		npp += s->headers[i] == PS_RP_PROXY;
	if (npp > 0) {
		r = accept_read_pp(nfd, &deadline, &pi);
		if (r < 0) {
			accept_format(peer, who, sizeof(who));
			log_warn("fd %d from trusted %s: %s: connection closed",
			         nfd, who,
			         r == -ETIMEDOUT ? "no PROXY header in time"
			         : r == -ECONNRESET
			                 ? "closed before the PROXY header"
			         : r <= PS_PP_E_SIGNATURE
			                 ? proxyproto_strerror(r)
			                 : strerror(-r));
			return r;
		}
	}
	for (i = 0; i < s->nheaders && i < sizeof(s->headers); i++) {
		if (s->headers[i] == PS_RP_PROXY) {
			if (pi.local || pi.version == 0)
				continue;
			cl->family = pi.family;
			memcpy(cl->addr, pi.src, 16);
			cl->port = pi.sport;
			return 0;
		}
		if (!peeked) {
			nhttp = accept_peek_http(nfd, &deadline, http);
			peeked = 1;
		}
		if (nhttp > 0 &&
		    xff_pick(http, nhttp, &s->headers[i], 1, accept_xff_trusted,
		             &shim.view, &cl->family, cl->addr))
			return 0;
	}
	return 0;
}

/* The client as the socket's family would report it: IPv4 on an AF_INET6
 * socket is IPv4-mapped (as the kernel reports a direct IPv4 peer); IPv6
 * on an AF_INET socket stays AF_INET6 (the family changes). */
static socklen_t
accept_sockaddr(int sockfam, const struct accept_client *cl,
                struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (cl->family == AF_INET6 && ps_addr_is_v4mapped(cl->addr) &&
	    sockfam == AF_INET) {
		struct accept_client v4 = *cl;

		v4.family = AF_INET;
		memmove(v4.addr, cl->addr + 12, 4);
		return accept_sockaddr(sockfam, &v4, out);
	}
	if (cl->family == AF_INET && sockfam != AF_INET6) {
		struct sockaddr_in *s = (struct sockaddr_in *)(void *)out;

		s->sin_family = AF_INET;
		s->sin_port = htons(cl->port);
		memcpy(&s->sin_addr, cl->addr, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)out;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(cl->port);
	if (cl->family == AF_INET)
		ps_addr_map(s6->sin6_addr.s6_addr, cl->addr);
	else
		memcpy(s6->sin6_addr.s6_addr, cl->addr, 16);
	return sizeof(*s6);
}

/* accept()/getpeername() semantics: copy at most *alen bytes, report the
 * real size. */
static void
accept_copy_out(struct sockaddr *addr, socklen_t *alen,
                const struct sockaddr_storage *ss, socklen_t len)
{
	if (addr == NULL || alen == NULL)
		return;
	memcpy(addr, ss, *alen < len ? *alen : len);
	*alen = len;
}

static int
accept_common(int fd, struct sockaddr *addr, socklen_t *alen, int flags,
              int four)
{
	struct sockaddr_storage ss, cs;
	struct accept_client cl;
	socklen_t sl, cl_len;
	int nfd, fl;

	for (;;) {
		sl = sizeof(ss);
		nfd = four ? real.accept4(fd, (struct sockaddr *)&ss, &sl,
		                          flags)
		           : real.accept(fd, (struct sockaddr *)&ss, &sl);
		if (nfd < 0)
			return -1;
		if (!accept_trusted(&ss)) {
			accept_copy_out(addr, alen, &ss, sl);
			return nfd;
		}
		if (accept_client_of(nfd, &ss, &cl) == 0)
			break;
		close(nfd);
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK)) {
			errno = ECONNABORTED;
			return -1;
		}
	}
	if (cl.family == 0) { /* LOCAL, UNKNOWN, no usable header */
		accept_copy_out(addr, alen, &ss, sl);
		return nfd;
	}
	cl_len = accept_sockaddr(ss.ss_family, &cl, &cs);
	fdstate_set(nfd, (struct sockaddr *)&cs, cl_len);
	accept_copy_out(addr, alen, &cs, cl_len);
	return nfd;
}

SHIM_EXPORT int
accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	int saved = errno, r;

	if (!accept_rp_on())
		return real.accept(fd, addr, alen);
	r = accept_common(fd, addr, alen, 0, 0);
	if (r >= 0)
		errno = saved;
	return r;
}

SHIM_EXPORT int
accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	int saved = errno, r;

	if (!accept_rp_on())
		return real.accept4(fd, addr, alen, flags);
	r = accept_common(fd, addr, alen, flags, 1);
	if (r >= 0)
		errno = saved;
	return r;
}

SHIM_EXPORT int
getpeername(int fd, struct sockaddr *addr, socklen_t *alen)
{
	struct sockaddr_storage ss, cs;
	socklen_t sl = sizeof(ss), cl_len;

	if (!accept_rp_on() || addr == NULL || alen == NULL)
		return real.getpeername(fd, addr, alen);
	if (real.getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (accept_trusted(&ss) && fdstate_get(fd, &cs, &cl_len))
		accept_copy_out(addr, alen, &cs, cl_len);
	else
		accept_copy_out(addr, alen, &ss, sl);
	return 0;
}
