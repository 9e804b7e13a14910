/*
 * The config file reader (docs/behaviour.md#config-file), over libyaml's
 * document API: the model (config_init, config_free) and the native schema.
 * The reader's other parts: config_file.c (the file and its one document),
 * config_kestra.c (the Kestra dialect), config_yaml.c (node helpers).
 *
 * Sections read: proxy:, reverseProxy:, the same two under a Helm values
 * file's coderd:, and Kestra's micronaut.http.services.<name>.proxy-*.
 * Everything else at the top level (and non-proxy keys of those wrappers)
 * is ignored so existing files work as they are; inside the sections we
 * own, anything unknown or malformed is an error "FILE:LINE:COL: message"
 * at the offending node.  Messages never quote a URL (passwords).
 *
 * Arrays grow geometrically: an exempt list of a million entries must load
 * in well under a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <limits.h>
#include <sys/socket.h>
#include <yaml.h>

#include "proxyshim/config.h"
#include "config_yaml.h"

/* Never written: config_free() knows not to free it. */
static uint16_t config_default_https_ports[1] = {443};

void
config_init(struct ps_config *c)
{
	memset(c, 0, sizeof(*c));
	c->https_ports = config_default_https_ports;
	c->nhttps_ports = 1;
	c->chain = PS_CHAIN_STRICT;
	c->dns = PS_DNS_REMOTE;
	c->fake4_prefix = 15;
	c->fake4[0] = 198;
	c->fake4[1] = 18;
	c->fake6_prefix = 48;
	memcpy(c->fake6, "\xfd\xfe\xdc\xba\x98\x76", 6);
	c->connect_timeout_ms = 5000;
	c->handshake_timeout_ms = 10000;
	c->on_failure = PS_FAIL_ERROR;
	c->udp = PS_UDP_DIRECT;
	c->proxy_loopback = false;
	c->headers[0] = PS_RP_XFF;
	c->nheaders = 1;
	c->rp_timeout_ms = 3000;
}

static void
config_url_free(struct ps_url *u)
{
	url_free(u);
	free(u);
}

static void
config_matches_free(struct ps_match *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		match_free(&m[i]);
	free(m);
}

static void
config_rule_free(struct ps_rule *r)
{
	size_t i;

	config_matches_free(r->match, r->nmatch);
	for (i = 0; i < r->via.nhops; i++)
		url_free(&r->via.hops[i]);
	free(r->via.hops);
	free(r->label);
	memset(r, 0, sizeof(*r));
}

void
config_rules_free(struct ps_rule *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		config_rule_free(&r[i]);
	free(r);
}

void
config_free(struct ps_config *c)
{
	if (c == NULL)
		return;
	free(c->source);
	config_url_free(c->http);
	config_url_free(c->https);
	config_matches_free(c->exempt, c->nexempt);
	if (c->https_ports != config_default_https_ports)
		free(c->https_ports);
	config_rules_free(c->rules, c->nrules);
	config_matches_free(c->trusted, c->ntrusted);
	free(c->tls_ca_file);
	free(c->tls_server_name);
	/* Leave a valid empty config: freeing twice is harmless. */
	config_init(c);
}

static int
cfg_match_piece(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
                const char *s, size_t len, void *arg)
{
	struct cfg_matches *m = arg;
	struct ps_match *a;
	const char *e;
	char q[64];

	a = cfg_grow(x, *m->arr, m->cap, *m->n, sizeof(**m->arr));
	if (a == NULL)
		return cfg_fail(x, n, "out of memory");
	*m->arr = a;
	if (match_parse(s, len, &a[*m->n], &e) < 0)
		return cfg_fail(x, n, "%s: %s in entry '%s'", path, e,
		                cfg_quote(s, len, q, sizeof(q)));
	a[*m->n].pos = cfg_pos(n);
	(*m->n)++;
	return 0;
}

static int
cfg_trusted_piece(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
                  const char *s, size_t len, void *arg)
{
	struct ps_config *c = x->c;
	struct ps_match *a, *m;
	const char *e = NULL;
	char q[64];
	int prefix;

	(void)arg;
	a = cfg_grow(x, c->trusted, &x->trusted_cap, c->ntrusted, sizeof(*a));
	if (a == NULL)
		return cfg_fail(x, n, "out of memory");
	c->trusted = a;
	m = &a[c->ntrusted];
	memset(m, 0, sizeof(*m));
	if (cidr_parse(s, len, &m->family, m->addr, &prefix, &e) < 0)
		return cfg_fail(x, n, "%s: %s in entry '%s'", path, e,
		                cfg_quote(s, len, q, sizeof(q)));
	/* A bare address is stored as its full-length CIDR. */
	m->kind = PS_MATCH_CIDR;
	m->prefix = (uint8_t)prefix;
	m->port_hi = 65535;
	m->pos = cfg_pos(n);
	m->text = strndup(s, len);
	if (m->text == NULL)
		return cfg_fail(x, n, "out of memory");
	c->ntrusted++;
	return 0;
}

static int
cfg_port_piece(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
               const char *s, size_t len, void *arg)
{
	struct ps_config *c = x->c;
	uint16_t lo, hi, *a;
	const char *e;
	char q[64];
	uint32_t p;

	(void)arg;
	if (port_range_parse(s, len, &lo, &hi, &e) < 0)
		return cfg_fail(x, n, "%s: %s in entry '%s'", path, e,
		                cfg_quote(s, len, q, sizeof(q)));
	/* A range is expanded: the compiler keeps a port bitmap anyway. */
	for (p = lo; p <= hi; p++) {
		a = cfg_grow(x, c->https_ports, &x->ports_cap, c->nhttps_ports,
		             sizeof(*a));
		if (a == NULL)
			return cfg_fail(x, n, "out of memory");
		c->https_ports = a;
		a[c->nhttps_ports++] = (uint16_t)p;
	}
	return 0;
}

static const struct cfg_enum cfg_headers[] = {
        {"PROXY", PS_RP_PROXY},
        {"X-Forwarded-For", PS_RP_XFF},
        {"X-Real-IP", PS_RP_X_REAL_IP},
        {"True-Client-IP", PS_RP_TRUE_CLIENT_IP},
        {"CF-Connecting-IP", PS_RP_CF_CONNECTING_IP},
};

static int
cfg_header_piece(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
                 const char *s, size_t len, void *arg)
{
	struct ps_config *c = x->c;
	size_t i, j;
	char q[64];

	(void)arg;
	for (i = 0; i < sizeof(cfg_headers) / sizeof(cfg_headers[0]); i++)
		if (strlen(cfg_headers[i].name) == len &&
		    strncasecmp(cfg_headers[i].name, s, len) == 0)
			break;
	if (i == sizeof(cfg_headers) / sizeof(cfg_headers[0]))
		return cfg_fail(x, n,
		                "%s: unknown header '%s' (want PROXY, "
		                "X-Forwarded-For, X-Real-IP, "
		                "True-Client-IP or CF-Connecting-IP)",
		                path, cfg_quote(s, len, q, sizeof(q)));
	for (j = 0; j < c->nheaders; j++)
		if (c->headers[j] == (enum ps_rp_header)cfg_headers[i].value)
			return cfg_fail(x, n, "%s: duplicate header '%s'", path,
			                cfg_headers[i].name);
	c->headers[c->nheaders++] = (enum ps_rp_header)cfg_headers[i].value;
	return 0;
}

/* ---- single values */

static int
cfg_url_scalar(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
               struct ps_url *u)
{
	const char *e;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, "a proxy URL");
	if (r < 0)
		return r;
	if (cfg_len(v) != strlen(cfg_str(v)))
		return cfg_fail(x, v, "%s: NUL byte in proxy URL", path);
	if (url_parse(cfg_str(v), cfg_len(v), u, &e) < 0)
		return cfg_fail(x, v, "%s: %s", path, e);
	u->pos = cfg_pos(v);
	return 0;
}

static int cfg_tls_into(struct cfg_ctx *x, const yaml_node_t *v,
                        const char *path, char **ca, char **name,
                        bool *insecure, bool *insecure_set);

/* An upstream written as a mapping: {url: https://..., tls: {...}}. */
static const char *const cfg_upstream_keys[] = {"url", "tls"};

static int
cfg_upstream_value(struct cfg_ctx *x, int key, const yaml_node_t *v,
                   const char *path)
{
	(void)path;
	x->upstream_part[key] = v;
	return 0;
}

static int
cfg_url_map(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
            struct ps_url *u)
{
	const yaml_node_t *url, *tls;
	char sub[192];
	int r;

	x->upstream_part[0] = x->upstream_part[1] = NULL;
	x->key_hint = " (an upstream is a proxy URL, or a mapping of url: and "
	              "tls:)";
	r = cfg_keyed(x, v, path, cfg_upstream_keys, 2, cfg_upstream_value);
	x->key_hint = "";
	if (r < 0)
		return r;
	url = x->upstream_part[0];
	tls = x->upstream_part[1];
	if (url == NULL)
		return cfg_fail(x, v, "%s: missing url (the proxy URL)", path);
	cfg_subpath(sub, sizeof(sub), "%s.url", path);
	r = cfg_url_scalar(x, url, sub, u);
	if (r < 0 || tls == NULL)
		return r;
	cfg_subpath(sub, sizeof(sub), "%s.tls", path);
	if (u->scheme != PS_SCHEME_HTTPS) {
		url_free(u);
		return cfg_fail(
		        x, tls,
		        "%s: only an https:// upstream has TLS settings", sub);
	}
	u->tls_pos = cfg_pos(tls);
	r = cfg_tls_into(x, tls, sub, &u->tls_ca_file, &u->tls_server_name,
	                 &u->tls_insecure, &u->tls_insecure_set);
	if (r < 0)
		url_free(u);
	return r;
}

/* A proxy URL, or a mapping with url: and tls: (https:// upstreams). */
static int
cfg_url(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
        struct ps_url *u)
{
	if (v->type == YAML_MAPPING_NODE)
		return cfg_url_map(x, v, path, u);
	return cfg_url_scalar(x, v, path, u);
}

/* proxy.http / proxy.https: an empty value (Helm's `http: ""`) is unset. */
static int
cfg_upstream(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             struct ps_url **out)
{
	struct ps_url *u;
	int r;

	if (v->type == YAML_SCALAR_NODE && cfg_len(v) == 0)
		return 0;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return cfg_fail(x, v, "out of memory");
	r = cfg_url(x, v, path, u);
	if (r < 0) {
		free(u);
		return r;
	}
	*out = u;
	return 0;
}

/* fake_ipv4 / fake_ipv6: the pool handed out for remotely resolved
 * names; it must be of the right family and leave room for names. */
static int
cfg_fake(struct cfg_ctx *x, const yaml_node_t *v, const char *path, int want,
         uint8_t *addr, int *prefix)
{
	int lo = want == AF_INET ? 8 : 16, hi = want == AF_INET ? 30 : 120;
	int fam = 0, p = 0;
	uint8_t a[16];
	const char *e;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, "a CIDR");
	if (r < 0)
		return r;
	if (cidr_parse(cfg_str(v), cfg_len(v), &fam, a, &p, &e) < 0)
		return cfg_fail(x, v, "%s: %s", path, e);
	if (fam != want)
		return cfg_fail(x, v, "%s: expected an %s CIDR", path,
		                want == AF_INET ? "IPv4" : "IPv6");
	if (p < lo || p > hi)
		return cfg_fail(x, v, "%s: prefix length must be %d-%d", path,
		                lo, hi);
	memcpy(addr, a, want == AF_INET ? 4 : 16);
	*prefix = p;
	return 0;
}

static int
cfg_https_ports(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	struct ps_config *c = x->c;

	if (c->https_ports != config_default_https_ports)
		free(c->https_ports);
	/* Present means replace the default, even by an empty list. */
	c->https_ports = NULL;
	c->nhttps_ports = 0;
	x->ports_cap = 0;
	return cfg_each(x, v, path, cfg_port_piece, NULL);
}

static const char *const cfg_timeout_keys[] = {"connect", "handshake"};

static int
cfg_timeout_value(struct cfg_ctx *x, int key, const yaml_node_t *v,
                  const char *path)
{
	return cfg_duration(x, v, path,
	                    key == 0 ? &x->c->connect_timeout_ms
	                             : &x->c->handshake_timeout_ms);
}

static int
cfg_timeouts(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	return cfg_keyed(x, v, path, cfg_timeout_keys, 2, cfg_timeout_value);
}

/* proxy.tls.ca_file / server_name: a non-empty string, no NUL. */
static int
cfg_tls_string(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
               const char *what, char **out)
{
	int r = cfg_want(x, v, YAML_SCALAR_NODE, path, what);

	if (r < 0)
		return r;
	if (cfg_len(v) == 0)
		return cfg_fail(x, v, "%s: must not be empty", path);
	if (cfg_len(v) != strlen(cfg_str(v)) || cfg_len(v) >= PATH_MAX)
		return cfg_fail(x, v, "%s: too long or contains a NUL byte",
		                path);
	free(*out);
	*out = strndup(cfg_str(v), cfg_len(v));
	if (*out == NULL)
		return cfg_fail(x, v, "out of memory");
	return 0;
}

/* server_name: a DNS name or an IP address (checked as an IP SAN). */
static int
cfg_server_name(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	struct in6_addr a;
	const char *e;
	char **out = x->tls_name;
	int r;

	r = cfg_tls_string(x, v, path, "a host name", out);
	if (r < 0)
		return r;
	if (inet_pton(AF_INET, *out, &a) == 1 ||
	    inet_pton(AF_INET6, *out, &a) == 1)
		return 0;
	if (url_check_host(*out, strlen(*out), &e) < 0)
		return cfg_fail(x, v, "%s: %s", path, e);
	return 0;
}

/* proxy.tls: settings for every https:// upstream (the relay's TLS).
 * Whether ca_file exists and parses is checked where it is used, by the
 * relay when it starts (a bad file: the relay logs why and exits, the
 * connections are refused), not here: the file is read by the relay's
 * process, possibly later and on another machine than the check. */
static const char *const cfg_tls_keys[] = {"ca_file", "server_name",
                                           "insecure_skip_verify"};

static int
cfg_tls_value(struct cfg_ctx *x, int key, const yaml_node_t *v,
              const char *path)
{
	if (key == 0)
		return cfg_tls_string(x, v, path, "a file name", x->tls_ca);
	if (key == 1)
		return cfg_server_name(x, v, path);
	*x->tls_insecure_set = true;
	return cfg_bool(x, v, path, x->tls_insecure);
}

static int
cfg_tls_into(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             char **ca, char **name, bool *insecure, bool *insecure_set)
{
	x->tls_ca = ca;
	x->tls_name = name;
	x->tls_insecure = insecure;
	x->tls_insecure_set = insecure_set;
	return cfg_keyed(x, v, path, cfg_tls_keys, 3, cfg_tls_value);
}

static int
cfg_tls(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	bool set = false;

	x->c->tls_pos = cfg_pos(v);
	return cfg_tls_into(x, v, path, &x->c->tls_ca_file,
	                    &x->c->tls_server_name, &x->c->tls_insecure, &set);
}

/* ---- rules */

static int
cfg_via(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
        struct ps_via *via)
{
	const yaml_node_item_t *it, *start, *top;
	char sub[160];
	size_t n;
	int r;

	if (cfg_is_null(v))
		return cfg_fail(x, v,
		                "%s: missing value (a proxy URL, a list "
		                "of them, direct or block)",
		                path);
	if (cfg_is_nocase(v, "direct") || cfg_is_nocase(v, "block")) {
		via->kind = cfg_is_nocase(v, "direct") ? PS_VIA_DIRECT
		                                       : PS_VIA_BLOCK;
		return 0;
	}
	if (v->type == YAML_SCALAR_NODE || v->type == YAML_MAPPING_NODE) {
		start = NULL;
		top = NULL;
		n = 1;
	} else {
		r = cfg_want(x, v, YAML_SEQUENCE_NODE, path,
		             "a proxy URL or a list of them");
		if (r < 0)
			return r;
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
		n = (size_t)(top - start);
	}
	if (n == 0 || n > PS_MAX_HOPS)
		return cfg_fail(x, v, "%s: a chain has 1 to %d proxies", path,
		                PS_MAX_HOPS);
	via->hops = calloc(n, sizeof(*via->hops));
	if (via->hops == NULL)
		return cfg_fail(x, v, "out of memory");
	via->kind = PS_VIA_PROXY;
	if (start == NULL) {
		r = cfg_url(x, v, path, &via->hops[0]);
		via->nhops = r == 0 ? 1 : 0;
		return r;
	}
	for (it = start; it < top; it++) {
		const yaml_node_t *h = cfg_node(x, *it);

		cfg_subpath(sub, sizeof(sub), "%s[%zu]", path, via->nhops);
		if (cfg_is_nocase(h, "direct") || cfg_is_nocase(h, "block"))
			return cfg_fail(x, h,
			                "%s: direct and block cannot be "
			                "part of a chain",
			                sub);
		r = cfg_url(x, h, sub, &via->hops[via->nhops]);
		if (r < 0)
			return r;
		via->nhops++;
	}
	return 0;
}

static int
cfg_rule(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
         struct ps_rule *rule)
{
	static const char *const keys[] = {"match", "via"};
	const yaml_node_t *have[2] = {NULL, NULL};
	const yaml_node_pair_t *p;
	struct cfg_matches m = {&rule->match, &rule->nmatch, NULL};
	size_t cap = 0;
	char sub[160];
	int r, i;

	m.cap = &cap;
	r = cfg_want(x, v, YAML_MAPPING_NODE, path,
	             "a mapping with match: and via:");
	if (r == 0)
		r = cfg_check_map(x, v, path);
	if (r < 0)
		return r;
	for (p = v->data.mapping.pairs.start;
	     r == 0 && p < v->data.mapping.pairs.top; p++) {
		i = cfg_key_index(x, cfg_node(x, p->key), path, keys, 2);
		if (i < 0)
			return i;
		have[i] = cfg_node(x, p->value);
		cfg_subpath(sub, sizeof(sub), "%s.%s", path, keys[i]);
		if (i == 0)
			r = cfg_each(x, have[i], sub, cfg_match_piece, &m);
		else
			r = cfg_via(x, have[i], sub, &rule->via);
		if (r == 0 && i == 0 && rule->nmatch == 0)
			r = cfg_fail(x, have[i], "%s: no entries", sub);
	}
	if (r == 0 && have[0] == NULL)
		r = cfg_fail(x, v, "%s: rule has no match:", path);
	if (r == 0 && have[1] == NULL)
		r = cfg_fail(x, v, "%s: rule has no via:", path);
	return r;
}

static int
cfg_rules(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	struct ps_config *c = x->c;
	const yaml_node_item_t *it;
	struct ps_rule *a;
	char sub[128], label[32];
	int r;

	r = cfg_want(x, v, YAML_SEQUENCE_NODE, path, "a list of rules");
	if (r < 0)
		return r;
	for (it = v->data.sequence.items.start;
	     r == 0 && it < v->data.sequence.items.top; it++) {
		const yaml_node_t *n = cfg_node(x, *it);

		a = cfg_grow(x, c->rules, &x->rules_cap, c->nrules, sizeof(*a));
		if (a == NULL)
			return cfg_fail(x, n, "out of memory");
		c->rules = a;
		a = &c->rules[c->nrules];
		memset(a, 0, sizeof(*a));
		snprintf(label, sizeof(label), "rules[%zu]", c->nrules);
		c->nrules++;
		a->pos = cfg_pos(n);
		a->label = strdup(label);
		if (a->label == NULL)
			return cfg_fail(x, n, "out of memory");
		cfg_subpath(sub, sizeof(sub), "%s[%zu]", path, c->nrules - 1);
		r = cfg_rule(x, n, sub, a);
	}
	return r;
}

/* ---- proxy: */

enum {
	K_HTTP,
	K_HTTPS,
	K_EXEMPT,
	K_HTTPS_PORTS,
	K_RULES,
	K_CHAIN,
	K_DNS,
	K_FAKE4,
	K_FAKE6,
	K_TIMEOUTS,
	K_ON_FAILURE,
	K_UDP,
	K_LOOPBACK,
	K_TLS,
	K_RELOAD,
	K_NPROXY
};

static const char *const cfg_proxy_keys[K_NPROXY] = {
        "http",       "https", "exempt",         "https_ports", "rules",
        "chain",      "dns",   "fake_ipv4",      "fake_ipv6",   "timeouts",
        "on_failure", "udp",   "proxy_loopback", "tls",         "reload",
};

static const struct cfg_enum cfg_chain_tab[] = {
        {"strict", PS_CHAIN_STRICT},
        {"failover", PS_CHAIN_FAILOVER},
        {"round_robin", PS_CHAIN_ROUND_ROBIN},
        {"round-robin", PS_CHAIN_ROUND_ROBIN},
};
static const struct cfg_enum cfg_dns_tab[] = {
        {"remote", PS_DNS_REMOTE},
        {"local", PS_DNS_LOCAL},
};
static const struct cfg_enum cfg_fail_tab[] = {
        {"error", PS_FAIL_ERROR},
        {"direct", PS_FAIL_DIRECT},
};
static const struct cfg_enum cfg_udp_tab[] = {
        {"direct", PS_UDP_DIRECT},
        {"block", PS_UDP_BLOCK},
};
static const struct cfg_enum cfg_reload_tab[] = {
        {"auto", PS_RELOAD_AUTO},
        {"manual", PS_RELOAD_MANUAL},
};

static int
cfg_proxy_enum(struct cfg_ctx *x, int key, const yaml_node_t *v,
               const char *path)
{
	struct ps_config *c = x->c;
	int e = 0, r;

	switch (key) {
	case K_CHAIN:
		r = cfg_enum(x, v, path, cfg_chain_tab, CFG_N(cfg_chain_tab),
		             "strict, failover or round_robin", &e);
		if (r == 0)
			c->chain = (enum ps_chain_mode)e;
		return r;
	case K_DNS:
		r = cfg_enum(x, v, path, cfg_dns_tab, CFG_N(cfg_dns_tab),
		             "remote or local", &e);
		if (r == 0)
			c->dns = (enum ps_dns_mode)e;
		return r;
	case K_ON_FAILURE:
		r = cfg_enum(x, v, path, cfg_fail_tab, CFG_N(cfg_fail_tab),
		             "error or direct", &e);
		if (r == 0)
			c->on_failure = (enum ps_on_failure)e;
		return r;
	case K_RELOAD:
		r = cfg_enum(x, v, path, cfg_reload_tab, CFG_N(cfg_reload_tab),
		             "auto or manual", &e);
		if (r == 0)
			c->reload = (enum ps_reload_mode)e;
		return r;
	default:
		r = cfg_enum(x, v, path, cfg_udp_tab, CFG_N(cfg_udp_tab),
		             "direct or block", &e);
		if (r == 0)
			c->udp = (enum ps_udp_mode)e;
		return r;
	}
}

static int
cfg_proxy_value(struct cfg_ctx *x, int key, const yaml_node_t *v,
                const char *path)
{
	struct ps_config *c = x->c;
	struct cfg_matches m = {&c->exempt, &c->nexempt, &x->exempt_cap};

	switch (key) {
	case K_HTTP:
		return cfg_upstream(x, v, path, &c->http);
	case K_HTTPS:
		return cfg_upstream(x, v, path, &c->https);
	case K_EXEMPT:
		return cfg_each(x, v, path, cfg_match_piece, &m);
	case K_HTTPS_PORTS:
		return cfg_https_ports(x, v, path);
	case K_RULES:
		return cfg_rules(x, v, path);
	case K_FAKE4:
		return cfg_fake(x, v, path, AF_INET, c->fake4,
		                &c->fake4_prefix);
	case K_FAKE6:
		return cfg_fake(x, v, path, AF_INET6, c->fake6,
		                &c->fake6_prefix);
	case K_TIMEOUTS:
		return cfg_timeouts(x, v, path);
	case K_LOOPBACK:
		return cfg_bool(x, v, path, &c->proxy_loopback);
	case K_TLS:
		return cfg_tls(x, v, path);
	default:
		return cfg_proxy_enum(x, key, v, path);
	}
}

static int
cfg_proxy(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	return cfg_keyed(x, v, path, cfg_proxy_keys, K_NPROXY, cfg_proxy_value);
}

/* ---- reverseProxy: */

static const char *const cfg_rp_keys[] = {"trustedOrigins", "headers",
                                          "proxy_header_timeout"};

static int
cfg_rp_value(struct cfg_ctx *x, int key, const yaml_node_t *v, const char *path)
{
	if (key == 0)
		return cfg_each(x, v, path, cfg_trusted_piece, NULL);
	if (key == 1) {
		x->c->nheaders = 0; /* present: replaces the default */
		return cfg_each(x, v, path, cfg_header_piece, NULL);
	}
	return cfg_duration(x, v, path, &x->c->rp_timeout_ms);
}

static int
cfg_rp(struct cfg_ctx *x, const yaml_node_t *v, const char *path)
{
	return cfg_keyed(x, v, path, cfg_rp_keys, 3, cfg_rp_value);
}

/* proxy: and reverseProxy: may come at the top level or under coderd:,
 * but only once: two copies would silently shadow each other. */
static int
cfg_section(struct cfg_ctx *x, const yaml_node_t *k, const yaml_node_t *v,
            const char *path, int rp)
{
	const yaml_node_t **seen = rp ? &x->seen_rp : &x->seen_proxy;

	if (*seen != NULL)
		return cfg_fail(x, k,
		                "%s: given twice (at the top level and "
		                "under coderd:)",
		                path);
	*seen = k;
	return rp ? cfg_rp(x, v, path) : cfg_proxy(x, v, path);
}

/* A Helm values file: coderd.proxy and coderd.reverseProxy are ours, the
 * rest (image, env, service, ...) belongs to the chart. */
static int
cfg_coderd(struct cfg_ctx *x, const yaml_node_t *v)
{
	const yaml_node_pair_t *p;
	int r;

	if (v->type != YAML_MAPPING_NODE)
		return 0;
	r = cfg_check_map(x, v, "coderd");
	for (p = v->data.mapping.pairs.start;
	     r == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = cfg_node(x, p->key);

		if (cfg_is(k, "proxy"))
			r = cfg_section(x, k, cfg_node(x, p->value),
			                "coderd.proxy", 0);
		else if (cfg_is(k, "reverseProxy"))
			r = cfg_section(x, k, cfg_node(x, p->value),
			                "coderd.reverseProxy", 1);
	}
	return r;
}

int
cfg_root(struct cfg_ctx *x, const yaml_node_t *root)
{
	const yaml_node_pair_t *p;
	int r;

	if (cfg_is_null(root))
		return 0;
	r = cfg_want(x, root, YAML_MAPPING_NODE, "top level", "a mapping");
	if (r == 0)
		r = cfg_check_map(x, root, "top level");
	if (r < 0)
		return r;
	for (p = root->data.mapping.pairs.start;
	     r == 0 && p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = cfg_node(x, p->key);
		const yaml_node_t *v = cfg_node(x, p->value);

		if (cfg_is(k, "proxy"))
			r = cfg_section(x, k, v, "proxy", 0);
		else if (cfg_is(k, "reverseProxy"))
			r = cfg_section(x, k, v, "reverseProxy", 1);
		else if (cfg_is(k, "coderd"))
			r = cfg_coderd(x, v);
		else if (cfg_is(k, "micronaut"))
			r = cfg_micronaut(x, v);
	}
	return r == 0 ? cfg_append_krules(x) : r;
}
