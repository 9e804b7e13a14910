/*
 * udp: block (docs/behaviour.md#the-proxy-section): no UDP datagram leaves
 * except to loopback and to exempt destinations (an exempt entry or a `via:
 * direct` rule that matches the address, or the name recorded for it), so a
 * program's own DNS resolver or QUIC cannot go around the proxy.  Checked on
 * connect(), sendto(), sendmsg() (shim/connect.c) and sendmmsg() (here) of
 * SOCK_DGRAM sockets; refused with EPERM, as a local firewall would.  Fake
 * addresses never take UDP.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/route.h"
#include "dest.h"
#include "namemap.h"
#include "shim.h"
#include "udp.h"

int
udp_check(int fd, const struct sockaddr *sa, socklen_t len)
{
	char name[PS_MAX_HOST + 1];
	struct ps_route rt;
	struct ps_dest d;
	int type = 0;
	socklen_t optlen = sizeof(type);

	if (shim.mode != SHIM_ACTIVE ||
	    shim_view()->hdr->settings.udp_mode != PS_UDP_BLOCK || sa == NULL)
		return 0;
	if (dest_from_sockaddr(sa, len, &d) != 0)
		return 0; /* AF_UNSPEC (disconnect), AF_UNIX, ... */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) != 0 ||
	    type != SOCK_DGRAM)
		return 0;
	if (dest_is_loopback(&d))
		return 0;
	if (namemap_dest(&d, name, sizeof(name)) != 0)
		goto refuse; /* a fake address: nothing to send to */
	route_lookup(shim_view(), &d, &rt);
	if (rt.action == PS_ROUTE_DIRECT &&
	    (rt.why == PS_WHY_EXEMPT || rt.why == PS_WHY_RULE ||
	     rt.why == PS_WHY_LOOPBACK))
		return 0;
refuse:
	log_info("fd %d: UDP to port %u refused (udp: block)", fd, d.port);
	return -EPERM;
}

/* Each message is checked; the first refused one ends the batch, as a
 * failed send in sendmmsg() does: what was sent is counted, else EPERM. */
SHIM_EXPORT int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	unsigned int i;
	int r;

	shim_init();
	if (shim.mode != SHIM_ACTIVE ||
	    shim_view()->hdr->settings.udp_mode != PS_UDP_BLOCK || vec == NULL)
		return real.sendmmsg(fd, vec, n, flags);
	for (i = 0; i < n; i++)
		if (udp_check(fd, vec[i].msg_hdr.msg_name,
		              vec[i].msg_hdr.msg_namelen) < 0)
			break;
	if (i == 0 && n > 0) {
		errno = EPERM;
		return -1;
	}
	r = real.sendmmsg(fd, vec, i, flags);
	return r;
}
