/*
 * Proxy URLs: scheme://[user[:pass]@]host[:port][/]
 * (docs/behaviour.md#proxy-urls).
 *
 * Only what a proxy needs is accepted: no path beyond "/", no query, no
 * fragment.  Error messages are static and never quote the input, so a
 * password can never leak through one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxyshim/config.h"

struct url_scheme_def {
	const char *name;
	enum ps_scheme scheme;
	uint16_t port;
};

static const struct url_scheme_def url_schemes[] = {
        {"http", PS_SCHEME_HTTP, 80},
        {"https", PS_SCHEME_HTTPS, 443},
        {"socks4", PS_SCHEME_SOCKS4, 1080},
        {"socks4a", PS_SCHEME_SOCKS4A, 1080},
        {"socks5", PS_SCHEME_SOCKS5, 1080},
        {"socks5h", PS_SCHEME_SOCKS5H, 1080},
};
#define URL_NSCHEMES (sizeof(url_schemes) / sizeof(url_schemes[0]))

const char *
url_scheme_name(enum ps_scheme s)
{
	size_t i;

	for (i = 0; i < URL_NSCHEMES; i++)
		if (url_schemes[i].scheme == s)
			return url_schemes[i].name;
	return "none";
}

static int
url_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static int
url_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A DNS host name: labels of letters, digits, '-' and '_' (service names
 * in the wild carry underscores), 1..63 bytes, no leading or trailing '-';
 * at most 253 bytes; one trailing dot allowed (absolute name).
 * Non-ASCII is refused: the resolver only ever sees the A-label form. */
int
url_check_host(const char *s, size_t len, const char **err)
{
	size_t i, label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*err = "empty host name";
		return -EINVAL;
	}
	if (len > PS_MAX_HOST) {
		*err = "host name longer than 253 bytes";
		return -EINVAL;
	}
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0) {
				*err = "empty label in host name";
				return -EINVAL;
			}
			if (s[i - 1] == '-' || s[i - label] == '-') {
				*err = "host name label starts or ends with "
				       "'-'";
				return -EINVAL;
			}
			label = 0;
			continue;
		}
		if ((unsigned char)c >= 0x80) {
			*err = "non-ASCII host name (use its xn-- form)";
			return -EINVAL;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			*err = "invalid character in host name";
			return -EINVAL;
		}
		if (++label > 63) {
			*err = "host name label longer than 63 bytes";
			return -EINVAL;
		}
	}
	return 0;
}

/* Digits and dots only: meant as an IPv4 address, so a typo such as
 * 10.1.2.300 is reported as such instead of becoming a host name. */
static int
url_looks_numeric(const char *s, size_t len)
{
	size_t i;
	size_t digits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] != '.')
			return 0;
	}
	return digits > 0;
}

/* Percent-decode one credential.  RFC 3986 says '%' must introduce two
 * hex digits; anything else is refused rather than guessed at, and %00 is
 * refused because credentials travel as C strings. */
static int
url_decode_cred(const char *s, size_t len, char **out, const char **err)
{
	char *d;
	size_t i, n = 0;
	int r = -EINVAL;

	d = malloc(len + 1);
	if (d == NULL) {
		*err = "out of memory";
		return -ENOMEM;
	}
	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			d[n++] = s[i];
			continue;
		}
		hi = i + 2 < len ? url_hexval(s[i + 1]) : -1;
		lo = hi >= 0 ? url_hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			*err = "invalid percent-encoding in credentials";
			goto out;
		}
		if (hi == 0 && lo == 0) {
			*err = "NUL byte (%00) in credentials";
			goto out;
		}
		d[n++] = (char)(hi * 16 + lo);
		i += 2;
	}
	if (n > PS_MAX_CRED) {
		*err = "user name or password longer than 255 bytes";
		goto out;
	}
	d[n] = '\0';
	*out = d;
	d = NULL;
	r = 0;
out:
	if (d != NULL) {
		explicit_bzero(d, len + 1);
		free(d);
	}
	return r;
}

static void
url_trim(const char **s, size_t *len)
{
	while (*len > 0 && url_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && url_is_space((*s)[*len - 1]))
		(*len)--;
}

/* "scheme://" is optional: without it the URL is http (curl, Go). */
static int
url_parse_scheme(const char **s, size_t *len, const struct url_scheme_def **def,
                 const char **err)
{
	const char *p = memmem(*s, *len, "://", 3);
	size_t i, n;

	*def = &url_schemes[0];
	if (p == NULL)
		return 0;
	n = (size_t)(p - *s);
	for (i = 0; i < URL_NSCHEMES; i++) {
		if (strlen(url_schemes[i].name) == n &&
		    strncasecmp(url_schemes[i].name, *s, n) == 0) {
			*def = &url_schemes[i];
			*s = p + 3;
			*len -= n + 3;
			return 0;
		}
	}
	*err = "unsupported proxy scheme (want http, https, socks4, socks4a, "
	       "socks5 or socks5h)";
	return -EINVAL;
}

static int
url_parse_port(const char *s, size_t len, uint16_t *port, const char **err)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0) {
		*err = "missing port number after ':'";
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*err = "port is not a number";
			return -EINVAL;
		}
		if (v <= 65535)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535) {
		*err = "port out of range (1-65535)";
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

static int
url_parse_userinfo(const char *s, size_t len, struct ps_url *out,
                   const char **err)
{
	const char *colon = memchr(s, ':', len);
	size_t ulen = colon != NULL ? (size_t)(colon - s) : len;
	int r;

	/* "http://:@proxy" is what a template with unset variables makes;
	 * sending an empty identity would only fail later and obscurely. */
	if (ulen == 0) {
		*err = "empty user name in proxy URL";
		return -EINVAL;
	}
	r = url_decode_cred(s, ulen, &out->user, err);
	if (r < 0 || colon == NULL)
		return r;
	return url_decode_cred(colon + 1, len - ulen - 1, &out->pass, err);
}

/* Split host[:port] or [v6][:port]; *port is NULL when absent. */
static int
url_split_hostport(const char *s, size_t len, const char **host, size_t *hlen,
                   int *bracketed, const char **port, size_t *plen,
                   const char **err)
{
	const char *p;

	*port = NULL;
	*plen = 0;
	*bracketed = len > 0 && s[0] == '[';
	if (*bracketed) {
		p = memchr(s, ']', len);
		if (p == NULL) {
			*err = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		*host = s + 1;
		*hlen = (size_t)(p - s) - 1;
		p++;
		if (p == s + len)
			return 0;
		if (*p != ':') {
			*err = "unexpected text after ']'";
			return -EINVAL;
		}
	} else {
		p = memchr(s, ':', len);
		*host = s;
		*hlen = p != NULL ? (size_t)(p - s) : len;
		if (p == NULL)
			return 0;
		if (memchr(p + 1, ':', len - *hlen - 1) != NULL) {
			*err = "IPv6 address must be written in [brackets]";
			return -EINVAL;
		}
	}
	*port = p + 1;
	*plen = (size_t)(s + len - *port);
	return 0;
}

/* Fill family/addr for literals, validate names otherwise. */
static int
url_check_literal(const char *h, size_t hlen, int bracketed, struct ps_url *out,
                  const char **err)
{
	char buf[INET6_ADDRSTRLEN];

	if (hlen == 0) {
		*err = "missing host in proxy URL";
		return -EINVAL;
	}
	if (bracketed) {
		if (hlen >= sizeof(buf))
			goto bad6;
		memcpy(buf, h, hlen);
		buf[hlen] = '\0';
		if (inet_pton(AF_INET6, buf, out->addr) != 1)
			goto bad6;
		out->family = AF_INET6;
		return 0;
	}
	if (url_looks_numeric(h, hlen)) {
		if (hlen >= INET_ADDRSTRLEN)
			goto bad4;
		memcpy(buf, h, hlen);
		buf[hlen] = '\0';
		if (inet_pton(AF_INET, buf, out->addr) != 1)
			goto bad4;
		out->family = AF_INET;
		return 0;
	}
	return url_check_host(h, hlen, err);
bad4:
	*err = "bad IPv4 address";
	return -EINVAL;
bad6:
	*err = "bad IPv6 address";
	return -EINVAL;
}

/* Anything after the authority must be nothing or a lone "/". */
static int
url_check_rest(const char *s, size_t len, const char **err)
{
	if (len == 0 || (len == 1 && s[0] == '/'))
		return 0;
	if (memchr(s, '?', len) != NULL || memchr(s, '#', len) != NULL)
		*err = "query or fragment in proxy URL";
	else
		*err = "path in proxy URL (only \"/\" is allowed)";
	return -EINVAL;
}

int
url_parse(const char *s, size_t len, struct ps_url *out, const char **err)
{
	const struct url_scheme_def *def;
	const char *at, *host, *port;
	size_t i, alen, hlen, plen;
	int r, bracketed;

	memset(out, 0, sizeof(*out));
	url_trim(&s, &len);
	if (len == 0) {
		*err = "empty proxy URL";
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
			*err = "whitespace or control character in proxy URL";
			return -EINVAL;
		}
	}
	r = url_parse_scheme(&s, &len, &def, err);
	if (r < 0)
		return r;
	for (alen = 0; alen < len; alen++)
		if (s[alen] == '/' || s[alen] == '?' || s[alen] == '#')
			break;
	r = url_check_rest(s + alen, len - alen, err);
	if (r < 0)
		goto out;
	/* The last '@' ends the user info: RFC 3986 forbids a raw '@' in
	 * it, but taking the last one is what users of sloppy URLs expect. */
	at = memrchr(s, '@', alen);
	if (at != NULL) {
		r = url_parse_userinfo(s, (size_t)(at - s), out, err);
		if (r < 0)
			goto out;
		alen -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	r = url_split_hostport(s, alen, &host, &hlen, &bracketed, &port, &plen,
	                       err);
	if (r == 0)
		r = url_check_literal(host, hlen, bracketed, out, err);
	out->port = def->port;
	if (r == 0 && port != NULL)
		r = url_parse_port(port, plen, &out->port, err);
	if (r < 0)
		goto out;
	out->host = strndup(host, hlen);
	if (out->host == NULL) {
		*err = "out of memory";
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < hlen; i++)
		if (out->host[i] >= 'A' && out->host[i] <= 'Z')
			out->host[i] = (char)(out->host[i] - 'A' + 'a');
	out->scheme = def->scheme;
out:
	if (r < 0)
		url_free(out);
	return r;
}

void
url_free(struct ps_url *u)
{
	if (u == NULL)
		return;
	free(u->host);
	if (u->user != NULL) {
		explicit_bzero(u->user, strlen(u->user));
		free(u->user);
	}
	if (u->pass != NULL) {
		explicit_bzero(u->pass, strlen(u->pass));
		free(u->pass);
	}
	free(u->tls_ca_file);
	free(u->tls_server_name);
	memset(u, 0, sizeof(*u));
}

/* Re-encode the user name so the display is a URL again and carries no
 * control characters into logs. */
static void
url_encode_user(const char *s, char *buf, size_t bufsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 <= bufsz; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	buf[n] = '\0';
}

size_t
url_format_masked(const struct ps_url *u, char *buf, size_t bufsz)
{
	char user[PS_MAX_CRED * 3 + 1] = "";
	const char *host = u->host != NULL ? u->host : "";
	int v6 = strchr(host, ':') != NULL;
	int n;

	if (u->user != NULL)
		url_encode_user(u->user, user, sizeof(user));
	n = snprintf(buf, bufsz, "%s://%s%s%s%s%s%s:%u",
	             url_scheme_name(u->scheme), user,
	             u->pass != NULL ? ":***" : "", u->user != NULL ? "@" : "",
	             v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)u->port);
	return n < 0 ? 0 : (size_t)n;
}
