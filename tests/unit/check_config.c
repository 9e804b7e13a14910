/* The config file reader (resolver/config.c): docs/behaviour.md#config-file.
 */
#include <arpa/inet.h>
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../exempt_yaml.h"
#include "helpers.h"
#include "proxyshim/config.h"

#define CFX(file) FIXTURE("config", file)

static void
config_ok(const char *file, struct ps_config *c)
{
	char err[PS_ERR_MAX] = "";

	ck_assert_msg(config_load_file(file, c, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_str_eq(c->source, file);
}

static void
config_buf_ok(const char *yaml, struct ps_config *c)
{
	char err[PS_ERR_MAX] = "";

	ck_assert_msg(config_load_buffer("test.yml", yaml, strlen(yaml), c, err,
	                                 sizeof(err)) == 0,
	              "%s", err);
}

/* A failed load leaves a valid, empty config behind. */
static void
config_assert_empty(struct ps_config *c)
{
	ck_assert_ptr_null(c->source);
	ck_assert_ptr_null(c->http);
	ck_assert_ptr_null(c->https);
	ck_assert_uint_eq(c->nexempt, 0);
	ck_assert_uint_eq(c->nrules, 0);
	ck_assert_uint_eq(c->ntrusted, 0);
	ck_assert_uint_eq(c->nhttps_ports, 1);
	ck_assert_uint_eq(c->https_ports[0], 443);
}

static void
config_buf_error(const char *yaml, const char *want)
{
	char err[PS_ERR_MAX] = "";
	struct ps_config c;

	ck_assert_int_eq(config_load_buffer("test.yml", yaml, strlen(yaml), &c,
	                                    err, sizeof(err)),
	                 -1);
	ck_assert_str_eq(err, want);
	config_assert_empty(&c);
	config_free(&c);
}

/* want is "LINE:COL: message"; the file name is prefixed here. */
static void
config_file_error(const char *file, const char *want)
{
	char err[PS_ERR_MAX] = "", full[PS_ERR_MAX];
	struct ps_config c;

	snprintf(full, sizeof(full), "%s:%s", file, want);
	ck_assert_int_eq(config_load_file(file, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, full);
	config_assert_empty(&c);
	config_free(&c);
}

static void
url_is(const struct ps_url *u, const char *masked, uint32_t line,
       uint32_t col)
{
	char buf[600];

	ck_assert_ptr_nonnull(u);
	url_format_masked(u, buf, sizeof(buf));
	ck_assert_str_eq(buf, masked);
	ck_assert_uint_eq(u->pos.line, line);
	ck_assert_uint_eq(u->pos.col, col);
}

static void
entry_is(const struct ps_match *m, enum ps_match_kind kind, const char *text,
         uint32_t line, uint32_t col)
{
	ck_assert_int_eq(m->kind, kind);
	ck_assert_str_eq(m->text, text);
	ck_assert_uint_eq(m->pos.line, line);
	ck_assert_uint_eq(m->pos.col, col);
}

static void
cidr_is(const struct ps_match *m, const char *addr, int prefix)
{
	uint8_t want[16] = {0};
	int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(fam, addr, want), 1);
	ck_assert_int_eq(m->family, fam);
	ck_assert_mem_eq(m->addr, want, fam == AF_INET ? 4 : 16);
	ck_assert_int_eq(m->prefix, prefix);
}

START_TEST(test_config_init_sets_spec_defaults)
{
	struct ps_config c;
	const uint8_t f4[4] = {198, 18, 0, 0};
	uint8_t f6[16];

	config_init(&c);
	ck_assert_ptr_null(c.source);
	ck_assert_ptr_null(c.http);
	ck_assert_ptr_null(c.https);
	ck_assert(!c.https_direct);
	ck_assert_uint_eq(c.nhttps_ports, 1);
	ck_assert_uint_eq(c.https_ports[0], 443);
	ck_assert_int_eq(c.chain, PS_CHAIN_STRICT);
	ck_assert_int_eq(c.dns, PS_DNS_REMOTE);
	ck_assert_int_eq(c.fake4_prefix, 15);
	ck_assert_mem_eq(c.fake4, f4, 4);
	inet_pton(AF_INET6, "fdfe:dcba:9876::", f6);
	ck_assert_int_eq(c.fake6_prefix, 48);
	ck_assert_mem_eq(c.fake6, f6, 16);
	ck_assert_uint_eq(c.connect_timeout_ms, 5000);
	ck_assert_uint_eq(c.handshake_timeout_ms, 10000);
	ck_assert_int_eq(c.on_failure, PS_FAIL_ERROR);
	ck_assert_int_eq(c.udp, PS_UDP_DIRECT);
	ck_assert(!c.proxy_loopback);
	ck_assert_uint_eq(c.nheaders, 1);
	ck_assert_int_eq(c.headers[0], PS_RP_XFF);
	ck_assert_uint_eq(c.rp_timeout_ms, 3000);
	config_free(&c);
}
END_TEST

START_TEST(test_config_spec_native_snippet_loads_as_written)
{
	struct ps_config c;
	struct ps_rule *r;

	config_ok(CFX("spec_native.yml"), &c);
	url_is(c.http, "http://localhost:3128", 2, 9);
	url_is(c.https, "https://proxy.corp:3129", 3, 10);
	ck_assert(!c.https_direct);
	ck_assert_uint_eq(c.nexempt, 2);
	entry_is(&c.exempt[0], PS_MATCH_NAME, "cluster.local", 4, 11);
	entry_is(&c.exempt[1], PS_MATCH_NAME, "example.com", 4, 11);
	ck_assert_uint_eq(c.nhttps_ports, 2);
	ck_assert_uint_eq(c.https_ports[0], 443);
	ck_assert_uint_eq(c.https_ports[1], 8443);

	ck_assert_uint_eq(c.nrules, 2);
	r = &c.rules[0];
	ck_assert_str_eq(r->label, "rules[0]");
	ck_assert_uint_eq(r->pos.line, 7);
	ck_assert_uint_eq(r->pos.col, 7);
	ck_assert_uint_eq(r->nmatch, 2);
	entry_is(&r->match[0], PS_MATCH_NAME, "api.kestra.io", 7, 15);
	entry_is(&r->match[1], PS_MATCH_SUFFIX, "*.internal.example", 7, 32);
	ck_assert_str_eq(r->match[1].name, "internal.example");
	ck_assert_int_eq(r->via.kind, PS_VIA_PROXY);
	ck_assert_uint_eq(r->via.nhops, 1);
	url_is(&r->via.hops[0], "socks5://user:***@10.10.10.10:1080", 8, 12);
	ck_assert_str_eq(r->via.hops[0].user, "user");
	ck_assert_str_eq(r->via.hops[0].pass, "pass");
	ck_assert_int_eq(r->via.hops[0].family, AF_INET);
	r = &c.rules[1];
	ck_assert_str_eq(r->label, "rules[1]");
	ck_assert_uint_eq(r->pos.line, 9);
	ck_assert_uint_eq(r->nmatch, 1);
	entry_is(&r->match[0], PS_MATCH_CIDR, "192.168.0.0/16", 9, 14);
	cidr_is(&r->match[0], "192.168.0.0", 16);
	ck_assert_int_eq(r->via.kind, PS_VIA_DIRECT);
	ck_assert_uint_eq(r->via.nhops, 0);

	ck_assert_int_eq(c.chain, PS_CHAIN_STRICT);
	ck_assert_int_eq(c.dns, PS_DNS_REMOTE);
	ck_assert_int_eq(c.fake4_prefix, 15);
	ck_assert_int_eq(c.fake6_prefix, 48);
	ck_assert_uint_eq(c.connect_timeout_ms, 5000);
	ck_assert_uint_eq(c.handshake_timeout_ms, 10000);
	ck_assert_int_eq(c.on_failure, PS_FAIL_ERROR);
	ck_assert_int_eq(c.udp, PS_UDP_DIRECT);
	ck_assert(!c.proxy_loopback);

	/* 127.0.0.1/8 as written in the example: host bits cleared. */
	ck_assert_uint_eq(c.ntrusted, 2);
	entry_is(&c.trusted[0], PS_MATCH_CIDR, "127.0.0.1/8", 20, 20);
	cidr_is(&c.trusted[0], "127.0.0.0", 8);
	entry_is(&c.trusted[1], PS_MATCH_CIDR, "10.0.0.0/8", 20, 33);
	ck_assert_uint_eq(c.nheaders, 1);
	ck_assert_int_eq(c.headers[0], PS_RP_XFF);
	config_free(&c);
}
END_TEST

START_TEST(test_config_spec_kestra_snippet_becomes_a_rule)
{
	struct ps_config c;
	struct ps_rule *r;

	config_ok(CFX("spec_kestra.yml"), &c);
	ck_assert_ptr_null(c.http);
	ck_assert_uint_eq(c.nrules, 1);
	r = &c.rules[0];
	ck_assert_str_eq(r->label, "micronaut.http.services.api");
	ck_assert_uint_eq(r->pos.line, 4);
	ck_assert_uint_eq(r->pos.col, 7);
	ck_assert_uint_eq(r->nmatch, 1);
	entry_is(&r->match[0], PS_MATCH_NAME, "api.kestra.io:443", 5, 14);
	ck_assert_str_eq(r->match[0].name, "api.kestra.io");
	ck_assert_uint_eq(r->match[0].port_lo, 443);
	ck_assert_uint_eq(r->match[0].port_hi, 443);
	ck_assert_int_eq(r->via.kind, PS_VIA_PROXY);
	ck_assert_uint_eq(r->via.nhops, 1);
	url_is(&r->via.hops[0], "http://username:***@my.proxy:3128", 7, 24);
	ck_assert_str_eq(r->via.hops[0].user, "username");
	ck_assert_str_eq(r->via.hops[0].pass, "password");
	config_free(&c);
}
END_TEST

START_TEST(test_config_coder_helm_values_read_through_coderd)
{
	struct ps_config c;

	config_ok(CFX("coder_values.yml"), &c);
	url_is(c.http, "http://squid.corp.example:3128", 20, 11);
	ck_assert_ptr_null(c.https);
	ck_assert_uint_eq(c.nexempt, 4);
	entry_is(&c.exempt[0], PS_MATCH_NAME, "cluster.local", 22, 9);
	entry_is(&c.exempt[1], PS_MATCH_SUFFIX, ".svc", 23, 9);
	entry_is(&c.exempt[2], PS_MATCH_CIDR, "10.0.0.0/8", 24, 9);
	entry_is(&c.exempt[3], PS_MATCH_ADDR, "[fd00::1]:8443", 25, 9);
	ck_assert_uint_eq(c.exempt[3].port_lo, 8443);
	/* trustedOrigins as a comma-separated string; a bare IP is /32. */
	ck_assert_uint_eq(c.ntrusted, 2);
	cidr_is(&c.trusted[0], "10.0.0.0", 8);
	entry_is(&c.trusted[1], PS_MATCH_CIDR, "192.168.1.1", 27, 21);
	cidr_is(&c.trusted[1], "192.168.1.1", 32);
	/* Header names are case-insensitive, kept in the order given. */
	ck_assert_uint_eq(c.nheaders, 2);
	ck_assert_int_eq(c.headers[0], PS_RP_PROXY);
	ck_assert_int_eq(c.headers[1], PS_RP_XFF);
	ck_assert_uint_eq(c.rp_timeout_ms, 2500);
	ck_assert_uint_eq(c.nrules, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_config_every_native_key_is_read)
{
	struct ps_config c;
	struct ps_rule *r;
	const uint8_t f4[4] = {100, 64, 0, 0};
	uint8_t f6[16];

	config_ok(CFX("full_native.yml"), &c);
	url_is(c.http, "socks5h://alice:***@[2001:db8::1]:1081", 3, 9);
	ck_assert_str_eq(c.http->pass, "s@cret");
	ck_assert_int_eq(c.http->family, AF_INET6);
	url_is(c.https, "https://proxy.corp.example.:443", 4, 10);
	ck_assert_uint_eq(c.nexempt, 4);
	entry_is(&c.exempt[0], PS_MATCH_ANY, "*", 6, 7);
	entry_is(&c.exempt[1], PS_MATCH_SUFFIX, ".Example.COM.", 7, 7);
	ck_assert_str_eq(c.exempt[1].name, "example.com");
	entry_is(&c.exempt[2], PS_MATCH_ADDR, "10.1.2.3:8080", 8, 7);
	entry_is(&c.exempt[3], PS_MATCH_ADDR, "::1", 9, 7);
	ck_assert_uint_eq(c.nhttps_ports, 1);
	ck_assert_uint_eq(c.https_ports[0], 8443);

	ck_assert_uint_eq(c.nrules, 2);
	r = &c.rules[0];
	ck_assert_uint_eq(r->nmatch, 2);
	entry_is(&r->match[1], PS_MATCH_NAME, "b.example:1000-2000", 12, 14);
	ck_assert_uint_eq(r->match[1].port_lo, 1000);
	ck_assert_uint_eq(r->match[1].port_hi, 2000);
	ck_assert_uint_eq(r->via.nhops, 2);
	url_is(&r->via.hops[0], "http://hop1:3128", 13, 13);
	url_is(&r->via.hops[1], "socks4a://hop2:1080", 13, 31);
	r = &c.rules[1];
	ck_assert_int_eq(r->via.kind, PS_VIA_BLOCK);
	cidr_is(&r->match[0], "fd00::", 8);

	ck_assert_int_eq(c.chain, PS_CHAIN_ROUND_ROBIN);
	ck_assert_int_eq(c.dns, PS_DNS_LOCAL);
	ck_assert_int_eq(c.fake4_prefix, 10);
	ck_assert_mem_eq(c.fake4, f4, 4);
	inet_pton(AF_INET6, "fd00:1::", f6);
	ck_assert_int_eq(c.fake6_prefix, 64);
	ck_assert_mem_eq(c.fake6, f6, 16);
	ck_assert_uint_eq(c.connect_timeout_ms, 60000);
	ck_assert_uint_eq(c.handshake_timeout_ms, 5400000);
	ck_assert_int_eq(c.on_failure, PS_FAIL_DIRECT);
	ck_assert_int_eq(c.udp, PS_UDP_BLOCK);
	ck_assert(c.proxy_loopback);
	ck_assert_str_eq(c.tls_ca_file, "/etc/proxyshim/corp-ca.pem");
	ck_assert_str_eq(c.tls_server_name, "proxy.corp.example");
	ck_assert(c.tls_insecure);
	ck_assert_uint_eq(c.tls_pos.line, 27);
	ck_assert_uint_eq(c.tls_pos.col, 5);
	ck_assert_uint_eq(c.ntrusted, 2);
	cidr_is(&c.trusted[0], "::1", 128);
	cidr_is(&c.trusted[1], "172.16.0.0", 12);
	ck_assert_uint_eq(c.nheaders, 3);
	ck_assert_int_eq(c.headers[0], PS_RP_TRUE_CLIENT_IP);
	ck_assert_int_eq(c.headers[1], PS_RP_CF_CONNECTING_IP);
	ck_assert_int_eq(c.headers[2], PS_RP_X_REAL_IP);
	ck_assert_uint_eq(c.rp_timeout_ms, 3000);
	config_free(&c);
}
END_TEST

START_TEST(test_config_kestra_rules_come_after_proxy_rules)
{
	struct ps_config c;
	struct ps_rule *r;

	config_ok(CFX("kestra_full.yml"), &c);
	url_is(c.http, "http://proxy.corp:3128", 27, 9);
	/* proxy.rules first although micronaut: comes first in the file;
	 * the service without proxy-* keys makes no rule. */
	ck_assert_uint_eq(c.nrules, 3);
	ck_assert_str_eq(c.rules[0].label, "rules[0]");
	ck_assert_int_eq(c.rules[0].via.kind, PS_VIA_BLOCK);

	r = &c.rules[1];
	ck_assert_str_eq(r->label, "micronaut.http.services.api");
	ck_assert_uint_eq(r->nmatch, 1);
	entry_is(&r->match[0], PS_MATCH_NAME, "api.kestra.io:443", 14, 14);
	ck_assert_int_eq(r->via.kind, PS_VIA_PROXY);
	url_is(&r->via.hops[0], "socks5://[2001:db8::2]:1080", 18, 24);

	r = &c.rules[2];
	ck_assert_str_eq(r->label, "micronaut.http.services.plugins");
	ck_assert_uint_eq(r->pos.line, 19);
	ck_assert_uint_eq(r->nmatch, 2);
	entry_is(&r->match[0], PS_MATCH_NAME, "plugins.example:8081", 21, 13);
	entry_is(&r->match[1], PS_MATCH_ADDR, "10.9.8.7:443", 22, 13);
	ck_assert_int_eq(r->via.kind, PS_VIA_DIRECT);
	ck_assert_uint_eq(r->via.nhops, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_config_kestra_url_forms)
{
	struct ps_config c;
	struct ps_rule *r;

	config_buf_ok("micronaut:\n"
	              "  http:\n"
	              "    services:\n"
	              "      a:\n"
	              "        url: HTTP://User:pw@[fd00::5]/x?y#z\n"
	              "        proxy-type: SOCKS\n"
	              "        proxy-address: 10.0.0.9\n"
	              "        proxy-username: u\n",
	              &c);
	r = &c.rules[0];
	entry_is(&r->match[0], PS_MATCH_ADDR, "[fd00::5]:80", 5, 14);
	ck_assert_uint_eq(r->match[0].port_lo, 80);
	/* No port in proxy-address: the scheme's default. */
	url_is(&r->via.hops[0], "socks5://u@10.0.0.9:1080", 7, 24);
	ck_assert_ptr_null(r->via.hops[0].pass);
	config_free(&c);
}
END_TEST

START_TEST(test_config_empty_file_has_no_upstreams)
{
	static const char *const empty[] = {"", "# only a comment\n", "---\n",
	                                    "~\n", "proxy:\nreverseProxy:\n"};
	struct ps_config c;
	size_t i;

	config_ok(CFX("empty.yml"), &c);
	ck_assert_ptr_null(c.http);
	ck_assert_ptr_null(c.https);
	ck_assert_uint_eq(c.nrules, 0);
	ck_assert_uint_eq(c.nexempt, 0);
	config_free(&c);
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		config_buf_ok(empty[i], &c);
		ck_assert_str_eq(c.source, "test.yml");
		ck_assert_ptr_null(c.http);
		ck_assert_uint_eq(c.nhttps_ports, 1);
		ck_assert_uint_eq(c.nheaders, 1);
		config_free(&c);
	}
}
END_TEST

START_TEST(test_config_null_values_keep_defaults)
{
	struct ps_config c;

	config_buf_ok("proxy:\n  http: ~\n  https: \"\"\n  https_ports:\n"
	              "  chain: null\n  timeouts:\n  exempt:\n"
	              "reverseProxy:\n  headers:\n",
	              &c);
	ck_assert_ptr_null(c.http);
	ck_assert_ptr_null(c.https);
	ck_assert_uint_eq(c.nhttps_ports, 1);
	ck_assert_uint_eq(c.https_ports[0], 443);
	ck_assert_int_eq(c.chain, PS_CHAIN_STRICT);
	ck_assert_uint_eq(c.nheaders, 1);
	config_free(&c);
}
END_TEST

/* proxy.tls: absent = system store, the proxy's own name, verified; a
 * relative ca_file is made absolute against the config's directory. */
START_TEST(test_config_tls_defaults_and_relative_ca_file)
{
	char dir[PATH_MAX], want[PATH_MAX + 32];
	struct ps_config c;

	config_buf_ok("proxy:\n  http: https://p.example\n", &c);
	ck_assert_ptr_null(c.tls_ca_file);
	ck_assert_ptr_null(c.tls_server_name);
	ck_assert(!c.tls_insecure);
	config_free(&c);
	config_buf_ok("proxy:\n  tls:\n  https: https://p\n", &c);
	ck_assert_ptr_null(c.tls_ca_file);
	config_free(&c);
	/* From a buffer there is no directory: kept as written. */
	config_buf_ok("proxy:\n  tls: {ca_file: ca.pem, "
	              "insecure_skip_verify: off}\n",
	              &c);
	ck_assert_str_eq(c.tls_ca_file, "ca.pem");
	ck_assert(!c.tls_insecure);
	config_free(&c);

	config_ok(CFX("tls_relative.yml"), &c);
	ck_assert_ptr_nonnull(realpath("tests/fixtures/config", dir));
	snprintf(want, sizeof(want), "%s/certs/corp-ca.pem", dir);
	ck_assert_str_eq(c.tls_ca_file, want);
	ck_assert_str_eq(c.tls_server_name, "10.0.0.7");
	ck_assert(!c.tls_insecure);
	config_free(&c);
}
END_TEST

/* An upstream as a mapping {url:, tls:}: its own TLS keys, unset ones
 * left for proxy.tls; relative ca_file made absolute. */
START_TEST(test_config_tls_per_upstream)
{
	char dir[PATH_MAX], want[PATH_MAX + 32];
	const struct ps_url *c0;
	struct ps_config c;

	config_ok(CFX("tls_per_upstream.yml"), &c);
	ck_assert_ptr_nonnull(realpath("tests/fixtures/config", dir));
	snprintf(want, sizeof(want), "%s/certs/a-ca.pem", dir);
	ck_assert_int_eq(c.http->scheme, PS_SCHEME_HTTPS);
	ck_assert_str_eq(c.http->host, "a.proxy.example");
	ck_assert_str_eq(c.http->tls_ca_file, want);
	ck_assert_str_eq(c.http->tls_server_name, "a-internal.proxy.example");
	ck_assert(!c.http->tls_insecure_set);
	ck_assert_uint_eq(c.http->tls_pos.line, 8);
	ck_assert_ptr_null(c.https->tls_ca_file);
	ck_assert_ptr_null(c.https->tls_server_name);
	ck_assert_str_eq(c.tls_ca_file, "/etc/ssl/corp.pem");
	ck_assert_uint_eq(c.nrules, 2);
	ck_assert_uint_eq(c.rules[0].via.nhops, 2);
	ck_assert_ptr_null(c.rules[0].via.hops[0].tls_ca_file);
	c0 = &c.rules[0].via.hops[1];
	ck_assert_str_eq(c0->host, "c.proxy.example");
	ck_assert_uint_eq(c0->port, 443);
	ck_assert(c0->tls_insecure_set && c0->tls_insecure);
	ck_assert_ptr_null(c0->tls_ca_file);
	ck_assert_uint_eq(c.rules[1].via.nhops, 1);
	ck_assert_str_eq(c.rules[1].via.hops[0].tls_ca_file, "/x/ca.pem");
	config_free(&c);

	/* A plain URL string still works everywhere, and {url:} alone is
	 * the same upstream as the string. */
	config_buf_ok("proxy:\n  http: {url: \"socks5://u:p@h:1\"}\n", &c);
	ck_assert_int_eq(c.http->scheme, PS_SCHEME_SOCKS5);
	ck_assert_str_eq(c.http->pass, "p");
	config_free(&c);
}
END_TEST

START_TEST(test_config_https_ports_forms)
{
	struct ps_config c;

	config_buf_ok("proxy:\n  https_ports: 8443\n", &c);
	ck_assert_uint_eq(c.nhttps_ports, 1);
	ck_assert_uint_eq(c.https_ports[0], 8443);
	config_free(&c);

	config_buf_ok("proxy:\n  https_ports: [443, \"8443\", 9000-9002]\n", &c);
	ck_assert_uint_eq(c.nhttps_ports, 5);
	ck_assert_uint_eq(c.https_ports[0], 443);
	ck_assert_uint_eq(c.https_ports[1], 8443);
	ck_assert_uint_eq(c.https_ports[2], 9000);
	ck_assert_uint_eq(c.https_ports[4], 9002);
	config_free(&c);

	/* Present but empty: no port is https. */
	config_buf_ok("proxy:\n  https_ports: []\n", &c);
	ck_assert_uint_eq(c.nhttps_ports, 0);
	config_free(&c);

	config_buf_ok("proxy:\n  https_ports: 1-65535\n", &c);
	ck_assert_uint_eq(c.nhttps_ports, 65535);
	ck_assert_uint_eq(c.https_ports[65534], 65535);
	config_free(&c);
}
END_TEST

START_TEST(test_config_exempt_list_items_and_empty_entries)
{
	struct ps_config c;

	config_buf_ok("proxy:\n  exempt:\n    - \"a.example, b.example\"\n"
	              "    - ''\n    - c.example\n  rules:\n"
	              "    - {match: \"x.example,,\", via: DIRECT}\n",
	              &c);
	ck_assert_uint_eq(c.nexempt, 3);
	entry_is(&c.exempt[1], PS_MATCH_NAME, "b.example", 3, 7);
	entry_is(&c.exempt[2], PS_MATCH_NAME, "c.example", 5, 7);
	ck_assert_uint_eq(c.rules[0].nmatch, 1);
	ck_assert_int_eq(c.rules[0].via.kind, PS_VIA_DIRECT);
	config_free(&c);
}
END_TEST

START_TEST(test_config_yaml_aliases_are_followed)
{
	struct ps_config c;

	config_buf_ok("x-common:\n  exempt: &ex [a.example, 10.0.0.0/8]\n"
	              "  upstream: &up socks5h://p:1080\n"
	              "proxy:\n  exempt: *ex\n  rules:\n"
	              "    - {match: *ex, via: [*up, *up]}\n",
	              &c);
	ck_assert_uint_eq(c.nexempt, 2);
	ck_assert_uint_eq(c.rules[0].nmatch, 2);
	ck_assert_uint_eq(c.rules[0].via.nhops, 2);
	ck_assert_int_eq(c.rules[0].via.hops[1].scheme, PS_SCHEME_SOCKS5H);
	config_free(&c);
}
END_TEST

START_TEST(test_config_booleans_and_enums_accept_common_spellings)
{
	struct ps_config c;

	config_buf_ok("proxy:\n  proxy_loopback: yes\n  chain: Round-Robin\n"
	              "  dns: LOCAL\n  on_failure: Direct\n  udp: block\n",
	              &c);
	ck_assert(c.proxy_loopback);
	ck_assert_int_eq(c.chain, PS_CHAIN_ROUND_ROBIN);
	ck_assert_int_eq(c.dns, PS_DNS_LOCAL);
	ck_assert_int_eq(c.on_failure, PS_FAIL_DIRECT);
	ck_assert_int_eq(c.udp, PS_UDP_BLOCK);
	config_free(&c);
}
END_TEST

START_TEST(test_config_reload_is_auto_or_manual)
{
	struct ps_config c;

	config_buf_ok("proxy:\n  http: p:1\n", &c);
	ck_assert_int_eq(c.reload, PS_RELOAD_AUTO);
	config_free(&c);
	config_buf_ok("proxy:\n  reload: Manual\n", &c);
	ck_assert_int_eq(c.reload, PS_RELOAD_MANUAL);
	config_free(&c);
	config_buf_ok("proxy:\n  reload: auto\n", &c);
	ck_assert_int_eq(c.reload, PS_RELOAD_AUTO);
	config_free(&c);
	config_buf_error("proxy:\n  reload: sometimes\n",
	                 "test.yml:2:11: proxy.reload: expected auto or "
	                 "manual");
}
END_TEST

START_TEST(test_config_other_top_level_sections_are_ignored)
{
	struct ps_config c;

	config_buf_ok("kestra:\n  url: not a url at all\n"
	              "micronaut:\n  application: {name: x}\n"
	              "  http: {client: {proxy-type: bogus}}\n"
	              "coderd: just a string\n"
	              "? [complex, key]\n: value\n"
	              "whatever: [1, {2: 3}]\n",
	              &c);
	ck_assert_uint_eq(c.nrules, 0);
	ck_assert_ptr_null(c.http);
	config_free(&c);
}
END_TEST

/* An inline document's errors, each with its exact position. */
START_TEST(test_config_inline_errors_point_at_the_node)
{
	static const struct {
		const char *yaml;
		const char *err;
	} bad[] = {
		{"proxy:\n  timeouts: {connect: 0s}\n",
		 "test.yml:2:23: proxy.timeouts.connect: timeout must be greater "
		 "than zero"},
		{"proxy:\n  timeouts: 5s\n",
		 "test.yml:2:13: proxy.timeouts: expected a mapping, found a "
		 "single value"},
		{"proxy:\n  rules:\n    - match: []\n      via: direct\n",
		 "test.yml:3:14: proxy.rules[0].match: no entries"},
		{"proxy:\n  rules:\n    - via: direct\n",
		 "test.yml:3:7: proxy.rules[0]: rule has no match:"},
		{"proxy:\n  rules:\n    - match: a\n      via: []\n",
		 "test.yml:4:12: proxy.rules[0].via: a chain has 1 to 8 proxies"},
		{"proxy:\n  rules:\n    - match: a\n      via: [p,p,p,p,p,p,p,p,p]\n",
		 "test.yml:4:12: proxy.rules[0].via: a chain has 1 to 8 proxies"},
		{"proxy:\n  rules:\n    - match: a\n      via:\n",
		 "test.yml:4:11: proxy.rules[0].via: missing value (a proxy URL, "
		 "a list of them, direct or block)"},
		{"proxy:\n  rules:\n    - match: a\n      via: {x: y}\n",
		 "test.yml:4:13: proxy.rules[0].via: unknown key 'x' (an "
		 "upstream is a proxy URL, or a mapping of url: and tls:)"},
		{"proxy:\n  rules:\n    - match: a\n      via: {tls: {}}\n",
		 "test.yml:4:12: proxy.rules[0].via: missing url (the proxy "
		 "URL)"},
		{"proxy:\n  http: {url: http://p:1, tls: {ca_file: x}}\n",
		 "test.yml:2:32: proxy.http.tls: only an https:// upstream has "
		 "TLS settings"},
		{"proxy:\n  http: {url: https://p:1, tls: {cafile: x}}\n",
		 "test.yml:2:34: proxy.http.tls: unknown key 'cafile'"},
		{"proxy:\n  http: {url: https://p:1, tls: {server_name: "
		 "\"a b\"}}\n",
		 "test.yml:2:47: proxy.http.tls.server_name: invalid character "
		 "in host name"},
		{"proxy:\n  http: {url: [a]}\n",
		 "test.yml:2:15: proxy.http.url: expected a proxy URL, found a "
		 "list"},
		{"proxy:\n  rules:\n    - match: {a: b}\n      via: direct\n",
		 "test.yml:3:14: proxy.rules[0].match: expected a string or a "
		 "list, found a mapping"},
		{"proxy:\n  exempt: [[a]]\n",
		 "test.yml:2:12: proxy.exempt: expected a string, found a list"},
		{"proxy:\n  rules:\n    - a.example\n",
		 "test.yml:3:7: proxy.rules[0]: expected a mapping with match: "
		 "and via:, found a single value"},
		{"proxy: [http]\n",
		 "test.yml:1:8: proxy: expected a mapping, found a list"},
		{"proxy:\n  ? [a]\n  : b\n",
		 "test.yml:2:5: proxy: expected a key name, found a list"},
		{"proxy:\n  fake_ipv4: 10.0.0.0/31\n",
		 "test.yml:2:14: proxy.fake_ipv4: prefix length must be 8-30"},
		{"proxy:\n  fake_ipv6: 198.18.0.0/15\n",
		 "test.yml:2:14: proxy.fake_ipv6: expected an IPv6 CIDR"},
		{"proxy:\n  fake_ipv6: fd00::/8\n",
		 "test.yml:2:14: proxy.fake_ipv6: prefix length must be 16-120"},
		{"proxy:\n  dns: [remote]\n",
		 "test.yml:2:8: proxy.dns: expected remote or local, found a list"},
		{"proxy:\n  http: \"http://p\\0x:1\"\n",
		 "test.yml:2:9: proxy.http: NUL byte in proxy URL"},
		{"reverseProxy:\n  headers: [PROXY, proxy]\n",
		 "test.yml:2:20: reverseProxy.headers: duplicate header 'PROXY'"},
		{"reverseProxy:\n  proxy_header_timeout: soon\n",
		 "test.yml:2:25: reverseProxy.proxy_header_timeout: bad duration "
		 "(use e.g. 250ms, 5s, 1m, 1h)"},
		{"reverseProxy:\n  trustedOrigins: 10.0.0.1:80\n",
		 "test.yml:2:19: reverseProxy.trustedOrigins: not an IP address "
		 "or CIDR in entry '10.0.0.1:80'"},
		{"coderd:\n  reverseProxy: {}\nreverseProxy: {}\n",
		 "test.yml:3:1: reverseProxy: given twice (at the top level and "
		 "under coderd:)"},
		{"micronaut:\n  http:\n    services: [a]\n",
		 "test.yml:3:15: micronaut.http.services: expected a mapping, "
		 "found a list"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        url: https://a.example\n        proxy-type: http\n",
		 "test.yml:6:21: micronaut.http.services.a.proxy-type: needs "
		 "proxy-address"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        proxy-type: direct\n",
		 "test.yml:4:7: micronaut.http.services.a: proxy settings but no "
		 "url"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        url: https://a.example\n        proxy-type: ftp\n",
		 "test.yml:6:21: micronaut.http.services.a.proxy-type: expected "
		 "http, socks or direct"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        url: https://a.example\n        proxy-type: http\n"
		 "        proxy-address: http://p:3128\n",
		 "test.yml:7:24: micronaut.http.services.a.proxy-address: "
		 "expected host:port"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        url: https://a.example:0\n        proxy-type: direct\n",
		 "test.yml:5:14: micronaut.http.services.a.url: port out of "
		 "range (1-65535)"},
		{"micronaut:\n  http:\n    services:\n      a:\n"
		 "        url: https://\n        proxy-type: direct\n",
		 "test.yml:5:14: micronaut.http.services.a.url: missing or "
		 "overlong host in url"},
		{"micronaut:\n  http:\n    services:\n      a: {url: "
		 "https://a.example, proxy-type: direct}\n"
		 "      a: {}\n",
		 "test.yml:5:7: micronaut.http.services: duplicate key 'a'"},
		{"proxy:\n  exempt: \"\\xff\"\n  bad: \xff\n",
		 "test.yml:3:8: YAML syntax error: invalid leading UTF-8 octet"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		config_buf_error(bad[i].yaml, bad[i].err);
}
END_TEST

START_TEST(test_config_errors_never_show_the_password)
{
	static const char *const bad[] = {
		"proxy:\n  http: http://alice:hunter2@proxy:0\n",
		"proxy:\n  https: https://alice:hunter2%g@proxy\n",
		"proxy:\n  rules:\n    - match: a\n"
		"      via: [socks5://alice:hunter2@p, socks5://alice:hunter2@p/x]\n",
		"micronaut:\n  http:\n    services:\n      a:\n"
		"        url: https://alice:hunter2@a.example:99999\n"
		"        proxy-type: direct\n",
	};
	char err[PS_ERR_MAX];
	struct ps_config c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(config_load_buffer("t.yml", bad[i],
		                                    strlen(bad[i]), &c, err,
		                                    sizeof(err)),
		                 -1);
		ck_assert_ptr_null(strstr(err, "hunter2"));
		config_free(&c);
	}
	config_file_error(CFX("err_url_bad_percent_encoding.yml"),
	                  "4:12: proxy.rules[0].via: invalid percent-encoding "
	                  "in credentials");
}
END_TEST

START_TEST(test_config_missing_file_is_reported_with_its_path)
{
	char err[PS_ERR_MAX];
	struct ps_config c;

	ck_assert_int_eq(config_load_file(CFX("no_such_file.yml"), &c, err,
	                                  sizeof(err)),
	                 -1);
	ck_assert_str_eq(err, CFX("no_such_file.yml") ":0:0: cannot read: "
	                                              "No such file or directory");
	config_assert_empty(&c);
	config_free(&c);
	ck_assert_int_eq(config_load_file("tests/fixtures", &c, err,
	                                  sizeof(err)),
	                 -1);
	ck_assert_str_eq(err, "tests/fixtures:0:0: cannot read: Is a directory");
}
END_TEST

START_TEST(test_config_free_is_idempotent_and_init_load_free_does_not_leak)
{
	struct ps_config c;

	/* The compiler's pattern: init, load, free (also after errors). */
	config_init(&c);
	config_ok(CFX("full_native.yml"), &c);
	config_free(&c);
	config_free(&c);
	config_assert_empty(&c);
	config_init(&c);
	ck_assert_int_eq(config_load_file(CFX("err_bad_cidr.yml"), &c, NULL, 0),
	                 -1);
	config_free(&c);
	config_free(NULL);
}
END_TEST

/* Load n exempt entries, as one comma-separated string (list 0) or as a
 * YAML list (list 1); returns the reader's work count (load_work) and
 * stores the YAML's length in *len. */
static size_t
config_exempt_work(size_t n, int list, size_t *lenp)
{
	struct ps_config c;
	size_t len, work;
	char *buf = exempt_yaml(n, list, &len);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(config_load_buffer("big", buf, len, &c, NULL, 0), 0);
	ck_assert_uint_eq(c.nexempt, n);
	if (!list) {
		char last[32];

		snprintf(last, sizeof(last), "h%zu.example", n - 1);
		ck_assert_str_eq(c.exempt[n - 1].name, last);
	} else {
		ck_assert_uint_eq(c.exempt[n - 1].pos.line, n + 2);
	}
	work = c.load_work;
	config_free(&c);
	free(buf);
	*lenp = len;
	return work;
}

/* The reader must not be quadratic.  It counts its own work (nodes
 * visited, characters scanned, elements a growing array may copy), so the
 * check is exact on any machine, loaded or not; the time it takes is
 * bench/configload's business.  Linear reading does a few steps per byte
 * of YAML and ten times the entries cost about ten times the steps; a
 * quadratic one would do about a hundred times. */
START_TEST(test_config_loads_a_million_exempt_entries_in_linear_work)
{
	int list;

	for (list = 0; list < 2; list++) {
		size_t slen, blen;
		size_t small = config_exempt_work(100000, list, &slen);
		size_t big = config_exempt_work(1000000, list, &blen);

		ck_assert_msg(small > 100000 && small <= 2 * slen + 64 &&
		                      big <= 2 * blen + 64,
		              "%s: work %zu for %zu bytes, %zu for %zu bytes",
		              list ? "list" : "string", small, slen, big, blen);
		ck_assert_msg(big >= 9 * small && big <= 12 * small,
		              "%s: 1M entries %zu steps, 100k %zu steps",
		              list ? "list" : "string", big, small);
	}
}
END_TEST

/* One fixture per error path: tests/fixtures/config/err_*.yml. */
#define CONFIG_ERROR_TEST(name, file, want)                                  \
	START_TEST(name)                                                     \
	{                                                                    \
		config_file_error(CFX(file), want);                          \
	}                                                                    \
	END_TEST

CONFIG_ERROR_TEST(test_config_unknown_key_in_proxy_is_an_error,
                  "err_unknown_key.yml", "3:3: proxy: unknown key 'htpps'")
CONFIG_ERROR_TEST(test_config_unknown_key_in_reverse_proxy_is_an_error,
                  "err_unknown_key_reverse_proxy.yml",
                  "2:3: reverseProxy: unknown key 'trustedOrigin'")
CONFIG_ERROR_TEST(test_config_unknown_key_in_a_rule_is_an_error,
                  "err_unknown_rule_key.yml",
                  "5:7: proxy.rules[0]: unknown key 'action'")
CONFIG_ERROR_TEST(test_config_unknown_key_in_timeouts_is_an_error,
                  "err_unknown_timeout_key.yml",
                  "2:27: proxy.timeouts: unknown key 'read'")
CONFIG_ERROR_TEST(test_config_unknown_kestra_proxy_key_is_an_error,
                  "err_kestra_unknown_proxy_key.yml",
                  "8:9: micronaut.http.services.api: unknown key "
                  "'proxy-user'")
CONFIG_ERROR_TEST(test_config_duplicate_key_is_an_error,
                  "err_duplicate_key.yml",
                  "4:3: proxy: duplicate key 'http'")
CONFIG_ERROR_TEST(test_config_duplicate_top_level_key_is_an_error,
                  "err_duplicate_top_level_key.yml",
                  "4:1: top level: duplicate key 'proxy'")
CONFIG_ERROR_TEST(test_config_yaml_syntax_error_has_a_position,
                  "err_yaml_syntax.yml",
                  "3:2: YAML syntax error: did not find expected key "
                  "(while parsing a block mapping)")
CONFIG_ERROR_TEST(test_config_unclosed_quote_has_a_position,
                  "err_yaml_unclosed_quote.yml",
                  "3:1: YAML syntax error: found unexpected end of stream "
                  "(while scanning a quoted scalar)")
CONFIG_ERROR_TEST(test_config_mapping_where_url_expected_is_an_error,
                  "err_map_where_url_expected.yml",
                  "3:5: proxy.http: unknown key 'host' (an upstream is a "
                  "proxy URL, or a mapping of url: and tls:)")
CONFIG_ERROR_TEST(test_config_bad_url_port_is_an_error,
                  "err_url_bad_port.yml",
                  "2:9: proxy.http: port out of range (1-65535)")
CONFIG_ERROR_TEST(test_config_bad_url_scheme_is_an_error,
                  "err_url_bad_scheme.yml",
                  "2:10: proxy.https: unsupported proxy scheme (want http, "
                  "https, socks4, socks4a, socks5 or socks5h)")
CONFIG_ERROR_TEST(test_config_url_with_path_is_an_error, "err_url_path.yml",
                  "2:9: proxy.http: path in proxy URL (only \"/\" is "
                  "allowed)")
CONFIG_ERROR_TEST(test_config_bad_cidr_is_an_error, "err_bad_cidr.yml",
                  "2:11: proxy.exempt: bad CIDR prefix length (0-32) in "
                  "entry '10.0.0.0/33'")
CONFIG_ERROR_TEST(test_config_cidr_with_port_is_an_error,
                  "err_cidr_with_port.yml",
                  "4:7: proxy.exempt: a CIDR cannot carry a port in entry "
                  "'10.0.0.0/8:80'")
CONFIG_ERROR_TEST(test_config_bad_match_entry_is_an_error,
                  "err_bad_match_entry.yml",
                  "3:29: proxy.rules[0].match: '*' is allowed only alone or "
                  "as a leading \"*.\" in entry '*bad.example'")
CONFIG_ERROR_TEST(test_config_name_in_trusted_origins_is_an_error,
                  "err_bad_trusted_origin.yml",
                  "2:32: reverseProxy.trustedOrigins: not an IP address or "
                  "CIDR in entry 'coder.example.com'")
CONFIG_ERROR_TEST(test_config_bad_enum_is_an_error, "err_bad_enum.yml",
                  "2:10: proxy.chain: expected strict, failover or "
                  "round_robin")
CONFIG_ERROR_TEST(test_config_bad_https_port_is_an_error,
                  "err_bad_https_port.yml",
                  "2:22: proxy.https_ports: port out of range (1-65535) in "
                  "entry '0'")
CONFIG_ERROR_TEST(test_config_negative_duration_is_an_error,
                  "err_bad_duration.yml",
                  "3:14: proxy.timeouts.connect: negative duration")
CONFIG_ERROR_TEST(test_config_bad_bool_is_an_error, "err_bad_bool.yml",
                  "2:19: proxy.proxy_loopback: expected true or false")
CONFIG_ERROR_TEST(test_config_fake_ipv4_of_wrong_family_is_an_error,
                  "err_fake_ipv4_family.yml",
                  "2:14: proxy.fake_ipv4: expected an IPv4 CIDR")
CONFIG_ERROR_TEST(test_config_rule_without_via_is_an_error,
                  "err_rule_without_via.yml",
                  "3:7: proxy.rules[0]: rule has no via:")
CONFIG_ERROR_TEST(test_config_rules_must_be_a_list, "err_rules_not_a_list.yml",
                  "3:5: proxy.rules: expected a list of rules, found a "
                  "mapping")
CONFIG_ERROR_TEST(test_config_direct_inside_a_chain_is_an_error,
                  "err_chain_with_direct.yml",
                  "4:31: proxy.rules[0].via[1]: direct and block cannot be "
                  "part of a chain")
CONFIG_ERROR_TEST(test_config_unknown_header_is_an_error, "err_bad_header.yml",
                  "2:30: reverseProxy.headers: unknown header "
                  "'X-Forwarded-Host' (want PROXY, X-Forwarded-For, "
                  "X-Real-IP, True-Client-IP or CF-Connecting-IP)")
CONFIG_ERROR_TEST(test_config_proxy_both_top_level_and_coderd_is_an_error,
                  "err_proxy_twice.yml",
                  "6:3: coderd.proxy: given twice (at the top level and "
                  "under coderd:)")
CONFIG_ERROR_TEST(test_config_second_yaml_document_is_an_error,
                  "err_two_documents.yml",
                  "4:1: only one YAML document is allowed")
CONFIG_ERROR_TEST(test_config_top_level_list_is_an_error,
                  "err_top_level_list.yml",
                  "1:1: top level: expected a mapping, found a list")
CONFIG_ERROR_TEST(test_config_kestra_address_without_type_is_an_error,
                  "err_kestra_address_without_type.yml",
                  "6:24: micronaut.http.services.api.proxy-address: needs "
                  "proxy-type (http, socks or direct)")
CONFIG_ERROR_TEST(test_config_kestra_non_http_url_is_an_error,
                  "err_kestra_bad_url.yml",
                  "5:14: micronaut.http.services.files.url: url must start "
                  "with http:// or https://")
CONFIG_ERROR_TEST(test_config_kestra_password_without_username_is_an_error,
                  "err_kestra_password_without_username.yml",
                  "8:25: micronaut.http.services.api.proxy-password: given "
                  "without proxy-username")
CONFIG_ERROR_TEST(test_config_unknown_tls_key_is_an_error,
                  "err_tls_unknown_key.yml",
                  "3:5: proxy.tls: unknown key 'ca-file'")
CONFIG_ERROR_TEST(test_config_tls_ca_file_list_is_an_error,
                  "err_tls_ca_file_list.yml",
                  "3:14: proxy.tls.ca_file: expected a file name, found a "
                  "list")
CONFIG_ERROR_TEST(test_config_tls_empty_ca_file_is_an_error,
                  "err_tls_ca_file_empty.yml",
                  "4:14: proxy.tls.ca_file: must not be empty")
CONFIG_ERROR_TEST(test_config_tls_bad_bool_is_an_error,
                  "err_tls_bad_bool.yml",
                  "2:31: proxy.tls.insecure_skip_verify: expected true or "
                  "false")
CONFIG_ERROR_TEST(test_config_tls_not_a_mapping_is_an_error,
                  "err_tls_not_a_mapping.yml",
                  "2:8: proxy.tls: expected a mapping, found a single value")
CONFIG_ERROR_TEST(test_config_tls_bad_server_name_is_an_error,
                  "err_tls_bad_server_name.yml",
                  "3:18: proxy.tls.server_name: invalid character in host name")
CONFIG_ERROR_TEST(test_config_tls_server_name_mapping_is_an_error,
                  "err_tls_server_name_map.yml",
                  "3:18: proxy.tls.server_name: expected a host name, found "
                  "a mapping")
CONFIG_ERROR_TEST(test_config_bad_percent_encoding_is_an_error,
                  "err_url_bad_percent_encoding.yml",
                  "4:12: proxy.rules[0].via: invalid percent-encoding in "
                  "credentials")

/* Every hop may follow an https:// one except another https:// one
 * (docs/behaviour.md#chains-through-an-https-upstream). */
CONFIG_ERROR_TEST(test_config_https_after_https_in_a_strict_chain_is_an_error,
                  "err_tls_inside_tls.yml",
                  "4:69: proxy.rules[0].via[2]: an https:// proxy cannot "
                  "follow another https:// proxy in a chain (TLS inside TLS "
                  "is not supported)")

START_TEST(test_config_two_https_upstreams_under_failover_load)
{
	struct ps_config c;
	char err[512];

	ck_assert_int_eq(config_load_file(CFX("tls_chain_failover.yml"), &c,
	                                  err, sizeof(err)),
	                 0);
	ck_assert_int_eq(c.nrules, 1);
	ck_assert_uint_eq(c.rules[0].via.nhops, 3);
	config_free(&c);
}
END_TEST

Suite *config_suite(void);

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_config_init_sets_spec_defaults);
	tcase_add_test(tc, test_config_spec_native_snippet_loads_as_written);
	tcase_add_test(tc, test_config_spec_kestra_snippet_becomes_a_rule);
	tcase_add_test(tc, test_config_coder_helm_values_read_through_coderd);
	tcase_add_test(tc, test_config_every_native_key_is_read);
	tcase_add_test(tc, test_config_kestra_rules_come_after_proxy_rules);
	tcase_add_test(tc, test_config_kestra_url_forms);
	tcase_add_test(tc, test_config_empty_file_has_no_upstreams);
	tcase_add_test(tc, test_config_null_values_keep_defaults);
	tcase_add_test(tc, test_config_tls_per_upstream);
	tcase_add_test(tc, test_config_https_ports_forms);
	tcase_add_test(tc, test_config_tls_defaults_and_relative_ca_file);
	tcase_add_test(tc, test_config_exempt_list_items_and_empty_entries);
	tcase_add_test(tc, test_config_yaml_aliases_are_followed);
	tcase_add_test(tc, test_config_booleans_and_enums_accept_common_spellings);
	tcase_add_test(tc, test_config_reload_is_auto_or_manual);
	tcase_add_test(tc, test_config_other_top_level_sections_are_ignored);
	tcase_add_test(tc, test_config_missing_file_is_reported_with_its_path);
	tcase_add_test(tc, test_config_free_is_idempotent_and_init_load_free_does_not_leak);
	tcase_add_test(tc, test_config_loads_a_million_exempt_entries_in_linear_work);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_config_inline_errors_point_at_the_node);
	tcase_add_test(tc, test_config_errors_never_show_the_password);
	tcase_add_test(tc, test_config_unknown_key_in_proxy_is_an_error);
	tcase_add_test(tc, test_config_unknown_key_in_reverse_proxy_is_an_error);
	tcase_add_test(tc, test_config_unknown_key_in_a_rule_is_an_error);
	tcase_add_test(tc, test_config_unknown_key_in_timeouts_is_an_error);
	tcase_add_test(tc, test_config_unknown_kestra_proxy_key_is_an_error);
	tcase_add_test(tc, test_config_duplicate_key_is_an_error);
	tcase_add_test(tc, test_config_duplicate_top_level_key_is_an_error);
	tcase_add_test(tc, test_config_yaml_syntax_error_has_a_position);
	tcase_add_test(tc, test_config_unclosed_quote_has_a_position);
	tcase_add_test(tc, test_config_mapping_where_url_expected_is_an_error);
	tcase_add_test(tc, test_config_bad_url_port_is_an_error);
	tcase_add_test(tc, test_config_bad_url_scheme_is_an_error);
	tcase_add_test(tc, test_config_url_with_path_is_an_error);
	tcase_add_test(tc, test_config_bad_cidr_is_an_error);
	tcase_add_test(tc, test_config_cidr_with_port_is_an_error);
	tcase_add_test(tc, test_config_bad_match_entry_is_an_error);
	tcase_add_test(tc, test_config_name_in_trusted_origins_is_an_error);
	tcase_add_test(tc, test_config_bad_enum_is_an_error);
	tcase_add_test(tc, test_config_bad_https_port_is_an_error);
	tcase_add_test(tc, test_config_negative_duration_is_an_error);
	tcase_add_test(tc, test_config_bad_bool_is_an_error);
	tcase_add_test(tc, test_config_fake_ipv4_of_wrong_family_is_an_error);
	tcase_add_test(tc, test_config_rule_without_via_is_an_error);
	tcase_add_test(tc, test_config_rules_must_be_a_list);
	tcase_add_test(tc, test_config_direct_inside_a_chain_is_an_error);
	tcase_add_test(tc, test_config_unknown_header_is_an_error);
	tcase_add_test(tc, test_config_proxy_both_top_level_and_coderd_is_an_error);
	tcase_add_test(tc, test_config_second_yaml_document_is_an_error);
	tcase_add_test(tc, test_config_top_level_list_is_an_error);
	tcase_add_test(tc, test_config_kestra_address_without_type_is_an_error);
	tcase_add_test(tc, test_config_kestra_non_http_url_is_an_error);
	tcase_add_test(tc, test_config_kestra_password_without_username_is_an_error);
	tcase_add_test(tc, test_config_bad_percent_encoding_is_an_error);
	tcase_add_test(tc, test_config_unknown_tls_key_is_an_error);
	tcase_add_test(tc, test_config_tls_ca_file_list_is_an_error);
	tcase_add_test(tc, test_config_tls_empty_ca_file_is_an_error);
	tcase_add_test(tc, test_config_tls_bad_bool_is_an_error);
	tcase_add_test(tc, test_config_tls_not_a_mapping_is_an_error);
	tcase_add_test(tc, test_config_tls_bad_server_name_is_an_error);
	tcase_add_test(tc, test_config_tls_server_name_mapping_is_an_error);
	tcase_add_test(tc,
	               test_config_https_after_https_in_a_strict_chain_is_an_error);
	tcase_add_test(tc, test_config_two_https_upstreams_under_failover_load);
	suite_add_tcase(s, tc);
	return s;
}
