/*
 * X-Forwarded-For and friends: the client address from the first request's
 * headers, written by a trusted reverse proxy
 * (docs/behaviour.md#reverse-proxy-side).  Pure functions
 * over peeked bytes; see xff.h.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/xff.h"

#define XFF_METHOD_MAX 32 /* longer than any method anyone uses */
#define XFF_LINES_MAX 64  /* X-Forwarded-For lines joined at most */

struct xff_span {
	const char *p;
	size_t n;
};

static int
xff_is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

long
xff_header_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && i <= XFF_METHOD_MAX; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == ' ' && i > 0)
			break;
		if (c == '\0' || !xff_is_tchar(c))
			return -1;
	}
	if (i > XFF_METHOD_MAX)
		return -1;
	for (; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return (long)(i + 2);
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return (long)(i + 3);
	}
	return 0;
}

static struct xff_span
xff_trim(const char *s, size_t n)
{
	struct xff_span r;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	r.p = s;
	r.n = n;
	return r;
}

static int
xff_port_ok(const char *s, size_t n)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

static int
xff_pton(const char *s, size_t n, int family, uint8_t addr[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, addr) == 1;
}

int
xff_parse_addr(const char *s, size_t len, int *family, uint8_t addr[16])
{
	struct xff_span t = xff_trim(s, len);
	const char *colon, *rb;

	if (t.n == 0)
		return 0;
	if (t.p[0] == '[') { /* [v6] or [v6]:port */
		rb = memchr(t.p, ']', t.n);
		if (rb == NULL)
			return 0;
		if ((size_t)(rb - t.p) + 1 < t.n &&
		    (rb[1] != ':' ||
		     !xff_port_ok(rb + 2, t.n - (size_t)(rb - t.p) - 2)))
			return 0;
		if (!xff_pton(t.p + 1, (size_t)(rb - t.p) - 1, AF_INET6, addr))
			return 0;
		*family = AF_INET6;
	} else if ((colon = memchr(t.p, ':', t.n)) != NULL &&
	           memchr(colon + 1, ':', t.n - (size_t)(colon - t.p) - 1) ==
	                   NULL) { /* v4:port */
		if (!xff_port_ok(colon + 1, t.n - (size_t)(colon - t.p) - 1) ||
		    !xff_pton(t.p, (size_t)(colon - t.p), AF_INET, addr))
			return 0;
		*family = AF_INET;
	} else if (colon != NULL) { /* bare v6 */
		if (!xff_pton(t.p, t.n, AF_INET6, addr))
			return 0;
		*family = AF_INET6;
	} else {
		if (!xff_pton(t.p, t.n, AF_INET, addr))
			return 0;
		*family = AF_INET;
	}
	if (*family == AF_INET6 && ps_addr_is_v4mapped(addr)) {
		memmove(addr, addr + 12, 4);
		*family = AF_INET;
	}
	return 1;
}

static const char *
xff_header_name(uint8_t h)
{
	switch (h) {
	case PS_RP_XFF:
		return "X-Forwarded-For";
	case PS_RP_X_REAL_IP:
		return "X-Real-IP";
	case PS_RP_TRUE_CLIENT_IP:
		return "True-Client-IP";
	case PS_RP_CF_CONNECTING_IP:
		return "CF-Connecting-IP";
	default:
		return NULL;
	}
}

/* The values of every complete header line named name, in order (at most
 * max); returns how many.  The request line is skipped; obs-fold
 * continuation lines and lines without a colon are ignored. */
static size_t
xff_find(const char *buf, size_t len, const char *name, struct xff_span *v,
         size_t max)
{
	size_t nlen = strlen(name), cnt = 0;
	const char *p = memchr(buf, '\n', len), *end = buf + len;

	while (p != NULL && ++p < end && cnt < max) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (lf == NULL)
			break; /* a partial line: not trusted to be whole */
		n = (size_t)(lf - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break; /* the blank line: end of the headers */
		if (n > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0)
			v[cnt++] = xff_trim(p + nlen + 1, n - nlen - 1);
		p = lf;
	}
	return cnt;
}

/* X-Forwarded-For lines, right to left: the first untrusted address. */
static int
xff_walk(const struct xff_span *v, size_t nv, ps_xff_trusted_fn trusted,
         const void *ctx, int *family, uint8_t addr[16])
{
	size_t i = nv;
	int seen = 0;

	while (i-- > 0) {
		const char *s = v[i].p;
		size_t end = v[i].n, c;

		for (;;) {
			int fam;
			uint8_t a[16];

			for (c = end; c > 0 && s[c - 1] != ','; c--)
				;
			if (!xff_parse_addr(s + c, end - c, &fam, a))
				return 0; /* garbage: the chain is broken */
			*family = fam;
			memcpy(addr, a, 16);
			seen = 1;
			if (!trusted(ctx, fam, a))
				return 1;
			if (c == 0)
				break;
			end = c - 1; /* before the comma */
		}
	}
	return seen; /* all trusted: the leftmost */
}

int
xff_pick(const char *buf, size_t len, const uint8_t *headers, size_t nheaders,
         ps_xff_trusted_fn trusted, const void *ctx, int *family,
         uint8_t addr[16])
{
	struct xff_span v[XFF_LINES_MAX];
	size_t h, nv;

	for (h = 0; h < nheaders; h++) {
		const char *name = xff_header_name(headers[h]);
		const char *comma;

		if (name == NULL)
			continue;
		nv = xff_find(buf, len, name, v,
		              headers[h] == PS_RP_XFF ? XFF_LINES_MAX : 1);
		if (nv == 0)
			continue;
		if (headers[h] == PS_RP_XFF) {
			if (xff_walk(v, nv, trusted, ctx, family, addr))
				return 1;
			continue;
		}
		comma = memchr(v[0].p, ',', v[0].n);
		if (xff_parse_addr(v[0].p,
		                   comma ? (size_t)(comma - v[0].p) : v[0].n,
		                   family, addr))
			return 1;
	}
	return 0;
}
