/*
 * SOCKS5 (RFC 1928) with username/password authentication (RFC 1929):
 * pure builders and parsers, see proto.h for the conventions.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"

#define SOCKS5_VER 0x05
#define SOCKS5_AUTH_VER 0x01
#define SOCKS5_CMD_CONNECT 0x01
#define SOCKS5_ATYP_V4 0x01
#define SOCKS5_ATYP_NAME 0x03
#define SOCKS5_ATYP_V6 0x04

/* The shortest possible reply: a domain ATYP with an empty name. */
#define SOCKS5_REPLY_MIN 7

int
socks5_build_greeting(uint8_t *buf, size_t size, bool with_auth)
{
	size_t n = with_auth ? 4 : 3;

	if (buf == NULL || size < n)
		return -ENOBUFS;
	buf[0] = SOCKS5_VER;
	buf[1] = with_auth ? 2 : 1;
	buf[2] = PS_SOCKS5_M_NONE;
	if (with_auth)
		buf[3] = PS_SOCKS5_M_USERPASS;
	return (int)n;
}

int
socks5_parse_method_reply(const uint8_t *buf, size_t len, size_t *need,
                          bool offered_auth, uint8_t *method)
{
	*need = 2;
	if (len >= 1 && buf[0] != SOCKS5_VER)
		return PS_PROTO_E_VERSION;
	if (len < 2)
		return PS_PROTO_MORE;
	*method = buf[1];
	if (buf[1] == PS_SOCKS5_M_NOACCEPT)
		return PS_PROTO_E_NO_METHOD;
	if (buf[1] == PS_SOCKS5_M_NONE ||
	    (offered_auth && buf[1] == PS_SOCKS5_M_USERPASS))
		return 2;
	return PS_PROTO_E_MALFORMED;
}

int
socks5_build_auth(uint8_t *buf, size_t size, const char *user, const char *pass)
{
	size_t ulen, plen;

	if (user == NULL)
		return -EINVAL;
	if (pass == NULL)
		pass = "";
	ulen = strlen(user);
	plen = strlen(pass);
	if (ulen > PS_MAX_CRED || plen > PS_MAX_CRED)
		return -EINVAL;
	if (buf == NULL || size < 3 + ulen + plen)
		return -ENOBUFS;
	buf[0] = SOCKS5_AUTH_VER;
	buf[1] = (uint8_t)ulen;
	memcpy(buf + 2, user, ulen);
	buf[2 + ulen] = (uint8_t)plen;
	memcpy(buf + 3 + ulen, pass, plen);
	return (int)(3 + ulen + plen);
}

int
socks5_parse_auth_reply(const uint8_t *buf, size_t len, size_t *need)
{
	*need = 2;
	/* RFC 1929 says 0x01; a few servers echo the SOCKS version. */
	if (len >= 1 && buf[0] != SOCKS5_AUTH_VER && buf[0] != SOCKS5_VER)
		return PS_PROTO_E_VERSION;
	if (len < 2)
		return PS_PROTO_MORE;
	return buf[1] == 0 ? 2 : PS_PROTO_E_AUTH;
}

int
socks5_build_request(uint8_t *buf, size_t size, const struct ps_target *dst)
{
	size_t alen, n;

	if (dst == NULL)
		return -EINVAL;
	if (dst->name != NULL) {
		if (!proto_name_ok(dst->name, dst->name_len))
			return -EINVAL;
		alen = 1 + dst->name_len;
	} else if (dst->family == AF_INET) {
		alen = 4;
	} else if (dst->family == AF_INET6) {
		alen = 16;
	} else {
		return -EINVAL;
	}
	n = 4 + alen + 2;
	if (buf == NULL || size < n)
		return -ENOBUFS;
	buf[0] = SOCKS5_VER;
	buf[1] = SOCKS5_CMD_CONNECT;
	buf[2] = 0;
	if (dst->name != NULL) {
		buf[3] = SOCKS5_ATYP_NAME;
		buf[4] = (uint8_t)dst->name_len;
		memcpy(buf + 5, dst->name, dst->name_len);
	} else {
		buf[3] = dst->family == AF_INET ? SOCKS5_ATYP_V4
		                                : SOCKS5_ATYP_V6;
		memcpy(buf + 4, dst->addr, alen);
	}
	buf[4 + alen] = (uint8_t)(dst->port >> 8);
	buf[5 + alen] = (uint8_t)(dst->port & 0xff);
	return (int)n;
}

int
socks5_parse_reply(const uint8_t *buf, size_t len, size_t *need,
                   struct socks5_reply *out)
{
	size_t total, alen;

	memset(out, 0, sizeof(*out));
	*need = SOCKS5_REPLY_MIN;
	if (len >= 1 && buf[0] != SOCKS5_VER)
		return PS_PROTO_E_VERSION;
	if (len < 2)
		return PS_PROTO_MORE;
	out->rep = buf[1];
	if (out->rep != 0)
		return PS_PROTO_E_REJECTED;
	if (len < 4)
		return PS_PROTO_MORE;
	out->atyp = buf[3];
	switch (buf[3]) {
	case SOCKS5_ATYP_V4:
		alen = 4;
		break;
	case SOCKS5_ATYP_V6:
		alen = 16;
		break;
	case SOCKS5_ATYP_NAME:
		if (len < 5)
			return PS_PROTO_MORE;
		alen = 1 + (size_t)buf[4];
		break;
	default:
		return PS_PROTO_E_MALFORMED;
	}
	total = 4 + alen + 2;
	*need = total;
	if (len < total)
		return PS_PROTO_MORE;
	if (buf[3] == SOCKS5_ATYP_NAME) {
		out->name_off = 5;
		out->name_len = alen - 1;
	} else {
		out->family = buf[3] == SOCKS5_ATYP_V4 ? AF_INET : AF_INET6;
		memcpy(out->addr, buf + 4, alen);
	}
	out->port = (uint16_t)((unsigned)buf[4 + alen] << 8 | buf[5 + alen]);
	return (int)total;
}

int
socks5_rep_errno(unsigned rep)
{
	switch (rep) {
	case 0x00:
		return 0;
	case 0x03: /* network unreachable */
		return ENETUNREACH;
	case 0x04: /* host unreachable */
		return EHOSTUNREACH;
	case 0x06: /* TTL expired */
		return ETIMEDOUT;
	default:
		/* 01 general failure, 02 not allowed by ruleset, 05 refused,
		 * 07 command not supported, 08 ATYP not supported, and the
		 * unassigned rest: the proxy said no. */
		return ECONNREFUSED;
	}
}

const char *
socks5_rep_str(unsigned rep)
{
	static const char *const names[] = {
	        "succeeded",
	        "general SOCKS server failure",
	        "connection not allowed by ruleset",
	        "network unreachable",
	        "host unreachable",
	        "connection refused",
	        "TTL expired",
	        "command not supported",
	        "address type not supported",
	};

	if (rep < sizeof(names) / sizeof(names[0]))
		return names[rep];
	return "unassigned reply code";
}
