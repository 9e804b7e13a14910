/*
 * Route lookup over a validated table
 * (docs/behaviour.md#routing).  Runs on the connect path:
 * no allocation, no locks, no stdio, stack buffers only.
 *
 * Every match structure in the table answers with the best (lowest)
 * (prio, src) pair among the entries that match the destination; the
 * lookup takes the minimum over all of them.  Priorities encode file
 * order (upstreams 0, rule i i + 1, exempt nrules + 1) and sources are
 * numbered in file order within a priority, so the minimum is exactly the
 * entry an in-order evaluation would stop at: first match wins.
 *
 * Which entries can match which destination: name entries (NAME, SUFFIX)
 * only when the program used a name (never for a bare IP,
 * docs/behaviour.md#match-entries);
 * address and CIDR entries whenever the real address is known, including
 * when a name was used and resolved.  A connect to "db.corp" that resolved
 * to 10.1.2.3 therefore matches an exempt 10.0.0.0/8, as proxychains'
 * localnet would: the CIDR describes where the packets go, whatever the
 * program called the host.  (With dns: remote the address is a fake one
 * and only the name is known.)
 */
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/route.h"

#define VAL_NONE UINT64_MAX

/* The destination, normalised once. */
struct rdest {
	const char *name; /* as given: any case, trailing dot cut off */
	size_t nlen;      /* 0 = no usable name */
	int family;       /* IPv4-mapped IPv6 becomes AF_INET */
	uint8_t addr[16]; /* 4 or 16 bytes used */
	uint16_t port;
};

static inline uint64_t
val_pack(uint32_t prio, uint32_t src)
{
	return (uint64_t)prio << 32 | src;
}

static inline bool
port_in(uint16_t port, uint16_t lo, uint16_t hi)
{
	return port >= lo && port <= hi;
}

static void
dest_prepare(const struct ps_dest *d, struct rdest *r)
{
	size_t n = d->name ? d->name_len : 0;
	int fam = d->family;
	const uint8_t *a = ps_addr_unmap(&fam, d->addr);

	r->port = d->port;
	r->name = d->name;
	if (n > 0 && d->name[n - 1] == '.')
		n--;
	/* Longer than DNS allows: not a name we can match, never truncate
	 * it into one that would. */
	r->nlen = n <= PS_MAX_HOST ? n : 0;
	r->family = fam == AF_INET || fam == AF_INET6 ? fam : 0;
	if (r->family != 0)
		memcpy(r->addr, a, fam == AF_INET ? 4 : 16);
}

static inline char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* s (n bytes, any case) equals the lower-case word w. */
static bool
eq_nocase(const char *s, const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower(s[i]) != w[i])
			return false;
	return true;
}

/* RFC 6761: "localhost" and every name under it are loopback. */
int
route_name_is_localhost(const char *s, size_t n)
{
	static const char lh[] = "localhost";
	const size_t lhn = sizeof(lh) - 1;

	if (n < lhn || !eq_nocase(s + n - lhn, lh, lhn))
		return 0;
	return n == lhn || s[n - lhn - 1] == '.';
}

static bool
dest_is_loopback(const struct rdest *r)
{
	static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
	                                0, 0, 0, 0, 0, 0, 0, 1};

	if (r->family == AF_INET && r->addr[0] == 127)
		return true;
	if (r->family == AF_INET6 && memcmp(r->addr, lo6, 16) == 0)
		return true;
	return route_name_is_localhost(r->name, r->nlen);
}

/* The best entry of one key that carries a flag of want and admits port. */
static uint64_t
ents_best(const struct ps_t_ent *ents, size_t nents, uint32_t first,
          uint32_t want, uint16_t port)
{
	uint32_t key = ents[first].key_off, j;

	/* A key's entries are consecutive and sorted by (prio, src). */
	for (j = first; j < nents && ents[j].key_off == key; j++) {
		uint32_t pf = ents[j].prio_flags;

		if ((PS_T_ENT_FLAGS(pf) & want) != 0 &&
		    port_in(port, ents[j].port_lo, ents[j].port_hi))
			return val_pack(PS_T_ENT_PRIO(pf), ents[j].src);
	}
	return VAL_NONE;
}

static uint64_t
name_probe(const struct ps_table_view *t, uint64_t mix, const char *key,
           size_t klen, uint32_t want, uint16_t port)
{
	size_t ns = t->nname_slots, i = table_slot_home(mix, ns), n;
	uint32_t tag = table_slot_tag(mix);

	for (n = 0; n < ns; n++, i = i + 1 == ns ? 0 : i + 1) {
		uint32_t s = t->name_slots[i], e, off;

		if (s == 0)
			return VAL_NONE;
		if (PS_T_SLOT_TAG(s) != tag)
			continue;
		e = PS_T_SLOT_ENT(s);
		off = t->name_ents[e].key_off;
		if ((size_t)off + klen >= t->strings_len ||
		    memcmp(t->strings + off, key, klen) != 0 ||
		    t->strings[off + klen] != '\0')
			continue;
		return ents_best(t->name_ents, t->nname_ents, e, want, port);
	}
	return VAL_NONE;
}

static bool
filter_pass(const struct ps_table_view *t, uint64_t mix)
{
	uint64_t bits, w;

	if (t->name_filter == NULL)
		return true;
	bits = table_filter_bits(mix);
	w = t->name_filter[table_filter_word(mix, t->nname_filter)];
	return (w & bits) == bits;
}

/*
 * "a.b.example.com" probes "a.b.example.com" for SELF entries and
 * "b.example.com", "example.com", "com" for SUB entries.  One pass from
 * the last byte backwards lower-cases the name into a stack buffer and
 * hashes it, and each suffix's hash falls out when the pass reaches its
 * first byte.  The (cache-resident) filter drops most suffixes there;
 * the slots of the rest are prefetched before any is read, so their
 * cache misses overlap instead of adding up.
 */
static uint64_t
names_lookup(const struct ps_table_view *t, const struct rdest *r)
{
	char name[PS_MAX_HOST + 1];
	uint64_t hs[PS_MAX_HOST + 1];
	uint16_t at[PS_MAX_HOST + 1];
	uint64_t h = PS_T_HASH_INIT, best = VAL_NONE, v, mix;
	size_t n = 0, k, i = r->nlen, ns = t->nname_slots;

	if (t->nname_slots == 0)
		return VAL_NONE;
	while (i-- > 0) {
		char c = ascii_lower(r->name[i]);

		name[i] = c;
		h = table_hash_step(h, (uint8_t)c);
		if (i != 0 && r->name[i - 1] != '.')
			continue;
		mix = table_hash_mix64(h);
		if (!filter_pass(t, mix))
			continue;
		hs[n] = mix;
		at[n] = (uint16_t)i;
		__builtin_prefetch(&t->name_slots[table_slot_home(mix, ns)]);
		n++;
	}
	for (k = 0; k < n; k++) {
		v = name_probe(t, hs[k], name + at[k], r->nlen - at[k],
		               at[k] == 0 ? PS_T_ENT_SELF : PS_T_ENT_SUB,
		               r->port);
		if (v < best)
			best = v;
	}
	return best;
}

static uint64_t
addr_lookup(const struct ps_table_view *t, const struct rdest *r)
{
	size_t klen = r->family == AF_INET6 ? 16 : 4, n, i;
	size_t ns = t->naddr_slots;
	uint32_t tag, v6 = r->family == AF_INET6 ? PS_T_ENT_V6 : 0;
	uint64_t mix;

	if (ns == 0)
		return VAL_NONE;
	mix = table_hash_key64(r->addr, klen);
	tag = table_slot_tag(mix);
	for (n = 0, i = table_slot_home(mix, ns); n < ns;
	     n++, i = i + 1 == ns ? 0 : i + 1) {
		uint32_t s = t->addr_slots[i], e, off;

		if (s == 0)
			return VAL_NONE;
		if (PS_T_SLOT_TAG(s) != tag)
			continue;
		e = PS_T_SLOT_ENT(s);
		off = t->addr_ents[e].key_off;
		/* Validation guarantees off + key length is in bounds. */
		if ((PS_T_ENT_FLAGS(t->addr_ents[e].prio_flags) &
		     PS_T_ENT_V6) != v6 ||
		    memcmp(t->strings + off, r->addr, klen) != 0)
			continue;
		return ents_best(t->addr_ents, t->naddr_ents, e, PS_T_ENT_SELF,
		                 r->port);
	}
	return VAL_NONE;
}

/*
 * A bucket is a few ranges in one or two cache lines: fetch them all at
 * once so the binary search waits for memory once, not once per step.
 */
static inline void
bucket_prefetch(const void *first, const void *last)
{
	const char *p = first, *end = last;
	int n;

	for (n = 0; p <= end && n < 4; p += 64, n++)
		__builtin_prefetch(p);
}

/*
 * The range holding address a (W-bit, host order): the last one starting
 * at or below it, searched within one index bucket when there is an
 * index.  Returns false when a lies outside the index prefix, where no
 * CIDR reaches.
 */
static bool
range4_find(const struct ps_t_range4 *rg, size_t n, const uint32_t *idx,
            const struct ps_t_rindex *x, uint32_t a, size_t *out)
{
	size_t lo = 0, hi = n - 1, mid, b;

	if (idx != NULL && x != NULL) {
		if (!table_rindex_bucket(x, 32, a, &b))
			return false;
		lo = idx[b];
		hi = idx[b + 1];
		bucket_prefetch(&rg[lo], &rg[hi]);
	}
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (rg[mid].start <= a)
			lo = mid;
		else
			hi = mid - 1;
	}
	*out = lo;
	return true;
}

static bool
range6_find(const struct ps_t_range6 *rg, size_t n, const uint32_t *idx,
            const struct ps_t_rindex *x, const uint8_t addr[16], size_t *out)
{
	unsigned __int128 a = table_u128_load(addr, 16);
	size_t lo = 0, hi = n - 1, mid, b;

	if (idx != NULL && x != NULL) {
		if (!table_rindex_bucket(x, 128, a, &b))
			return false;
		lo = idx[b];
		hi = idx[b + 1];
		bucket_prefetch(&rg[lo], &rg[hi]);
	}
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (table_u128_load(rg[mid].start, 16) <= a)
			lo = mid;
		else
			hi = mid - 1;
	}
	*out = lo;
	return true;
}

static uint32_t
addr_host4(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
	       (uint32_t)a[2] << 8 | a[3];
}

static uint64_t
ranges_lookup(const struct ps_table_view *t, const struct rdest *r)
{
	const struct ps_t_rindex *x = t->hdr->rindex;
	uint32_t prio, src;
	size_t i;

	if (r->family == AF_INET) {
		if (!range4_find(t->v4, t->nv4, t->v4_index, &x[0],
		                 addr_host4(r->addr), &i))
			return VAL_NONE;
		prio = t->v4[i].prio;
		src = t->v4[i].src;
	} else {
		if (!range6_find(t->v6, t->nv6, t->v6_index, &x[1], r->addr,
		                 &i))
			return VAL_NONE;
		prio = t->v6[i].prio;
		src = t->v6[i].src;
	}
	return prio == PS_PRIO_NONE ? VAL_NONE : val_pack(prio, src);
}

static void
route_via_rule(const struct ps_table_view *t, uint32_t rule,
               struct ps_route *out)
{
	const struct ps_t_rule *r = &t->rules[rule];

	out->rule = rule;
	out->action = r->action == PS_T_VIA     ? PS_ROUTE_VIA
	              : r->action == PS_T_BLOCK ? PS_ROUTE_BLOCK
	                                        : PS_ROUTE_DIRECT;
	out->chain_first = r->chain_first;
	out->chain_len = r->chain_len;
}

/* Usually one or two ranges; a binary search keeps a long list cheap. */
static bool
port_is_https(const struct ps_table_view *t, uint16_t port)
{
	size_t lo = 0, hi = t->nhttps_ports, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->https_ports[mid].hi < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->nhttps_ports && t->https_ports[lo].lo <= port;
}

int
route_lookup(const struct ps_table_view *t, const struct ps_dest *d,
             struct ps_route *out)
{
	const struct ps_t_settings *s = &t->hdr->settings;
	struct rdest r;
	uint64_t best = VAL_NONE, v;
	uint32_t prio;

	memset(out, 0, sizeof(*out));
	out->action = PS_ROUTE_DIRECT;
	out->why = PS_WHY_DEFAULT;
	out->rule = PS_NONE;
	out->src = PS_NONE;
	dest_prepare(d, &r);
	if (!s->proxy_loopback && dest_is_loopback(&r)) {
		out->why = PS_WHY_LOOPBACK;
		return 0;
	}
	if (r.nlen > 0)
		best = names_lookup(t, &r);
	if (r.family != 0) {
		v = addr_lookup(t, &r);
		best = v < best ? v : best;
		v = ranges_lookup(t, &r);
		best = v < best ? v : best;
	}
	if (s->star_prio != PS_PRIO_NONE) {
		v = val_pack(s->star_prio, s->star_src);
		best = v < best ? v : best;
	}
	if (best != VAL_NONE) {
		prio = (uint32_t)(best >> 32);
		out->src = (uint32_t)best;
		if (prio == PS_PRIO_UPSTREAM) {
			out->why = PS_WHY_UPSTREAM;
		} else if (prio <= s->nrules) {
			out->why = PS_WHY_RULE;
			route_via_rule(t, prio - 1, out);
		} else {
			out->why = PS_WHY_EXEMPT;
		}
		return 0;
	}
	if (port_is_https(t, r.port)) {
		/* No https route means direct: the compiler already gave
		 * https the http upstream where Coder's rule says so. */
		if (s->https_rule != PS_PRIO_NONE) {
			out->why = PS_WHY_HTTPS;
			route_via_rule(t, s->https_rule, out);
		}
	} else if (s->http_rule != PS_PRIO_NONE) {
		out->why = PS_WHY_HTTP;
		route_via_rule(t, s->http_rule, out);
	}
	return 0;
}

int
route_trusted(const struct ps_table_view *t, int family, const uint8_t *addr)
{
	size_t i;

	addr = ps_addr_unmap(&family, addr);
	if (family == AF_INET)
		return range4_find(t->trust4, t->ntrust4, NULL, NULL,
		                   addr_host4(addr), &i) &&
		       t->trust4[i].prio == 0;
	if (family == AF_INET6)
		return range6_find(t->trust6, t->ntrust6, NULL, NULL, addr,
		                   &i) &&
		       t->trust6[i].prio == 0;
	return 0;
}

void
route_describe(const struct ps_table_view *t, const struct ps_route *r,
               const char **up, const char **rule)
{
	*up = "";
	*rule = "default";
	if (r->action == PS_ROUTE_VIA && r->chain_len > 0)
		*up = table_str(
		        t, t->upstreams[t->chains[r->chain_first]].display_off);
	if (r->rule != PS_NONE && r->rule < t->nrules_total)
		*rule = table_str(t, t->rules[r->rule].label_off);
	else if (r->why == PS_WHY_EXEMPT)
		*rule = "exempt";
	else if (r->why == PS_WHY_LOOPBACK)
		*rule = "loopback";
	else if (r->why == PS_WHY_UPSTREAM)
		*rule = "upstream itself";
	if (**rule == '\0')
		*rule = "default";
}
