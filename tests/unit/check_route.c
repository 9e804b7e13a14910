/*
 * Route lookup (resolver/route.c over resolver/compile.c):
 * docs/behaviour.md#routing.
 *
 * Configs are built in code with match_parse()/url_parse(), compiled, and
 * looked up.  The last test is the property test: random configs with
 * thousands of rules against a naive in-order evaluator written here.
 */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"

/* ---- building configs ---------------------------------------------------- */

static uint32_t next_line = 1; /* every entry gets its own line number */

static void
cfg_new(struct ps_config *c)
{
	config_init(c);
	c->source = strdup("route-test");
}

static void
parse_entry(const char *s, size_t len, struct ps_match *m)
{
	const char *err = "";
	int r = match_parse(s, len, m, &err);

	ck_assert_msg(r == 0, "match_parse(%.*s): %s", (int)len, s, err);
	m->pos.line = next_line++;
	m->pos.col = 1;
}

/* Append the comma-separated entries of list to *arr. */
static void
add_list(struct ps_match **arr, size_t *n, const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
			*arr = realloc(*arr, (*n ? 2 * *n : 1) * sizeof(**arr));
			ck_assert_ptr_nonnull(*arr);
		}
		parse_entry(p, len, &(*arr)[*n]);
		(*n)++;
		p += len + (e ? 1 : 0);
	}
}

static void
parse_url(const char *s, struct ps_url *u)
{
	const char *err = "";

	ck_assert_msg(url_parse(s, strlen(s), u, &err) == 0,
	              "url_parse(%s): %s", s, err);
	u->pos.line = next_line++;
	u->pos.col = 1;
}

static struct ps_url *
new_url(const char *s)
{
	struct ps_url *u = calloc(1, sizeof(*u));

	ck_assert_ptr_nonnull(u);
	parse_url(s, u);
	return u;
}

/* via: "direct", "block", or URLs separated by spaces (a chain). */
static void
add_rule(struct ps_config *c, const char *list, const char *via)
{
	struct ps_rule *r;
	char buf[512], *tok, *save = NULL;

	if ((c->nrules & (c->nrules - 1)) == 0) { /* powers of two */
		c->rules = realloc(c->rules, (c->nrules ? 2 * c->nrules : 1) *
		                                     sizeof(*c->rules));
		ck_assert_ptr_nonnull(c->rules);
	}
	r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	snprintf(buf, sizeof(buf), "rules[%zu]", c->nrules);
	r->label = strdup(buf);
	r->pos.line = next_line++;
	r->pos.col = 5;
	c->nrules++;
	add_list(&r->match, &r->nmatch, list);
	if (strcmp(via, "direct") == 0) {
		r->via.kind = PS_VIA_DIRECT;
		return;
	}
	if (strcmp(via, "block") == 0) {
		r->via.kind = PS_VIA_BLOCK;
		return;
	}
	r->via.kind = PS_VIA_PROXY;
	snprintf(buf, sizeof(buf), "%s", via);
	for (tok = strtok_r(buf, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		r->via.hops = realloc(
		        r->via.hops, (r->via.nhops + 1) * sizeof(*r->via.hops));
		ck_assert_ptr_nonnull(r->via.hops);
		parse_url(tok, &r->via.hops[r->via.nhops++]);
	}
}

static void
set_https_ports(struct ps_config *c, const uint16_t *ports, size_t n)
{
	c->https_ports = malloc(n * sizeof(*ports));
	ck_assert_ptr_nonnull(c->https_ports);
	memcpy(c->https_ports, ports, n * sizeof(*ports));
	c->nhttps_ports = n;
}

struct built {
	uint8_t *buf;
	size_t len;
	struct ps_table_view v;
};

static void
build(const struct ps_config *c, struct built *b)
{
	char err[PS_ERR_MAX] = "";
	const char *why = "";
	int r;

	r = compile_table(c, 42, &b->buf, &b->len, err, sizeof(err));
	ck_assert_msg(r == 0, "compile_table: %d %s", r, err);
	r = table_view_open(b->buf, b->len, &b->v, &why);
	ck_assert_msg(r == 0, "table_view_open: %s", why);
}

/* A destination: name may be NULL, addr an IPv4/IPv6 literal or NULL. */
static struct ps_route
look(const struct built *b, const char *name, const char *addr, uint16_t port)
{
	struct ps_route rt;
	struct ps_dest d;

	memset(&d, 0, sizeof(d));
	d.name = name;
	d.name_len = name ? strlen(name) : 0;
	d.port = port;
	if (addr != NULL) {
		if (inet_pton(AF_INET, addr, d.addr) == 1)
			d.family = AF_INET;
		else if (inet_pton(AF_INET6, addr, d.addr) == 1)
			d.family = AF_INET6;
		else
			ck_abort_msg("bad address literal %s", addr);
	}
	ck_assert_int_eq(route_lookup(&b->v, &d, &rt), 0);
	return rt;
}

/* The text of the entry that decided. */
static const char *
src_text(const struct built *b, const struct ps_route *rt)
{
	if (rt->src == PS_NONE)
		return "(none)";
	ck_assert_uint_lt(rt->src, b->v.nsources);
	return table_str(&b->v, b->v.sources[rt->src].text_off);
}

/* The first upstream of a VIA route, as displayed. */
static const char *
via_first(const struct built *b, const struct ps_route *rt)
{
	ck_assert_int_eq(rt->action, PS_ROUTE_VIA);
	ck_assert_uint_ge(rt->chain_len, 1);
	return table_str(
	        &b->v,
	        b->v.upstreams[b->v.chains[rt->chain_first]].display_off);
}

static void
done(struct ps_config *c, struct built *b)
{
	free(b->buf);
	config_free(c);
}

/* ---- Go's net/http/httpproxy NO_PROXY cases ----------------------------- */

/* golang.org/x/net/http/httpproxy TestUseProxy's list, plus "bar.com:80". */
static const char go_no_proxy[] =
        "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, "
        "192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, "
        "[2001:db8::52:0:2]:443, "
        "[2001:db8::52:0:3]:80, 2002:db8:a::45/64, bar.com:80";

static const struct {
	const char *host; /* a literal is an address, else a name */
	bool proxied;
} go_cases[] = {
        {"localhost", false},
        {"127.0.0.1", false},
        {"127.0.0.2", false},
        {"::1", false},
        {"::2", true},          /* not loopback */
        {"192.168.1.1", false}, /* exact IPv4 */
        {"192.168.1.2", true},  /* port 81 does not match 80 */
        {"192.168.1.3", false}, /* exact IPv4:port */
        {"192.168.1.4", true},
        {"10.0.0.2", false}, /* IPv4 CIDR */
        {"2001:db8::52:0:1", false},
        {"2001:db8::52:0:2", true}, /* :443 does not match 80 */
        {"2001:db8::52:0:3", false},
        {"2002:db8:a::123", false}, /* IPv6 CIDR */
        {"fe80::424b:c8be:1643:a1b6", true},
        {"barbaz.net", true}, /* .barbaz.net: subdomains only */
        {"www.barbaz.net", false},
        {"foobar.com", false},
        {"www.foobar.com", false},
        {"foofoobar.com", true}, /* not a label boundary */
        {"baz.com", true},
        {"localhost.net", true},
        {"barbarbaz.net", true},
        {"wildcard.io", true}, /* *.wildcard.io: subdomains only */
        {"nested.wildcard.io", false},
        {"awildcard.io", true},
        {"bar.com", false},
        {"www.bar.com", false},
};

static bool
is_literal(const char *s)
{
	uint8_t a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

START_TEST(test_noproxy_go_use_proxy_cases)
{
	struct ps_config c;
	struct built b;
	size_t i;

	cfg_new(&c);
	c.http = new_url("http://proxy.test:3128");
	add_list(&c.exempt, &c.nexempt, go_no_proxy);
	build(&c, &b);
	for (i = 0; i < sizeof(go_cases) / sizeof(go_cases[0]); i++) {
		const char *h = go_cases[i].host;
		struct ps_route rt = is_literal(h) ? look(&b, NULL, h, 80)
		                                   : look(&b, h, NULL, 80);

		ck_assert_msg((rt.action == PS_ROUTE_VIA) ==
		                      go_cases[i].proxied,
		              "%s: action %d why %d", h, rt.action, rt.why);
		if (rt.action == PS_ROUTE_VIA)
			ck_assert_int_eq(rt.why, PS_WHY_HTTP);
	}
	done(&c, &b);
}
END_TEST

START_TEST(test_noproxy_star_exempts_everything)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;
	size_t i;

	cfg_new(&c);
	c.http = new_url("http://proxy.test:3128");
	add_list(&c.exempt, &c.nexempt, "*");
	build(&c, &b);
	for (i = 0; i < sizeof(go_cases) / sizeof(go_cases[0]); i++) {
		const char *h = go_cases[i].host;

		rt = is_literal(h) ? look(&b, NULL, h, 80)
		                   : look(&b, h, NULL, 80);
		ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	}
	rt = look(&b, "example.com", NULL, 443);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(src_text(&b, &rt), "*");
	rt = look(&b, NULL, NULL, 80); /* nothing known: "*" still matches */
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	done(&c, &b);
}
END_TEST

/* x/net's proxyForURLTests on NO_PROXY domains. */
START_TEST(test_noproxy_go_domain_cases)
{
	static const struct {
		const char *no_proxy, *host;
		bool proxied;
	} t[] = {
	        {"example.com", "example.com", false},
	        {".example.com", "example.com", true},
	        {"ample.com", "example.com", true},
	        {"example.com", "foo.example.com", false},
	        {".foo.com", "example.com", true},
	        {"*.example.com", "example.com", true},
	        {"*.example.com", "a.b.example.com", false},
	        {"com", "example.com", false},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ps_config c;
		struct built b;
		struct ps_route rt;

		cfg_new(&c);
		c.http = new_url("proxy:3128");
		add_list(&c.exempt, &c.nexempt, t[i].no_proxy);
		build(&c, &b);
		rt = look(&b, t[i].host, NULL, 80);
		ck_assert_msg((rt.action == PS_ROUTE_VIA) == t[i].proxied,
		              "no_proxy=%s host=%s", t[i].no_proxy, t[i].host);
		done(&c, &b);
	}
}
END_TEST

START_TEST(test_noproxy_case_insensitive_and_trailing_dot)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_list(&c.exempt, &c.nexempt,
	         "FooBar.COM,.Internal.Example.,Exact.ORG.");
	build(&c, &b);
	rt = look(&b, "WWW.foobar.Com", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(src_text(&b, &rt), "FooBar.COM");
	ck_assert_int_eq(look(&b, "foobar.com.", NULL, 80).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "A.INTERNAL.example", NULL, 80).why,
	                 PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "internal.example.", NULL, 80).why,
	                 PS_WHY_HTTP);
	ck_assert_int_eq(look(&b, "exact.org.", NULL, 80).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "sub.EXACT.org", NULL, 80).why,
	                 PS_WHY_EXEMPT);
	/* Two trailing dots are not a name we strip to one. */
	ck_assert_int_eq(look(&b, "exact.org..", NULL, 80).why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

START_TEST(test_noproxy_ports_on_names_and_addresses)
{
	struct ps_config c;
	struct built b;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_list(&c.exempt, &c.nexempt,
	         "foo.com:443,range.org:8000-8100,[::5]:8443,10.1.1.1:22");
	build(&c, &b);
	ck_assert_int_eq(look(&b, "foo.com", NULL, 443).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "x.foo.com", NULL, 443).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "foo.com", NULL, 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(look(&b, "range.org", NULL, 7999).why, PS_WHY_HTTP);
	ck_assert_int_eq(look(&b, "range.org", NULL, 8000).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "range.org", NULL, 8100).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, "range.org", NULL, 8101).why, PS_WHY_HTTP);
	ck_assert_int_eq(look(&b, NULL, "::5", 8443).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, NULL, "::5", 443).why, PS_WHY_HTTPS);
	ck_assert_int_eq(look(&b, NULL, "10.1.1.1", 22).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, NULL, "10.1.1.1", 23).why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

START_TEST(test_noproxy_names_never_match_bare_addresses)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_list(&c.exempt, &c.nexempt, "example.com,10.0.0.0/8");
	build(&c, &b);
	/* A bare IP: the name entry has nothing to compare with. */
	ck_assert_int_eq(look(&b, NULL, "93.184.216.34", 80).why, PS_WHY_HTTP);
	/* The program used the name: it matches, whatever the address. */
	ck_assert_int_eq(look(&b, "example.com", "93.184.216.34", 80).why,
	                 PS_WHY_EXEMPT);
	/* A name that resolved into an exempt CIDR goes direct too. */
	rt = look(&b, "db.corp", "10.1.2.3", 80);
	ck_assert_int_eq(rt.why, PS_WHY_EXEMPT);
	ck_assert_str_eq(src_text(&b, &rt), "10.0.0.0/8");
	/* A name alone (remote DNS, no real address) never hits a CIDR. */
	ck_assert_int_eq(look(&b, "db.corp", NULL, 80).why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

/* ---- rules: first match in file order, across kinds --------------------- */

START_TEST(test_rules_first_match_cidr_before_name)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "10.0.0.0/8", "direct");
	add_rule(&c, "host.example", "block");
	build(&c, &b);
	rt = look(&b, "host.example", "10.1.2.3", 443);
	ck_assert_int_eq(rt.why, PS_WHY_RULE);
	ck_assert_uint_eq(rt.rule, 0);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	ck_assert_str_eq(src_text(&b, &rt), "10.0.0.0/8");
	rt = look(&b, "host.example", "192.0.2.1", 443);
	ck_assert_uint_eq(rt.rule, 1);
	ck_assert_int_eq(rt.action, PS_ROUTE_BLOCK);
	done(&c, &b);
}
END_TEST

START_TEST(test_rules_first_match_name_before_cidr)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "host.example", "block");
	add_rule(&c, "10.0.0.0/8", "direct");
	build(&c, &b);
	rt = look(&b, "host.example", "10.1.2.3", 443);
	ck_assert_uint_eq(rt.rule, 0);
	ck_assert_int_eq(rt.action, PS_ROUTE_BLOCK);
	rt = look(&b, "other.example", "10.1.2.3", 443);
	ck_assert_uint_eq(rt.rule, 1);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	done(&c, &b);
}
END_TEST

START_TEST(test_rules_addr_with_port_star_and_exempt_order)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "10.1.2.3:443", "block");
	add_rule(&c, "10.0.0.0/8,api.kestra.io",
	         "socks5://u:secret@10.10.10.10:1080");
	add_rule(&c, "*", "block");
	add_list(&c.exempt, &c.nexempt, "api.kestra.io,10.1.2.3");
	build(&c, &b);
	rt = look(&b, NULL, "10.1.2.3", 443);
	ck_assert_uint_eq(rt.rule, 0);
	rt = look(&b, NULL, "10.1.2.3", 80);
	ck_assert_uint_eq(rt.rule, 1);
	ck_assert_str_eq(via_first(&b, &rt), "socks5://u:***@10.10.10.10:1080");
	rt = look(&b, "API.kestra.io", NULL, 443);
	ck_assert_uint_eq(rt.rule, 1);
	ck_assert_str_eq(src_text(&b, &rt), "api.kestra.io");
	/* Rules come before exempt; "*" in rule 2 catches the rest. */
	rt = look(&b, "elsewhere.org", NULL, 80);
	ck_assert_uint_eq(rt.rule, 2);
	ck_assert_int_eq(rt.action, PS_ROUTE_BLOCK);
	ck_assert_int_eq(rt.why, PS_WHY_RULE);
	done(&c, &b);
}
END_TEST

START_TEST(test_rules_chain_in_order)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	add_rule(&c, ".onion",
	         "socks5h://127.0.0.1:9050 http://[fd00::1]:8080");
	build(&c, &b);
	rt = look(&b, "abc.onion", NULL, 80);
	ck_assert_int_eq(rt.action, PS_ROUTE_VIA);
	ck_assert_uint_eq(rt.chain_len, 2);
	ck_assert_str_eq(
	        table_str(
	                &b.v,
	                b.v.upstreams[b.v.chains[rt.chain_first]].display_off),
	        "socks5h://127.0.0.1:9050");
	ck_assert_str_eq(
	        table_str(&b.v, b.v.upstreams[b.v.chains[rt.chain_first + 1]]
	                                .display_off),
	        "http://[fd00::1]:8080");
	/* No upstream configured at all: direct by default. */
	rt = look(&b, "example.com", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_DEFAULT);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	done(&c, &b);
}
END_TEST

START_TEST(test_rules_nested_cidrs_different_prios)
{
	struct ps_config c;
	struct built b;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "10.1.0.0/16,fd00:1::/32", "block");
	add_rule(&c, "10.0.0.0/8,fd00::/8", "direct");
	add_rule(&c, "10.1.2.0/24,10.1.2.3,fd00:1:2::/48", "socks5://s:1080");
	add_list(&c.exempt, &c.nexempt, "0.0.0.0/0,10.200.0.0/16");
	build(&c, &b);
	ck_assert_uint_eq(look(&b, NULL, "10.1.2.3", 80).rule, 0);
	ck_assert_uint_eq(look(&b, NULL, "10.1.255.255", 80).rule, 0);
	ck_assert_uint_eq(look(&b, NULL, "10.2.0.0", 80).rule, 1);
	ck_assert_uint_eq(look(&b, NULL, "10.0.255.255", 80).rule, 1);
	ck_assert_uint_eq(look(&b, NULL, "10.255.255.255", 80).rule, 1);
	ck_assert_uint_eq(look(&b, NULL, "10.200.1.1", 80).rule, 1);
	ck_assert_int_eq(look(&b, NULL, "11.0.0.0", 80).why, PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, NULL, "9.255.255.255", 80).why,
	                 PS_WHY_EXEMPT);
	ck_assert_int_eq(look(&b, NULL, "255.255.255.255", 80).why,
	                 PS_WHY_EXEMPT);
	ck_assert_uint_eq(look(&b, NULL, "fd00:1:2::1", 80).rule, 0);
	ck_assert_uint_eq(look(&b, NULL, "fd00:2::1", 80).rule, 1);
	ck_assert_uint_eq(
	        look(&b, NULL, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 80)
	                .rule,
	        1);
	ck_assert_int_eq(look(&b, NULL, "fe00::", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(
	        look(&b, NULL, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 80)
	                .why,
	        PS_WHY_HTTP);
	done(&c, &b);

	/* The other order: the /8 first wins even inside the /16. */
	cfg_new(&c);
	add_rule(&c, "10.0.0.0/8", "direct");
	add_rule(&c, "10.1.0.0/16", "block");
	build(&c, &b);
	ck_assert_uint_eq(look(&b, NULL, "10.1.2.3", 80).rule, 0);
	done(&c, &b);
}
END_TEST

START_TEST(test_rules_port_ranges)
{
	struct ps_config c;
	struct built b;

	cfg_new(&c);
	add_rule(&c, "example.com:8000-8100,[2001:db8::1]:1-1024", "block");
	build(&c, &b);
	ck_assert_int_eq(look(&b, "example.com", NULL, 7999).why,
	                 PS_WHY_DEFAULT);
	ck_assert_int_eq(look(&b, "example.com", NULL, 8000).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, "a.example.com", NULL, 8100).why,
	                 PS_WHY_RULE);
	ck_assert_int_eq(look(&b, "example.com", NULL, 8101).why,
	                 PS_WHY_DEFAULT);
	ck_assert_int_eq(look(&b, NULL, "2001:db8::1", 1024).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, NULL, "2001:db8::1", 1025).why,
	                 PS_WHY_DEFAULT);
	done(&c, &b);
}
END_TEST

/* ---- https ports and default routes ---------------------------------------
 */

START_TEST(test_https_ports_pick_https_upstream)
{
	static const uint16_t ports[] = {443, 8443};
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("http://plain.proxy:3128");
	c.https = new_url("https://user:pw@tls.proxy:3129");
	set_https_ports(&c, ports, 2);
	build(&c, &b);
	rt = look(&b, "example.com", NULL, 8443);
	ck_assert_int_eq(rt.why, PS_WHY_HTTPS);
	ck_assert_uint_eq(rt.rule, b.v.hdr->settings.https_rule);
	ck_assert_str_eq(via_first(&b, &rt), "https://user:***@tls.proxy:3129");
	rt = look(&b, "example.com", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_HTTP);
	ck_assert_str_eq(via_first(&b, &rt), "http://plain.proxy:3128");
	rt = look(&b, NULL, "192.0.2.1", 444);
	ck_assert_int_eq(rt.why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

START_TEST(test_https_absent_http_upstream_serves_https)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("http://plain.proxy:3128");
	build(&c, &b);
	ck_assert_uint_eq(b.v.hdr->settings.https_rule,
	                  b.v.hdr->settings.http_rule);
	rt = look(&b, "example.com", NULL, 443);
	ck_assert_int_eq(rt.why, PS_WHY_HTTPS);
	ck_assert_str_eq(via_first(&b, &rt), "http://plain.proxy:3128");
	done(&c, &b);

	/* Only https: other ports have no upstream and go direct. */
	cfg_new(&c);
	c.https = new_url("http://tls.proxy:3129");
	build(&c, &b);
	ck_assert_uint_eq(b.v.hdr->settings.http_rule, PS_PRIO_NONE);
	ck_assert_int_eq(look(&b, "example.com", NULL, 443).why, PS_WHY_HTTPS);
	rt = look(&b, "example.com", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_DEFAULT);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	done(&c, &b);
}
END_TEST

/* The environment default has no https→http fallback
 * (docs/behaviour.md#environment-default): with only
 * http_proxy set, https ports go direct. */
START_TEST(test_env_without_https_proxy_sends_https_ports_direct)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("http://plain.proxy:3128");
	c.https_direct = true;
	build(&c, &b);
	ck_assert_uint_eq(b.v.hdr->settings.https_rule, PS_PRIO_NONE);
	rt = look(&b, "example.com", NULL, 443);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	ck_assert_int_eq(rt.why, PS_WHY_DEFAULT);
	rt = look(&b, "example.com", NULL, 80);
	ck_assert_int_eq(rt.why, PS_WHY_HTTP);
	ck_assert_str_eq(via_first(&b, &rt), "http://plain.proxy:3128");
	done(&c, &b);
}
END_TEST

/* ---- loopback and the upstreams themselves ----------------------------- */

START_TEST(test_loopback_is_direct_unless_proxy_loopback)
{
	static const char *const addrs[] = {"127.0.0.1", "127.9.9.9", "::1",
	                                    "::ffff:127.0.0.1"};
	static const char *const names[] = {"localhost", "LOCALHOST.",
	                                    "foo.localhost", "a.b.localhost"};
	struct ps_config c;
	struct built b;
	size_t i;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "*", "block");
	build(&c, &b);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(look(&b, NULL, addrs[i], 80).why,
		                 PS_WHY_LOOPBACK);
		ck_assert_int_eq(look(&b, names[i], NULL, 80).why,
		                 PS_WHY_LOOPBACK);
	}
	ck_assert_int_eq(look(&b, "localhost.net", NULL, 80).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, "xlocalhost", NULL, 80).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, NULL, "128.0.0.1", 80).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, NULL, "::2", 80).why, PS_WHY_RULE);
	done(&c, &b);

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	c.proxy_loopback = true;
	build(&c, &b);
	ck_assert_int_eq(look(&b, NULL, "127.0.0.1", 80).why, PS_WHY_HTTP);
	ck_assert_int_eq(look(&b, "localhost", NULL, 80).why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

START_TEST(test_upstream_self_is_direct)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("http://10.9.9.9:3128");
	c.https = new_url("http://Proxy.Corp:3129");
	add_rule(&c, "*", "socks5://[fd00::7]:1080");
	build(&c, &b);
	rt = look(&b, NULL, "10.9.9.9", 3128);
	ck_assert_int_eq(rt.why, PS_WHY_UPSTREAM);
	ck_assert_int_eq(rt.action, PS_ROUTE_DIRECT);
	ck_assert_str_eq(src_text(&b, &rt), "10.9.9.9:3128");
	ck_assert_int_eq(look(&b, NULL, "::ffff:10.9.9.9", 3128).why,
	                 PS_WHY_UPSTREAM);
	ck_assert_int_eq(look(&b, NULL, "10.9.9.9", 80).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, "proxy.corp", NULL, 3129).why,
	                 PS_WHY_UPSTREAM);
	ck_assert_int_eq(look(&b, "PROXY.corp.", NULL, 3129).why,
	                 PS_WHY_UPSTREAM);
	/* Exact name only, exact port only. */
	ck_assert_int_eq(look(&b, "a.proxy.corp", NULL, 3129).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, "proxy.corp", NULL, 3128).why, PS_WHY_RULE);
	ck_assert_int_eq(look(&b, NULL, "fd00::7", 1080).why, PS_WHY_UPSTREAM);
	done(&c, &b);
}
END_TEST

START_TEST(test_ipv4_mapped_ipv6_looked_up_as_ipv4)
{
	struct ps_config c;
	struct built b;
	struct ps_route rt;

	cfg_new(&c);
	c.http = new_url("proxy:3128");
	add_rule(&c, "10.0.0.0/8", "block");
	add_rule(&c, "::ffff:192.168.0.0/112,[::ffff:172.16.1.1]:22", "direct");
	build(&c, &b);
	rt = look(&b, NULL, "::ffff:10.1.2.3", 80);
	ck_assert_uint_eq(rt.rule, 0);
	ck_assert_uint_eq(look(&b, NULL, "192.168.7.7", 80).rule, 1);
	ck_assert_uint_eq(look(&b, NULL, "::ffff:192.168.7.7", 80).rule, 1);
	ck_assert_uint_eq(look(&b, NULL, "172.16.1.1", 22).rule, 1);
	ck_assert_int_eq(look(&b, NULL, "172.16.1.1", 23).why, PS_WHY_HTTP);
	/* Not mapped: a plain IPv6 address outside both. */
	ck_assert_int_eq(look(&b, NULL, "::10.1.2.3", 80).why, PS_WHY_HTTP);
	done(&c, &b);
}
END_TEST

START_TEST(test_trusted_origins)
{
	struct ps_config c;
	struct built b;
	uint8_t a[16];

	cfg_new(&c);
	add_list(&c.trusted, &c.ntrusted, "10.0.0.0/8,192.0.2.7,fd00::/8,::1");
	build(&c, &b);
	inet_pton(AF_INET, "10.3.4.5", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET, a), 1);
	inet_pton(AF_INET, "11.0.0.0", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET, a), 0);
	inet_pton(AF_INET, "192.0.2.7", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET, a), 1);
	inet_pton(AF_INET, "192.0.2.8", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET, a), 0);
	inet_pton(AF_INET6, "::ffff:10.0.0.1", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET6, a), 1);
	inet_pton(AF_INET6, "fd12::1", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET6, a), 1);
	inet_pton(AF_INET6, "::1", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET6, a), 1);
	inet_pton(AF_INET6, "::2", a);
	ck_assert_int_eq(route_trusted(&b.v, AF_INET6, a), 0);
	done(&c, &b);
}
END_TEST

/* ---- property test: fast lookup == naive in-order evaluation ----------- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* splitmix64: deterministic, good enough for test data */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/* Names come from a small pool so that rules share keys and suffixes. */
static const char *const pool_tld[] = {"com",  "org", "example",
                                       "corp", "io",  "net"};
/* While generating exempt entries, half of them come from a name (.net)
 * and address (100.64/16, fc00::/16) space the rules never use, so that
 * exempt matches are not all shadowed by earlier rules. */
static bool gen_exempt_space;
/* Big configs: exempt names with many distinct labels, so that the name
 * filter and the range indexes come into play. */
static bool gen_wide;
static const char *const pool_lbl[] = {"a",    "b",   "api",      "www",
                                       "svc",  "db",  "internal", "x1",
                                       "mail", "k8s", "cluster",  "local"};

static void
gen_name(char *buf, size_t bufsz, unsigned labels)
{
	size_t n = 0;
	unsigned i;

	if (gen_wide && gen_exempt_space && rnd(2))
		n += (size_t)snprintf(buf, bufsz, "w%u.", rnd(100000));
	for (i = 0; i < labels; i++) {
		uint32_t k = rnd(36);

		if (k < 12)
			n += (size_t)snprintf(buf + n, bufsz - n, "%s.",
			                      pool_lbl[k]);
		else
			n += (size_t)snprintf(buf + n, bufsz - n, "%s%u.",
			                      pool_lbl[k % 12], k / 12);
	}
	snprintf(buf + n, bufsz - n, "%s",
	         pool_tld[gen_exempt_space && rnd(2) ? 5 : rnd(5)]);
}

/* Addresses cluster in a few regions so CIDRs nest and collide. */
static void
gen_v4(uint8_t a[4])
{
	static const uint8_t region[][2] = {{10, 0},    {10, 1},  {172, 16},
	                                    {192, 168}, {203, 0}, {100, 64}};
	uint32_t r = gen_exempt_space && rnd(2) ? 5 : rnd(6);

	if (r == 5 && !gen_exempt_space)
		r = 6;            /* anywhere */
	if (r == 5 && gen_wide) { /* all of 100.64.0.0/10 */
		a[0] = 100;
		a[1] = (uint8_t)(64 + rnd(64));
		a[2] = (uint8_t)rnd(256);
		a[3] = (uint8_t)rnd(256);
	} else if (r < 6) {
		a[0] = region[r][0];
		a[1] = (uint8_t)(region[r][1] + rnd(2));
		a[2] = (uint8_t)rnd(4);
		a[3] = (uint8_t)rnd(256);
	} else {
		uint32_t x = (uint32_t)rng();

		memcpy(a, &x, 4);
	}
}

static void
gen_v6(uint8_t a[16])
{
	static const uint8_t region[][4] = {{0xfd, 0x00, 0, 0},
	                                    {0x20, 0x01, 0x0d, 0xb8},
	                                    {0xfe, 0x80, 0, 0},
	                                    {0xfc, 0x00, 0, 0}};
	uint32_t r = gen_exempt_space && rnd(2) ? 3 : rnd(4), i;

	for (i = 0; i < 16; i++)
		a[i] = (uint8_t)rnd(256);
	if (r == 3 && !gen_exempt_space)
		r = 4;            /* anywhere */
	if (r == 3 && gen_wide) { /* fc00::/16, spread out */
		memcpy(a, region[r], 2);
	} else if (r < 4) {
		memcpy(a, region[r], 4);
		memset(a + 4, 0, 8);
		a[5] = (uint8_t)rnd(3);
		a[14] = (uint8_t)rnd(3);
	}
}

static void
mask_bits(uint8_t *a, unsigned bytes, unsigned prefix)
{
	unsigned i;

	for (i = 0; i < bytes; i++) {
		unsigned keep = prefix > 8 * i ? prefix - 8 * i : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

static void
gen_ports(char *buf, size_t bufsz)
{
	static const char *const p[] = {":80",        ":443",    ":8443",
	                                ":8000-8100", ":1-1024", ":3128"};

	if (rnd(5) == 0)
		snprintf(buf, bufsz, "%s", p[rnd(6)]);
	else
		buf[0] = '\0';
}

/* One random entry, as text (so it goes through match_parse). */
static void
gen_entry(char *buf, size_t bufsz, bool allow_star)
{
	char name[128], port[16], as[INET6_ADDRSTRLEN];
	uint8_t a[16];
	unsigned prefix;
	uint32_t k = rnd(100);

	gen_ports(port, sizeof(port));
	if (allow_star && k == 0) {
		snprintf(buf, bufsz, "*");
	} else if (k < 36) {
		gen_name(name, sizeof(name), rnd(3));
		snprintf(buf, bufsz, "%s%s", name, port);
	} else if (k < 55) {
		gen_name(name, sizeof(name), rnd(2));
		snprintf(buf, bufsz, "%s%s%s", rnd(2) ? "." : "*.", name, port);
	} else if (k < 65) {
		gen_v4(a);
		inet_ntop(AF_INET, a, as, sizeof(as));
		snprintf(buf, bufsz, "%s%s", as, port);
	} else if (k < 70) {
		gen_v6(a);
		inet_ntop(AF_INET6, a, as, sizeof(as));
		snprintf(buf, bufsz, port[0] ? "[%s]%s" : "%s%s", as, port);
	} else if (k < 88) {
		gen_v4(a);
		/* Mostly narrow blocks: a wide one early on would shadow
		 * every later entry of its region. */
		prefix = gen_wide       ? 20 + rnd(13)
		         : rnd(40) == 0 ? 8 + rnd(16)
		                        : 24 + rnd(9);
		mask_bits(a, 4, prefix);
		inet_ntop(AF_INET, a, as, sizeof(as));
		snprintf(buf, bufsz, "%s/%u", as, prefix);
	} else {
		gen_v6(a);
		prefix = gen_wide       ? 32 + rnd(97)
		         : rnd(40) == 0 ? 8 + rnd(40)
		                        : 48 + rnd(81);
		mask_bits(a, 16, prefix);
		inet_ntop(AF_INET6, a, as, sizeof(as));
		snprintf(buf, bufsz, "%s/%u", as, prefix);
	}
}

static const char *const pool_up[] = {
        "http://10.0.0.5:3128",        "socks5://user:pw@proxy.corp:1080",
        "http://[fd00::9]:8080",       "socks5h://a.svc.corp:1080",
        "https://u:p@203.0.113.9:443",
};

static void
gen_config(struct ps_config *c, unsigned nrules, unsigned nexempt, bool star,
           bool loopback)
{
	static const uint16_t ports[] = {443, 8443};
	char text[160], via[256];
	unsigned i, k, n;

	cfg_new(c);
	c->http = new_url(pool_up[rnd(5)]);
	if (rnd(2))
		c->https = new_url(pool_up[rnd(5)]);
	set_https_ports(c, ports, 2);
	c->proxy_loopback = loopback;
	for (i = 0; i < nrules; i++) {
		uint32_t v = rnd(10);

		if (v < 3)
			snprintf(via, sizeof(via), "direct");
		else if (v < 5)
			snprintf(via, sizeof(via), "block");
		else if (v < 9)
			snprintf(via, sizeof(via), "%s", pool_up[rnd(5)]);
		else
			snprintf(via, sizeof(via), "%s %s", pool_up[rnd(5)],
			         pool_up[rnd(5)]);
		/* add_rule takes a list; entries never contain commas. */
		n = 1 + rnd(3);
		if (star && i == nrules - nrules / 20)
			snprintf(text, sizeof(text), "*");
		else
			gen_entry(text, sizeof(text), false);
		add_rule(c, text, via);
		for (k = 1; k < n; k++) {
			struct ps_rule *r = &c->rules[c->nrules - 1];

			gen_entry(text, sizeof(text), false);
			add_list(&r->match, &r->nmatch, text);
		}
	}
	gen_exempt_space = true;
	for (i = 0; i < nexempt; i++) {
		gen_entry(text, sizeof(text), star && rnd(500) == 0);
		add_list(&c->exempt, &c->nexempt, text);
	}
	gen_exempt_space = false;
}

/* The naive evaluator: docs/behaviour.md#routing read literally, one
 * entry at a time. */
struct ndest {
	char name[300]; /* lower case, no trailing dot; "" = none */
	size_t nlen;
	int family; /* after un-mapping */
	uint8_t addr[16];
	uint16_t port;
};

struct nres {
	enum ps_action action;
	enum ps_reason why;
	uint32_t rule;
	const struct ps_match *entry; /* RULE / EXEMPT */
	char upstream[300];           /* UPSTREAM: "host:port" */
};

static bool
naive_name(const struct ps_match *m, const struct ndest *d)
{
	size_t kl = strlen(m->name);

	if (d->nlen == 0)
		return false;
	if (m->kind == PS_MATCH_NAME && kl == d->nlen &&
	    memcmp(m->name, d->name, kl) == 0)
		return true;
	return d->nlen > kl && d->name[d->nlen - kl - 1] == '.' &&
	       memcmp(d->name + d->nlen - kl, m->name, kl) == 0;
}

static bool
naive_prefix(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	return rest == 0 ||
	       ((a[full] ^ net[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/* Un-map ::ffff:a.b.c.d, as the lookup does for destinations and the
 * compiler for entries. */
static void
naive_unmap(int *family, uint8_t a[16], unsigned *prefix)
{
	static const uint8_t mp[12] = {0, 0, 0, 0, 0,    0,
	                               0, 0, 0, 0, 0xff, 0xff};

	if (*family == AF_INET6 && memcmp(a, mp, 12) == 0 &&
	    (prefix == NULL || *prefix >= 96)) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
		if (prefix)
			*prefix -= 96;
	}
}

static bool
naive_match(const struct ps_match *m, const struct ndest *d)
{
	uint8_t a[16];
	int fam = m->family;
	unsigned prefix = m->kind == PS_MATCH_CIDR ? m->prefix
	                  : fam == AF_INET         ? 32
	                                           : 128;

	if (m->kind == PS_MATCH_ANY)
		return true;
	if (d->port < m->port_lo || d->port > m->port_hi)
		return false;
	if (m->kind == PS_MATCH_NAME || m->kind == PS_MATCH_SUFFIX)
		return naive_name(m, d);
	if (d->family == 0)
		return false;
	memcpy(a, m->addr, 16);
	naive_unmap(&fam, a, &prefix);
	return fam == d->family && naive_prefix(d->addr, a, prefix);
}

static bool
naive_upstream(const struct ps_url *u, const struct ndest *d, struct nres *r)
{
	uint8_t a[16];
	int fam = u->family;

	if (u->port != d->port)
		return false;
	if (fam == AF_INET || fam == AF_INET6) {
		memcpy(a, u->addr, 16);
		naive_unmap(&fam, a, NULL);
		if (fam != d->family ||
		    memcmp(a, d->addr, fam == AF_INET ? 4 : 16))
			return false;
	} else if (d->nlen == 0 || strcasecmp(u->host, d->name) != 0) {
		return false;
	}
	snprintf(r->upstream, sizeof(r->upstream),
	         u->family == AF_INET6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
	return true;
}

static bool
naive_upstreams(const struct ps_config *c, const struct ndest *d,
                struct nres *r)
{
	size_t i, k;

	if ((c->http && naive_upstream(c->http, d, r)) ||
	    (c->https && naive_upstream(c->https, d, r)))
		return true;
	for (i = 0; i < c->nrules; i++)
		for (k = 0; k < c->rules[i].via.nhops; k++)
			if (naive_upstream(&c->rules[i].via.hops[k], d, r))
				return true;
	return false;
}

static bool
naive_loopback(const struct ndest *d)
{
	static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
	                                0, 0, 0, 0, 0, 0, 0, 1};

	if (d->family == AF_INET && d->addr[0] == 127)
		return true;
	if (d->family == AF_INET6 && memcmp(d->addr, lo6, 16) == 0)
		return true;
	if (strcmp(d->name, "localhost") == 0)
		return true;
	return d->nlen > 10 &&
	       strcmp(d->name + d->nlen - 10, ".localhost") == 0;
}

static void
naive_eval(const struct ps_config *c, const struct ndest *d, struct nres *r)
{
	bool https = false;
	size_t i, k;

	memset(r, 0, sizeof(*r));
	r->rule = PS_NONE;
	r->action = PS_ROUTE_DIRECT;
	if (!c->proxy_loopback && naive_loopback(d)) {
		r->why = PS_WHY_LOOPBACK;
		return;
	}
	if (naive_upstreams(c, d, r)) {
		r->why = PS_WHY_UPSTREAM;
		return;
	}
	for (i = 0; i < c->nrules; i++)
		for (k = 0; k < c->rules[i].nmatch; k++)
			if (naive_match(&c->rules[i].match[k], d)) {
				r->why = PS_WHY_RULE;
				r->rule = (uint32_t)i;
				r->entry = &c->rules[i].match[k];
				r->action =
				        c->rules[i].via.kind == PS_VIA_PROXY
				                ? PS_ROUTE_VIA
				        : c->rules[i].via.kind == PS_VIA_BLOCK
				                ? PS_ROUTE_BLOCK
				                : PS_ROUTE_DIRECT;
				return;
			}
	for (k = 0; k < c->nexempt; k++)
		if (naive_match(&c->exempt[k], d)) {
			r->why = PS_WHY_EXEMPT;
			r->entry = &c->exempt[k];
			return;
		}
	for (i = 0; i < c->nhttps_ports; i++)
		https |= c->https_ports[i] == d->port;
	/* table.h: the user's rules, then proxy.http, then proxy.https. */
	if (https && (c->https || c->http)) {
		r->why = PS_WHY_HTTPS;
		r->action = PS_ROUTE_VIA;
		r->rule = (uint32_t)c->nrules + (c->https && c->http ? 1 : 0);
	} else if (c->http) {
		r->why = PS_WHY_HTTP;
		r->action = PS_ROUTE_VIA;
		r->rule = (uint32_t)c->nrules;
	} else {
		r->why = PS_WHY_DEFAULT;
	}
}

/* A random destination drawn near the config's entries. */
static void
gen_dest(const struct ps_config *c, char *name, struct ps_dest *d)
{
	static const uint16_t ports[] = {80,   443,  8443, 7999, 8000,
	                                 8100, 8101, 1024, 1025, 3128,
	                                 1080, 8080, 22};
	const struct ps_match *m = NULL;
	uint32_t kind = rnd(100);
	size_t n = 0, i;

	memset(d, 0, sizeof(*d));
	d->port = rnd(10) == 0 ? (uint16_t)rnd(65536) : ports[rnd(13)];
	/* Pick a random entry to aim at (exempt ones more often when the
	 * exempt list dominates the config). */
	if (c->nexempt > 0 && rnd(3) < (c->nexempt > 5 * c->nrules ? 2u : 1u)) {
		m = &c->exempt[rnd((uint32_t)c->nexempt)];
	} else if (c->nrules > 0) {
		const struct ps_rule *r = &c->rules[rnd((uint32_t)c->nrules)];

		m = &r->match[rnd((uint32_t)r->nmatch)];
	}
	name[0] = '\0';
	if (kind < 45 && m && m->name) {
		for (i = rnd(4); i > 2; i--) /* 0..1 extra labels, mostly 0 */
			n += (size_t)snprintf(name + n, 280 - n, "%s.",
			                      pool_lbl[rnd(12)]);
		n += (size_t)snprintf(name + n, 280 - n, "%s", m->name);
	} else if (kind < 55) {
		gen_name(name, 280, rnd(4));
		n = strlen(name);
	} else if (kind < 58) {
		static const char *const odd[] = {
		        "localhost",  "x.localhost",   "proxy.corp",
		        "a.svc.corp", "localhost.com", "corp"};

		n = (size_t)snprintf(name, 280, "%s", odd[rnd(6)]);
	}
	for (i = 0; i < n; i++) /* random case */
		if (rnd(4) == 0 && name[i] >= 'a' && name[i] <= 'z')
			name[i] = (char)(name[i] - 32);
	if (n > 0 && rnd(20) == 0)
		name[n++] = '.', name[n] = '\0';
	if (n > 0) {
		d->name = name;
		d->name_len = n;
	}
	/* Addresses: for address entries, and for some names too. */
	if (kind >= 55 || rnd(3) == 0) {
		if (m &&
		    (m->kind == PS_MATCH_ADDR || m->kind == PS_MATCH_CIDR) &&
		    rnd(4) != 0) {
			size_t bytes = m->family == AF_INET ? 4 : 16;
			unsigned prefix = m->kind == PS_MATCH_CIDR
			                          ? m->prefix
			                          : (unsigned)bytes * 8;
			uint32_t how = rnd(5);

			d->family = m->family;
			memcpy(d->addr, m->addr, 16);
			/* start, end, just outside, or inside at random */
			for (i = 0; i < bytes; i++) {
				unsigned bit0 = (unsigned)i * 8;

				if (bit0 + 8 <= prefix)
					continue;
				if (how == 1 || how == 3)
					d->addr[i] |=
					        (uint8_t)(0xffu >>
					                  (prefix > bit0
					                           ? prefix -
					                                     bit0
					                           : 0));
				else if (how == 4)
					d->addr[i] |=
					        (uint8_t)(rnd(256) &
					                  (0xffu >>
					                   (prefix > bit0
					                            ? prefix -
					                                      bit0
					                            : 0)));
			}
			if (how == 2 || how == 3) { /* step one out */
				int carry = how == 3 ? 1 : -1;

				for (i = bytes; i-- > 0;) {
					uint8_t old = d->addr[i];

					d->addr[i] = (uint8_t)(old + carry);
					if ((carry > 0 && d->addr[i] != 0) ||
					    (carry < 0 && old != 0))
						break;
				}
			}
		} else if (rnd(2)) {
			d->family = AF_INET;
			gen_v4(d->addr);
		} else {
			d->family = AF_INET6;
			gen_v6(d->addr);
		}
		if (d->family == AF_INET &&
		    rnd(8) == 0) { /* as ::ffff:a.b.c.d */
			memmove(d->addr + 12, d->addr, 4);
			memset(d->addr, 0, 10);
			d->addr[10] = d->addr[11] = 0xff;
			d->family = AF_INET6;
		}
		if (rnd(50) == 0) {
			d->family = AF_INET;
			d->addr[0] = 127;
		}
	}
	if (rnd(40) == 0 && c->http && c->http->family) { /* the upstream */
		d->family = c->http->family;
		memcpy(d->addr, c->http->addr, 16);
		d->port = c->http->port;
	}
}

static void
naive_dest(const struct ps_dest *d, struct ndest *n)
{
	size_t len = d->name ? d->name_len : 0, i;

	memset(n, 0, sizeof(*n));
	if (len > 0 && d->name[len - 1] == '.')
		len--;
	if (len > 0 && len <= 253) {
		for (i = 0; i < len; i++)
			n->name[i] = (char)tolower((unsigned char)d->name[i]);
		n->nlen = len;
	}
	n->family = d->family;
	memcpy(n->addr, d->addr, 16);
	naive_unmap(&n->family, n->addr, NULL);
	n->port = d->port;
}

static void
property_run(unsigned seed, unsigned nrules, unsigned nexempt, unsigned ndest,
             bool star, bool loopback)
{
	struct ps_config c;
	struct built b;
	unsigned i;

	rng_state = seed;
	gen_wide = nexempt >= 10000;
	gen_config(&c, nrules, nexempt, star, loopback);
	gen_wide = false;
	build(&c, &b);
	if (nexempt >= 10000) {
		/* Make sure the big-table paths are the ones compared. */
		ck_assert_ptr_nonnull(b.v.name_filter);
		ck_assert_ptr_nonnull(b.v.v4_index);
		ck_assert_ptr_nonnull(b.v.v6_index);
	}
	for (i = 0; i < ndest; i++) {
		char name[300];
		struct ps_dest d;
		struct ndest nd;
		struct nres want;
		struct ps_route got;

		gen_dest(&c, name, &d);
		naive_dest(&d, &nd);
		naive_eval(&c, &nd, &want);
		ck_assert_int_eq(route_lookup(&b.v, &d, &got), 0);
		ck_assert_msg(
		        got.why == want.why && got.action == want.action &&
		                got.rule == want.rule,
		        "seed %u dest %u (%.*s fam %d port %u): got why %d "
		        "action %d rule %u, want why %d action %d rule %u",
		        seed, i, (int)d.name_len, d.name ? d.name : "",
		        d.family, d.port, got.why, got.action, got.rule,
		        want.why, want.action, want.rule);
		if (want.entry != NULL) {
			const struct ps_t_source *s = &b.v.sources[got.src];

			/* Same entry: every entry has its own line. */
			ck_assert_msg(
			        s->line == want.entry->pos.line,
			        "seed %u dest %u: decided by \"%s\" line %u, "
			        "want \"%s\" line %u",
			        seed, i, table_str(&b.v, s->text_off), s->line,
			        want.entry->text, want.entry->pos.line);
		} else if (want.why == PS_WHY_UPSTREAM) {
			ck_assert_str_eq(
			        table_str(&b.v, b.v.sources[got.src].text_off),
			        want.upstream);
		} else {
			ck_assert_uint_eq(got.src, PS_NONE);
		}
	}
	done(&c, &b);
}

START_TEST(test_property_fast_lookup_equals_naive)
{
	/* 100,000 destinations over 5 configs with thousands of rules; the
	 * last one big enough for the name filter and range indexes.  Seeds
	 * are fixed so a failure reproduces. */
	property_run(1, 2000, 1000, 22500, false, false);
	property_run(2, 3000, 500, 22500, false, false);
	property_run(3, 1500, 3000, 22500, false, true);
	property_run(4, 2500, 6000, 22500, true, false);
	property_run(5, 1000, 25000, 10000, false, false);
}
END_TEST

Suite *route_suite(void);

Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("noproxy");
	TCase *tr = tcase_create("rules");
	TCase *tp = tcase_create("property");

	tcase_add_test(tc, test_noproxy_go_use_proxy_cases);
	tcase_add_test(tc, test_noproxy_star_exempts_everything);
	tcase_add_test(tc, test_noproxy_go_domain_cases);
	tcase_add_test(tc, test_noproxy_case_insensitive_and_trailing_dot);
	tcase_add_test(tc, test_noproxy_ports_on_names_and_addresses);
	tcase_add_test(tc, test_noproxy_names_never_match_bare_addresses);
	suite_add_tcase(s, tc);
	tcase_add_test(tr, test_rules_first_match_cidr_before_name);
	tcase_add_test(tr, test_rules_first_match_name_before_cidr);
	tcase_add_test(tr, test_rules_addr_with_port_star_and_exempt_order);
	tcase_add_test(tr, test_rules_chain_in_order);
	tcase_add_test(tr, test_rules_nested_cidrs_different_prios);
	tcase_add_test(tr, test_rules_port_ranges);
	tcase_add_test(tr, test_https_ports_pick_https_upstream);
	tcase_add_test(tr, test_https_absent_http_upstream_serves_https);
	tcase_add_test(tr, test_env_without_https_proxy_sends_https_ports_direct);
	tcase_add_test(tr, test_loopback_is_direct_unless_proxy_loopback);
	tcase_add_test(tr, test_upstream_self_is_direct);
	tcase_add_test(tr, test_ipv4_mapped_ipv6_looked_up_as_ipv4);
	tcase_add_test(tr, test_trusted_origins);
	suite_add_tcase(s, tr);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_property_fast_lookup_equals_naive);
	suite_add_tcase(s, tp);
	return s;
}
