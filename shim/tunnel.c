/*
 * Tunnels: connect the program's own socket to the first upstream and run
 * each hop's handshake through the previous one (chain: strict), or pick
 * one upstream of a list (failover, round_robin).  Routing has already
 * happened; this file only dials.  No malloc except inside the real
 * getaddrinfo() for upstreams given by host name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxyshim/config.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "shim.h"
#include "state.h"
#include "tunnel.h"

/* Fill a hop from the table's upstream record. */
static void
tunnel_hop(const struct ps_table_view *v, uint32_t u, struct ps_hop *h)
{
	const struct ps_t_upstream *up = &v->upstreams[u];

	memset(h, 0, sizeof(*h));
	h->scheme = (enum ps_scheme)up->scheme;
	h->user = up->user_off != PS_PRIO_NONE ? table_str(v, up->user_off)
	                                       : NULL;
	h->pass = up->pass_off != PS_PRIO_NONE ? table_str(v, up->pass_off)
	                                       : NULL;
	h->at.port = up->port;
	h->at.family = up->family;
	if (up->family != 0) {
		memcpy(h->at.addr, up->addr, sizeof(h->at.addr));
	} else {
		h->at.name = table_str(v, up->host_off);
		h->at.name_len = strlen(h->at.name);
	}
}

/* Resolve a name-only target with the real resolver (the shim's own name
 * hooks are not involved); an AF_INET socket can only use IPv4. */
static int
tunnel_resolve(struct ps_target *t, int sockfam)
{
	char name[PS_MAX_HOST + 1];
	int r, gai;

	if (t->name_len > PS_MAX_HOST)
		return -EINVAL;
	memcpy(name, t->name, t->name_len);
	name[t->name_len] = '\0';
	r = io_resolve(name, sockfam == AF_INET ? AF_INET : 0, t, &gai);
	if (r < 0)
		log_warn("cannot resolve %s: %s", name,
		         gai != 0 ? gai_strerror(gai) : "no usable address");
	return r;
}

static int
tunnel_needs_address(enum ps_scheme s)
{
	return s == PS_SCHEME_SOCKS4 || s == PS_SCHEME_SOCKS5;
}

/* How far tunnel_chain() got before it failed. */
enum tunnel_stage {
	TUNNEL_LOCAL,       /* nothing sent: a problem of this socket or
	                     * this route (address family, bad target) */
	TUNNEL_UNREACHABLE, /* the first upstream could not be reached */
	TUNNEL_DIALLED,     /* TCP connected; a handshake failed */
};

/* The connect errors that say the upstream is unreachable (rather than
 * that something is wrong with this socket or this host). */
static int
tunnel_unreachable(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ETIMEDOUT:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case ECONNRESET:
	case ECONNABORTED:
		return 1;
	default:
		return 0;
	}
}

/* Dial hops[0..n-1] on fd and ask the last one for dst.  *stage tells
 * how far it got when it failed. */
static int
tunnel_chain(int fd, int sockfam, const struct ps_table_view *v,
             const uint32_t *ups, size_t n, const struct ps_target *dst,
             enum tunnel_stage *stage)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	struct ps_hop hops[PS_MAX_HOPS];
	struct sockaddr_storage ss;
	struct ps_target first, next;
	socklen_t sslen;
	size_t i;
	int r;

	*stage = TUNNEL_LOCAL;
	if (n == 0 || n > PS_MAX_HOPS)
		return -EINVAL;
	for (i = 0; i < n; i++)
		tunnel_hop(v, ups[i], &hops[i]);
	/* A chain with an https:// hop runs entirely in the TLS relay. */
	for (i = 0; i < n; i++) {
		if (hops[i].scheme == PS_SCHEME_HTTPS) {
			*stage = TUNNEL_DIALLED;
			return relay_tunnel(fd, sockfam, v, ups, n, dst);
		}
	}
	first = hops[0].at;
	if (first.family == 0) {
		r = tunnel_resolve(&first, sockfam);
		if (r < 0) {
			/* A name that does not resolve: unreachable too. */
			*stage = TUNNEL_UNREACHABLE;
			return r;
		}
	}
	r = io_sockaddr(sockfam, &first, &ss, &sslen);
	if (r < 0) {
		log_warn("cannot reach an IPv6 upstream from an IPv4 socket");
		return r;
	}
	r = io_connect(fd, (struct sockaddr *)&ss, sslen,
	               (int)s->connect_timeout_ms);
	if (r < 0) {
		log_info("upstream %s: connect: %s",
		         table_str(v, v->upstreams[ups[0]].display_off),
		         strerror(-r));
		if (tunnel_unreachable(-r))
			*stage = TUNNEL_UNREACHABLE;
		return r;
	}
	*stage = TUNNEL_DIALLED;
	for (i = 0; i < n; i++) {
		next = i + 1 < n ? hops[i + 1].at : *dst;
		if (tunnel_needs_address(hops[i].scheme) && next.family == 0) {
			r = tunnel_resolve(&next, 0);
			if (r < 0)
				return r;
		}
		r = io_handshake(fd, &hops[i], &next,
		                 (int)s->handshake_timeout_ms, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One upstream of a list at a time, from start on, skipping those marked
 * dead; the marked ones are still tried last, in list order, so a stale mark
 * can delay a connection but never fail it. */
static int
tunnel_pick(int fd, int sockfam, const struct ps_table_view *v,
            const uint32_t *ups, size_t n, size_t start,
            const struct ps_target *dst)
{
	enum tunnel_stage stage;
	int r = -ECONNREFUSED, pass;
	size_t k;

	for (pass = 0; pass < 2; pass++) {
		for (k = 0; k < n; k++) {
			uint32_t u = ups[(start + k) % n];

			if (pass == 0 && state_is_dead(v, u))
				continue;
			if (pass == 1 && !state_is_dead(v, u))
				continue; /* already tried in pass 0 */
			r = tunnel_chain(fd, sockfam, v, &u, 1, dst, &stage);
			if (r == 0) {
				state_mark_alive(v, u);
				return 0;
			}
			if (r == -EISCONN)
				return r; /* a live connection: leave it be */
			/* A signal ended the program's connect(): no next
			 * upstream
			 * (docs/behaviour.md#signals-during-a-proxied-connect).
			 */
			if (r == -EINTR) {
				io_disconnect(fd);
				return r;
			}
			/* Only an upstream we could not even reach is dead;
			 * one that refused this destination is not, nor one
			 * this socket cannot use (an IPv4 socket and an IPv6
			 * upstream): other programs may. */
			if (stage == TUNNEL_UNREACHABLE)
				state_mark_dead(v, u);
			io_disconnect(fd);
		}
	}
	return r;
}

int
tunnel_open(int fd, int sockfam, const struct ps_table_view *v,
            uint32_t chain_first, uint32_t chain_len,
            const struct ps_target *dst)
{
	const uint32_t *ups = v->chains + chain_first;
	enum tunnel_stage stage;
	int r;

	switch (v->hdr->settings.chain_mode) {
	case PS_CHAIN_FAILOVER:
		return tunnel_pick(fd, sockfam, v, ups, chain_len, 0, dst);
	case PS_CHAIN_ROUND_ROBIN:
		return tunnel_pick(fd, sockfam, v, ups, chain_len,
		                   (size_t)(state_rr_next(v) % chain_len), dst);
	default:
		r = tunnel_chain(fd, sockfam, v, ups, chain_len, dst, &stage);
		/* A handshake that failed leaves the socket connected to the
		 * proxy: drop that, or the program, told connect() failed,
		 * gets EISCONN from its next connect() and writes into the
		 * proxy's half-done handshake.  (tunnel_pick does the same
		 * between upstreams.) */
		if (r < 0 && r != -EISCONN)
			io_disconnect(fd);
		return r;
	}
}
