/*
 * The config file reader (SPEC §2), over libyaml's document API.
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
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "proxyshim/config.h"

/* Never written: config_free() knows not to free it. */
static uint16_t config_default_https_ports[1] = {443};

struct cfg_ctx {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errsz;
	struct ps_config *c;
	size_t exempt_cap;
	size_t rules_cap;
	size_t trusted_cap;
	size_t ports_cap;
	struct ps_rule *krules; /* Kestra services: appended after rules */
	size_t nkrules;
	size_t krules_cap;
	const yaml_node_t *seen_proxy; /* proxy: at top level or coderd: */
	const yaml_node_t *seen_rp;
	/* Where the tls: keys being read go: proxy.tls or one upstream's. */
	char **tls_ca, **tls_name;
	bool *tls_insecure, *tls_insecure_set;
	/* An upstream's url: and tls: values, while its mapping is read. */
	const yaml_node_t *upstream_part[2];
	/* Appended to "unknown key" errors: what the mapping may hold. */
	const char *key_hint;
	/* Units of reading work (struct ps_config's load_work says which). */
	size_t work;
};

/* A growable array of match entries and where its count lives. */
struct cfg_matches {
	struct ps_match **arr;
	size_t *n;
	size_t *cap;
};

struct cfg_enum {
	const char *name;
	int value;
};

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

static void
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

/* ---- errors and node helpers */

static struct ps_pos
cfg_pos(const yaml_node_t *n)
{
	struct ps_pos p = {0, 0};

	if (n != NULL) {
		p.line = (uint32_t)(n->start_mark.line + 1);
		p.col = (uint32_t)(n->start_mark.column + 1);
	}
	return p;
}

static int cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
static int cfg_fail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int cfg_vfail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt,
                        va_list ap) __attribute__((format(printf, 3, 0)));

static int
cfg_vfail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, va_list ap)
{
	int k;

	if (x->err == NULL || x->errsz == 0)
		return -EINVAL;
	k = snprintf(x->err, x->errsz, "%s:%u:%u: ", x->name, p.line, p.col);
	if (k >= 0 && (size_t)k < x->errsz)
		vsnprintf(x->err + k, x->errsz - (size_t)k, fmt, ap);
	return -EINVAL;
}

static int
cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_vfail_at(x, cfg_pos(n), fmt, ap);
	va_end(ap);
	return r;
}

/* The same at a position kept from the parse (checks that need the
 * whole file). */
static int
cfg_fail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_vfail_at(x, p, fmt, ap);
	va_end(ap);
	return r;
}

/* User text in a message: printable ASCII only, and not too much of it
 * (bufsz >= 8). */
static const char *
cfg_quote(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t i;

	for (i = 0; i < len && i + 4 < bufsz; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* Key paths for messages ("proxy.rules[2].via"); truncating one is
 * harmless, so this wrapper keeps -Wformat-truncation quiet. */
static void cfg_subpath(char *buf, size_t bufsz, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
cfg_subpath(char *buf, size_t bufsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, bufsz, fmt, ap);
	va_end(ap);
}

static const char *
cfg_str(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t
cfg_len(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

static int
cfg_is(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && cfg_len(n) == strlen(s) &&
	       memcmp(cfg_str(n), s, cfg_len(n)) == 0;
}

static int
cfg_is_nocase(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && cfg_len(n) == strlen(s) &&
	       strncasecmp(cfg_str(n), s, cfg_len(n)) == 0;
}

/* A YAML null: "key:" with no value, "~", "null", or an explicit !!null. */
static int
cfg_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return 0;
	if (n->tag != NULL && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
		return 1;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return cfg_len(n) == 0 || cfg_is(n, "~") || cfg_is(n, "null") ||
	       cfg_is(n, "Null") || cfg_is(n, "NULL");
}

static const char *
cfg_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a single value";
	}
}

static int
cfg_want(struct cfg_ctx *x, const yaml_node_t *n, yaml_node_type_t type,
         const char *path, const char *what)
{
	if (n->type == type)
		return 0;
	return cfg_fail(x, n, "%s: expected %s, found %s", path, what,
	                cfg_kind(n));
}

static yaml_node_t *
cfg_node(struct cfg_ctx *x, int i)
{
	x->work++;
	return yaml_document_get_node(x->doc, i);
}

/* Room for element n: doubles the array, so the elements a realloc may
 * copy add up to less than twice the final count (counted in x->work). */
static void *
cfg_grow(struct cfg_ctx *x, void *arr, size_t *cap, size_t n, size_t elsz)
{
	size_t ncap;
	void *p;

	if (arr != NULL && n < *cap)
		return arr;
	x->work += n;
	ncap = *cap != 0 ? *cap * 2 : 8;
	if (ncap < n + 1 || ncap > SIZE_MAX / elsz)
		return NULL;
	p = realloc(arr, ncap * elsz);
	if (p != NULL)
		*cap = ncap;
	return p;
}

/* ---- duplicate keys */

struct cfg_key {
	const char *s;
	size_t len;
	size_t order;
	const yaml_node_t *node;
};

static int
cfg_key_cmp(const void *a, const void *b)
{
	const struct cfg_key *p = a, *q = b;
	size_t n = p->len < q->len ? p->len : q->len;
	int r = memcmp(p->s, q->s, n);

	if (r != 0)
		return r;
	if (p->len != q->len)
		return p->len < q->len ? -1 : 1;
	return p->order < q->order ? -1 : p->order > q->order;
}

/* libyaml keeps duplicate keys; YAML forbids them and a silently shadowed
 * proxy setting is exactly what a config check must catch.  Sorting keeps
 * this O(n log n) for large maps; the first duplicate in document order
 * is reported. */
static int
cfg_check_map(struct cfg_ctx *x, const yaml_node_t *map, const char *path)
{
	const yaml_node_pair_t *p = map->data.mapping.pairs.start;
	size_t i, m = 0, n = (size_t)(map->data.mapping.pairs.top - p);
	const struct cfg_key *dup = NULL;
	struct cfg_key *keys;
	char q[64];
	int r = 0;

	if (n < 2)
		return 0;
	keys = calloc(n, sizeof(*keys));
	if (keys == NULL)
		return cfg_fail(x, map, "out of memory");
	for (i = 0; i < n; i++) {
		const yaml_node_t *k = cfg_node(x, p[i].key);

		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		keys[m].s = cfg_str(k);
		keys[m].len = cfg_len(k);
		keys[m].order = i;
		keys[m++].node = k;
	}
	qsort(keys, m, sizeof(*keys), cfg_key_cmp);
	for (i = 1; i < m; i++)
		if (keys[i].len == keys[i - 1].len &&
		    memcmp(keys[i].s, keys[i - 1].s, keys[i].len) == 0 &&
		    (dup == NULL || keys[i].order < dup->order))
			dup = &keys[i];
	if (dup != NULL)
		r = cfg_fail(x, dup->node, "%s: duplicate key '%s'", path,
		             cfg_quote(dup->s, dup->len, q, sizeof(q)));
	free(keys);
	return r;
}

/* Index of a key among names, or an "unknown key" error. */
static int
cfg_key_index(struct cfg_ctx *x, const yaml_node_t *k, const char *path,
              const char *const *names, size_t n)
{
	char q[64];
	size_t i;

	if (k->type != YAML_SCALAR_NODE)
		return cfg_fail(x, k, "%s: expected a key name, found %s", path,
		                cfg_kind(k));
	for (i = 0; i < n; i++)
		if (cfg_is(k, names[i]))
			return (int)i;
	return cfg_fail(x, k, "%s: unknown key '%s'%s", path,
	                cfg_quote(cfg_str(k), cfg_len(k), q, sizeof(q)),
	                x->key_hint);
}

/* ---- list-or-comma-string values */

/* Called for every non-empty, trimmed piece of a comma-separated string or
 * of each string in a list; n is the node to blame. */
typedef int (*cfg_piece_fn)(struct cfg_ctx *x, const yaml_node_t *n,
                            const char *path, const char *s, size_t len,
                            void *arg);

static int
cfg_pieces(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
           cfg_piece_fn fn, void *arg)
{
	const char *s = cfg_str(n), *end = s + cfg_len(n), *comma;
	int r;

	for (; s <= end; s = comma + 1) {
		const char *p = s, *e;

		comma = memchr(s, ',', (size_t)(end - s));
		if (comma == NULL)
			comma = end;
		x->work += (size_t)(comma - s) + 1;
		e = comma;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' ||
		                 e[-1] == '\n' || e[-1] == '\r'))
			e--;
		if (p == e)
			continue;
		r = fn(x, n, path, p, (size_t)(e - p), arg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A string (comma-separated) or a list of strings. */
static int
cfg_each(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
         cfg_piece_fn fn, void *arg)
{
	const yaml_node_item_t *it;
	int r;

	if (cfg_is_null(v))
		return 0;
	if (v->type == YAML_SCALAR_NODE)
		return cfg_pieces(x, v, path, fn, arg);
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(x, v,
		                "%s: expected a string or a list, found "
		                "a mapping",
		                path);
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = cfg_node(x, *it);

		r = cfg_want(x, n, YAML_SCALAR_NODE, path, "a string");
		if (r == 0 && !cfg_is_null(n))
			r = cfg_pieces(x, n, path, fn, arg);
		if (r < 0)
			return r;
	}
	return 0;
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

/* A mapping of known keys: checked as a mapping, each key looked up in keys
 * (unknown ones are errors), "key:" with no value keeps the default, and fn
 * gets the value with its dotted path.  The one walk that proxy:,
 * proxy.timeouts, proxy.tls, reverseProxy: and an upstream's {url:, tls:}
 * share. */
typedef int (*cfg_key_fn)(struct cfg_ctx *x, int key, const yaml_node_t *v,
                          const char *path);

static int
cfg_keyed(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
          const char *const *keys, size_t nkeys, cfg_key_fn fn)
{
	const yaml_node_pair_t *p;
	char sub[128];
	int r, key;

	if (cfg_is_null(v))
		return 0;
	r = cfg_want(x, v, YAML_MAPPING_NODE, path, "a mapping");
	if (r == 0)
		r = cfg_check_map(x, v, path);
	for (p = v->data.mapping.pairs.start;
	     r == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *val = cfg_node(x, p->value);

		key = cfg_key_index(x, cfg_node(x, p->key), path, keys, nkeys);
		if (key < 0)
			return key;
		if (cfg_is_null(val))
			continue;
		cfg_subpath(sub, sizeof(sub), "%s.%s", path, keys[key]);
		r = fn(x, key, val, sub);
	}
	return r;
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

static int
cfg_enum(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
         const struct cfg_enum *tab, size_t n, const char *choices, int *out)
{
	size_t i;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, choices);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (cfg_is_nocase(v, tab[i].name)) {
			*out = tab[i].value;
			return 0;
		}
	}
	return cfg_fail(x, v, "%s: expected %s", path, choices);
}

static int
cfg_bool(struct cfg_ctx *x, const yaml_node_t *v, const char *path, bool *out)
{
	/* YAML 1.2 true/false, plus 1.1's yes/no/on/off that Helm's
	 * go-yaml still reads as booleans. */
	static const struct cfg_enum tab[] = {
	        {"true", 1}, {"false", 0}, {"yes", 1},
	        {"no", 0},   {"on", 1},    {"off", 0},
	};
	int b = 0, r;

	r = cfg_enum(x, v, path, tab, sizeof(tab) / sizeof(tab[0]),
	             "true or false", &b);
	*out = b != 0;
	return r;
}

static int
cfg_duration(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             uint32_t *ms)
{
	const char *e;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, "a duration");
	if (r < 0)
		return r;
	if (duration_parse(cfg_str(v), cfg_len(v), ms, &e) < 0)
		return cfg_fail(x, v, "%s: %s", path, e);
	if (*ms == 0)
		return cfg_fail(x, v, "%s: timeout must be greater than zero",
		                path);
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
	K_NPROXY
};

static const char *const cfg_proxy_keys[K_NPROXY] = {
        "http",       "https", "exempt",         "https_ports", "rules",
        "chain",      "dns",   "fake_ipv4",      "fake_ipv6",   "timeouts",
        "on_failure", "udp",   "proxy_loopback", "tls",
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
#define CFG_N(t) (sizeof(t) / sizeof((t)[0]))

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

/* ---- Kestra: micronaut.http.services.<name> */

enum { S_URL, S_URLS, S_TYPE, S_ADDR, S_USER, S_PASS, S_N };

static const char *const cfg_service_keys[S_N] = {
        "url",           "urls",           "proxy-type",
        "proxy-address", "proxy-username", "proxy-password",
};

enum { KT_DIRECT, KT_HTTP, KT_SOCKS };

static const struct cfg_enum cfg_ktype_tab[] = {
        {"direct", KT_DIRECT},
        {"http", KT_HTTP},
        {"socks", KT_SOCKS},
};

/* A service url (a base URL: its path is the service's business) becomes
 * the match entry "host:port", the port defaulting from the scheme. */
static int
cfg_kestra_url_piece(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
                     const char *s, size_t len, void *arg)
{
	struct cfg_matches *m = arg;
	char buf[PS_MAX_HOST + 16];
	const char *a, *at, *e;
	size_t alen, skip = 8;
	unsigned dport = 443;
	struct ps_match *arr;
	int port;

	if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
		skip = 7;
		dport = 80;
	} else if (len < 8 || strncasecmp(s, "https://", 8) != 0) {
		return cfg_fail(x, n,
		                "%s: url must start with http:// or "
		                "https://",
		                path);
	}
	a = s + skip;
	for (alen = 0; alen < len - skip; alen++)
		if (a[alen] == '/' || a[alen] == '?' || a[alen] == '#')
			break;
	at = memrchr(a, '@', alen);
	if (at != NULL) {
		alen -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	if (alen == 0 || alen > sizeof(buf) - 8)
		return cfg_fail(x, n, "%s: missing or overlong host in url",
		                path);
	if (a[0] == '[')
		port = (at = memchr(a, ']', alen)) != NULL &&
		       at + 1 < a + alen && at[1] == ':';
	else
		port = memchr(a, ':', alen) != NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)alen, a);
	if (!port)
		snprintf(buf + alen, sizeof(buf) - alen, ":%u", dport);
	arr = cfg_grow(x, *m->arr, m->cap, *m->n, sizeof(*arr));
	if (arr == NULL)
		return cfg_fail(x, n, "out of memory");
	*m->arr = arr;
	arr += *m->n;
	if (match_parse(buf, strlen(buf), arr, &e) < 0)
		return cfg_fail(x, n, "%s: %s", path, e);
	if ((arr->kind != PS_MATCH_NAME && arr->kind != PS_MATCH_ADDR) ||
	    arr->port_lo != arr->port_hi) {
		match_free(arr);
		return cfg_fail(x, n, "%s: bad host or port in url", path);
	}
	arr->pos = cfg_pos(n);
	(*m->n)++;
	return 0;
}

static int
cfg_cred(struct cfg_ctx *x, const yaml_node_t *v, const char *path, char **out)
{
	int r = cfg_want(x, v, YAML_SCALAR_NODE, path, "a string");

	if (r < 0)
		return r;
	if (cfg_len(v) > PS_MAX_CRED || cfg_len(v) != strlen(cfg_str(v)))
		return cfg_fail(x, v,
		                "%s: longer than 255 bytes or contains "
		                "a NUL byte",
		                path);
	*out = strndup(cfg_str(v), cfg_len(v));
	if (*out == NULL)
		return cfg_fail(x, v, "out of memory");
	return 0;
}

/* proxy-type http means CONNECT (http://), socks means SOCKS5. */
static int
cfg_kestra_via(struct cfg_ctx *x, const yaml_node_t *const have[S_N],
               const char *path, int type, struct ps_via *via)
{
	const yaml_node_t *a = have[S_ADDR];
	char buf[PS_MAX_HOST + 32], sub[160];
	struct ps_url *u;
	const char *e;
	int r;

	cfg_subpath(sub, sizeof(sub), "%s.proxy-address", path);
	r = cfg_want(x, a, YAML_SCALAR_NODE, sub, "host:port");
	if (r < 0)
		return r;
	/* A URL or user info here would be silently mangled into a
	 * different proxy; strcspn also stops at an embedded NUL. */
	if (cfg_len(a) > PS_MAX_HOST + 8 ||
	    strcspn(cfg_str(a), "@/?#") != cfg_len(a))
		return cfg_fail(x, a, "%s: expected host:port", sub);
	snprintf(buf, sizeof(buf), "%s://%s",
	         type == KT_HTTP ? "http" : "socks5", cfg_str(a));
	via->hops = calloc(1, sizeof(*via->hops));
	if (via->hops == NULL)
		return cfg_fail(x, a, "out of memory");
	via->kind = PS_VIA_PROXY;
	u = via->hops;
	if (url_parse(buf, strlen(buf), u, &e) < 0)
		return cfg_fail(x, a, "%s: %s", sub, e);
	via->nhops = 1;
	u->pos = cfg_pos(a);
	cfg_subpath(sub, sizeof(sub), "%s.proxy-username", path);
	if (have[S_USER] != NULL && !cfg_is_null(have[S_USER]))
		r = cfg_cred(x, have[S_USER], sub, &u->user);
	cfg_subpath(sub, sizeof(sub), "%s.proxy-password", path);
	if (r == 0 && have[S_PASS] != NULL && !cfg_is_null(have[S_PASS])) {
		if (u->user == NULL)
			return cfg_fail(x, have[S_PASS],
			                "%s: given without "
			                "proxy-username",
			                sub);
		r = cfg_cred(x, have[S_PASS], sub, &u->pass);
	}
	return r;
}

/* The keys of one service we care about; an unknown "proxy-*" key is an
 * error (a typo there would silently send traffic direct). */
static int
cfg_service_keys_get(struct cfg_ctx *x, const yaml_node_t *svc,
                     const char *path, const yaml_node_t *have[S_N])
{
	const yaml_node_pair_t *p;
	int r, i;

	r = cfg_check_map(x, svc, path);
	for (p = svc->data.mapping.pairs.start;
	     r == 0 && p < svc->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = cfg_node(x, p->key);

		if (k->type != YAML_SCALAR_NODE)
			continue;
		for (i = 0; i < S_N; i++)
			if (cfg_is(k, cfg_service_keys[i]))
				have[i] = cfg_node(x, p->value);
		if (cfg_len(k) >= 6 && memcmp(cfg_str(k), "proxy-", 6) == 0) {
			i = cfg_key_index(x, k, path, cfg_service_keys + S_TYPE,
			                  S_N - S_TYPE);
			r = i < 0 ? i : 0;
		}
	}
	return r;
}

/* Checks that need no allocation; *type is set on success. */
static int
cfg_service_check(struct cfg_ctx *x, const yaml_node_t *name,
                  const yaml_node_t *const have[S_N], const char *path,
                  int *type)
{
	const yaml_node_t *t = have[S_TYPE];
	char sub[160];
	int i, r;

	if (t == NULL || cfg_is_null(t)) {
		for (i = S_ADDR; i < S_N; i++)
			if (have[i] != NULL && !cfg_is_null(have[i]))
				return cfg_fail(x, have[i],
				                "%s.%s: needs "
				                "proxy-type (http, socks or "
				                "direct)",
				                path, cfg_service_keys[i]);
		return 1; /* no proxy settings: not our business */
	}
	cfg_subpath(sub, sizeof(sub), "%s.proxy-type", path);
	r = cfg_enum(x, t, sub, cfg_ktype_tab, CFG_N(cfg_ktype_tab),
	             "http, socks or direct", type);
	if (r < 0)
		return r;
	if (*type != KT_DIRECT &&
	    (have[S_ADDR] == NULL || cfg_is_null(have[S_ADDR])))
		return cfg_fail(x, t, "%s: needs proxy-address", sub);
	if ((have[S_URL] == NULL || cfg_is_null(have[S_URL])) &&
	    (have[S_URLS] == NULL || cfg_is_null(have[S_URLS])))
		return cfg_fail(x, name, "%s: proxy settings but no url", path);
	return 0;
}

static int
cfg_service(struct cfg_ctx *x, const yaml_node_t *name, const yaml_node_t *svc,
            const char *path)
{
	const yaml_node_t *have[S_N] = {NULL};
	struct ps_rule *rule;
	struct cfg_matches m;
	size_t cap = 0;
	char sub[160];
	int r, type = KT_DIRECT;

	r = cfg_service_keys_get(x, svc, path, have);
	if (r == 0)
		r = cfg_service_check(x, name, have, path, &type);
	if (r != 0)
		return r < 0 ? r : 0;
	rule = cfg_grow(x, x->krules, &x->krules_cap, x->nkrules,
	                sizeof(*rule));
	if (rule == NULL)
		return cfg_fail(x, name, "out of memory");
	x->krules = rule;
	rule += x->nkrules++;
	memset(rule, 0, sizeof(*rule));
	rule->pos = cfg_pos(name);
	rule->label = strdup(path);
	if (rule->label == NULL)
		return cfg_fail(x, name, "out of memory");
	m.arr = &rule->match;
	m.n = &rule->nmatch;
	m.cap = &cap;
	cfg_subpath(sub, sizeof(sub), "%s.url", path);
	if (have[S_URL] != NULL && !cfg_is_null(have[S_URL])) {
		r = cfg_want(x, have[S_URL], YAML_SCALAR_NODE, sub, "a URL");
		if (r == 0)
			r = cfg_each(x, have[S_URL], sub, cfg_kestra_url_piece,
			             &m);
	}
	cfg_subpath(sub, sizeof(sub), "%s.urls", path);
	if (r == 0 && have[S_URLS] != NULL)
		r = cfg_each(x, have[S_URLS], sub, cfg_kestra_url_piece, &m);
	if (r == 0 && type != KT_DIRECT)
		r = cfg_kestra_via(x, have, path, type, &rule->via);
	return r;
}

static const yaml_node_t *
cfg_child(struct cfg_ctx *x, const yaml_node_t *map, const char *key)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++)
		if (cfg_is(cfg_node(x, p->key), key))
			return cfg_node(x, p->value);
	return NULL;
}

static int
cfg_services(struct cfg_ctx *x, const yaml_node_t *v)
{
	static const char *const path = "micronaut.http.services";
	const yaml_node_pair_t *p;
	char sub[128], q[64];
	int r;

	r = cfg_want(x, v, YAML_MAPPING_NODE, path, "a mapping");
	if (r == 0)
		r = cfg_check_map(x, v, path);
	if (r < 0)
		return r;
	for (p = v->data.mapping.pairs.start;
	     r == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = cfg_node(x, p->key);
		const yaml_node_t *svc = cfg_node(x, p->value);

		r = cfg_want(x, k, YAML_SCALAR_NODE, path, "a service name");
		if (r < 0 || cfg_is_null(svc))
			continue;
		cfg_subpath(sub, sizeof(sub), "%s.%s", path,
		            cfg_quote(cfg_str(k), cfg_len(k), q, sizeof(q)));
		r = cfg_want(x, svc, YAML_MAPPING_NODE, sub, "a mapping");
		if (r == 0)
			r = cfg_service(x, k, svc, sub);
	}
	return r;
}

/* Kestra's application.yml: only micronaut.http.services is ours. */
static int
cfg_micronaut(struct cfg_ctx *x, const yaml_node_t *v)
{
	const yaml_node_t *http, *svcs;
	int r;

	if (v->type != YAML_MAPPING_NODE)
		return 0;
	r = cfg_check_map(x, v, "micronaut");
	http = cfg_child(x, v, "http");
	if (r < 0 || http == NULL || http->type != YAML_MAPPING_NODE)
		return r;
	r = cfg_check_map(x, http, "micronaut.http");
	svcs = cfg_child(x, http, "services");
	if (r < 0 || svcs == NULL || cfg_is_null(svcs))
		return r;
	return cfg_services(x, svcs);
}

/* Kestra rules go after proxy.rules whatever the order in the file. */
static int
cfg_append_krules(struct cfg_ctx *x)
{
	struct ps_config *c = x->c;
	struct ps_rule *a;

	if (x->nkrules == 0)
		return 0;
	a = realloc(c->rules, (c->nrules + x->nkrules) * sizeof(*a));
	if (a == NULL)
		return cfg_fail(x, NULL, "out of memory");
	memcpy(a + c->nrules, x->krules, x->nkrules * sizeof(*a));
	c->rules = a;
	c->nrules += x->nkrules;
	free(x->krules);
	x->krules = NULL;
	x->nkrules = 0;
	return 0;
}

/* ---- documents */

static int
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

static int
cfg_yaml_error(struct cfg_ctx *x, const yaml_parser_t *p, const char *buf,
               size_t len)
{
	size_t line = p->problem_mark.line + 1,
	       col = p->problem_mark.column + 1;
	size_t i;

	/* Reader errors (bad UTF-8, control characters) carry only an
	 * offset. */
	if (p->error == YAML_READER_ERROR) {
		line = 1;
		col = 1;
		for (i = 0; i < p->problem_offset && i < len; i++) {
			col++;
			if (buf[i] == '\n') {
				line++;
				col = 1;
			}
		}
	}
	if (x->err != NULL && x->errsz > 0)
		snprintf(x->err, x->errsz,
		         "%s:%zu:%zu: YAML syntax error: %s%s%s%s", x->name,
		         line, col,
		         p->error == YAML_MEMORY_ERROR ? "out of memory"
		         : p->problem != NULL          ? p->problem
		                                       : "unknown error",
		         p->context != NULL ? " (" : "",
		         p->context != NULL ? p->context : "",
		         p->context != NULL ? ")" : "");
	return -EINVAL;
}

/* A strict chain holds one TLS layer: an https:// hop after another one
 * would need TLS inside TLS
 * (docs/behaviour.md#chains-through-an-https-upstream). Failover and round
 * robin use one upstream of a list at a time. */
static int
cfg_check_tls_chains(struct cfg_ctx *x)
{
	const struct ps_config *c = x->c;
	const struct ps_via *via;
	size_t i, j;
	bool tls;

	if (c->chain != PS_CHAIN_STRICT)
		return 0;
	for (i = 0; i < c->nrules; i++) {
		via = &c->rules[i].via;
		if (via->kind != PS_VIA_PROXY)
			continue;
		for (j = 0, tls = false; j < via->nhops; j++) {
			if (via->hops[j].scheme != PS_SCHEME_HTTPS)
				continue;
			if (tls)
				return cfg_fail_at(
				        x, via->hops[j].pos,
				        "proxy.%s.via[%zu]: an https:// proxy "
				        "cannot "
				        "follow another https:// proxy in a "
				        "chain "
				        "(TLS inside TLS is not supported)",
				        c->rules[i].label, j);
			tls = true;
		}
	}
	return 0;
}

/* Parse the first document, and refuse a second one: a values file split
 * in two would otherwise lose half its settings without a word. */
static int
cfg_parse(struct cfg_ctx *x, yaml_parser_t *parser, const char *buf, size_t len)
{
	yaml_document_t doc;
	const yaml_node_t *root;
	int r;

	if (!yaml_parser_load(parser, &doc))
		return cfg_yaml_error(x, parser, buf, len);
	x->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	r = root != NULL ? cfg_root(x, root) : 0;
	yaml_document_delete(&doc);
	x->doc = NULL;
	if (r == 0)
		r = cfg_check_tls_chains(x);
	if (r < 0)
		return r;
	if (!yaml_parser_load(parser, &doc))
		return cfg_yaml_error(x, parser, buf, len);
	root = yaml_document_get_root_node(&doc);
	if (root != NULL)
		r = cfg_fail(x, root, "only one YAML document is allowed");
	yaml_document_delete(&doc);
	return r;
}

int
config_load_buffer(const char *name, const char *buf, size_t len,
                   struct ps_config *out, char *err, size_t errsz)
{
	struct cfg_ctx x;
	yaml_parser_t parser;
	int r = -ENOMEM;

	config_init(out);
	memset(&x, 0, sizeof(x));
	x.key_hint = "";
	x.name = name;
	x.err = err;
	x.errsz = errsz;
	x.c = out;
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	out->source = strdup(name);
	if (out->source == NULL || !yaml_parser_initialize(&parser)) {
		cfg_fail(&x, NULL, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	r = cfg_parse(&x, &parser, buf, len);
	yaml_parser_delete(&parser);
out:
	config_rules_free(x.krules, x.nkrules);
	if (r < 0) {
		config_free(out);
		return -1;
	}
	out->load_work = x.work;
	return 0;
}

static int
cfg_read_file(int fd, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = NULL, *nb;
	ssize_t k;

	for (;;) {
		if (b == NULL || n == cap) {
			cap = b == NULL ? cap : cap * 2;
			nb = realloc(b, cap);
			if (nb == NULL) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		k = read(fd, b + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			k = -errno;
			free(b);
			return (int)k;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* A relative ca_file (proxy.tls's or an upstream's) is relative to the
 * config file's directory: the relay runs in whatever directory the
 * wrapped program happened to be in. */
static int
cfg_abs_path(const char *path, char **file)
{
	char dir[PATH_MAX], *slash, *abs;
	size_t n;

	if (*file == NULL || (*file)[0] == '/')
		return 0;
	slash = strrchr(path, '/');
	n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -1;
	memcpy(dir, slash == NULL ? "." : path, n);
	dir[n] = '\0';
	abs = realpath(dir, NULL);
	if (abs == NULL)
		return -1;
	n = strlen(abs) + 1 + strlen(*file) + 1;
	slash = malloc(n);
	if (slash != NULL)
		snprintf(slash, n, "%s/%s", strcmp(abs, "/") == 0 ? "" : abs,
		         *file);
	free(abs);
	if (slash == NULL)
		return -1;
	free(*file);
	*file = slash;
	return 0;
}

/* Every ca_file of the config made absolute; on failure *at is where the
 * offending one was written. */
static int
cfg_abs_ca_files(const char *path, struct ps_config *c, struct ps_pos *at)
{
	struct ps_url *one[2] = {c->http, c->https};
	size_t i, k;

	*at = c->tls_pos;
	if (cfg_abs_path(path, &c->tls_ca_file) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if (one[i] == NULL)
			continue;
		*at = one[i]->tls_pos;
		if (cfg_abs_path(path, &one[i]->tls_ca_file) < 0)
			return -1;
	}
	for (i = 0; i < c->nrules; i++) {
		const struct ps_via *via = &c->rules[i].via;

		if (via->kind != PS_VIA_PROXY)
			continue;
		for (k = 0; k < via->nhops; k++) {
			*at = via->hops[k].tls_pos;
			if (cfg_abs_path(path, &via->hops[k].tls_ca_file) < 0)
				return -1;
		}
	}
	return 0;
}

int
config_load_file(const char *path, struct ps_config *out, char *err,
                 size_t errsz)
{
	struct ps_pos at;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	config_init(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = cfg_read_file(fd, &buf, &len);
	close(fd);
	if (r < 0)
		goto out;
	r = config_load_buffer(path, buf, len, out, err, errsz);
	free(buf);
	if (r == 0 && cfg_abs_ca_files(path, out, &at) < 0) {
		config_free(out);
		if (err != NULL && errsz > 0)
			snprintf(err, errsz,
			         "%s:%u:%u: tls.ca_file: cannot make the path "
			         "absolute",
			         path, at.line, at.col);
		return -1;
	}
	return r;
out:
	/* The read failed: buf was never handed over. */
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s:0:0: cannot read: %s", path,
		         strerror(-r));
	return -1;
}
