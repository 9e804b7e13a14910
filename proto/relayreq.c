/*
 * The TLS relay's request, both ways (include/proxyshim/relayreq.h).
 * The decoder takes exactly what the encoder writes (header lines the
 * relay does not use are skipped) and nothing looser: no bare LF, no
 * control bytes, one Proxy-Authorization, canonical base64 and numbers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxyshim/relayreq.h"

#define RELAYREQ_CRED_MAX (2 * PS_MAX_CRED + 1) /* user ':' password */

int
relayreq_user(char *buf, size_t size, const uint32_t *ups, size_t n)
{
	size_t i, off = 0;
	int k;

	if (n == 0 || n > PS_MAX_HOPS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		k = snprintf(buf + off, size - off, "%s%u", i ? "," : "u",
		             ups[i]);
		if (k < 0 || (size_t)k >= size - off)
			return -ENOBUFS;
		off += (size_t)k;
	}
	return (int)off;
}

int
relayreq_encode(char *buf, size_t size, const struct ps_target *dst,
                const uint32_t *ups, size_t n, const char *secret_hex)
{
	char user[12 * PS_MAX_HOPS];
	int r = relayreq_user(user, sizeof(user), ups, n);

	if (r < 0)
		return r;
	return httpc_build_request(buf, size, dst, user, secret_hex);
}

int
relayreq_end(const char *buf, size_t len)
{
	const char *e =
	        memmem(buf, len < PS_RELAYREQ_MAX ? len : PS_RELAYREQ_MAX,
	               "\r\n\r\n", 4);

	if (e != NULL)
		return (int)(e + 4 - buf);
	return len >= PS_RELAYREQ_MAX ? -E2BIG : 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Canonical RFC 4648 base64 (padded, no stray bits) into out; its
 * length, or -1. */
static int
b64decode(const char *in, size_t len, char *out, size_t size)
{
	size_t i, k, o = 0, pad = 0;
	uint32_t acc;
	int v;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if (len / 4 * 3 - pad > size)
		return -1;
	for (i = 0; i < len; i += 4) {
		acc = 0;
		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad) {
				acc <<= 6;
				continue;
			}
			v = b64val((unsigned char)in[i + k]);
			if (v < 0)
				return -1;
			acc = acc << 6 | (uint32_t)v;
		}
		out[o++] = (char)(acc >> 16);
		if (i + 4 < len || pad < 2)
			out[o++] = (char)(acc >> 8 & 0xff);
		if (i + 4 < len || pad < 1)
			out[o++] = (char)(acc & 0xff);
		/* Bits the padding says are not there must be zero. */
		if (i + 4 == len && ((pad == 1 && (acc & 0xff) != 0) ||
		                     (pad == 2 && (acc & 0xffff) != 0)))
			return -1;
	}
	return (int)o;
}

/* A decimal number without sign, spaces or leading zeros, below limit. */
static int
relayreq_number(const char *p, size_t len, unsigned long limit,
                unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 10 || (len > 1 && p[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v >= limit)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "u<i>,<j>,..." */
static int
relayreq_ups(const char *p, size_t len, size_t nups, struct relayreq *out)
{
	const char *end = p + len, *comma;
	unsigned long v;

	if (len < 2 || p[0] != 'u')
		return -EINVAL;
	for (p++, out->n = 0; p <= end; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		if (out->n == PS_MAX_HOPS ||
		    relayreq_number(p, (size_t)(comma - p), nups, &v) < 0)
			return -EINVAL;
		out->ups[out->n++] = (uint32_t)v;
	}
	return 0;
}

static bool
is_hex(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* The value of Proxy-Authorization: "Basic" SP base64, optional spaces
 * around.  -EACCES unless it carries "user:<secret hex>"; then the user
 * part decides (0 or -EINVAL). */
static int
relayreq_auth(const char *v, size_t len, size_t nups, struct relayreq *out)
{
	char cred[RELAYREQ_CRED_MAX];
	const char *colon;
	size_t b, e;
	int n, r;

	for (b = 0; b < len && (v[b] == ' ' || v[b] == '\t'); b++)
		;
	for (e = len; e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--)
		;
	if (e - b < 7 || strncasecmp(v + b, "Basic ", 6) != 0)
		return -EACCES;
	for (b += 6; b < e && v[b] == ' '; b++)
		;
	n = b64decode(v + b, e - b, cred, sizeof(cred));
	if (n < 0)
		return -EACCES;
	colon = memchr(cred, ':', (size_t)n);
	if (colon == NULL ||
	    (size_t)(cred + n - colon - 1) != PS_RELAY_SECRET_HEX ||
	    !is_hex(colon + 1, PS_RELAY_SECRET_HEX)) {
		explicit_bzero(cred, sizeof(cred));
		return -EACCES;
	}
	memcpy(out->secret, colon + 1, PS_RELAY_SECRET_HEX);
	out->secret[PS_RELAY_SECRET_HEX] = '\0';
	r = relayreq_ups(cred, (size_t)(colon - cred), nups, out);
	explicit_bzero(cred, sizeof(cred));
	return r;
}

/* "host:port", "[v6 or name]:port" */
static int
relayreq_target(const char *a, size_t len, struct relayreq *out)
{
	const char *colon = NULL, *h = a;
	size_t hl, i;
	unsigned long port;

	for (i = len; i > 0; i--)
		if (a[i - 1] == ':') {
			colon = a + i - 1;
			break;
		}
	if (colon == NULL ||
	    relayreq_number(colon + 1, (size_t)(a + len - colon - 1), 65536,
	                    &port) < 0 ||
	    port == 0)
		return -EINVAL;
	hl = (size_t)(colon - a);
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
		h++;
		hl -= 2;
	} else if (memchr(a, ':', hl) != NULL || memchr(a, '[', hl) != NULL) {
		return -EINVAL;
	}
	/* out->host holds PS_MAX_HOST characters: the library never sends a
	 * longer name, though a handshake name may be longer. */
	if (hl > PS_MAX_HOST || !proto_name_ok(h, hl) || memchr(h, '[', hl) ||
	    memchr(h, ']', hl))
		return -EINVAL;
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	memset(&out->dst, 0, sizeof(out->dst));
	out->dst.port = (uint16_t)port;
	if (inet_pton(AF_INET, out->host, out->dst.addr) == 1) {
		out->dst.family = AF_INET;
	} else if (inet_pton(AF_INET6, out->host, out->dst.addr) == 1) {
		out->dst.family = AF_INET6;
	} else {
		out->dst.name = out->host;
		out->dst.name_len = hl;
	}
	return 0;
}

/* "CONNECT authority HTTP/1.x" */
static int
relayreq_line(const char *l, size_t len, struct relayreq *out)
{
	const char *sp;

	if (len < 8 + 1 + 9 || memcmp(l, "CONNECT ", 8) != 0)
		return -EINVAL;
	sp = l + len - 9;
	if (memcmp(sp, " HTTP/1.1", 9) != 0 && memcmp(sp, " HTTP/1.0", 9) != 0)
		return -EINVAL;
	if (memchr(l + 8, ' ', (size_t)(sp - l - 8)) != NULL)
		return -EINVAL;
	return relayreq_target(l + 8, (size_t)(sp - l - 8), out);
}

int
relayreq_decode(const char *buf, size_t len, size_t nups, struct relayreq *out)
{
	const char *l = buf, *end = buf + len, *eol;
	int auth = -EACCES, line = -EINVAL, nauth = 0;
	size_t i, ll;

	memset(out, 0, sizeof(*out));
	if (len < 4 || len > PS_RELAYREQ_MAX ||
	    memcmp(end - 4, "\r\n\r\n", 4) != 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') ||
		    c == 0x7f)
			return -EINVAL;
		if ((c == '\n') != (i > 0 && buf[i - 1] == '\r'))
			return -EINVAL;
		if (c == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
			return -EINVAL;
	}
	for (; l < end - 2; l = eol + 2) {
		eol = memmem(l, (size_t)(end - l), "\r\n", 2);
		ll = (size_t)(eol - l);
		if (l == buf) {
			line = relayreq_line(l, ll, out);
		} else if (ll >= 20 &&
		           strncasecmp(l, "Proxy-Authorization:", 20) == 0) {
			nauth++;
			auth = relayreq_auth(l + 20, ll - 20, nups, out);
		} else if (ll == 0 || memchr(l, ':', ll) == NULL) {
			return -EINVAL;
		}
	}
	if (nauth > 1)
		auth = -EINVAL;
	if (auth == -EACCES)
		return -EACCES;
	return auth < 0 ? auth : line;
}
