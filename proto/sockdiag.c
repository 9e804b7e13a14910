/*
 * The owner of a loopback TCP connection's other end, from the kernel
 * (include/proxyshim/sockdiag.h).  One request, one answer: the lookup of
 * one socket by its exact addresses (not a dump), answered while our
 * sendto() runs.  No allocation: it runs on the library's connect path.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/sockdiag.h"

#define SOCKDIAG_REPLY_MAX 2048 /* one inet_diag_msg and no attributes */

struct sockdiag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

int
sockdiag_build(void *buf, size_t size, int family, const void *src,
               uint16_t sport, const void *dst, uint16_t dport, uint32_t seq)
{
	struct sockdiag_req q;
	size_t alen = family == AF_INET ? 4 : 16;

	if (size < sizeof(q))
		return -ENOBUFS;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.nlh.nlmsg_seq = seq;
	q.r.sdiag_family = (uint8_t)family;
	q.r.sdiag_protocol = IPPROTO_TCP;
	q.r.idiag_states = ~0u;
	q.r.id.idiag_sport = htons(sport);
	q.r.id.idiag_dport = htons(dport);
	memcpy(q.r.id.idiag_src, src, alen);
	memcpy(q.r.id.idiag_dst, dst, alen);
	q.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	memcpy(buf, &q, sizeof(q));
	return (int)sizeof(q);
}

int
sockdiag_parse(const void *buf, size_t len, uint32_t seq,
               struct sockdiag_sock *out)
{
	struct nlmsghdr h;
	struct nlmsgerr e;
	struct inet_diag_msg m;
	const char *p = buf;

	if (len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len || h.nlmsg_seq != seq)
		return -EBADMSG;
	if (h.nlmsg_type == NLMSG_ERROR) {
		if (h.nlmsg_len < NLMSG_LENGTH(sizeof(e)))
			return -EBADMSG;
		memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
		return e.error < 0 && e.error > -4096 ? e.error : -EBADMSG;
	}
	if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h.nlmsg_len < NLMSG_LENGTH(sizeof(m)))
		return -EBADMSG;
	memcpy(&m, p + NLMSG_HDRLEN, sizeof(m));
	if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
		return -EBADMSG;
	out->family = m.idiag_family;
	out->state = m.idiag_state;
	out->sport = ntohs(m.id.idiag_sport);
	out->dport = ntohs(m.id.idiag_dport);
	out->uid = m.idiag_uid;
	out->inode = m.idiag_inode;
	return 0;
}

int
sockdiag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	                NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

/* One lookup: send, then the answer (queued before sendto returns; the
 * poll only bounds a kernel that does otherwise). */
static int
sockdiag_query(int nl, int family, const void *src, uint16_t sport,
               const void *dst, uint16_t dport, struct sockdiag_sock *out)
{
	static _Atomic uint32_t seqs;
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	char req[sizeof(struct sockdiag_req)];
	char rep[SOCKDIAG_REPLY_MAX] __attribute__((aligned(8)));
	uint32_t seq = atomic_fetch_add(&seqs, 1) + 1;
	struct pollfd p = {nl, POLLIN, 0};
	struct nlmsghdr h;
	ssize_t n;
	int len, tries;

	len = sockdiag_build(req, sizeof(req), family, src, sport, dst, dport,
	                     seq);
	if (len < 0)
		return len;
	while ((n = sendto(nl, req, (size_t)len, 0, (struct sockaddr *)&k,
	                   sizeof(k))) < 0 &&
	       errno == EINTR)
		;
	if (n < 0)
		return -errno;
	for (tries = 0; tries < 8; tries++) {
		n = recv(nl, rep, sizeof(rep), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (poll(&p, 1, 1000) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		memcpy(&h, rep, (size_t)n < sizeof(h) ? (size_t)n : sizeof(h));
		/* An answer to an earlier, abandoned request: skip it. */
		if ((size_t)n >= sizeof(h) && h.nlmsg_seq != seq)
			continue;
		return sockdiag_parse(rep, (size_t)n, seq, out);
	}
	return -EBADMSG;
}

/* fd's two ends: AF_INET (an IPv4-mapped IPv6 socket counts as IPv4) or
 * AF_INET6, addresses in network order. */
struct sockdiag_ends {
	int family;
	uint8_t local[16], remote[16];
	uint16_t lport, rport;
};

static int
sockdiag_end(const struct sockaddr_storage *ss, struct sockdiag_ends *e,
             uint8_t *addr, uint16_t *port)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};
	const struct sockaddr_in *a4 = (const void *)ss;
	const struct sockaddr_in6 *a6 = (const void *)ss;
	int fam;

	if (ss->ss_family == AF_INET) {
		fam = AF_INET;
		memcpy(addr, &a4->sin_addr, 4);
		*port = ntohs(a4->sin_port);
	} else if (ss->ss_family == AF_INET6 &&
	           memcmp(&a6->sin6_addr, mapped, 12) == 0) {
		fam = AF_INET;
		memcpy(addr, (const uint8_t *)&a6->sin6_addr + 12, 4);
		*port = ntohs(a6->sin6_port);
	} else if (ss->ss_family == AF_INET6) {
		fam = AF_INET6;
		memcpy(addr, &a6->sin6_addr, 16);
		*port = ntohs(a6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (e->family != 0 && e->family != fam)
		return -EAFNOSUPPORT;
	e->family = fam;
	return 0;
}

static int
sockdiag_ends_of(int fd, struct sockdiag_ends *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r;

	memset(e, 0, sizeof(*e));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	r = sockdiag_end(&ss, e, e->local, &e->lport);
	if (r < 0)
		return r;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	return sockdiag_end(&ss, e, e->remote, &e->rport);
}

/* The IPv4 addresses of e as IPv4-mapped IPv6 ones, for a peer that is
 * an IPv6 socket talking IPv4. */
static void
sockdiag_map(const uint8_t *v4, uint8_t *v6)
{
	memset(v6, 0, 10);
	v6[10] = v6[11] = 0xff;
	memcpy(v6 + 12, v4, 4);
}

/* The peer socket of e: its local end is e's remote end. */
static int
sockdiag_peer(int nl, const struct sockdiag_ends *e, struct sockdiag_sock *s)
{
	uint8_t r6[16], l6[16];
	int r;

	r = sockdiag_query(nl, e->family, e->remote, e->rport, e->local,
	                   e->lport, s);
	if (r == -ENOENT && e->family == AF_INET) {
		sockdiag_map(e->remote, r6);
		sockdiag_map(e->local, l6);
		r = sockdiag_query(nl, AF_INET6, r6, e->rport, l6, e->lport, s);
	}
	if (r < 0)
		return r;
	/* The lookup falls back to a listener when the exact socket is
	 * gone: only the exact one will do. */
	if (s->state == TCP_LISTEN || s->sport != e->rport ||
	    s->dport != e->lport)
		return -ENOENT;
	return 0;
}

/* The listener on e's remote end (the one our connection came to). */
static int
sockdiag_listener(int nl, const struct sockdiag_ends *e,
                  struct sockdiag_sock *s)
{
	static const uint8_t any[16];
	int r;

	r = sockdiag_query(nl, e->family, e->remote, e->rport, any, 0, s);
	if (r < 0)
		return r;
	return s->state == TCP_LISTEN && s->sport == e->rport ? 0 : -ENOENT;
}

int
sockdiag_peer_owned(int nl, int fd, uid_t uid, uid_t *who)
{
	struct sockdiag_ends e;
	struct sockdiag_sock s;
	int own = -1, r;

	r = sockdiag_ends_of(fd, &e);
	if (r < 0)
		return r;
	if (nl < 0) {
		own = sockdiag_open();
		if (own < 0)
			return own;
		nl = own;
	}
	r = sockdiag_peer(nl, &e, &s);
	if (r == 0 && s.uid != uid)
		r = -EPERM;
	/* Not yet accept()ed: older kernels say root; ask its listener. */
	if (r == 0 && s.inode == 0) {
		r = sockdiag_listener(nl, &e, &s);
		if (r == 0 && s.uid != uid)
			r = -EPERM;
	}
	if (r == -EPERM && who != NULL)
		*who = s.uid;
	if (own >= 0)
		close(own);
	return r;
}
