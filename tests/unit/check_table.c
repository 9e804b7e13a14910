/*
 * The compiled table (resolver/compile.c, resolver/table.c,
 * resolver/dump.c): round trip, validation, corruption.
 *
 * The corruption tests flip and truncate a small table at every offset.
 * Each flip is tried twice: as it is (the checksum must refuse it) and
 * with the checksum recomputed, which models a hostile writer: then the
 * structural checks alone must either refuse the table or leave one that
 * route_lookup() and table_dump() walk without a stray read (run under
 * ASan to make "without a stray read" mean something).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"
#include "helpers.h"

/* ---- helpers ------------------------------------------------------------- */

static void
list_add(struct ps_match **arr, size_t *n, const char *list, uint32_t line)
{
	const char *p = list, *err = "";
	uint32_t col = 1;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		struct ps_match *m;

		if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
			*arr = realloc(*arr, (*n ? 2 * *n : 1) * sizeof(**arr));
			ck_assert_ptr_nonnull(*arr);
		}
		m = &(*arr)[*n];
		ck_assert_msg(match_parse(p, len, m, &err) == 0, "%.*s: %s",
		              (int)len, p, err);
		m->pos.line = line;
		m->pos.col = col;
		col += (uint32_t)len + 1;
		(*n)++;
		p += len + (e ? 1 : 0);
	}
}

static struct ps_url *
url_new(const char *s, uint32_t line)
{
	struct ps_url *u = calloc(1, sizeof(*u));
	const char *err = "";

	ck_assert_ptr_nonnull(u);
	ck_assert_msg(url_parse(s, strlen(s), u, &err) == 0, "%s: %s", s, err);
	u->pos.line = line;
	u->pos.col = 9;
	return u;
}

static void
rule_add(struct ps_config *c, const char *list, enum ps_via_kind kind,
         const char *url, uint32_t line)
{
	struct ps_rule *r;
	const char *err = "";
	char label[32];

	if ((c->nrules & (c->nrules - 1)) == 0) { /* powers of two */
		c->rules = realloc(c->rules, (c->nrules ? 2 * c->nrules : 1) *
		                                     sizeof(*c->rules));
		ck_assert_ptr_nonnull(c->rules);
	}
	r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	snprintf(label, sizeof(label), "rules[%zu]", c->nrules);
	r->label = strdup(label);
	r->pos.line = line;
	r->pos.col = 5;
	list_add(&r->match, &r->nmatch, list, line);
	r->via.kind = kind;
	if (kind == PS_VIA_PROXY) {
		r->via.hops = calloc(1, sizeof(*r->via.hops));
		ck_assert_ptr_nonnull(r->via.hops);
		ck_assert(url_parse(url, strlen(url), r->via.hops, &err) == 0);
		r->via.nhops = 1;
	}
	c->nrules++;
}

/* A small config touching every section. */
static void
small_config(struct ps_config *c)
{
	static const uint16_t ports[] = {443, 8443, 9000};

	config_init(c);
	c->source = strdup("/etc/proxyshim.yml");
	c->http = url_new("http://proxy.corp:3128", 2);
	c->https = url_new("socks5://alice:s3cret@10.10.10.10:1080", 3);
	list_add(&c->exempt, &c->nexempt,
	         "cluster.local,.svc,10.0.0.0/8,fd00::/"
	         "8,[::5]:443,*.Example.COM",
	         4);
	c->https_ports = malloc(sizeof(ports));
	ck_assert_ptr_nonnull(c->https_ports);
	memcpy(c->https_ports, ports, sizeof(ports));
	c->nhttps_ports = 3;
	rule_add(c, "api.kestra.io,192.168.0.0/16,10.1.2.3:22", PS_VIA_PROXY,
	         "http://bob:hunter2@[fd00::1]:8080", 7);
	rule_add(c, "blocked.example,2001:db8::/32", PS_VIA_BLOCK, NULL, 9);
	rule_add(c, "*", PS_VIA_DIRECT, NULL, 11);
	list_add(&c->trusted, &c->ntrusted, "127.0.0.0/8,10.0.0.0/8,::1", 13);
	c->chain = PS_CHAIN_FAILOVER;
	c->dns = PS_DNS_LOCAL;
	c->on_failure = PS_FAIL_DIRECT;
	c->udp = PS_UDP_BLOCK;
	c->proxy_loopback = true;
	c->connect_timeout_ms = 1234;
	c->handshake_timeout_ms = 5678;
	c->rp_timeout_ms = 910;
	c->headers[0] = PS_RP_PROXY;
	c->headers[1] = PS_RP_XFF;
	c->nheaders = 2;
	c->tls_ca_file = strdup("/etc/proxyshim/corp-ca.pem");
	c->tls_server_name = strdup("proxy.corp.example");
	ck_assert_ptr_nonnull(c->tls_ca_file);
	ck_assert_ptr_nonnull(c->tls_server_name);
	c->tls_insecure = true;
}

static void
compile_ok(const struct ps_config *c, uint8_t **buf, size_t *len)
{
	char err[PS_ERR_MAX] = "";
	int r = compile_table(c, 0x1122334455667788ull, buf, len, err,
	                      sizeof(err));

	ck_assert_msg(r == 0, "compile_table: %d %s", r, err);
}

static void
reseal(uint8_t *buf, size_t len)
{
	struct ps_t_header *h = (struct ps_t_header *)buf;

	h->checksum = 0;
	h->checksum = table_crc32c(0, buf, len);
}

static int
open_copy(const uint8_t *src, size_t len, const char **why)
{
	struct ps_table_view v;
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, src, len);
	r = table_view_open(copy, len, &v, why);
	free(copy);
	return r;
}

/* ---- CRC and hash -----------------------------------------------------------
 */

/* Whichever CRC path this CPU uses must agree with the table-driven one,
 * at every length and alignment. */
START_TEST(test_table_crc32c_paths_agree)
{
	uint8_t buf[300];
	size_t off, len;
	uint32_t seed = 12345;

	for (off = 0; off < sizeof(buf); off++) {
		seed = seed * 1103515245u + 12345u;
		buf[off] = (uint8_t)(seed >> 16);
	}
	for (off = 0; off < 9; off++)
		for (len = 0; len + off <= sizeof(buf); len += 7)
			ck_assert_uint_eq(table_crc32c(0, buf + off, len),
			                  table_crc32c_soft(0, buf + off, len));
	ck_assert_uint_eq(table_crc32c_soft(0, "123456789", 9), 0xe3069283u);
}
END_TEST

START_TEST(test_table_crc32c_known_vectors)
{
	static const char nine[] = "123456789";
	uint8_t big[1000];
	uint32_t whole, part;
	size_t i, cut;

	/* The CRC-32C check value (RFC 3720 appendix, iSCSI). */
	ck_assert_uint_eq(table_crc32c(0, nine, 9), 0xe3069283u);
	ck_assert_uint_eq(table_crc32c(0, "", 0), 0);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	whole = table_crc32c(0, big, sizeof(big));
	/* Chaining at any cut and any alignment gives the same value. */
	for (cut = 0; cut <= 17; cut++) {
		part = table_crc32c(0, big, cut);
		part = table_crc32c(part, big + cut, sizeof(big) - cut);
		ck_assert_uint_eq(part, whole);
	}
	/* 32 zero bytes: RFC 3720 B.4 gives 8a9136aa. */
	memset(big, 0, 32);
	ck_assert_uint_eq(table_crc32c(0, big, 32), 0x8a9136aau);
}
END_TEST

START_TEST(test_table_hash_runs_backwards_over_suffixes)
{
	static const char name[] = "a.b.example.com";
	uint64_t h = PS_T_HASH_INIT;
	size_t i = sizeof(name) - 1;

	/* Feeding bytes from the end yields each suffix's hash on the way. */
	while (i-- > 0) {
		h = table_hash_step(h, (uint8_t)name[i]);
		ck_assert_uint_eq(table_hash_final(h),
		                  table_hash(name + i, sizeof(name) - 1 - i));
	}
	ck_assert_uint_ne(table_hash("example.com", 11),
	                  table_hash("example.org", 11));
}
END_TEST

/* ---- round trip
 * -------------------------------------------------------------- */

static void
check_settings(const struct ps_table_view *v, const struct ps_config *c)
{
	const struct ps_t_settings *s = &v->hdr->settings;

	ck_assert_uint_eq(v->hdr->version, PS_TABLE_VERSION);
	ck_assert_uint_eq(v->hdr->source_hash, 0x1122334455667788ull);
	ck_assert_uint_eq(v->hdr->generation, 1);
	ck_assert_str_eq(table_str(v, s->source_off), c->source);
	ck_assert_uint_eq(s->nrules, c->nrules);
	ck_assert_uint_eq(s->chain_mode, c->chain);
	ck_assert_uint_eq(s->dns_mode, c->dns);
	ck_assert_uint_eq(s->on_failure, c->on_failure);
	ck_assert_uint_eq(s->udp_mode, c->udp);
	ck_assert_uint_eq(s->proxy_loopback, 1);
	ck_assert_uint_eq(s->fake4_prefix, c->fake4_prefix);
	ck_assert_uint_eq(s->fake6_prefix, c->fake6_prefix);
	ck_assert_mem_eq(s->fake4, c->fake4, 4);
	ck_assert_mem_eq(s->fake6, c->fake6, 16);
	ck_assert_uint_eq(s->connect_timeout_ms, 1234);
	ck_assert_uint_eq(s->handshake_timeout_ms, 5678);
	ck_assert_uint_eq(s->rp_timeout_ms, 910);
	ck_assert_uint_eq(s->nheaders, 2);
	ck_assert_uint_eq(s->headers[0], PS_RP_PROXY);
	ck_assert_uint_eq(s->headers[1], PS_RP_XFF);
	ck_assert_uint_ne(s->tls_ca_off, 0);
	ck_assert_str_eq(table_str(v, s->tls_ca_off), c->tls_ca_file);
	ck_assert_uint_ne(s->tls_name_off, 0);
	ck_assert_str_eq(table_str(v, s->tls_name_off), c->tls_server_name);
	ck_assert_uint_eq(s->tls_flags, PS_T_TLS_INSECURE);
	/* "*" is rule 2's entry: prio 3. */
	ck_assert_uint_eq(s->star_prio, 3);
	ck_assert_str_eq(table_str(v, v->sources[s->star_src].text_off), "*");
}

static void
check_upstreams(const struct ps_table_view *v)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	const struct ps_t_upstream *u;
	const struct ps_t_rule *r;

	ck_assert_uint_eq(v->nupstreams, 3);
	u = &v->upstreams[0];
	ck_assert_uint_eq(u->scheme, PS_SCHEME_HTTP);
	ck_assert_uint_eq(u->family, 0);
	ck_assert_uint_eq(u->port, 3128);
	ck_assert_str_eq(table_str(v, u->host_off), "proxy.corp");
	ck_assert_uint_eq(u->user_off, PS_PRIO_NONE);
	ck_assert_str_eq(table_str(v, u->display_off),
	                 "http://proxy.corp:3128");
	u = &v->upstreams[1];
	ck_assert_uint_eq(u->scheme, PS_SCHEME_SOCKS5);
	ck_assert_uint_eq(u->family, AF_INET);
	ck_assert_uint_eq(u->addr[0], 10);
	/* The shim needs the credentials; only the display hides them. */
	ck_assert_str_eq(table_str(v, u->user_off), "alice");
	ck_assert_str_eq(table_str(v, u->pass_off), "s3cret");
	ck_assert_str_eq(table_str(v, u->display_off),
	                 "socks5://alice:***@10.10.10.10:1080");
	ck_assert_str_eq(table_str(v, v->upstreams[2].display_off),
	                 "http://bob:***@[fd00::1]:8080");
	/* Rules: the user's three, then the http and https routes. */
	ck_assert_uint_eq(v->nrules_total, 5);
	ck_assert_uint_eq(s->http_rule, 3);
	ck_assert_uint_eq(s->https_rule, 4);
	r = &v->rules[0];
	ck_assert_uint_eq(r->action, PS_T_VIA);
	ck_assert_uint_eq(r->chain_len, 1);
	ck_assert_uint_eq(v->chains[r->chain_first], 2);
	ck_assert_str_eq(table_str(v, r->label_off), "rules[0]");
	ck_assert_uint_eq(r->line, 7);
	ck_assert_uint_eq(v->rules[1].action, PS_T_BLOCK);
	ck_assert_uint_eq(v->rules[2].action, PS_T_DIRECT);
	ck_assert_str_eq(table_str(v, v->rules[3].label_off), "proxy.http");
	ck_assert_uint_eq(v->chains[v->rules[3].chain_first], 0);
	ck_assert_str_eq(table_str(v, v->rules[4].label_off), "proxy.https");
	ck_assert_uint_eq(v->chains[v->rules[4].chain_first], 1);
}

static void
check_sources(const struct ps_table_view *v, const struct ps_config *c)
{
	static const char *const self[] = {
	        "proxy.corp:3128", "10.10.10.10:1080", "[fd00::1]:8080"};
	size_t i, k, n = 0;

	ck_assert_uint_eq(v->nsources, 3 + 3 + 2 + 1 + c->nexempt);
	for (i = 0; i < 3; i++, n++) {
		ck_assert_uint_eq(v->sources[n].prio, 0);
		ck_assert_str_eq(table_str(v, v->sources[n].text_off), self[i]);
	}
	for (i = 0; i < c->nrules; i++)
		for (k = 0; k < c->rules[i].nmatch; k++, n++) {
			ck_assert_uint_eq(v->sources[n].prio, i + 1);
			ck_assert_str_eq(table_str(v, v->sources[n].text_off),
			                 c->rules[i].match[k].text);
			ck_assert_uint_eq(v->sources[n].line,
			                  c->rules[i].match[k].pos.line);
			ck_assert_uint_eq(v->sources[n].col,
			                  c->rules[i].match[k].pos.col);
		}
	for (k = 0; k < c->nexempt; k++, n++) {
		ck_assert_uint_eq(v->sources[n].prio, c->nrules + 1);
		ck_assert_str_eq(table_str(v, v->sources[n].text_off),
		                 c->exempt[k].text);
	}
}

START_TEST(test_table_round_trip_fields_equal_config)
{
	struct ps_config c;
	struct ps_table_view v;
	const char *why = "";
	uint8_t *buf;
	size_t len;
	unsigned p;

	small_config(&c);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	ck_assert_uint_eq(v.hdr->total_size, len);
	check_settings(&v, &c);
	check_upstreams(&v);
	check_sources(&v, &c);
	for (p = 0; p < 65536; p++) {
		bool want = p == 443 || p == 8443 || p == 9000, got = false;
		size_t k;

		for (k = 0; k < v.nhttps_ports; k++)
			got = got || (p >= v.https_ports[k].lo &&
			              p <= v.https_ports[k].hi);
		ck_assert_int_eq(got, want);
	}
	ck_assert_uint_eq(v.nhttps_ports, 3);
	/* Small tables carry no range index: every process maps and
	 * checksums the table at start-up, so it must stay small. */
	ck_assert_ptr_null(v.v4_index);
	ck_assert_ptr_null(v.v6_index);
	ck_assert_uint_lt(len, 4096);
	free(buf);
	config_free(&c);
}
END_TEST

START_TEST(test_table_compiles_empty_config)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_route rt;
	struct ps_dest d = {.name = "example.com", .name_len = 11, .port = 443};
	const char *why = "";
	uint8_t *buf;
	size_t len;

	config_init(&c);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	ck_assert_uint_eq(v.nsources, 0);
	ck_assert_uint_eq(v.nname_slots, 0);
	ck_assert_uint_eq(v.nv4, 1);
	ck_assert_uint_eq(v.nv6, 1);
	ck_assert_uint_eq(v.hdr->settings.http_rule, PS_PRIO_NONE);
	ck_assert_str_eq(table_str(&v, v.hdr->settings.source_off), "");
	/* No proxy.tls: "" offsets (system store, each proxy's host) and
	 * verification on. */
	ck_assert_uint_eq(v.hdr->settings.tls_ca_off, 0);
	ck_assert_uint_eq(v.hdr->settings.tls_name_off, 0);
	ck_assert_uint_eq(v.hdr->settings.tls_flags, 0);
	route_lookup(&v, &d, &rt);
	ck_assert_int_eq(rt.why, PS_WHY_DEFAULT);
	free(buf);
	config_free(&c);
}
END_TEST

START_TEST(test_compile_rejects_what_it_cannot_represent)
{
	struct ps_config c;
	char err[PS_ERR_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	/* A CIDR with a port (match_parse refuses it; a caller might not). */
	config_init(&c);
	list_add(&c.exempt, &c.nexempt, "10.0.0.0/8", 5);
	c.exempt[0].port_lo = c.exempt[0].port_hi = 80;
	ck_assert_int_eq(compile_table(&c, 0, &buf, &len, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_ptr_null(buf);
	ck_assert_ptr_nonnull(strstr(err, "port"));
	config_free(&c);
	/* A proxy rule without upstreams. */
	config_init(&c);
	rule_add(&c, "x.org", PS_VIA_DIRECT, NULL, 3);
	c.rules[0].via.kind = PS_VIA_PROXY;
	ck_assert_int_eq(compile_table(&c, 0, &buf, &len, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_ptr_null(buf);
	config_free(&c);
}
END_TEST

static struct ps_route
route_of(const struct ps_table_view *v, const char *name, const char *addr,
         uint16_t port)
{
	struct ps_route rt;
	struct ps_dest d;

	memset(&d, 0, sizeof(d));
	d.name = name;
	d.name_len = name ? strlen(name) : 0;
	d.port = port;
	if (addr != NULL) {
		d.family = inet_pton(AF_INET, addr, d.addr) == 1 ? AF_INET
		                                                 : AF_INET6;
		if (d.family == AF_INET6)
			ck_assert_int_eq(inet_pton(AF_INET6, addr, d.addr), 1);
	}
	route_lookup(v, &d, &rt);
	return rt;
}

/* Big lists switch on the range indexes and the name filter. */
static void
big_lists(struct ps_config *c, unsigned n)
{
	char list[128];
	unsigned i;

	for (i = 0; i < n; i++) {
		snprintf(
		        list, sizeof(list),
		        "%u.%u.%u.0/24,fd%02x:%x::/32,h%u.big.example,.s%u.org",
		        10 + i % 200, i / 200, i % 256, i % 256, i, i, i);
		list_add(&c->exempt, &c->nexempt, list, 2 + i);
	}
}

START_TEST(test_table_large_lists_get_index_and_filter)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_route rt;
	const char *why = "";
	uint8_t *buf;
	size_t len;

	config_init(&c);
	c.http = url_new("proxy:3128", 1);
	big_lists(&c, 5000);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	ck_assert_ptr_nonnull(v.v4_index);
	ck_assert_ptr_nonnull(v.v6_index);
	ck_assert_ptr_nonnull(v.name_filter);
	ck_assert_uint_gt(v.nv4, PS_T_INDEX_MIN_RANGES);
	/* Load at most 0.5 over the 10,001 name keys, no power-of-two
	 * rounding. */
	ck_assert_uint_ge(v.nname_slots, 2 * 10001);
	ck_assert_uint_lt(v.nname_slots, 2 * 10001 + 16);
	/* All the IPv6 blocks are in fd00::/8: the index cuts below it. */
	ck_assert_uint_ge(v.hdr->rindex[1].prefix_len, 8);
	ck_assert_uint_eq(v.hdr->rindex[1].prefix[0], 0xfd);
	ck_assert_uint_eq(v.hdr->rindex[0].prefix_len, 0);

	rt = route_of(&v, NULL, "11.0.1.77", 80); /* i = 1 */
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(table_str(&v, v.sources[rt.src].text_off),
	                 "11.0.1.0/24");
	ck_assert_int_eq(route_of(&v, NULL, "11.0.2.77", 80).why, PS_WHY_HTTP);
	rt = route_of(&v, NULL, "fd07:7:ffff::1", 80);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(table_str(&v, v.sources[rt.src].text_off),
	                 "fd07:7::/32");
	ck_assert_int_eq(route_of(&v, NULL, "fd07:8::1", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(route_of(&v, NULL, "fe00::1", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(route_of(&v, NULL, "fc00::1", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(route_of(&v, NULL, "::", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(route_of(&v, NULL, "ffff::", 80).why, PS_WHY_HTTP);
	rt = route_of(&v, "H4321.Big.Example", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(table_str(&v, v.sources[rt.src].text_off),
	                 "h4321.big.example");
	ck_assert_int_eq(route_of(&v, "a.b.s4999.org", NULL, 80).why,
	                 PS_WHY_EXEMPT);
	ck_assert_int_eq(route_of(&v, "s4999.org", NULL, 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(route_of(&v, "h5000.big.example", NULL, 80).why,
	                 PS_WHY_HTTP);

	/* A wrong index entry is refused even with a valid checksum. */
	((uint32_t *)(void *)(buf + v.hdr->sec[PS_SEC_V4_INDEX].off))[2817]++;
	reseal(buf, len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	ck_assert_str_eq(why, "range index inconsistent with the ranges");
	free(buf);
	config_free(&c);
}
END_TEST

START_TEST(test_table_refuses_covered_range_outside_index_prefix)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_t_header *h;
	const char *why = "";
	uint8_t *buf;
	size_t len;

	config_init(&c);
	big_lists(&c, 3000);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	h = (struct ps_t_header *)(void *)buf;
	/* Claim every covered v6 address starts with fe: lookups in fd00::/8
	 * would be answered "nothing" without a search. */
	h->rindex[1].prefix[0] = 0xfe;
	reseal(buf, len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	ck_assert_str_eq(why, "range index: a covered range lies outside the "
	                      "prefix");
	h->rindex[1].prefix[0] = 0xfd;
	h->rindex[1].prefix_len = 113;
	reseal(buf, len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	ck_assert_str_eq(why, "range index: bad prefix length");
	free(buf);
	config_free(&c);
}
END_TEST

START_TEST(test_table_skip_crc_flag_skips_only_the_checksum)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_t_header *h;
	const char *why = "";
	uint8_t *buf;
	size_t len;

	small_config(&c);
	compile_ok(&c, &buf, &len);
	h = (struct ps_t_header *)(void *)buf;
	h->checksum ^= 1;
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	ck_assert_int_eq(
	        table_view_open_flags(buf, len, &v, &why, PS_VIEW_SKIP_CRC), 0);
	h->sec[PS_SEC_SOURCES].count += 1000;
	ck_assert_int_eq(
	        table_view_open_flags(buf, len, &v, &why, PS_VIEW_SKIP_CRC),
	        -EINVAL);
	ck_assert_str_eq(why, "section extends past the end of the table");
	free(buf);
	config_free(&c);
}
END_TEST

/* ---- refusals
 * ----------------------------------------------------------------- */

START_TEST(test_table_refuses_bad_header_fields)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_t_header *h;
	const char *why = "";
	uint8_t *buf;
	size_t len;

	small_config(&c);
	compile_ok(&c, &buf, &len);
	h = (struct ps_t_header *)buf;

	h->magic ^= 1;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "bad magic: not a proxyshim table");
	h->magic ^= 1;

	h->version++;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EPROTO);
	h->version--;

	h->header_size--;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "bad header size");
	h->header_size++;

	h->total_size += 8;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "total size does not match the mapped size");
	h->total_size -= 8;

	h->checksum ^= 0x100;
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "checksum mismatch");
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), 0);

	/* proxy.tls: string offsets inside the strings, known flags. */
	h->settings.tls_ca_off = h->sec[PS_SEC_STRINGS].count;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "settings: bad TLS string");
	h->settings.tls_ca_off = 0;
	h->settings.tls_name_off = UINT32_MAX;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "settings: bad TLS string");
	h->settings.tls_name_off = 0;
	h->settings.tls_flags = 2;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "settings: unknown TLS flag");
	h->settings.tls_flags = PS_T_TLS_INSECURE;
	h->settings.reserved[0] = 1;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, "settings: reserved field not zero");
	h->settings.reserved[0] = 0;
	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), 0);

	ck_assert_int_eq(open_copy(buf, 3, &why), -EINVAL);
	ck_assert_int_eq(table_view_open(NULL, 0, &v, &why), -EINVAL);
	/* Misaligned in memory: refused rather than read unaligned. */
	ck_assert_int_eq(table_view_open(buf + 1, len - 1, &v, &why), -EINVAL);
	free(buf);
	config_free(&c);
}
END_TEST

/* Corrupt one field, fix the checksum, expect a refusal naming it. */
static void
expect_refused(uint8_t *buf, size_t len, const char *want)
{
	const char *why = "";

	reseal(buf, len);
	ck_assert_int_eq(open_copy(buf, len, &why), -EINVAL);
	ck_assert_str_eq(why, want);
}

START_TEST(test_table_refuses_sections_and_offsets_out_of_range)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_t_header *h;
	const char *why = "";
	uint8_t *buf, *orig;
	size_t len;

	small_config(&c);
	compile_ok(&c, &orig, &len);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	h = (struct ps_t_header *)buf;

#define FRESH()                                                                \
	do {                                                                   \
		memcpy(buf, orig, len);                                        \
		ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);      \
	} while (0)

	FRESH();
	h->sec[PS_SEC_SOURCES].count += 1000;
	expect_refused(buf, len, "section extends past the end of the table");
	FRESH();
	h->sec[PS_SEC_TRUST6].off = (uint32_t)len;
	h->sec[PS_SEC_TRUST6].count = 1;
	expect_refused(buf, len, "section extends past the end of the table");
	FRESH();
	h->sec[PS_SEC_RULES].off += 4;
	expect_refused(buf, len, "section not 8-byte aligned");
	FRESH();
	h->sec[PS_SEC_RULES].elem_size = 20;
	expect_refused(buf, len, "section element size mismatch");
	FRESH();
	h->sec[PS_SEC_CHAINS].off = h->sec[PS_SEC_STRINGS].off;
	expect_refused(buf, len, "sections out of order or overlapping");
	FRESH();
	((struct ps_t_rule *)(void *)(buf + h->sec[PS_SEC_RULES].off))[1]
	        .label_off = (uint32_t)v.strings_len;
	expect_refused(buf, len, "rule: bad label string");
	FRESH();
	((struct ps_t_rule *)(void *)(buf + h->sec[PS_SEC_RULES].off))[0]
	        .chain_first = (uint32_t)v.nchains;
	expect_refused(buf, len, "rule: chain out of range");
	FRESH();
	((uint32_t *)(void *)(buf + h->sec[PS_SEC_CHAINS].off))[0] = 3;
	expect_refused(buf, len, "chain: upstream index out of range");
	FRESH();
	((struct ps_t_source *)(void *)(buf + h->sec[PS_SEC_SOURCES].off))[4]
	        .prio = c.nrules + 2;
	expect_refused(buf, len, "source: prio out of range");
	FRESH();
	buf[h->sec[PS_SEC_STRINGS].off + v.strings_len - 1] = 'x';
	expect_refused(buf, len, "strings section not NUL-delimited");
	FRESH();
	{
		uint32_t *slots =
		        (uint32_t *)(void *)(buf +
		                             h->sec[PS_SEC_NAME_SLOTS].off);
		size_t i;

		for (i = 0; slots[i] == 0; i++)
			;
		slots[i] =
		        (slots[i] & 0xff000000u) | (uint32_t)(v.nname_ents + 1);
		expect_refused(buf, len, "hash: slot points past the entries");
	}
	FRESH();
	((struct ps_t_range4 *)(void *)(buf + h->sec[PS_SEC_V4_RANGES].off))[1]
	        .start = 0;
	expect_refused(buf, len, "ranges not sorted");
	FRESH();
	((struct ps_t_range4 *)(void *)(buf + h->sec[PS_SEC_V4_RANGES].off))[0]
	        .start = 1;
	expect_refused(buf, len, "ranges do not start at the first address");
	FRESH();
	h->settings.http_rule = 99;
	expect_refused(buf, len, "settings: http route out of range");
	FRESH();
	h->settings.dns_mode = 7;
	expect_refused(buf, len, "settings: enum out of range");
	FRESH();
	h->settings.reload_mode = PS_RELOAD_MANUAL + 1;
	expect_refused(buf, len, "settings: enum out of range");
	FRESH();
	h->settings.headers[3] = PS_RP_PROXY; /* past nheaders */
	expect_refused(buf, len, "settings: bad reverse proxy header");
#undef FRESH
	free(buf);
	free(orig);
	config_free(&c);
}
END_TEST

/* ---- corruption at every offset ---------------------------------------------
 */

/* Everything a wrapped program can do with an accepted table. */
static void
exercise(const struct ps_table_view *v, FILE *devnull)
{
	static const char *const names[] = {
	        "api.kestra.io",
	        "x.svc",
	        "cluster.local",
	        "a.b.example.com",
	        "proxy.corp",
	        "localhost",
	        "blocked.example",
	        "q",
	        "very.long.name.with.many.labels.in.it.example.com.",
	        "h17.big.example",
	        "a.s99.org",
	        "s5.org",
	};
	static const char *const addrs[] = {
	        "10.1.2.3",        "192.168.4.4",     "::5",     "2001:db8::1",
	        "fd00::1",         "::ffff:10.0.0.1", "8.8.8.8", "10.10.10.10",
	        "255.255.255.255", "ffff::1"};
	static const uint16_t ports[] = {443, 22, 80, 1080, 8080, 0, 65535};
	struct ps_route rt;
	struct ps_dest d;
	size_t i, k;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(&d, 0, sizeof(d));
		d.name = names[i];
		d.name_len = strlen(names[i]);
		d.port = ports[i % 7];
		route_lookup(v, &d, &rt);
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		memset(&d, 0, sizeof(d));
		d.family = inet_pton(AF_INET, addrs[i], d.addr) == 1 ? AF_INET
		                                                     : AF_INET6;
		if (d.family == AF_INET6)
			inet_pton(AF_INET6, addrs[i], d.addr);
		for (k = 0; k < 7; k++) {
			d.port = ports[k];
			route_lookup(v, &d, &rt);
			if (rt.action == PS_ROUTE_VIA)
				ck_assert_uint_le((size_t)rt.chain_first +
				                          rt.chain_len,
				                  v->nchains);
		}
		route_trusted(v, d.family, d.addr);
	}
	table_dump(v, devnull);
}

START_TEST(test_table_truncated_at_every_length_is_refused)
{
	struct ps_config c;
	const char *why = "";
	uint8_t *buf;
	size_t len, n;

	small_config(&c);
	compile_ok(&c, &buf, &len);
	for (n = 0; n < len; n++)
		ck_assert_msg(open_copy(buf, n, &why) < 0,
		              "length %zu accepted", n);
	ck_assert_int_eq(open_copy(buf, len, &why), 0);
	free(buf);
	config_free(&c);
}
END_TEST

START_TEST(test_table_flipped_byte_at_every_offset)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	struct ps_table_view v;
	struct ps_config c;
	const char *why = "";
	FILE *devnull = fopen("/dev/null", "w");
	uint8_t *orig, *buf;
	size_t len, off, f, accepted = 0, refused = 0;

	ck_assert_ptr_nonnull(devnull);
	small_config(&c);
	compile_ok(&c, &orig, &len);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	for (off = 0; off < len; off++) {
		for (f = 0; f < sizeof(flips); f++) {
			memcpy(buf, orig, len);
			buf[off] ^= flips[f];
			/* As written: the checksum catches every flip. */
			ck_assert_msg(table_view_open(buf, len, &v, &why) < 0,
			              "flip %02x at %zu accepted", flips[f],
			              off);
			/* Forged checksum: refused, or safe to use. */
			reseal(buf, len);
			if (table_view_open(buf, len, &v, &why) == 0) {
				accepted++;
				exercise(&v, devnull);
			} else {
				refused++;
			}
		}
	}
	/* Most flips break something the checks see (offsets, counts,
	 * enums); flips inside strings or the port bitmap are legal. */
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_gt(accepted, 0);
	fclose(devnull);
	free(buf);
	free(orig);
	config_free(&c);
}
END_TEST

/* The same on a table with range indexes, at random offsets. */
START_TEST(test_table_flipped_bytes_in_indexed_table)
{
	struct ps_table_view v;
	struct ps_config c;
	const char *why = "";
	FILE *devnull = fopen("/dev/null", "w");
	uint8_t *orig, *buf;
	size_t len, i, off;
	uint64_t x = 12345;

	ck_assert_ptr_nonnull(devnull);
	config_init(&c);
	c.http = url_new("http://u:p@proxy.corp:3128", 2);
	rule_add(&c, "api.kestra.io,192.168.0.0/16,[::5]:443", PS_VIA_PROXY,
	         "socks5://[fd00::1]:1080", 3);
	rule_add(&c, "*.blocked.example,2001:db8::/32", PS_VIA_BLOCK, NULL, 4);
	list_add(&c.trusted, &c.ntrusted, "10.0.0.0/8,::1", 5);
	big_lists(&c, 2500); /* indexes and a name filter */
	compile_ok(&c, &orig, &len);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(table_view_open(orig, len, &v, &why), 0);
	ck_assert_ptr_nonnull(v.name_filter);
	ck_assert_ptr_nonnull(v.v4_index);
	ck_assert_ptr_nonnull(v.v6_index);
	for (i = 0; i < 1500; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		/* Header bytes always, then anywhere. */
		off = i < sizeof(struct ps_t_header) ? i
		                                     : (size_t)(x >> 33) % len;
		memcpy(buf, orig, len);
		buf[off] ^= (uint8_t)(1u << (i % 8));
		reseal(buf, len);
		if (table_view_open(buf, len, &v, &why) == 0)
			exercise(&v, devnull);
	}
	fclose(devnull);
	free(buf);
	free(orig);
	config_free(&c);
}
END_TEST

/* ---- dump ---------------------------------------------------------------- */

START_TEST(test_dump_lists_rules_and_never_passwords)
{
	struct ps_config c;
	struct ps_table_view v;
	const char *why = "";
	char *out = NULL;
	size_t outlen = 0, len;
	uint8_t *buf;
	FILE *f;

	small_config(&c);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	f = open_memstream(&out, &outlen);
	ck_assert_ptr_nonnull(f);
	table_dump(&v, f);
	fclose(f);
	ck_assert_ptr_null(strstr(out, "s3cret"));
	ck_assert_ptr_null(strstr(out, "hunter2"));
	ck_assert_ptr_nonnull(strstr(out, "source: /etc/proxyshim.yml"));
	ck_assert_ptr_nonnull(strstr(out, "chain: failover"));
	ck_assert_ptr_nonnull(strstr(out, "https_ports: 443, 8443, 9000"));
	ck_assert_ptr_nonnull(
	        strstr(out, "socks5://alice:***@10.10.10.10:1080"));
	ck_assert_ptr_nonnull(strstr(out, "[0] rules[0] (line 7:5): via "
	                                  "http://bob:***@[fd00::1]:8080"));
	ck_assert_ptr_nonnull(strstr(out, "[1] rules[1] (line 9:5): block"));
	ck_assert_ptr_nonnull(strstr(out, "\"*.Example.COM\""));
	ck_assert_ptr_nonnull(strstr(out, "10.0.0.0 - 10.255.255.255: exempt "
	                                  "\"10.0.0.0/8\""));
	ck_assert_ptr_nonnull(strstr(out, "192.168.0.0 - 192.168.255.255: "
	                                  "rules[0]"));
	ck_assert_ptr_nonnull(strstr(out, "::1 - ::1"));
	ck_assert_ptr_nonnull(strstr(out, "tls: ca_file /etc/proxyshim/corp-ca.pem, "
	                                  "server_name proxy.corp.example, "
	                                  "insecure_skip_verify true "
	                                  "(certificates NOT verified)"));
	free(out);
	free(buf);
	config_free(&c);
}
END_TEST

/* The same table from YAML: the reader and the compiler agree. */
START_TEST(test_table_from_yaml_fixture)
{
	struct ps_config c;
	struct ps_table_view v;
	struct ps_route rt;
	struct ps_dest d = {
	        .name = "x.cluster.local", .name_len = 15, .port = 80};
	char err[PS_ERR_MAX] = "";
	const char *why = "";
	uint8_t *buf;
	size_t len;

	config_init(&c);
	ck_assert_msg(config_load_file(FIXTURE("table", "small.yml"), &c, err,
	                               sizeof(err)) == 0,
	              "%s", err);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	ck_assert_uint_eq(v.hdr->settings.nrules, 2);
	route_lookup(&v, &d, &rt);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(table_str(&v, v.sources[rt.src].text_off),
	                 "cluster.local");
	ck_assert_uint_eq(v.sources[rt.src].line, 5);
	d.name = "api.kestra.io";
	d.name_len = 13;
	d.port = 443;
	route_lookup(&v, &d, &rt);
	ck_assert_int_eq(rt.why, PS_WHY_RULE);
	ck_assert_uint_eq(rt.rule, 0);
	ck_assert_uint_eq(v.rules[0].line, 8);
	free(buf);
	config_free(&c);
}
END_TEST

/* TLS per https:// upstream: each carries what the relay will use, its
 * own keys first, then proxy.tls's; plain upstreams carry none, and a
 * table that gives one TLS settings is refused. */
START_TEST(test_table_tls_per_upstream)
{
	char err[PS_ERR_MAX] = "", dir[PATH_MAX], want[PATH_MAX + 32];
	const struct ps_t_upstream *u;
	struct ps_table_view v;
	struct ps_config c;
	const char *why = "";
	uint8_t *buf;
	size_t len, i, n_https = 0;

	ck_assert_msg(config_load_file(FIXTURE("config", "tls_per_upstream.yml"),
	                               &c, err, sizeof(err)) == 0,
	              "%s", err);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	/* a (proxy.http), b, the socks5 hop, c, a again with another CA. */
	ck_assert_uint_eq(v.nupstreams, 5);
	ck_assert_ptr_nonnull(realpath("tests/fixtures/config", dir));
	snprintf(want, sizeof(want), "%s/certs/a-ca.pem", dir);
	u = &v.upstreams[0];
	ck_assert_str_eq(table_str(&v, u->tls_ca_off), want);
	ck_assert_str_eq(table_str(&v, u->tls_name_off),
	                 "a-internal.proxy.example");
	ck_assert_uint_eq(u->tls_flags, 0);
	u = &v.upstreams[1]; /* b: all from proxy.tls */
	ck_assert_str_eq(table_str(&v, u->host_off), "b.proxy.example");
	ck_assert_str_eq(table_str(&v, u->tls_ca_off), "/etc/ssl/corp.pem");
	ck_assert_uint_eq(u->tls_name_off, 0);
	ck_assert_uint_eq(u->tls_flags, 0);
	for (i = 0; i < v.nupstreams; i++) {
		u = &v.upstreams[i];
		if (u->scheme != PS_SCHEME_HTTPS) {
			ck_assert_uint_eq(u->tls_ca_off | u->tls_name_off |
			                          u->tls_flags,
			                  0);
			continue;
		}
		n_https++;
		if (strcmp(table_str(&v, u->host_off), "c.proxy.example") == 0) {
			ck_assert_uint_eq(u->tls_flags, PS_T_TLS_INSECURE);
			ck_assert_str_eq(table_str(&v, u->tls_ca_off),
			                 "/etc/ssl/corp.pem");
		}
	}
	ck_assert_uint_eq(n_https, 4);
	ck_assert_str_eq(table_str(&v, v.upstreams[4].tls_ca_off), "/x/ca.pem");
	ck_assert_str_eq(table_str(&v, v.upstreams[4].host_off),
	                 "a.proxy.example");

	/* TLS settings on the socks5 hop: refused. */
	for (i = 0; i < v.nupstreams; i++)
		if (v.upstreams[i].scheme == PS_SCHEME_SOCKS5)
			break;
	ck_assert_uint_lt(i, v.nupstreams);
	((struct ps_t_upstream *)(void *)&v.upstreams[i])->tls_flags =
	        PS_T_TLS_INSECURE;
	reseal(buf, len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	ck_assert_str_eq(why, "upstream: TLS settings on a plain upstream");
	free(buf);
	config_free(&c);
}
END_TEST

/* https_ports: merged, sorted ranges; lookups agree with the list. */
START_TEST(test_table_https_port_ranges)
{
	static const char yaml[] =
	        "proxy:\n  http: http://p:3128\n  https: http://q:3128\n"
	        "  https_ports: [8443, 443, 8000-8010, 8011, 444, 9000, 65535, "
	        "1]\n";
	char err[PS_ERR_MAX] = "";
	struct ps_table_view v;
	struct ps_config c;
	const char *why = "";
	uint8_t *buf;
	size_t len;
	unsigned p;

	ck_assert_msg(config_load_buffer("t.yml", yaml, sizeof(yaml) - 1, &c, err,
	                                 sizeof(err)) == 0,
	              "%s", err);
	compile_ok(&c, &buf, &len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), 0);
	ck_assert_uint_eq(v.nhttps_ports, 6);
	ck_assert_uint_eq(v.https_ports[0].lo, 1);
	ck_assert_uint_eq(v.https_ports[1].lo, 443);
	ck_assert_uint_eq(v.https_ports[1].hi, 444);
	ck_assert_uint_eq(v.https_ports[2].lo, 8000);
	ck_assert_uint_eq(v.https_ports[2].hi, 8011);
	for (p = 1; p < 65536; p++) {
		struct ps_dest d = {.name = "x.example", .name_len = 9,
		                    .port = (uint16_t)p};
		struct ps_route r;
		bool https = p == 1 || p == 443 || p == 444 ||
		             (p >= 8000 && p <= 8011) || p == 8443 ||
		             p == 9000 || p == 65535;

		ck_assert_int_eq(route_lookup(&v, &d, &r), 0);
		ck_assert_uint_eq(r.rule, https ? v.hdr->settings.https_rule
		                                : v.hdr->settings.http_rule);
	}
	/* Unsorted or touching ranges are refused. */
	((struct ps_t_portrange *)(void *)&v.https_ports[1])->lo = 2;
	reseal(buf, len);
	ck_assert_int_eq(table_view_open(buf, len, &v, &why), -EINVAL);
	free(buf);
	config_free(&c);
}
END_TEST

Suite *table_suite(void);

Suite *
table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");
	TCase *tx = tcase_create("corruption");

	tcase_add_test(tc, test_table_crc32c_known_vectors);
	tcase_add_test(tc, test_table_tls_per_upstream);
	tcase_add_test(tc, test_table_https_port_ranges);
	tcase_add_test(tc, test_table_crc32c_paths_agree);
	tcase_add_test(tc, test_table_hash_runs_backwards_over_suffixes);
	tcase_add_test(tc, test_table_round_trip_fields_equal_config);
	tcase_add_test(tc, test_table_compiles_empty_config);
	tcase_add_test(tc, test_compile_rejects_what_it_cannot_represent);
	tcase_add_test(tc, test_table_large_lists_get_index_and_filter);
	tcase_add_test(tc,
	               test_table_refuses_covered_range_outside_index_prefix);
	tcase_add_test(tc, test_table_skip_crc_flag_skips_only_the_checksum);
	tcase_add_test(tc, test_table_refuses_bad_header_fields);
	tcase_add_test(tc,
	               test_table_refuses_sections_and_offsets_out_of_range);
	tcase_add_test(tc, test_dump_lists_rules_and_never_passwords);
	tcase_add_test(tc, test_table_from_yaml_fixture);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tx, 120);
	tcase_add_test(tx, test_table_truncated_at_every_length_is_refused);
	tcase_add_test(tx, test_table_flipped_byte_at_every_offset);
	tcase_add_test(tx, test_table_flipped_bytes_in_indexed_table);
	suite_add_tcase(s, tx);
	return s;
}
