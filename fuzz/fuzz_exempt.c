/*
 * libFuzzer target: the exempt list (resolver/match.c), compiled
 * (compile.c) and routed (route.c).
 *
 * Input: "entry,entry,...\nNAME\nADDR-AND-PORT-BYTES".  Each entry goes
 * through match_parse(); the accepted ones become proxy.exempt of a config
 * with one http upstream (192.0.2.1:3128), which is compiled, validated
 * and routed for the destination in the input and for destinations
 * derived from the entries (the name, a subdomain, a look-alike, the
 * address, a neighbour; ports at the edges of the entry's range).
 *
 * When exactly one entry was accepted, every route_lookup() answer is
 * compared with a naive evaluation of docs/behaviour.md#match-entries for
 * that entry (names match
 * only when a name is known, case-insensitively, trailing dot ignored;
 * NAME = itself and subdomains, SUFFIX = subdomains only; ADDR and CIDR on
 * the address, IPv4-mapped IPv6 read as IPv4; ports in [lo, hi]).
 * Loopback destinations and the upstream's own address are skipped (they
 * are decided before the exempt list).
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"
#include "fuzz.h"

#define MAX_ENTRIES 64
#define UPSTREAM "http://192.0.2.1:3128"

static const uint8_t mapped_pfx[12] = {0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0xff, 0xff};

/* IPv4-mapped IPv6 as IPv4; *prefix adjusted (may be NULL). */
static int
norm_addr(int family, const uint8_t *in, uint8_t out[16], int *prefix)
{
	memset(out, 0, 16);
	if (family == AF_INET6 && memcmp(in, mapped_pfx, 12) == 0 &&
	    (prefix == NULL || *prefix >= 96)) {
		memcpy(out, in + 12, 4);
		if (prefix != NULL)
			*prefix -= 96;
		return AF_INET;
	}
	memcpy(out, in, family == AF_INET ? 4 : 16);
	return family;
}

static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	uint8_t m;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	m = (uint8_t)(0xff << (8 - rest));
	return (a[full] & m) == (b[full] & m);
}

static int
name_match(const struct ps_match *e, const char *name, size_t len)
{
	size_t n = strlen(e->name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PS_MAX_HOST)
		return 0;
	if (e->kind == PS_MATCH_NAME && len == n &&
	    strncasecmp(name, e->name, n) == 0 && memchr(name, '\0', len) == NULL)
		return 1;
	return len > n && name[len - n - 1] == '.' &&
	       memchr(name + len - n, '\0', n) == NULL &&
	       strncasecmp(name + len - n, e->name, n) == 0;
}

/* docs/behaviour.md#match-entries for one entry, the slow and obvious
 * way. */
static int
naive_match(const struct ps_match *e, const struct ps_dest *d)
{
	uint8_t ea[16], da[16];
	int ef, df, pfx = e->prefix;

	if (e->kind == PS_MATCH_ANY)
		return 1;
	if (d->port < e->port_lo || d->port > e->port_hi)
		return 0;
	if (e->kind == PS_MATCH_NAME || e->kind == PS_MATCH_SUFFIX)
		return d->name != NULL && name_match(e, d->name, d->name_len);
	if (d->family == 0)
		return 0;
	df = norm_addr(d->family, d->addr, da, NULL);
	ef = norm_addr(e->family, e->addr, ea, &pfx);
	if (ef != df)
		return 0;
	if (e->kind == PS_MATCH_ADDR)
		return memcmp(ea, da, ef == AF_INET ? 4 : 16) == 0;
	return prefix_eq(ea, da, pfx);
}

static int
skip_dest(const struct ps_dest *d)
{
	uint8_t a[16];
	size_t n = d->name ? d->name_len : 0;
	int f;

	if (n > 0 && d->name[n - 1] == '.')
		n--;
	if (n >= 9 && strncasecmp(d->name + n - 9, "localhost", 9) == 0 &&
	    (n == 9 || d->name[n - 10] == '.'))
		return 1;
	if (d->family == 0)
		return 0;
	f = norm_addr(d->family, d->addr, a, NULL);
	if (f == AF_INET)
		return a[0] == 127 || memcmp(a, "\xc0\x00\x02\x01", 4) == 0;
	return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
}

static void
route_one(const struct ps_table_view *v, const struct ps_match *single,
          const struct ps_dest *d)
{
	struct ps_route rt;
	int want;

	CHECK(route_lookup(v, d, &rt) == 0);
	if (rt.action == PS_ROUTE_VIA)
		CHECK(rt.chain_len >= 1 &&
		      (size_t)rt.chain_first + rt.chain_len <= v->nchains);
	if (single == NULL || skip_dest(d))
		return;
	want = naive_match(single, d);
	if (want != (rt.why == PS_WHY_EXEMPT)) {
		fprintf(stderr,
		        "exempt \"%s\": naive %d, route why %d (port %u, "
		        "family %d, name %.*s)\n",
		        single->text, want, rt.why, d->port, d->family,
		        d->name ? (int)d->name_len : 0,
		        d->name ? d->name : "");
		abort();
	}
	if (want)
		CHECK(rt.action == PS_ROUTE_DIRECT && rt.src != PS_NONE &&
		      rt.src < v->nsources);
}

/* Destinations derived from one entry, at each of a few ports. */
static void
route_derived(const struct ps_table_view *v, const struct ps_match *e,
              const struct ps_match *single)
{
	char buf[600];
	struct ps_dest d;
	uint16_t ports[5];
	size_t i, k;
	int n;

	ports[0] = e->port_lo;
	ports[1] = e->port_hi;
	ports[2] = (uint16_t)(e->port_lo - 1);
	ports[3] = (uint16_t)(e->port_hi + 1);
	ports[4] = 80;
	for (i = 0; i < 5; i++) {
		memset(&d, 0, sizeof(d));
		d.port = ports[i];
		if (e->name != NULL) {
			static const char *const fmt[] = {"%s", "sub.%s",
			                                  "x%s", "%s.",
			                                  "A.B.%s."};
			for (k = 0; k < 5; k++) {
				n = snprintf(buf, sizeof(buf), fmt[k], e->name);
				d.name = buf;
				d.name_len = (size_t)n;
				route_one(v, single, &d);
			}
			/* Upper case: names compare case-insensitively. */
			for (k = 0; k < (size_t)n; k++)
				if (buf[k] >= 'a' && buf[k] <= 'z')
					buf[k] = (char)(buf[k] - 32);
			route_one(v, single, &d);
			continue;
		}
		if (e->family == 0)
			continue;
		d.family = e->family;
		memcpy(d.addr, e->addr, 16);
		route_one(v, single, &d);
		d.addr[e->family == AF_INET ? 3 : 15] ^= 1;
		route_one(v, single, &d);
		d.addr[0] ^= 0x80;
		route_one(v, single, &d);
		d.name = "named.example";
		d.name_len = 13;
		route_one(v, single, &d);
	}
}

/* The destination written in the input after the list. */
static void
route_input(const struct ps_table_view *v, const struct ps_match *single,
            const char *rest, size_t len)
{
	const char *nl = memchr(rest, '\n', len);
	struct ps_dest d;
	size_t tail;

	memset(&d, 0, sizeof(d));
	d.name = rest;
	d.name_len = nl != NULL ? (size_t)(nl - rest) : len;
	tail = nl != NULL ? len - d.name_len - 1 : 0;
	if (tail >= 2) {
		d.port = (uint16_t)((uint8_t)nl[1] << 8 | (uint8_t)nl[2]);
		tail -= 2;
		if (tail >= 16) {
			d.family = AF_INET6;
			memcpy(d.addr, nl + 3, 16);
		} else if (tail >= 4) {
			d.family = AF_INET;
			memcpy(d.addr, nl + 3, 4);
		}
	}
	if (d.name_len == 0)
		d.name = NULL;
	route_one(v, single, &d);
	d.name = NULL;
	d.name_len = 0;
	route_one(v, single, &d);
}

static int
parse_list(const char *s, size_t len, struct ps_config *c, size_t *nwritten)
{
	const char *err = NULL;
	size_t i = 0, n;
	const char *comma;

	*nwritten = 0;
	while (i <= len && *nwritten < MAX_ENTRIES) {
		comma = memchr(s + i, ',', len - i);
		n = comma != NULL ? (size_t)(comma - (s + i)) : len - i;
		(*nwritten)++;
		if (match_parse(s + i, n, &c->exempt[c->nexempt], &err) == 0) {
			c->exempt[c->nexempt].pos.line = 1;
			c->exempt[c->nexempt].pos.col = (uint32_t)i + 1;
			c->nexempt++;
		} else {
			CHECK(err != NULL);
		}
		if (comma == NULL)
			break;
		i += n + 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl, *uerr = NULL;
	struct ps_config c;
	struct ps_table_view v;
	const struct ps_match *single;
	char err[PS_ERR_MAX];
	const char *why = NULL;
	uint8_t *tbl = NULL;
	size_t len = 0, listlen, written, i;

	nl = memchr(s, '\n', size);
	listlen = nl != NULL ? (size_t)(nl - s) : size;
	config_init(&c);
	c.source = strdup("fuzz");
	c.http = calloc(1, sizeof(*c.http));
	c.exempt = calloc(MAX_ENTRIES, sizeof(*c.exempt));
	CHECK(c.source != NULL && c.http != NULL && c.exempt != NULL);
	CHECK(url_parse(UPSTREAM, strlen(UPSTREAM), c.http, &uerr) == 0);
	parse_list(s, listlen, &c, &written);
	if (compile_table(&c, 3, &tbl, &len, err, sizeof(err)) != 0) {
		CHECK(err[0] != '\0');
		config_free(&c);
		return 0;
	}
	if (table_view_open(tbl, len, &v, &why) != 0) {
		fprintf(stderr, "validator refused the compiler's table: %s\n",
		        why);
		abort();
	}
	single = written == 1 && c.nexempt == 1 ? &c.exempt[0] : NULL;
	for (i = 0; i < c.nexempt && i < 8; i++)
		route_derived(&v, &c.exempt[i], single);
	if (nl != NULL)
		route_input(&v, single, nl + 1, size - listlen - 1);
	free(tbl);
	config_free(&c);
	return 0;
}
