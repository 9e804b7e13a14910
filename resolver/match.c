/*
 * Match entries (exempt lists, rule matches), CIDRs, port ranges and
 * durations: the small value parsers of the config reader.
 *
 * Entry syntax follows Go's NO_PROXY (golang.org/x/net/http/httpproxy), which
 * docs/behaviour.md#match-entries adopts, with two deliberate differences:
 * malformed entries are errors instead of being skipped, and ":lo-hi" port
 * ranges are accepted. Like Go's net.ParseCIDR, host bits set in a CIDR are
 * cleared rather than refused: "127.0.0.1/8" (an example in docs/behaviour.md)
 * means 127.0.0.0/8.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"

/* Longest entry: a name, ":" and a port range, or a bracketed address. */
#define MATCH_MAX_TEXT (PS_MAX_HOST + 1 + 11 + 2)

static int
match_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static void
match_trim(const char **s, size_t *len)
{
	while (*len > 0 && match_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && match_is_space((*s)[*len - 1]))
		(*len)--;
}

static int
match_only(const char *s, size_t len, const char *set)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

/* Digits and dots, at least one digit: meant as an IPv4 address. */
static int
match_numeric(const char *s, size_t len)
{
	return len > 0 && match_only(s, len, "0123456789.") &&
	       !match_only(s, len, ".");
}

/* Parse an unsigned decimal of at most max; no sign, no spaces. */
static int
match_number(const char *s, size_t len, unsigned long max, unsigned long *v)
{
	size_t i;

	*v = 0;
	if (len == 0 || !match_only(s, len, "0123456789"))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		*v = *v * 10 + (unsigned long)(s[i] - '0');
		if (*v > max)
			return -ERANGE;
	}
	return 0;
}

int
port_range_parse(const char *s, size_t len, uint16_t *lo, uint16_t *hi,
                 const char **err)
{
	const char *dash = memchr(s, '-', len);
	size_t llen = dash != NULL ? (size_t)(dash - s) : len;
	unsigned long a, b;
	int r;

	r = match_number(s, llen, 65535, &a);
	if (r == 0 && dash != NULL)
		r = match_number(dash + 1, len - llen - 1, 65535, &b);
	else
		b = a;
	if (r == -EINVAL) {
		*err = len == 0 ? "empty port" : "port is not a number";
		return -EINVAL;
	}
	if (r < 0 || a == 0 || b == 0) {
		*err = "port out of range (1-65535)";
		return -EINVAL;
	}
	if (a > b) {
		*err = "port range is reversed (lo > hi)";
		return -EINVAL;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* Parse a literal into addr; returns the family or 0. */
static int
match_addr(const char *s, size_t len, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (memchr(s, ':', len) != NULL)
		return inet_pton(AF_INET6, buf, addr) == 1 ? AF_INET6 : 0;
	return inet_pton(AF_INET, buf, addr) == 1 ? AF_INET : 0;
}

static void
match_mask(uint8_t addr[16], int bits, int prefix)
{
	int i;

	for (i = 0; i < bits / 8; i++) {
		int keep = prefix - i * 8;

		if (keep <= 0)
			addr[i] = 0;
		else if (keep < 8)
			addr[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int
cidr_parse(const char *s, size_t len, int *family, uint8_t addr[16],
           int *prefix, const char **err)
{
	const char *slash;
	unsigned long p;
	size_t alen;
	int fam, bits;

	match_trim(&s, &len);
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	fam = match_addr(s, alen, addr);
	if (fam == 0) {
		const char *colon = memchr(s, ':', alen);

		/* One colon is host:port, not a mangled IPv6 address. */
		if (colon != NULL &&
		    memchr(colon + 1, ':', alen - (size_t)(colon - s) - 1))
			*err = "bad IPv6 address";
		else if (match_numeric(s, alen))
			*err = "bad IPv4 address";
		else
			*err = "not an IP address or CIDR";
		return -EINVAL;
	}
	bits = fam == AF_INET ? 32 : 128;
	p = (unsigned long)bits;
	if (slash != NULL && match_number(slash + 1, len - alen - 1,
	                                  (unsigned long)bits, &p) != 0) {
		*err = fam == AF_INET ? "bad CIDR prefix length (0-32)"
		                      : "bad CIDR prefix length (0-128)";
		return -EINVAL;
	}
	match_mask(addr, bits, (int)p);
	*family = fam;
	*prefix = (int)p;
	return 0;
}

/* Split "host:ports", "[v6]:ports", "[v6]" or a bare IPv6 address (two
 * or more colons and no brackets: no port, as Go reads "::1"). */
static int
match_split(const char *s, size_t len, const char **host, size_t *hlen,
            const char **port, size_t *plen, int *bracketed, const char **err)
{
	const char *p, *colon = memchr(s, ':', len);

	*port = NULL;
	*plen = 0;
	*host = s;
	*hlen = len;
	*bracketed = s[0] == '[';
	if (*bracketed) {
		p = memchr(s, ']', len);
		if (p == NULL) {
			*err = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		*host = s + 1;
		*hlen = (size_t)(p - s) - 1;
		if (p + 1 == s + len)
			return 0;
		if (p[1] != ':') {
			*err = "unexpected text after ']'";
			return -EINVAL;
		}
		colon = p + 1;
	} else if (colon == NULL ||
	           memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
		return 0;
	} else {
		*hlen = (size_t)(colon - s);
	}
	*port = colon + 1;
	*plen = (size_t)(s + len - *port);
	return 0;
}

/* A name entry: "*.x" and ".x" are SUFFIX, "x" is NAME; s is lower case. */
static int
match_name(const char *s, size_t len, struct ps_match *out, const char **err)
{
	int r;

	out->kind = PS_MATCH_NAME;
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		out->kind = PS_MATCH_SUFFIX;
		s += 2;
		len -= 2;
	} else if (len >= 1 && s[0] == '.') {
		out->kind = PS_MATCH_SUFFIX;
		s++;
		len--;
	}
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || s[len - 1] == '.') {
		*err = len == 0 ? "empty name" : "empty label in host name";
		return -EINVAL;
	}
	if (memchr(s, '*', len) != NULL) {
		*err = "'*' is allowed only alone or as a leading \"*.\"";
		return -EINVAL;
	}
	r = url_check_host(s, len, err);
	if (r < 0)
		return r;
	out->name = strndup(s, len);
	if (out->name == NULL) {
		*err = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

/* Host part of an entry that is not "*" and not a CIDR. */
static int
match_host(const char *h, size_t hlen, int bracketed, struct ps_match *out,
           const char **err)
{
	out->family = match_addr(h, hlen, out->addr);
	if (out->family != 0) {
		out->kind = PS_MATCH_ADDR;
		out->prefix = out->family == AF_INET ? 32 : 128;
		return 0;
	}
	if (bracketed || memchr(h, ':', hlen) != NULL) {
		*err = "bad IPv6 address (write [addr]:port for a port)";
		return -EINVAL;
	}
	/* Digits and dots only is a mistyped address, not a name. */
	if (match_numeric(h, hlen)) {
		*err = "bad IPv4 address";
		return -EINVAL;
	}
	return match_name(h, hlen, out, err);
}

static int
match_cidr(const char *s, size_t len, struct ps_match *out, const char **err)
{
	const char *slash = memrchr(s, '/', len);
	int prefix;
	int r;

	if (memchr(slash, ':', (size_t)(s + len - slash)) != NULL ||
	    memchr(slash, ']', (size_t)(s + len - slash)) != NULL) {
		*err = "a CIDR cannot carry a port";
		return -EINVAL;
	}
	r = cidr_parse(s, len, &out->family, out->addr, &prefix, err);
	if (r < 0)
		return r;
	out->kind = PS_MATCH_CIDR;
	out->prefix = (uint8_t)prefix;
	return 0;
}

static int
match_parse_lower(const char *s, size_t len, struct ps_match *out,
                  const char **err)
{
	const char *host, *port;
	size_t hlen, plen;
	int r, bracketed;

	if (len == 1 && s[0] == '*') {
		out->kind = PS_MATCH_ANY;
		return 0;
	}
	if (memchr(s, '/', len) != NULL)
		return match_cidr(s, len, out, err);
	r = match_split(s, len, &host, &hlen, &port, &plen, &bracketed, err);
	if (r < 0)
		return r;
	if (hlen == 1 && host[0] == '*') {
		*err = "\"*\" cannot carry a port";
		return -EINVAL;
	}
	r = match_host(host, hlen, bracketed, out, err);
	if (r == 0 && port != NULL)
		r = port_range_parse(port, plen, &out->port_lo, &out->port_hi,
		                     err);
	return r;
}

int
match_parse(const char *s, size_t len, struct ps_match *out, const char **err)
{
	char low[MATCH_MAX_TEXT + 1];
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	out->port_hi = 65535;
	match_trim(&s, &len);
	if (len == 0) {
		*err = "empty entry";
		return -EINVAL;
	}
	if (len > MATCH_MAX_TEXT) {
		*err = "entry too long";
		return -EINVAL;
	}
	if (memchr(s, '\0', len) != NULL) {
		*err = "NUL byte in entry";
		return -EINVAL;
	}
	/* Names compare case-insensitively (DNS); addresses don't care. */
	for (i = 0; i < len; i++)
		low[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a')
		                                    : s[i];
	r = match_parse_lower(low, len, out, err);
	if (r == 0) {
		out->text = strndup(s, len);
		if (out->text == NULL) {
			*err = "out of memory";
			r = -ENOMEM;
		}
	}
	if (r < 0)
		match_free(out);
	return r;
}

void
match_free(struct ps_match *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->text);
	m->name = NULL;
	m->text = NULL;
}

/* One "<digits><unit>" component in milliseconds. */
static int
duration_unit(const char *u, size_t ulen, uint64_t *mult)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].name) == ulen &&
		    memcmp(units[i].name, u, ulen) == 0) {
			*mult = units[i].ms;
			return 0;
		}
	}
	return -EINVAL;
}

/* "250ms", "5s", "1m", "1h", "1h30m" (Go's time.ParseDuration units, whole
 * numbers only); a bare integer is seconds.  Capped at INT32_MAX ms (about
 * 24.8 days) because the shim hands timeouts to poll(2) as an int. */
int
duration_parse(const char *s, size_t len, uint32_t *ms, const char **err)
{
	uint64_t total = 0;
	size_t i = 0;

	match_trim(&s, &len);
	if (len == 0) {
		*err = "empty duration";
		return -EINVAL;
	}
	if (s[0] == '-') {
		*err = "negative duration";
		return -EINVAL;
	}
	while (i < len) {
		uint64_t v = 0, mult = 1000;
		size_t d = i, u;

		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (v <= INT32_MAX)
				v = v * 10 + (uint64_t)(s[i] - '0');
		u = i;
		while (i < len && s[i] >= 'a' && s[i] <= 'z')
			i++;
		if (d == u || (u == i && (d != 0 || i != len)) ||
		    (u != i && duration_unit(s + u, i - u, &mult) != 0)) {
			*err = "bad duration (use e.g. 250ms, 5s, 1m, 1h)";
			return -EINVAL;
		}
		total += v * mult;
		if (v > INT32_MAX || total > INT32_MAX) {
			*err = "duration too long (at most 24 days)";
			return -EINVAL;
		}
	}
	*ms = (uint32_t)total;
	return 0;
}
