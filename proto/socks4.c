/*
 * SOCKS4 and SOCKS4a: request builder and reply parser, see proto.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/proto.h"

#define SOCKS4_VER 0x04
#define SOCKS4_CMD_CONNECT 0x01

int
socks4_build_request(uint8_t *buf, size_t size, const struct ps_target *dst,
                     const char *userid)
{
	const uint8_t *v4;
	/* SOCKS4a: 0.0.0.x with x != 0 says "a name follows the userid". */
	static const uint8_t sentinel[4] = {0, 0, 0, 1};
	size_t ulen, n;

	if (dst == NULL)
		return -EINVAL;
	if (userid == NULL)
		userid = "";
	ulen = strlen(userid);
	if (ulen > PS_MAX_CRED)
		return -EINVAL;
	if (dst->name != NULL) {
		if (!proto_name_ok(dst->name, dst->name_len))
			return -EINVAL;
		v4 = sentinel;
	} else if (dst->family == AF_INET) {
		v4 = dst->addr;
	} else if (dst->family == AF_INET6) {
		/* SOCKS4 still carries ::ffff:a.b.c.d, as a.b.c.d. */
		if (!ps_addr_is_v4mapped(dst->addr))
			return -EAFNOSUPPORT;
		v4 = dst->addr + 12;
	} else {
		return -EINVAL;
	}
	n = 8 + ulen + 1;
	if (dst->name != NULL)
		n += dst->name_len + 1;
	if (buf == NULL || size < n)
		return -ENOBUFS;
	buf[0] = SOCKS4_VER;
	buf[1] = SOCKS4_CMD_CONNECT;
	buf[2] = (uint8_t)(dst->port >> 8);
	buf[3] = (uint8_t)(dst->port & 0xff);
	memcpy(buf + 4, v4, 4);
	memcpy(buf + 8, userid, ulen);
	buf[8 + ulen] = 0;
	if (dst->name != NULL) {
		memcpy(buf + 9 + ulen, dst->name, dst->name_len);
		buf[n - 1] = 0;
	}
	return (int)n;
}

int
socks4_parse_reply(const uint8_t *buf, size_t len, size_t *need, uint8_t *cd)
{
	*need = PS_SOCKS4_REPLY_LEN;
	if (len >= 1 && buf[0] != 0)
		return PS_PROTO_E_VERSION;
	if (len < 2)
		return PS_PROTO_MORE;
	*cd = buf[1];
	if (buf[1] >= PS_SOCKS4_REJECTED && buf[1] <= PS_SOCKS4_BAD_IDENT)
		return PS_PROTO_E_REJECTED;
	if (buf[1] != PS_SOCKS4_GRANTED)
		return PS_PROTO_E_MALFORMED;
	if (len < PS_SOCKS4_REPLY_LEN)
		return PS_PROTO_MORE;
	return PS_SOCKS4_REPLY_LEN;
}

int
socks4_cd_errno(unsigned cd)
{
	switch (cd) {
	case PS_SOCKS4_GRANTED:
		return 0;
	case PS_SOCKS4_BAD_IDENT:
		/* identd says we are someone else: an authentication denial. */
		return EACCES;
	default:
		/* 5B rejected, 5C identd unreachable (the proxy's problem, no
		 * credential fixes it), and anything unknown. */
		return ECONNREFUSED;
	}
}
