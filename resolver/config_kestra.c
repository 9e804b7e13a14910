/*
 * The Kestra (Micronaut) dialect of the config reader: every
 * micronaut.http.services.<name> with proxy keys becomes a rule for the
 * service's url host and port, appended after proxy.rules
 * (docs/behaviour.md#kestra-services).  The service's other keys are
 * ignored; its proxy keys are checked like the native schema's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "proxyshim/config.h"
#include "config_yaml.h"

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
int
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
int
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
