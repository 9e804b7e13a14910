/*
 * compile_table(): struct ps_config → the table of include/proxyshim/table.h.
 *
 * Built for a million entries: every entry goes into flat arrays sized by a
 * first counting pass (no per-entry malloc), names and port-carrying
 * addresses are grouped with an open-addressing hash that becomes the
 * table's slot array, and CIDRs are flattened into disjoint ranges by one
 * sort and a stack sweep (they nest or are disjoint, never overlap
 * partially), so the whole compile is O(n log n).
 *
 * Priorities follow table.h: the upstreams' own addresses 0, rule i i + 1,
 * exempt nrules + 1.  Sources are numbered in that order too (upstream
 * entries, then each rule's entries, then exempt), so the pair
 * (prio, src) orders entries exactly as an in-order evaluator would meet
 * them, and every structure keeps the smallest pair.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/table.h"

typedef unsigned __int128 u128; /* one sweep for v4 and v6 */

#define VAL_NONE UINT64_MAX /* (PS_PRIO_NONE, PS_PRIO_NONE) */
#define SWEEP_DEPTH 130     /* strictly nested CIDRs: at most 129 */

/* A name or port-carrying address entry before grouping: one future
 * entry of the name or address hash table. */
struct hash_entry {
	uint64_t mix;     /* table_hash_mix64() of the key */
	uint32_t key_off; /* strings */
	uint32_t key_len;
	uint32_t prio_flags;
	uint32_t src;
	uint16_t port_lo;
	uint16_t port_hi;
};

struct cidr {
	u128 lo;
	u128 hi;
	uint64_t val; /* prio << 32 | src: the smaller wins */
};

struct cspan {
	u128 start;
	uint64_t val;
};

struct ranges {
	struct cidr *c;
	size_t n;
	struct cspan *span;
	size_t nspan;
	uint32_t *index; /* PS_T_INDEX_COUNT entries or NULL */
	struct ps_t_rindex rindex;
};

struct hashout {
	uint32_t *slots;
	size_t nslots;
	struct ps_t_ent *ents;
	size_t nents;
	uint64_t *filter; /* names only, big hashes only */
	size_t nfilter;
};

struct strbuf {
	char *p;
	size_t len;
	size_t cap;
};

/* Everything the compiler builds from one config before it lays the
 * table out: strings, upstreams, rules, hash entries and ranges. */
struct table_build {
	const struct ps_config *cfg;
	char *err;
	size_t errsz;
	int fail; /* first -errno */

	struct strbuf str;
	struct ps_t_source *src;
	size_t nsrc;
	struct ps_t_upstream *up;
	const struct ps_url **upurl;
	size_t nup;
	uint32_t *upslot; /* dedupe hash over upurl */
	size_t nupslot;
	uint32_t *hopidx; /* upstream index of every hop, config order */
	size_t nhop;
	uint32_t *chains;
	size_t nchains;
	struct ps_t_rule *rules;
	size_t nrules_total;
	uint32_t http_rule;
	uint32_t https_rule;

	struct hash_entry *names;
	size_t nnames;
	struct hash_entry *addrs;
	size_t naddrs;
	struct ranges r4, r6, t4, t6;
	uint64_t star;
	struct ps_t_portrange *ports; /* https_ports, merged */
	size_t nports;
	uint32_t tls_ca_off, tls_name_off; /* 0 = unset ("") */

	struct hashout hname, haddr;
};

static void build_error(struct table_build *tb, int e, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
build_error(struct table_build *tb, int e, const char *fmt, ...)
{
	va_list ap;

	if (tb->fail != 0)
		return;
	tb->fail = e;
	if (tb->err == NULL || tb->errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(tb->err, tb->errsz, fmt, ap);
	va_end(ap);
}

static void *
build_calloc(struct table_build *tb, size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size);

	if (p == NULL)
		build_error(tb, -ENOMEM, "out of memory compiling the table");
	return p;
}

/* --- strings ---------------------------------------------------------- */

/* Append n bytes (plus a NUL when nul) and return their offset. */
static uint32_t
str_add(struct table_build *tb, const void *s, size_t n, bool nul)
{
	struct strbuf *b = &tb->str;
	size_t need = b->len + n + (nul ? 1 : 0), off = b->len;

	if (tb->fail != 0)
		return 0;
	if (need >= PS_TABLE_MAX_SIZE) {
		build_error(tb, -E2BIG,
		            "table too large: strings exceed %u bytes",
		            PS_TABLE_MAX_SIZE);
		return 0;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			build_error(tb, -ENOMEM,
			            "out of memory compiling the table");
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	if (nul)
		b->p[b->len++] = '\0';
	return (uint32_t)off;
}

static uint32_t
str_cstr(struct table_build *tb, const char *s)
{
	return str_add(tb, s ? s : "", s ? strlen(s) : 0, true);
}

/* --- counting and allocation ------------------------------------------- */

static uint64_t
val_pack(uint32_t prio, uint32_t src)
{
	return (uint64_t)prio << 32 | src;
}

static void
count_matches(const struct ps_match *m, size_t n, size_t *nname, size_t *naddr,
              size_t *n4, size_t *n6)
{
	size_t i;

	for (i = 0; i < n; i++) {
		bool anyport = m[i].port_lo == 0 && m[i].port_hi == 65535;

		if (m[i].kind == PS_MATCH_NAME || m[i].kind == PS_MATCH_SUFFIX)
			(*nname)++;
		else if (m[i].kind == PS_MATCH_ADDR && !anyport)
			(*naddr)++;
		else if (m[i].family == AF_INET6)
			(*n6)++;
		else
			(*n4)++;
	}
}

static int
build_alloc(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t nname = 0, naddr = 0, n4 = 0, n6 = 0, nsrc = 0, nhop = 0, i;

	nhop = (c->http ? 1u : 0u) + (c->https ? 1u : 0u);
	for (i = 0; i < c->nrules; i++) {
		count_matches(c->rules[i].match, c->rules[i].nmatch, &nname,
		              &naddr, &n4, &n6);
		nsrc += c->rules[i].nmatch;
		if (c->rules[i].via.kind == PS_VIA_PROXY)
			nhop += c->rules[i].via.nhops;
	}
	count_matches(c->exempt, c->nexempt, &nname, &naddr, &n4, &n6);
	nsrc += c->nexempt + nhop; /* + one upstream-self entry each */
	/* Upstream-self entries are names or port-carrying addresses. */
	nname += nhop;
	naddr += nhop;
	/* Mapped v6 entries turn into v4 ones: let either list take all. */
	n4 += n6;
	tb->src = build_calloc(tb, nsrc, sizeof(*tb->src));
	tb->up = build_calloc(tb, nhop, sizeof(*tb->up));
	tb->upurl = build_calloc(tb, nhop, sizeof(*tb->upurl));
	for (tb->nupslot = 2; tb->nupslot < 2 * nhop; tb->nupslot *= 2)
		;
	tb->upslot = build_calloc(tb, tb->nupslot, sizeof(*tb->upslot));
	tb->hopidx = build_calloc(tb, nhop, sizeof(*tb->hopidx));
	tb->chains = build_calloc(tb, nhop, sizeof(*tb->chains));
	tb->rules = build_calloc(tb, c->nrules + 2, sizeof(*tb->rules));
	tb->names = build_calloc(tb, nname, sizeof(*tb->names));
	tb->addrs = build_calloc(tb, naddr, sizeof(*tb->addrs));
	tb->r4.c = build_calloc(tb, n4, sizeof(struct cidr));
	tb->r6.c = build_calloc(tb, n6, sizeof(struct cidr));
	tb->t4.c = build_calloc(tb, c->ntrusted, sizeof(struct cidr));
	tb->t6.c = build_calloc(tb, c->ntrusted, sizeof(struct cidr));
	return tb->fail;
}

/* --- entries ------------------------------------------------------------ */

/*
 * Add addr/prefix as a CIDR.  IPv4-mapped IPv6 entries (::ffff:0:0/96 and
 * longer) become IPv4 ones, since destinations of that form are looked up
 * as IPv4.
 */
static void
cidr_add(struct table_build *tb, struct ranges *r4, struct ranges *r6,
         int family, const uint8_t addr[16], unsigned prefix, uint64_t val)
{
	struct ranges *r = r6;
	unsigned bits = 128;
	const uint8_t *a = addr;
	u128 lo, span;

	if (family == AF_INET6 && prefix >= 96 && ps_addr_is_v4mapped(addr)) {
		family = AF_INET;
		a = addr + 12;
		prefix -= 96;
	}
	if (family == AF_INET) {
		r = r4;
		bits = 32;
	}
	if (prefix > bits) {
		build_error(tb, -EINVAL, "bad prefix length /%u", prefix);
		return;
	}
	lo = table_u128_load(a, bits / 8);
	span = prefix == 0 ? ~(u128)0 >> (128 - bits)
	                   : ((u128)1 << (bits - prefix)) - 1;
	r->c[r->n].lo = lo & ~span;
	r->c[r->n].hi = (lo & ~span) | span;
	r->c[r->n].val = val;
	r->n++;
}

/* Lower-case, drop one trailing dot; 0 or -EINVAL when empty / too long. */
static int
name_norm(const char *s, char *buf, size_t *len)
{
	size_t n = strlen(s), i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > PS_MAX_HOST)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* The rest of an entry whose key_off is set: key length and hash. */
static void
hash_entry_fill(struct hash_entry *e, const void *key, size_t len,
                uint32_t prio_flags, uint32_t src, uint16_t lo, uint16_t hi)
{
	e->key_len = (uint32_t)len;
	e->mix = table_hash_key64(key, len);
	e->prio_flags = prio_flags;
	e->src = src;
	e->port_lo = lo;
	e->port_hi = hi;
}

static void
name_add(struct table_build *tb, const char *name, uint32_t text_off,
         uint32_t flags, uint32_t prio, uint32_t src, uint16_t lo, uint16_t hi)
{
	struct hash_entry *e = &tb->names[tb->nnames];
	char buf[PS_MAX_HOST + 1];
	size_t len, k;

	if (name == NULL || name_norm(name, buf, &len) < 0) {
		build_error(tb, -EINVAL,
		            "bad name \"%s\" (empty or longer than "
		            "253 bytes)",
		            name ? name : "");
		return;
	}
	/* The text as written usually holds the key ("x.com", ".x.com",
	 * "*.x.com"): point into it instead of storing the name twice. */
	e->key_off = 0;
	for (k = 0; k <= 2 && text_off != 0; k++) {
		const char *t = tb->str.p + text_off;

		if (strlen(t) < k)
			break;
		if (strcmp(t + k, buf) == 0) {
			e->key_off = text_off + (uint32_t)k;
			break;
		}
	}
	if (e->key_off == 0)
		e->key_off = str_add(tb, buf, len, true);
	hash_entry_fill(e, buf, len, prio | flags << 24, src, lo, hi);
	tb->nnames++;
}

static void
addr_add(struct table_build *tb, int family, const uint8_t addr[16],
         uint32_t prio, uint32_t src, uint16_t lo, uint16_t hi)
{
	struct hash_entry *e = &tb->addrs[tb->naddrs];
	const uint8_t *a = addr;
	size_t len = 16;
	uint32_t flags = PS_T_ENT_SELF | PS_T_ENT_V6;

	a = ps_addr_unmap(&family, addr);
	if (family == AF_INET) {
		len = 4;
		flags = PS_T_ENT_SELF;
	}
	e->key_off = str_add(tb, a, len, false);
	hash_entry_fill(e, a, len, prio | flags << 24, src, lo, hi);
	tb->naddrs++;
}

static uint32_t
src_add(struct table_build *tb, uint32_t text_off, uint32_t prio,
        const struct ps_pos *pos)
{
	struct ps_t_source *s = &tb->src[tb->nsrc];

	s->text_off = text_off;
	s->prio = (uint16_t)prio; /* <= PS_PRIO_MAX, checked up front */
	s->line = pos->line;
	s->col = (uint16_t)(pos->col > UINT16_MAX ? UINT16_MAX : pos->col);
	return (uint32_t)tb->nsrc++;
}

static void
match_add(struct table_build *tb, const struct ps_match *m, uint32_t prio)
{
	uint32_t text = str_cstr(tb, m->text);
	uint32_t src = src_add(tb, text, prio, &m->pos);
	bool anyport = m->port_lo == 0 && m->port_hi == 65535;

	if (m->port_lo > m->port_hi) {
		build_error(tb, -EINVAL, "%u:%u: bad port range", m->pos.line,
		            m->pos.col);
		return;
	}
	if (m->kind != PS_MATCH_NAME && m->kind != PS_MATCH_SUFFIX &&
	    m->kind != PS_MATCH_ADDR && !anyport) {
		build_error(tb, -EINVAL,
		            "%u:%u: a port is not allowed on \"%s\"",
		            m->pos.line, m->pos.col, m->text ? m->text : "");
		return;
	}
	switch (m->kind) {
	case PS_MATCH_ANY:
		if (tb->star == VAL_NONE)
			tb->star = val_pack(prio, src);
		break;
	case PS_MATCH_NAME:
	case PS_MATCH_SUFFIX:
		name_add(tb, m->name, text,
		         m->kind == PS_MATCH_NAME ? PS_T_ENT_SELF | PS_T_ENT_SUB
		                                  : PS_T_ENT_SUB,
		         prio, src, m->port_lo, m->port_hi);
		break;
	case PS_MATCH_ADDR:
	case PS_MATCH_CIDR:
		if (m->family != AF_INET && m->family != AF_INET6) {
			build_error(tb, -EINVAL, "%u:%u: bad address family",
			            m->pos.line, m->pos.col);
			break;
		}
		if (m->kind == PS_MATCH_ADDR && !anyport)
			addr_add(tb, m->family, m->addr, prio, src, m->port_lo,
			         m->port_hi);
		else
			cidr_add(tb, &tb->r4, &tb->r6, m->family, m->addr,
			         m->kind == PS_MATCH_ADDR
			                 ? (m->family == AF_INET ? 32u : 128u)
			                 : m->prefix,
			         val_pack(prio, src));
		break;
	default:
		build_error(tb, -EINVAL, "%u:%u: bad match kind", m->pos.line,
		            m->pos.col);
	}
}

/* --- upstreams -------------------------------------------------------- */

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
url_same(const struct ps_url *a, const struct ps_url *b)
{
	return a->scheme == b->scheme && a->port == b->port &&
	       str_eq(a->host, b->host) && str_eq(a->user, b->user) &&
	       str_eq(a->pass, b->pass) &&
	       str_eq(a->tls_ca_file, b->tls_ca_file) &&
	       str_eq(a->tls_server_name, b->tls_server_name) &&
	       a->tls_insecure_set == b->tls_insecure_set &&
	       a->tls_insecure == b->tls_insecure;
}

static uint32_t
url_hash(const struct ps_url *u)
{
	const char *f[3] = {u->host, u->user, u->pass};
	uint64_t h = PS_T_HASH_INIT;
	size_t i;

	h = table_hash_step(h, (uint8_t)u->scheme);
	h = table_hash_step(h, (uint8_t)u->port);
	h = table_hash_step(h, (uint8_t)(u->port >> 8));
	for (i = 0; i < 3; i++) {
		const char *p = f[i] ? f[i] : "";

		while (*p != '\0')
			h = table_hash_step(h, (uint8_t)*p++);
		h = table_hash_step(h, f[i] ? 0 : 1);
	}
	return table_hash_final(h);
}

/* The upstream's own host:port, matched at prio 0 (direct). */
static void
upstream_self(struct table_build *tb, const struct ps_url *u)
{
	char text[PS_MAX_HOST + 16];
	uint32_t off, src;

	snprintf(text, sizeof(text),
	         u->family == AF_INET6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
	off = str_cstr(tb, text);
	src = src_add(tb, off, PS_PRIO_UPSTREAM, &u->pos);
	if (u->family == AF_INET || u->family == AF_INET6)
		addr_add(tb, u->family, u->addr, PS_PRIO_UPSTREAM, src, u->port,
		         u->port);
	else
		name_add(tb, u->host, 0, PS_T_ENT_SELF, PS_PRIO_UPSTREAM, src,
		         u->port, u->port);
}

/* An https:// upstream's TLS: its own tls: keys, else proxy.tls's. */
static void
upstream_tls(struct table_build *tb, const struct ps_url *u,
             struct ps_t_upstream *t)
{
	const struct ps_config *c = tb->cfg;
	const char *ca = u->tls_ca_file ? u->tls_ca_file : c->tls_ca_file;
	const char *name =
	        u->tls_server_name ? u->tls_server_name : c->tls_server_name;
	bool insecure = u->tls_insecure_set ? u->tls_insecure : c->tls_insecure;

	t->tls_ca_off = ca != NULL && ca[0] != '\0' ? str_cstr(tb, ca) : 0;
	t->tls_name_off =
	        name != NULL && name[0] != '\0' ? str_cstr(tb, name) : 0;
	t->tls_flags = insecure ? PS_T_TLS_INSECURE : 0;
}

static uint32_t
upstream_add(struct table_build *tb, const struct ps_url *u)
{
	size_t mask = tb->nupslot - 1, i;
	struct ps_t_upstream *t;
	char disp[1024];

	if (u == NULL || u->host == NULL || u->port == 0 ||
	    u->scheme < PS_SCHEME_HTTP || u->scheme > PS_SCHEME_SOCKS5H) {
		build_error(tb, -EINVAL, "bad upstream proxy URL");
		return 0;
	}
	for (i = url_hash(u) & mask; tb->upslot[i] != 0; i = (i + 1) & mask)
		if (url_same(tb->upurl[tb->upslot[i] - 1], u))
			return tb->upslot[i] - 1;
	t = &tb->up[tb->nup];
	tb->upurl[tb->nup] = u;
	tb->upslot[i] = (uint32_t)++tb->nup;
	t->scheme = (uint8_t)u->scheme;
	t->family = (uint8_t)(u->family == AF_INET || u->family == AF_INET6
	                              ? u->family
	                              : 0);
	t->port = u->port;
	memcpy(t->addr, u->addr, sizeof(t->addr));
	t->host_off = str_cstr(tb, u->host);
	t->user_off = u->user ? str_cstr(tb, u->user) : PS_PRIO_NONE;
	t->pass_off = u->pass ? str_cstr(tb, u->pass) : PS_PRIO_NONE;
	disp[0] = '\0';
	url_format_masked(u, disp, sizeof(disp));
	t->display_off = str_cstr(tb, disp);
	if (u->scheme == PS_SCHEME_HTTPS)
		upstream_tls(tb, u, t);
	upstream_self(tb, u);
	return (uint32_t)(tb->nup - 1);
}

/* Every upstream first, so their self entries get the first sources. */
static void
upstreams_collect(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t i, k;

	if (c->http)
		tb->hopidx[tb->nhop++] = upstream_add(tb, c->http);
	if (c->https)
		tb->hopidx[tb->nhop++] = upstream_add(tb, c->https);
	for (i = 0; i < c->nrules && tb->fail == 0; i++) {
		const struct ps_via *via = &c->rules[i].via;

		if (via->kind != PS_VIA_PROXY)
			continue;
		if (via->nhops == 0 || via->nhops > PS_MAX_HOPS ||
		    via->hops == NULL) {
			build_error(tb, -EINVAL,
			            "%s: a chain has 1 to %d upstreams",
			            c->rules[i].label ? c->rules[i].label
			                              : "rule",
			            PS_MAX_HOPS);
			return;
		}
		for (k = 0; k < via->nhops; k++)
			tb->hopidx[tb->nhop++] =
			        upstream_add(tb, &via->hops[k]);
	}
}

/* --- rules ---------------------------------------------------------------- */

static void
rule_emit(struct table_build *tb, const char *label, const struct ps_pos *pos,
          enum ps_t_action action, const uint32_t *hops, size_t nhops)
{
	struct ps_t_rule *r = &tb->rules[tb->nrules_total++];
	size_t k;

	r->action = (uint8_t)action;
	r->label_off = str_cstr(tb, label);
	r->line = pos->line;
	r->col = pos->col;
	if (action != PS_T_VIA)
		return;
	r->chain_first = (uint32_t)tb->nchains;
	r->chain_len = (uint32_t)nhops;
	for (k = 0; k < nhops; k++)
		tb->chains[tb->nchains++] = hops[k];
}

static void
rules_build(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t i, k, hop = (c->http ? 1u : 0u) + (c->https ? 1u : 0u);
	uint32_t exempt = (uint32_t)c->nrules + 1;

	for (i = 0; i < c->nrules && tb->fail == 0; i++) {
		const struct ps_rule *r = &c->rules[i];
		char label[32];

		for (k = 0; k < r->nmatch; k++)
			match_add(tb, &r->match[k], (uint32_t)i + 1);
		snprintf(label, sizeof(label), "rules[%zu]", i);
		switch (r->via.kind) {
		case PS_VIA_DIRECT:
			rule_emit(tb, r->label ? r->label : label, &r->pos,
			          PS_T_DIRECT, NULL, 0);
			break;
		case PS_VIA_BLOCK:
			rule_emit(tb, r->label ? r->label : label, &r->pos,
			          PS_T_BLOCK, NULL, 0);
			break;
		case PS_VIA_PROXY:
			rule_emit(tb, r->label ? r->label : label, &r->pos,
			          PS_T_VIA, tb->hopidx + hop, r->via.nhops);
			hop += r->via.nhops;
			break;
		default:
			build_error(tb, -EINVAL, "%s: bad via", label);
		}
	}
	for (k = 0; k < c->nexempt && tb->fail == 0; k++)
		match_add(tb, &c->exempt[k], exempt);
	/* The default routes, after the user's rules. */
	tb->http_rule = tb->https_rule = PS_PRIO_NONE;
	if (c->http) {
		tb->http_rule = (uint32_t)tb->nrules_total;
		rule_emit(tb, "proxy.http", &c->http->pos, PS_T_VIA,
		          &tb->hopidx[0], 1);
	}
	if (c->https) {
		tb->https_rule = (uint32_t)tb->nrules_total;
		rule_emit(tb, "proxy.https", &c->https->pos, PS_T_VIA,
		          &tb->hopidx[c->http ? 1 : 0], 1);
	} else if (!c->https_direct) {
		/* Coder's rule: the http upstream serves https too.  Not for
		 * the environment default, where curl and Go agree that an
		 * unset https_proxy means https goes direct
		 * (docs/behaviour.md#environment-default). */
		tb->https_rule = tb->http_rule;
	}
}

static void
trust_build(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t i;

	for (i = 0; i < c->ntrusted && tb->fail == 0; i++) {
		const struct ps_match *m = &c->trusted[i];

		if ((m->kind != PS_MATCH_ADDR && m->kind != PS_MATCH_CIDR) ||
		    (m->family != AF_INET && m->family != AF_INET6)) {
			build_error(tb, -EINVAL,
			            "%u:%u: trusted origins are "
			            "addresses or CIDRs",
			            m->pos.line, m->pos.col);
			return;
		}
		cidr_add(tb, &tb->t4, &tb->t6, m->family, m->addr,
		         m->kind == PS_MATCH_ADDR
		                 ? (m->family == AF_INET ? 32u : 128u)
		                 : m->prefix,
		         val_pack(0, PS_PRIO_NONE));
	}
}

/* --- hashes ----------------------------------------------------------- */

static bool
hash_entry_same_key(const struct table_build *tb, const struct hash_entry *a,
                    const struct hash_entry *b)
{
	return a->mix == b->mix && a->key_len == b->key_len &&
	       memcmp(tb->str.p + a->key_off, tb->str.p + b->key_off,
	              a->key_len) == 0;
}

/*
 * The slot array proper: every key once, load <= 0.5 over the keys.  Not
 * rounded to a power of two (the home slot is a multiply-shift): at a
 * million keys that rounding alone could cost 4 MiB of table.
 */
static void
hash_slots(struct table_build *tb, const struct hash_entry *in,
           const uint32_t *kfirst, const uint32_t *kstart, size_t nkeys,
           struct hashout *h)
{
	size_t nslots = (2 * nkeys + 15) & ~(size_t)15, k, s;

	h->slots = build_calloc(tb, nslots, sizeof(uint32_t));
	if (h->slots == NULL)
		return;
	h->nslots = nslots;
	for (k = 0; k < nkeys; k++) {
		uint64_t mix = in[kfirst[k]].mix;

		for (s = table_slot_home(mix, nslots); h->slots[s] != 0;)
			s = s + 1 == nslots ? 0 : s + 1;
		h->slots[s] = table_slot_tag(mix) << 24 | (kstart[k] + 1);
	}
}

static void
hash_filter(struct table_build *tb, const struct hash_entry *in,
            const uint32_t *kfirst, size_t nkeys, struct hashout *h)
{
	size_t n, k;

	if (nkeys < PS_T_FILTER_MIN_KEYS)
		return;
	for (n = 1; n * 64 < nkeys * PS_T_FILTER_BITS_PER_KEY; n *= 2)
		;
	h->filter = build_calloc(tb, n, sizeof(uint64_t));
	if (h->filter == NULL)
		return;
	h->nfilter = n;
	for (k = 0; k < nkeys; k++) {
		uint64_t mix = in[kfirst[k]].mix;

		h->filter[table_filter_word(mix, n)] |= table_filter_bits(mix);
	}
}

/*
 * Group entries by key: a scratch open-addressing table (sized for every
 * entry being its own key) assigns key ids, a counting sort lays each
 * key's entries out together, and the table's own slot array is then
 * sized for the keys actually found.  Entries arrive in (prio, src) order
 * and the placement is stable, so each key's entries stay sorted.
 */
static void
hash_build(struct table_build *tb, const struct hash_entry *in, size_t n,
           bool names, struct hashout *h)
{
	uint32_t *tmp = NULL, *keyof = NULL, *kfirst = NULL, *kpos = NULL;
	size_t ntmp, mask, i, nkeys = 0;

	if (n == 0 || tb->fail != 0)
		return;
	if (n > PS_T_SLOT_MAX_ENTS) {
		build_error(tb, -E2BIG, "too many entries in one hash (%zu)",
		            n);
		return;
	}
	for (ntmp = 2; ntmp < 2 * n; ntmp *= 2)
		;
	mask = ntmp - 1;
	tmp = build_calloc(tb, ntmp, sizeof(uint32_t));
	keyof = build_calloc(tb, n, sizeof(uint32_t));
	kfirst = build_calloc(tb, n, sizeof(uint32_t));
	kpos = build_calloc(tb, n + 1, sizeof(uint32_t));
	h->ents = build_calloc(tb, n, sizeof(struct ps_t_ent));
	if (tb->fail != 0)
		goto out;
	h->nents = n;
	for (i = 0; i < n; i++) {
		size_t s = (uint32_t)in[i].mix & mask;

		while (tmp[s] != 0 &&
		       !hash_entry_same_key(tb, &in[kfirst[tmp[s] - 1]],
		                            &in[i]))
			s = (s + 1) & mask;
		if (tmp[s] == 0) {
			kfirst[nkeys] = (uint32_t)i;
			tmp[s] = (uint32_t)++nkeys;
		}
		keyof[i] = tmp[s] - 1;
		kpos[keyof[i] + 1]++;
	}
	for (i = 1; i <= nkeys; i++)
		kpos[i] += kpos[i - 1];
	hash_slots(tb, in, kfirst, kpos, nkeys, h);
	if (names)
		hash_filter(tb, in, kfirst, nkeys, h);
	for (i = 0; i < n; i++) {
		struct ps_t_ent *e = &h->ents[kpos[keyof[i]]++];

		/* One key string per key: the first entry's. */
		e->key_off = in[kfirst[keyof[i]]].key_off;
		e->prio_flags = in[i].prio_flags;
		e->src = in[i].src;
		e->port_lo = in[i].port_lo;
		e->port_hi = in[i].port_hi;
	}
out:
	free(tmp);
	free(keyof);
	free(kfirst);
	free(kpos);
}

/* --- ranges ----------------------------------------------------------- */

static int
cidr_cmp(const void *pa, const void *pb)
{
	const struct cidr *a = pa, *b = pb;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1; /* the larger block first */
	if (a->val != b->val)
		return a->val < b->val ? -1 : 1;
	return 0;
}

static void
span_emit(struct ranges *r, u128 start, uint64_t val)
{
	/* A later value for the same start replaces a zero-length span. */
	if (r->nspan > 0 && r->span[r->nspan - 1].start == start)
		r->nspan--;
	if (r->nspan > 0 && r->span[r->nspan - 1].val == val)
		return;
	r->span[r->nspan].start = start;
	r->span[r->nspan].val = val;
	r->nspan++;
}

/*
 * CIDR blocks are nested or disjoint.  Sorted by start (larger first), a
 * stack of open blocks holds a chain of nested ones, each with the best
 * value of itself and all that enclose it: a new block first closes the
 * blocks that end before it, then opens on top.  Every block emits at most
 * two span boundaries.
 */
static void
ranges_sweep(struct table_build *tb, struct ranges *r, u128 max)
{
	struct {
		u128 lo, hi;
		uint64_t cum;
	} st[SWEEP_DEPTH];
	size_t sp = 0, i;

	if (tb->fail != 0)
		return;
	qsort(r->c, r->n, sizeof(*r->c), cidr_cmp);
	r->span = build_calloc(tb, 2 * r->n + 1, sizeof(*r->span));
	if (r->span == NULL)
		return;
	span_emit(r, 0, VAL_NONE);
	for (i = 0; i < r->n; i++) {
		const struct cidr *c = &r->c[i];
		uint64_t cum;

		while (sp > 0 && st[sp - 1].hi < c->lo) {
			u128 next = st[sp - 1].hi + 1; /* <= c->lo: no wrap */

			sp--;
			span_emit(r, next, sp ? st[sp - 1].cum : VAL_NONE);
		}
		if (sp > 0 && st[sp - 1].lo == c->lo && st[sp - 1].hi == c->hi)
			continue; /* same block again, never better (sorted) */
		if (sp == SWEEP_DEPTH) {
			build_error(tb, -EINVAL,
			            "internal error: CIDR nesting");
			return;
		}
		cum = sp && st[sp - 1].cum < c->val ? st[sp - 1].cum : c->val;
		st[sp].lo = c->lo;
		st[sp].hi = c->hi;
		st[sp].cum = cum;
		sp++;
		span_emit(r, c->lo, cum);
	}
	while (sp > 0) {
		u128 hi = st[sp - 1].hi;

		sp--;
		if (hi != max)
			span_emit(r, hi + 1, sp ? st[sp - 1].cum : VAL_NONE);
	}
}

static unsigned
clz128(u128 x, unsigned width)
{
	unsigned n = 0;

	while (n < width && !((x >> (width - 1 - n)) & 1))
		n++;
	return n;
}

/*
 * Where to cut the index: the bits every covered address shares, so that
 * CIDRs gathered in one corner (all of them in fd00::/8, say) spread over
 * the 65536 buckets instead of filling one.
 */
static void
ranges_rindex(struct ranges *r, unsigned width, u128 max)
{
	size_t first = SIZE_MAX, last = 0, i, k;
	u128 lo, hi;
	unsigned p;

	for (i = 0; i < r->nspan; i++)
		if (r->span[i].val != VAL_NONE) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	memset(&r->rindex, 0, sizeof(r->rindex));
	if (first == SIZE_MAX)
		return;
	lo = r->span[first].start;
	hi = last + 1 < r->nspan ? r->span[last + 1].start - 1 : max;
	p = clz128(lo ^ hi, width);
	if (p > width - 16)
		p = width - 16;
	r->rindex.prefix_len = (uint8_t)p;
	if (p > 0)
		lo &= ~(max >> p) & max;
	else
		lo = 0;
	for (k = 0; k < width / 8; k++)
		r->rindex.prefix[k] = (uint8_t)(lo >> (width - 8 - 8 * k));
}

/* index[b]: the span holding bucket b's first address; big arrays only. */
static void
ranges_index(struct table_build *tb, struct ranges *r, unsigned width, u128 max)
{
	size_t b, j = 0;

	if (tb->fail != 0 || r->nspan <= PS_T_INDEX_MIN_RANGES)
		return;
	r->index = build_calloc(tb, PS_T_INDEX_COUNT, sizeof(uint32_t));
	if (r->index == NULL)
		return;
	ranges_rindex(r, width, max);
	for (b = 0; b < PS_T_INDEX_COUNT - 1; b++) {
		u128 a = table_rindex_start(&r->rindex, width, b);

		while (j + 1 < r->nspan && r->span[j + 1].start <= a)
			j++;
		r->index[b] = (uint32_t)j;
	}
	r->index[PS_T_INDEX_COUNT - 1] = (uint32_t)(r->nspan - 1);
}

/* --- layout ------------------------------------------------------------- */

struct secdata {
	const void *p;
	size_t count;
	size_t elem;
};

static void
range4_write(uint8_t *dst, const struct ranges *r)
{
	struct ps_t_range4 *o = (struct ps_t_range4 *)(void *)dst;
	size_t i;

	for (i = 0; i < r->nspan; i++) {
		o[i].start = (uint32_t)r->span[i].start;
		o[i].prio = (uint32_t)(r->span[i].val >> 32);
		o[i].src = (uint32_t)r->span[i].val;
	}
}

static void
range6_write(uint8_t *dst, const struct ranges *r)
{
	struct ps_t_range6 *o = (struct ps_t_range6 *)(void *)dst;
	size_t i, k;

	for (i = 0; i < r->nspan; i++) {
		for (k = 0; k < 16; k++)
			o[i].start[k] =
			        (uint8_t)(r->span[i].start >> (8 * (15 - k)));
		o[i].prio = (uint32_t)(r->span[i].val >> 32);
		o[i].src = (uint32_t)r->span[i].val;
	}
}

static void
settings_fill(struct table_build *tb, struct ps_t_settings *s,
              uint32_t source_off)
{
	const struct ps_config *c = tb->cfg;
	size_t i;

	s->nrules = (uint32_t)c->nrules;
	s->http_rule = tb->http_rule;
	s->https_rule = tb->https_rule;
	s->star_prio = tb->star == VAL_NONE ? PS_PRIO_NONE
	                                    : (uint32_t)(tb->star >> 32);
	s->star_src = (uint32_t)tb->star;
	s->chain_mode = (uint8_t)c->chain;
	s->dns_mode = (uint8_t)c->dns;
	s->on_failure = (uint8_t)c->on_failure;
	s->udp_mode = (uint8_t)c->udp;
	s->proxy_loopback = c->proxy_loopback ? 1 : 0;
	s->reload_mode = (uint32_t)c->reload;
	s->fake4_prefix = (uint8_t)c->fake4_prefix;
	s->fake6_prefix = (uint8_t)c->fake6_prefix;
	s->nheaders = (uint8_t)c->nheaders;
	for (i = 0; i < c->nheaders; i++)
		s->headers[i] = (uint8_t)c->headers[i];
	memcpy(s->fake4, c->fake4, sizeof(s->fake4));
	memcpy(s->fake6, c->fake6, sizeof(s->fake6));
	s->connect_timeout_ms = c->connect_timeout_ms;
	s->handshake_timeout_ms = c->handshake_timeout_ms;
	s->rp_timeout_ms = c->rp_timeout_ms;
	s->source_off = source_off;
	s->tls_ca_off = tb->tls_ca_off;
	s->tls_name_off = tb->tls_name_off;
	s->tls_flags = c->tls_insecure ? PS_T_TLS_INSECURE : 0;
}

static int
settings_check(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t i;

	if (c->nrules + 1 > PS_PRIO_MAX)
		build_error(tb, -E2BIG, "too many rules (%zu, at most %u)",
		            c->nrules, PS_PRIO_MAX - 1);
	if (c->chain > PS_CHAIN_ROUND_ROBIN || c->dns > PS_DNS_LOCAL ||
	    c->on_failure > PS_FAIL_DIRECT || c->udp > PS_UDP_BLOCK ||
	    c->reload > PS_RELOAD_MANUAL || c->fake4_prefix < 0 ||
	    c->fake4_prefix > 32 || c->fake6_prefix < 0 ||
	    c->fake6_prefix > 128 || c->nheaders > PS_RP_MAX_HEADERS)
		build_error(tb, -EINVAL, "bad settings in the configuration");
	for (i = 0; i < c->nheaders && i < PS_RP_MAX_HEADERS; i++)
		if (c->headers[i] < PS_RP_PROXY ||
		    c->headers[i] > PS_RP_CF_CONNECTING_IP)
			build_error(tb, -EINVAL, "bad reverse proxy header");
	return tb->fail;
}

static int
port_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* https_ports (a list, ranges already expanded by the reader) as sorted,
 * merged ranges: the usual [443] is 4 bytes, not a 64 Kibit bitmap. */
static void
https_ports_build(struct table_build *tb)
{
	const struct ps_config *c = tb->cfg;
	size_t i, n = c->nhttps_ports;
	uint16_t *p;

	if (n == 0 || tb->fail)
		return;
	p = build_calloc(tb, n, sizeof(*p));
	tb->ports = build_calloc(tb, n, sizeof(*tb->ports));
	if (p == NULL || tb->ports == NULL) {
		free(p);
		return;
	}
	memcpy(p, c->https_ports, n * sizeof(*p));
	qsort(p, n, sizeof(*p), port_cmp);
	for (i = 0; i < n; i++) {
		struct ps_t_portrange *last =
		        tb->nports ? &tb->ports[tb->nports - 1] : NULL;

		if (last != NULL && (uint32_t)last->hi + 1 >= p[i]) {
			if (p[i] > last->hi)
				last->hi = p[i];
			continue;
		}
		tb->ports[tb->nports++] = (struct ps_t_portrange){p[i], p[i]};
	}
	free(p);
}

/* What goes where; range sections are converted in place (data NULL). */
static void
layout_sections(const struct table_build *tb, struct secdata *d)
{
	static const struct secdata none;
	int i;

	for (i = 0; i < PS_SEC_COUNT; i++)
		d[i] = none;
#define SEC(id, ptr, n, size) d[id] = (struct secdata){(ptr), (n), (size)}
	SEC(PS_SEC_STRINGS, tb->str.p, tb->str.len, 1);
	SEC(PS_SEC_UPSTREAMS, tb->up, tb->nup, sizeof(*tb->up));
	SEC(PS_SEC_CHAINS, tb->chains, tb->nchains, 4);
	SEC(PS_SEC_RULES, tb->rules, tb->nrules_total, sizeof(*tb->rules));
	SEC(PS_SEC_SOURCES, tb->src, tb->nsrc, sizeof(*tb->src));
	SEC(PS_SEC_NAME_FILTER, tb->hname.filter, tb->hname.nfilter, 8);
	SEC(PS_SEC_NAME_SLOTS, tb->hname.slots, tb->hname.nslots, 4);
	SEC(PS_SEC_NAME_ENTS, tb->hname.ents, tb->hname.nents, 16);
	SEC(PS_SEC_ADDR_SLOTS, tb->haddr.slots, tb->haddr.nslots, 4);
	SEC(PS_SEC_ADDR_ENTS, tb->haddr.ents, tb->haddr.nents, 16);
	SEC(PS_SEC_V4_INDEX, tb->r4.index, tb->r4.index ? PS_T_INDEX_COUNT : 0,
	    4);
	SEC(PS_SEC_V4_RANGES, NULL, tb->r4.nspan, sizeof(struct ps_t_range4));
	SEC(PS_SEC_V6_INDEX, tb->r6.index, tb->r6.index ? PS_T_INDEX_COUNT : 0,
	    4);
	SEC(PS_SEC_V6_RANGES, NULL, tb->r6.nspan, sizeof(struct ps_t_range6));
	SEC(PS_SEC_HTTPS_PORTS, tb->ports, tb->nports, sizeof(*tb->ports));
	SEC(PS_SEC_TRUST4, NULL, tb->t4.nspan, sizeof(struct ps_t_range4));
	SEC(PS_SEC_TRUST6, NULL, tb->t6.nspan, sizeof(struct ps_t_range6));
#undef SEC
}

static int
layout_write(struct table_build *tb, uint64_t source_hash, uint32_t source_off,
             uint8_t **out, size_t *outlen)
{
	struct secdata d[PS_SEC_COUNT];
	struct ps_t_header *h;
	uint64_t off = sizeof(*h);
	uint32_t secoff[PS_SEC_COUNT];
	uint8_t *buf;
	int i;

	layout_sections(tb, d);
	for (i = 0; i < PS_SEC_COUNT; i++) {
		off = (off + 7) & ~(uint64_t)7;
		secoff[i] = (uint32_t)off;
		off += (uint64_t)d[i].count * d[i].elem;
		if (off > PS_TABLE_MAX_SIZE) {
			build_error(tb, -E2BIG,
			            "table too large (over %u bytes)",
			            PS_TABLE_MAX_SIZE);
			return tb->fail;
		}
	}
	off = (off + 7) & ~(uint64_t)7;
	buf = build_calloc(tb, (size_t)off, 1);
	if (buf == NULL)
		return tb->fail;
	h = (struct ps_t_header *)(void *)buf;
	h->magic = PS_TABLE_MAGIC;
	h->version = PS_TABLE_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = (uint32_t)off;
	h->generation = 1;
	h->source_hash = source_hash;
	settings_fill(tb, &h->settings, source_off);
	h->rindex[0] = tb->r4.rindex;
	h->rindex[1] = tb->r6.rindex;
	for (i = 0; i < PS_SEC_COUNT; i++) {
		h->sec[i].off = secoff[i];
		h->sec[i].count = (uint32_t)d[i].count;
		h->sec[i].elem_size = (uint32_t)d[i].elem;
		if (d[i].p != NULL && d[i].count != 0)
			memcpy(buf + secoff[i], d[i].p, d[i].count * d[i].elem);
	}
	range4_write(buf + secoff[PS_SEC_V4_RANGES], &tb->r4);
	range6_write(buf + secoff[PS_SEC_V6_RANGES], &tb->r6);
	range4_write(buf + secoff[PS_SEC_TRUST4], &tb->t4);
	range6_write(buf + secoff[PS_SEC_TRUST6], &tb->t6);
	/* Written with the checksum field 0, which is how it is checked. */
	h->checksum = table_crc32c(0, buf, (size_t)off);
	*out = buf;
	*outlen = (size_t)off;
	return 0;
}

static void
build_free(struct table_build *tb)
{
	struct ranges *r[4] = {&tb->r4, &tb->r6, &tb->t4, &tb->t6};
	size_t i;

	free(tb->str.p);
	free(tb->src);
	free(tb->up);
	free(tb->upurl);
	free(tb->ports);
	free(tb->upslot);
	free(tb->hopidx);
	free(tb->chains);
	free(tb->rules);
	free(tb->names);
	free(tb->addrs);
	for (i = 0; i < 4; i++) {
		free(r[i]->c);
		free(r[i]->span);
		free(r[i]->index);
	}
	free(tb->hname.slots);
	free(tb->hname.ents);
	free(tb->hname.filter);
	free(tb->haddr.slots);
	free(tb->haddr.ents);
}

int
compile_table(const struct ps_config *c, uint64_t source_hash, uint8_t **out,
              size_t *outlen, char *err, size_t errsz)
{
	struct table_build tb;
	uint32_t source_off;
	int r;

	*out = NULL;
	*outlen = 0;
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	memset(&tb, 0, sizeof(tb));
	tb.cfg = c;
	tb.err = err;
	tb.errsz = errsz;
	tb.star = VAL_NONE;
	if (settings_check(&tb) != 0 || build_alloc(&tb) != 0)
		goto out;
	str_add(&tb, "", 0, true); /* offset 0 is "" */
	source_off = str_cstr(&tb, c->source ? c->source : "");
	if (c->tls_ca_file != NULL && c->tls_ca_file[0] != '\0')
		tb.tls_ca_off = str_cstr(&tb, c->tls_ca_file);
	if (c->tls_server_name != NULL && c->tls_server_name[0] != '\0')
		tb.tls_name_off = str_cstr(&tb, c->tls_server_name);
	upstreams_collect(&tb);
	rules_build(&tb);
	trust_build(&tb);
	https_ports_build(&tb);
	/* The strings section ends with a NUL whatever came last (raw
	 * address keys are not NUL-terminated). */
	str_add(&tb, "", 0, true);
	hash_build(&tb, tb.names, tb.nnames, true, &tb.hname);
	hash_build(&tb, tb.addrs, tb.naddrs, false, &tb.haddr);
	ranges_sweep(&tb, &tb.r4, 0xffffffffu);
	ranges_sweep(&tb, &tb.r6, ~(u128)0);
	ranges_sweep(&tb, &tb.t4, 0xffffffffu);
	ranges_sweep(&tb, &tb.t6, ~(u128)0);
	ranges_index(&tb, &tb.r4, 32, 0xffffffffu);
	ranges_index(&tb, &tb.r6, 128, ~(u128)0);
	if (tb.fail == 0)
		layout_write(&tb, source_hash, source_off, out, outlen);
out:
	r = tb.fail;
	build_free(&tb);
	return r;
}
