/*
 * Tunnels: connect the program's own socket to the first upstream and run
 * each hop's handshake through the previous one (chain: strict), or pick
 * one upstream of a list (failover, round_robin).  Routing has already
 * happened; this file only dials.  No malloc except inside the real
 * getaddrinfo() for upstreams given by host name.
 */
#include <errno.h>
#include <string.h>

#include "proxyshim/config.h"
#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "shim.h"
#include "state.h"
#include "tunnel.h"

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
	struct ps_hop hops[PS_MAX_HOPS];
	struct dial_route rt;
	struct dial_report rep;
	size_t i;
	int r;

	*stage = TUNNEL_LOCAL;
	r = dial_route_of(v, ups, n, sockfam, hops, &rt);
	if (r < 0)
		return r;
	/* A chain with an https:// hop runs entirely in the TLS relay. */
	for (i = 0; i < n; i++) {
		if (hops[i].scheme == PS_SCHEME_HTTPS) {
			*stage = TUNNEL_DIALLED;
			return relay_tunnel(fd, sockfam, v, ups, n, dst);
		}
	}
	r = dial_chain(&fd, &rt, dst, NULL, &rep);
	if (r == 0)
		return 0;
	if (rep.connected_ns != 0) {
		*stage = TUNNEL_DIALLED;
	} else if (rep.step == DIAL_RESOLVE) {
		/* hop 0's name does not resolve: unreachable too. */
		*stage = TUNNEL_UNREACHABLE;
	} else if (rep.step == DIAL_CONNECT) {
		log_info("upstream %s: connect: %s",
		         table_str(v, v->upstreams[ups[0]].display_off),
		         strerror(rep.err));
		if (tunnel_unreachable(rep.err))
			*stage = TUNNEL_UNREACHABLE;
	}
	return r;
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
