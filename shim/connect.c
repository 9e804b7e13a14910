/*
 * connect(), and sendto()/sendmsg() with MSG_FASTOPEN, which connect too.
 *
 * errno contract (docs/behaviour.md#errno-mapping), set only at each hook's
 * single exit: on -1, errno is a valid connect() error: ECONNREFUSED,
 * ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, EACCES (auth, policy, block rules),
 * EAFNOSUPPORT, or whatever the real connect() said for direct routes.
 *
 * A non-blocking socket gets its tunnel before connect() returns, and
 * connect() returns 0: a legal outcome of a non-blocking connect that every
 * event loop handles, and it keeps the program's fd and flags untouched
 * (docs/behaviour.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/route.h"
#include "dest.h"
#include "namemap.h"
#include "shim.h"
#include "tunnel.h"
#include "udp.h"

#define CONNECT_PASS 1 /* not ours: call the real function */

static const char *
connect_action_name(enum ps_action a)
{
	return a == PS_ROUTE_DIRECT  ? "direct"
	       : a == PS_ROUTE_BLOCK ? "block"
	                             : "via";
}

static void
connect_format(const struct ps_dest *d, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (d->name != NULL) { /* the name hooks' name (namemap.c) */
		snprintf(buf, size, "%.*s:%u", (int)d->name_len, d->name,
		         d->port);
		return;
	}
	inet_ntop(d->family, d->addr, ip, sizeof(ip));
	snprintf(buf, size, d->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
	         d->port);
}

/* One info line per decision: destination, action, first upstream (masked
 * URL) and the rule that decided. */
static void
connect_log_route(const struct ps_table_view *v, int fd,
                  const struct ps_dest *d, const struct ps_route *rt)
{
	char where[PS_MAX_HOST + 8];
	const char *up, *rule;

	connect_format(d, where, sizeof(where));
	route_describe(v, rt, &up, &rule);
	log_info("fd %d %s -> %s%s%s%s (%s)", fd, where,
	         connect_action_name(rt->action), *up ? " " : "", up,
	         rt->chain_len > 1 && rt->action == PS_ROUTE_VIA ? " ..." : "",
	         rule);
}

/*
 * Decide and, for proxied routes, build the tunnel on fd.  Returns 0 (fd is
 * connected through the proxy), CONNECT_PASS (call the real function), or
 * -errno.
 */
static int
connect_route(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct ps_table_view *v = NULL;
	struct ps_target dst;
	const uint8_t *a;
	struct ps_route rt;
	struct ps_dest d;
	char where[PS_MAX_HOST + 8], name[PS_MAX_HOST + 1];
	int type = 0, domain = 0, r, fake = 0;
	socklen_t optlen = sizeof(type);

	if (shim.mode == SHIM_PASS || dest_from_sockaddr(sa, len, &d) != 0)
		return CONNECT_PASS;
	if (shim.mode == SHIM_ACTIVE) {
		/* One table for the whole decision, even across a reload
		 * (docs/behaviour.md#live-reload). */
		v = shim_policy();
		/* The name map: a fake address becomes its name
		 * alone (fake = 1), a recorded real address gains its name,
		 * so hostname rules apply (shim/getaddrinfo.c). */
		fake = namemap_dest(&d, name, sizeof(name));
		if (fake < 0)
			return fake;
		route_lookup(v, &d, &rt);
		/* Direct passes through whatever the socket is: decide it
		 * before the three syscalls below, which cost exempt and
		 * loopback connects 1-2% (bench/connect).  Unless the decision
		 * is logged: that line is for unconnected stream sockets. */
		if (rt.action == PS_ROUTE_DIRECT &&
		    ps_log_level < PS_LOG_INFO && !fake)
			return CONNECT_PASS;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) != 0 ||
	    type != SOCK_STREAM)
		return CONNECT_PASS;
	/* The sockaddr's family is the socket's for every connect() that can
	 * succeed; a mismatch fails in the real connect() to the proxy with
	 * the same EAFNOSUPPORT.  Saves a getsockopt per connection.
	 *
	 * An already-connected socket (a tunnel we built, or a program
	 * calling connect() again to see whether a connect finished) is not
	 * routed again: the first connect() to the proxy answers EISCONN and
	 * that is what the program gets, with the live tunnel untouched
	 * (docs/behaviour.md#routing: already-connected sockets pass
	 * through). */
	domain = sa->sa_family;
	if (shim.mode == SHIM_BROKEN)
		return dest_is_loopback(&d) ? CONNECT_PASS : -ECONNREFUSED;
	if (ps_log_level >= PS_LOG_INFO)
		connect_log_route(v, fd, &d, &rt);
	if (rt.action == PS_ROUTE_DIRECT)
		return fake ? namemap_connect_direct(fd, domain, &d)
		            : CONNECT_PASS;
	if (rt.action == PS_ROUTE_BLOCK)
		return -EACCES;
	memset(&dst, 0, sizeof(dst));
	dst.port = d.port;
	dst.name = d.name; /* sent to upstreams that take names */
	dst.name_len = d.name_len;
	/* The proxy is told the IPv4 address the program meant.  (Two
	 * statements: the family ps_addr_unmap() sets decides the length.) */
	dst.family = d.family;
	a = ps_addr_unmap(&dst.family, d.addr);
	memcpy(dst.addr, a, dst.family == AF_INET ? 4 : sizeof(dst.addr));
	reload_pin(v);
	r = tunnel_open(fd, domain, v, rt.chain_first, rt.chain_len, &dst);
	if (r < 0 && r != -EISCONN && r != -EINTR &&
	    v->hdr->settings.on_failure == PS_FAIL_DIRECT) {
		connect_format(&d, where, sizeof(where));
		log_warn("fd %d %s: proxy failed (%s), on_failure: direct", fd,
		         where, strerror(-r));
		io_disconnect(fd);
		r = fake ? namemap_connect_direct(fd, domain, &d)
		         : CONNECT_PASS;
	}
	reload_unpin(v);
	return r;
}

SHIM_EXPORT int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r;

	shim_init();
	r = connect_route(fd, sa, len);
	if (r == CONNECT_PASS) {
		r = udp_check(fd, sa, len); /* udp: block (shim/udp.c) */
		if (r == 0)
			return real.connect(fd, sa, len);
	}
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* TCP Fast Open connects as it sends: route it like connect(), then send
 * the data on the tunnel without the flag. */
SHIM_EXPORT ssize_t
sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
       socklen_t len)
{
	int r;

	shim_init();
	if (!(flags & MSG_FASTOPEN) || sa == NULL) {
		if (udp_check(fd, sa, len) < 0) { /* udp: block */
			errno = EPERM;
			return -1;
		}
		return real.sendto(fd, buf, n, flags, sa, len);
	}
	r = connect_route(fd, sa, len);
	if (r == CONNECT_PASS)
		return real.sendto(fd, buf, n, flags, sa, len);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return real.sendto(fd, buf, n, flags & ~MSG_FASTOPEN, NULL, 0);
}

SHIM_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m;
	int r;

	shim_init();
	if (!(flags & MSG_FASTOPEN) || msg == NULL || msg->msg_name == NULL) {
		if (msg != NULL && /* udp: block (shim/udp.c) */
		    udp_check(fd, msg->msg_name, msg->msg_namelen) < 0) {
			errno = EPERM;
			return -1;
		}
		return real.sendmsg(fd, msg, flags);
	}
	r = connect_route(fd, msg->msg_name, msg->msg_namelen);
	if (r == CONNECT_PASS)
		return real.sendmsg(fd, msg, flags);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	m = *msg;
	m.msg_name = NULL;
	m.msg_namelen = 0;
	return real.sendmsg(fd, &m, flags & ~MSG_FASTOPEN);
}
