/*
 * Destinations of the connect path (connect.c, udp.c): a sockaddr as a
 * routing destination, and loopback.  See dest.h.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/route.h"
#include "dest.h"

int
dest_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct ps_dest *d)
{
	memset(d, 0, sizeof(*d));
	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return 1;
	if (sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)sa;

		d->family = AF_INET;
		memcpy(d->addr, &s->sin_addr, 4);
		d->port = ntohs(s->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 &&
	    len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)sa;

		d->family = AF_INET6;
		memcpy(d->addr, &s->sin6_addr, 16);
		d->port = ntohs(s->sin6_port);
		return 0;
	}
	return 1;
}

int
dest_is_loopback(const struct ps_dest *d)
{
	static const uint8_t v6lo[16] = {[15] = 1};

	if (d->family == AF_INET)
		return d->addr[0] == 127;
	return memcmp(d->addr, v6lo, 16) == 0 ||
	       (ps_addr_is_v4mapped(d->addr) && d->addr[12] == 127);
}
