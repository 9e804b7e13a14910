/*
 * HTTP CONNECT (RFC 9110 §9.3.6): request builder and reply parser, see
 * proto.h.  No stdio: the request is assembled by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"

/* An append-only view of the output buffer; overflow is sticky. */
struct out {
	char *buf;
	size_t size;
	size_t len;
	bool full;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->size - o->len < n) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_port(struct out *o, uint16_t port)
{
	char d[5];
	size_t i = sizeof(d);
	unsigned v = port;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	out_put(o, d + i, sizeof(d) - i);
}

/* "host:port", IPv6 (or a name with a colon, i.e. an IPv6 literal passed
 * as a name) in brackets so the port stays unambiguous. */
static int
out_authority(struct out *o, const struct ps_target *dst)
{
	char text[INET6_ADDRSTRLEN];
	const char *host;
	size_t hlen;

	if (dst->name != NULL) {
		if (!proto_name_ok(dst->name, dst->name_len))
			return -EINVAL;
		host = dst->name;
		hlen = dst->name_len;
	} else if (dst->family == AF_INET || dst->family == AF_INET6) {
		if (inet_ntop(dst->family, dst->addr, text, sizeof(text)) ==
		    NULL)
			return -EINVAL;
		host = text;
		hlen = strlen(text);
	} else {
		return -EINVAL;
	}
	if (memchr(host, ':', hlen) != NULL) {
		out_put(o, "[", 1);
		out_put(o, host, hlen);
		out_put(o, "]", 1);
	} else {
		out_put(o, host, hlen);
	}
	out_put(o, ":", 1);
	out_port(o, dst->port);
	return 0;
}

int
httpc_base64(char *out, size_t outsz, const void *in, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "abcdefghijklmnopqrstuvwxyz"
	                               "0123456789+/";
	const uint8_t *p = in;
	size_t i, o = 0;
	uint32_t v;

	if (out == NULL || outsz < (len + 2) / 3 * 4 + 1)
		return -ENOBUFS;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

/* "Proxy-Authorization: Basic base64(user:pass)\r\n".  The plain and
 * encoded credentials live on the stack only until this returns. */
static int
out_basic_auth(struct out *o, const char *user, const char *pass)
{
	char plain[2 * PS_MAX_CRED + 1];
	char enc[(sizeof(plain) + 2) / 3 * 4 + 1];
	size_t ulen, plen;
	int n, rc = 0;

	if (pass == NULL)
		pass = "";
	ulen = strlen(user);
	plen = strlen(pass);
	if (ulen > PS_MAX_CRED || plen > PS_MAX_CRED)
		return -EINVAL;
	memcpy(plain, user, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, pass, plen);
	n = httpc_base64(enc, sizeof(enc), plain, ulen + 1 + plen);
	if (n < 0) {
		rc = n;
		goto out;
	}
	out_str(o, "Proxy-Authorization: Basic ");
	out_put(o, enc, (size_t)n);
	out_put(o, "\r\n", 2);
out:
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(enc, sizeof(enc));
	return rc;
}

int
httpc_build_request(char *buf, size_t size, const struct ps_target *dst,
                    const char *user, const char *pass)
{
	struct out o = {buf, size, 0, false};
	int rc;

	if (dst == NULL)
		return -EINVAL;
	if (buf == NULL)
		return -ENOBUFS;
	out_str(&o, "CONNECT ");
	rc = out_authority(&o, dst);
	if (rc < 0)
		return rc;
	out_str(&o, " HTTP/1.1\r\nHost: ");
	out_authority(&o, dst);
	out_put(&o, "\r\n", 2);
	if (user != NULL) {
		rc = out_basic_auth(&o, user, pass);
		if (rc < 0)
			goto fail;
	}
	out_put(&o, "\r\n", 2);
	if (o.full) {
		rc = -ENOBUFS;
		goto fail;
	}
	return (int)o.len;
fail:
	/* Leave no half-written credentials behind in the caller's buffer. */
	explicit_bzero(buf, o.len);
	return rc;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The status line buf[0..eol) (eol at its LF): "HTTP/1.x SP 3DIGIT", then
 * SP reason, or nothing.  Returns the status, or -1.
 */
static int
parse_status_line(const char *buf, size_t eol)
{
	size_t end = eol;

	if (end > 0 && buf[end - 1] == '\r')
		end--;
	if (end < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !is_digit(buf[7]) ||
	    buf[8] != ' ' || !is_digit(buf[9]) || !is_digit(buf[10]) ||
	    !is_digit(buf[11]))
		return -1;
	if (end > 12 && buf[12] != ' ')
		return -1;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

/* Offset just past the empty line that ends the header, or 0.  A line
 * ends in LF, optionally preceded by CR; the header ends at the first
 * empty line after the status line. */
static size_t
header_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *lf;

	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p = lf + 1;
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - buf);
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

int
httpc_parse_reply(const char *buf, size_t len, size_t *need, int *status)
{
	static const char prefix[] = "HTTP/1.";
	size_t scan = len < PS_HTTPC_HDR_MAX ? len : PS_HTTPC_HDR_MAX;
	const char *lf;
	size_t end;

	*need = len + 1;
	*status = 0;
	if (len == 0)
		return PS_PROTO_MORE;
	/* Refuse a non-HTTP answer (a SOCKS reply, a banner) at once. */
	if (memcmp(buf, prefix, len < 7 ? len : 7) != 0)
		return PS_PROTO_E_MALFORMED;
	lf = memchr(buf, '\n', scan);
	if (lf == NULL)
		return len >= PS_HTTPC_HDR_MAX ? PS_PROTO_E_TOO_BIG
		                               : PS_PROTO_MORE;
	*status = parse_status_line(buf, (size_t)(lf - buf));
	if (*status < 0) {
		*status = 0;
		return PS_PROTO_E_MALFORMED;
	}
	if (*status < 200 || *status > 299)
		return PS_PROTO_E_REJECTED;
	end = header_end(buf, scan);
	if (end == 0)
		return len >= PS_HTTPC_HDR_MAX ? PS_PROTO_E_TOO_BIG
		                               : PS_PROTO_MORE;
	return (int)end;
}

int
httpc_status_errno(int status)
{
	if (status >= 200 && status <= 299)
		return 0;
	/* 407 is the proxy's auth challenge; tinyproxy answers a wrong
	 * password with 401, which means the same to our user. */
	if (status == 407 || status == 401)
		return EACCES;
	return ECONNREFUSED;
}
