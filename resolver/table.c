/*
 * The compiled table: validation (table_view_open), CRC-32C and the slot
 * hash.  Linked into the preload library: no allocation, no stdio.
 *
 * table_view_open() is the only gate between bytes in shared memory and
 * the lookup code, so it checks every field the lookup will ever follow:
 * after it returns 0, route_lookup() can read the table without a single
 * bounds surprise, whatever the bytes were (the corruption tests rely on
 * this even for tables whose checksum was forged to match).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc >= 2.33 */
#define PS_HAVE_GLIBC_X86_H 1
#endif
#endif
#endif

#include "proxyshim/config.h"
#include "proxyshim/table.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the table layout and the CRC code assume a little-endian host"
#endif

_Static_assert(sizeof(struct ps_t_header) % 8 == 0, "header alignment");
_Static_assert(sizeof(struct ps_t_ent) == 16, "ps_t_ent size");
_Static_assert(sizeof(struct ps_t_range4) == 12, "ps_t_range4 size");
_Static_assert(sizeof(struct ps_t_range6) == 24, "ps_t_range6 size");
_Static_assert(sizeof(struct ps_t_source) == 12, "ps_t_source size");

/* --- CRC-32C, slice-by-8 ------------------------------------------------ */

#define CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_tab[0][i] = c;
	}
	/* tab[k][i]: the CRC contribution of byte i followed by k zeros,
	 * which is what lets eight bytes be folded in one step. */
	for (k = 1; k < 8; k++)
		for (i = 0; i < 256; i++) {
			c = crc_tab[k - 1][i];
			crc_tab[k][i] = (c >> 8) ^ crc_tab[0][c & 0xff];
		}
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes exactly this CRC, eight bytes per
 * step, and needs no table: every wrapped process validates its table at
 * start, so this is start-up time (bench/startup). */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc, w;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static _Atomic int crc_have_hw = -1; /* -1: not asked yet */

/*
 * Whether the CPU has SSE4.2.  Not __builtin_cpu_supports(): it links
 * libgcc's __cpu_indicator_init, a constructor that runs a dozen CPUID
 * instructions in every process that loads us, and CPUID traps to the
 * hypervisor in a VM: about 50 us of every wrapped program's start
 * (bench/startup).  glibc has asked the CPU already and answers from
 * memory; elsewhere one CPUID leaf, only when a CRC is computed.
 */
static int
crc_cpu_has_sse42(void)
{
#if defined(PS_HAVE_GLIBC_X86_H)
	return CPU_FEATURE_ACTIVE(SSE4_2) ? 1 : 0;
#else
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_SSE4_2) != 0;
#endif
}

static int
crc_hw_ok(void)
{
	int v = atomic_load_explicit(&crc_have_hw, memory_order_relaxed);

	if (v < 0) {
		/* Threads racing here compute the same answer. */
		v = crc_cpu_has_sse42();
		atomic_store_explicit(&crc_have_hw, v, memory_order_relaxed);
	}
	return v;
}
#endif

uint32_t
table_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (crc_hw_ok())
		return ~crc_hw(~crc, buf, len);
#endif
	return table_crc32c_soft(crc, buf, len);
}

uint32_t
table_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
		      crc_tab[5][(w >> 16) & 0xff] ^
		      crc_tab[4][(w >> 24) & 0xff] ^
		      crc_tab[3][(w >> 32) & 0xff] ^
		      crc_tab[2][(w >> 40) & 0xff] ^
		      crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t
table_hash(const void *key, size_t len)
{
	return (uint32_t)table_hash_key64(key, len);
}

const char *
table_str(const struct ps_table_view *v, uint32_t off)
{
	if (v == NULL || v->strings == NULL || off >= v->strings_len)
		return "";
	return v->strings + off;
}

/* --- validation ----------------------------------------------------------- */

/* Every failure names itself; the caller logs it. */
#define BAD(msg)                                                               \
	do {                                                                   \
		*why = (msg);                                                  \
		return -EINVAL;                                                \
	} while (0)

static const uint32_t sec_elem[PS_SEC_COUNT] = {
        [PS_SEC_STRINGS] = 1,
        [PS_SEC_UPSTREAMS] = sizeof(struct ps_t_upstream),
        [PS_SEC_CHAINS] = sizeof(uint32_t),
        [PS_SEC_RULES] = sizeof(struct ps_t_rule),
        [PS_SEC_SOURCES] = sizeof(struct ps_t_source),
        [PS_SEC_NAME_FILTER] = sizeof(uint64_t),
        [PS_SEC_NAME_SLOTS] = sizeof(uint32_t),
        [PS_SEC_NAME_ENTS] = sizeof(struct ps_t_ent),
        [PS_SEC_ADDR_SLOTS] = sizeof(uint32_t),
        [PS_SEC_ADDR_ENTS] = sizeof(struct ps_t_ent),
        [PS_SEC_V4_INDEX] = sizeof(uint32_t),
        [PS_SEC_V4_RANGES] = sizeof(struct ps_t_range4),
        [PS_SEC_V6_INDEX] = sizeof(uint32_t),
        [PS_SEC_V6_RANGES] = sizeof(struct ps_t_range6),
        [PS_SEC_HTTPS_PORTS] = sizeof(struct ps_t_portrange),
        [PS_SEC_TRUST4] = sizeof(struct ps_t_range4),
        [PS_SEC_TRUST6] = sizeof(struct ps_t_range6),
};

static bool
str_ok(const struct ps_table_view *v, uint32_t off)
{
	/* The section ends with a NUL, so any offset inside it is a string
	 * terminated inside it. */
	return off < v->strings_len;
}

static bool
str_opt_ok(const struct ps_table_view *v, uint32_t off)
{
	return off == PS_PRIO_NONE || str_ok(v, off);
}

static const void *
sec_ptr(const struct ps_table_view *v, enum ps_section_id id, size_t *count)
{
	const struct ps_t_section *s = &v->hdr->sec[id];

	*count = s->count;
	return v->base + s->off;
}

static int
check_header(const void *base, size_t size, unsigned flags, const char **why)
{
	const struct ps_t_header *h = base;
	struct ps_t_header tmp;
	uint32_t crc;

	if (base == NULL || size < sizeof(*h))
		BAD("truncated: smaller than the header");
	if (((uintptr_t)base & 7) != 0)
		BAD("table not 8-byte aligned in memory");
	if (h->magic != PS_TABLE_MAGIC)
		BAD("bad magic: not a proxyshim table");
	if (h->version != PS_TABLE_VERSION) {
		*why = "unsupported table version";
		return -EPROTO;
	}
	if (h->header_size != sizeof(*h))
		BAD("bad header size");
	if (size > PS_TABLE_MAX_SIZE)
		BAD("table larger than the maximum size");
	if (h->total_size != size)
		BAD("total size does not match the mapped size");
	if (flags & PS_VIEW_SKIP_CRC)
		return 0;
	/* The checksum field is taken as 0: hash the header from a copy. */
	memcpy(&tmp, h, sizeof(tmp));
	tmp.checksum = 0;
	crc = table_crc32c(0, &tmp, sizeof(tmp));
	crc = table_crc32c(crc, (const uint8_t *)base + sizeof(tmp),
	                   size - sizeof(tmp));
	if (crc != h->checksum)
		BAD("checksum mismatch");
	return 0;
}

static int
check_sections(const struct ps_table_view *v, const char **why)
{
	uint64_t end = sizeof(struct ps_t_header);
	int i;

	for (i = 0; i < PS_SEC_COUNT; i++) {
		const struct ps_t_section *s = &v->hdr->sec[i];
		uint64_t len = (uint64_t)s->count * s->elem_size;

		if (s->elem_size != sec_elem[i])
			BAD("section element size mismatch");
		if (s->reserved != 0)
			BAD("section reserved field not zero");
		if ((s->off & 7) != 0)
			BAD("section not 8-byte aligned");
		if (s->off < end)
			BAD("sections out of order or overlapping");
		if ((uint64_t)s->off + len > v->size)
			BAD("section extends past the end of the table");
		end = (uint64_t)s->off + len;
	}
	if (((end + 7) & ~(uint64_t)7) != v->size)
		BAD("trailing bytes after the last section");
	return 0;
}

static void
view_fill(struct ps_table_view *v)
{
	v->strings = sec_ptr(v, PS_SEC_STRINGS, &v->strings_len);
	v->upstreams = sec_ptr(v, PS_SEC_UPSTREAMS, &v->nupstreams);
	v->chains = sec_ptr(v, PS_SEC_CHAINS, &v->nchains);
	v->rules = sec_ptr(v, PS_SEC_RULES, &v->nrules_total);
	v->sources = sec_ptr(v, PS_SEC_SOURCES, &v->nsources);
	v->name_filter = sec_ptr(v, PS_SEC_NAME_FILTER, &v->nname_filter);
	if (v->nname_filter == 0)
		v->name_filter = NULL;
	v->name_slots = sec_ptr(v, PS_SEC_NAME_SLOTS, &v->nname_slots);
	v->name_ents = sec_ptr(v, PS_SEC_NAME_ENTS, &v->nname_ents);
	v->addr_slots = sec_ptr(v, PS_SEC_ADDR_SLOTS, &v->naddr_slots);
	v->addr_ents = sec_ptr(v, PS_SEC_ADDR_ENTS, &v->naddr_ents);
	v->v4 = sec_ptr(v, PS_SEC_V4_RANGES, &v->nv4);
	v->v6 = sec_ptr(v, PS_SEC_V6_RANGES, &v->nv6);
	v->trust4 = sec_ptr(v, PS_SEC_TRUST4, &v->ntrust4);
	v->trust6 = sec_ptr(v, PS_SEC_TRUST6, &v->ntrust6);
	v->https_ports = sec_ptr(v, PS_SEC_HTTPS_PORTS, &v->nhttps_ports);
	v->v4_index =
	        v->hdr->sec[PS_SEC_V4_INDEX].count == 0
	                ? NULL
	                : (const uint32_t *)(v->base +
	                                     v->hdr->sec[PS_SEC_V4_INDEX].off);
	v->v6_index =
	        v->hdr->sec[PS_SEC_V6_INDEX].count == 0
	                ? NULL
	                : (const uint32_t *)(v->base +
	                                     v->hdr->sec[PS_SEC_V6_INDEX].off);
}

static int
check_settings(const struct ps_table_view *v, const char **why)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	size_t i;

	if (s->nrules >= PS_PRIO_MAX || s->nrules > v->nrules_total)
		BAD("settings: bad rule count");
	if (s->http_rule != PS_PRIO_NONE &&
	    (s->http_rule < s->nrules || s->http_rule >= v->nrules_total))
		BAD("settings: http route out of range");
	if (s->https_rule != PS_PRIO_NONE &&
	    (s->https_rule < s->nrules || s->https_rule >= v->nrules_total))
		BAD("settings: https route out of range");
	if (s->star_prio == PS_PRIO_NONE ? s->star_src != PS_PRIO_NONE
	                                 : (s->star_prio > s->nrules + 1 ||
	                                    s->star_src >= v->nsources))
		BAD("settings: bad \"*\" entry");
	if (s->chain_mode > PS_CHAIN_ROUND_ROBIN ||
	    s->dns_mode > PS_DNS_LOCAL || s->on_failure > PS_FAIL_DIRECT ||
	    s->udp_mode > PS_UDP_BLOCK || s->proxy_loopback > 1 ||
	    s->reload_mode > PS_RELOAD_MANUAL)
		BAD("settings: enum out of range");
	if (s->fake4_prefix > 32 || s->fake6_prefix > 128)
		BAD("settings: bad fake address prefix");
	if (s->nheaders > PS_RP_MAX_HEADERS)
		BAD("settings: too many reverse proxy headers");
	for (i = 0; i < sizeof(s->headers); i++) {
		if (i < s->nheaders ? (s->headers[i] < PS_RP_PROXY ||
		                       s->headers[i] > PS_RP_CF_CONNECTING_IP)
		                    : s->headers[i] != 0)
			BAD("settings: bad reverse proxy header");
	}
	if (!str_ok(v, s->source_off))
		BAD("settings: bad source string");
	if (!str_ok(v, s->tls_ca_off) || !str_ok(v, s->tls_name_off))
		BAD("settings: bad TLS string");
	if ((s->tls_flags & ~PS_T_TLS_INSECURE) != 0)
		BAD("settings: unknown TLS flag");
	for (i = 0; i < sizeof(s->reserved) / sizeof(s->reserved[0]); i++)
		if (s->reserved[i] != 0)
			BAD("settings: reserved field not zero");
	return 0;
}

static int
check_upstreams(const struct ps_table_view *v, const char **why)
{
	size_t i;

	for (i = 0; i < v->nupstreams; i++) {
		const struct ps_t_upstream *u = &v->upstreams[i];

		if (u->scheme < PS_SCHEME_HTTP || u->scheme > PS_SCHEME_SOCKS5H)
			BAD("upstream: bad scheme");
		if (u->family != 0 && u->family != AF_INET &&
		    u->family != AF_INET6)
			BAD("upstream: bad address family");
		if (u->port == 0)
			BAD("upstream: port 0");
		if (!str_ok(v, u->host_off) || !str_opt_ok(v, u->user_off) ||
		    !str_opt_ok(v, u->pass_off) || !str_ok(v, u->display_off) ||
		    !str_ok(v, u->tls_ca_off) || !str_ok(v, u->tls_name_off))
			BAD("upstream: bad string offset");
		if ((u->tls_flags & ~PS_T_TLS_INSECURE) != 0 ||
		    u->reserved != 0)
			BAD("upstream: unknown TLS flags");
		if (u->scheme != PS_SCHEME_HTTPS &&
		    (u->tls_ca_off | u->tls_name_off | u->tls_flags) != 0)
			BAD("upstream: TLS settings on a plain upstream");
	}
	for (i = 0; i < v->nchains; i++)
		if (v->chains[i] >= v->nupstreams)
			BAD("chain: upstream index out of range");
	return 0;
}

static int
check_rules(const struct ps_table_view *v, const char **why)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	size_t i;

	for (i = 0; i < v->nrules_total; i++) {
		const struct ps_t_rule *r = &v->rules[i];

		if (r->action > PS_T_VIA)
			BAD("rule: bad action");
		if (r->reserved[0] || r->reserved[1] || r->reserved[2])
			BAD("rule: reserved field not zero");
		if (r->action == PS_T_VIA
		            ? (r->chain_len == 0 ||
		               r->chain_len > PS_MAX_HOPS ||
		               r->chain_first > v->nchains ||
		               r->chain_len > v->nchains - r->chain_first)
		            : (r->chain_first != 0 || r->chain_len != 0))
			BAD("rule: chain out of range");
		if (!str_ok(v, r->label_off))
			BAD("rule: bad label string");
	}
	/* The default routes always go through an upstream. */
	if ((s->http_rule != PS_PRIO_NONE &&
	     v->rules[s->http_rule].action != PS_T_VIA) ||
	    (s->https_rule != PS_PRIO_NONE &&
	     v->rules[s->https_rule].action != PS_T_VIA))
		BAD("settings: default route is not via an upstream");
	for (i = 0; i < v->nsources; i++) {
		if (!str_ok(v, v->sources[i].text_off))
			BAD("source: bad text string");
		if (v->sources[i].prio > s->nrules + 1)
			BAD("source: prio out of range");
	}
	return 0;
}

/* One hash (slots + entries); addr selects the address flavour. */
static int
check_hash(const struct ps_table_view *v, const uint32_t *slots, size_t nslots,
           const struct ps_t_ent *ents, size_t nents, bool addr,
           const char **why)
{
	uint32_t maxprio = v->hdr->settings.nrules + 1;
	size_t i, empty = 0;

	if (nslots > UINT32_MAX)
		BAD("hash: too many slots");
	if (nents > PS_T_SLOT_MAX_ENTS || (nents > 0 && nslots == 0))
		BAD("hash: entries without slots");
	for (i = 0; i < nslots; i++) {
		if (slots[i] == 0)
			empty++;
		else if ((slots[i] & 0x00ffffffu) == 0 ||
		         PS_T_SLOT_ENT(slots[i]) >= nents)
			BAD("hash: slot points past the entries");
	}
	if (nslots != 0 && empty == 0)
		BAD("hash: no empty slot");
	for (i = 0; i < nents; i++) {
		const struct ps_t_ent *e = &ents[i];
		uint32_t fl = PS_T_ENT_FLAGS(e->prio_flags);
		uint64_t klen = (fl & PS_T_ENT_V6) ? 16 : 4;

		if (PS_T_ENT_PRIO(e->prio_flags) > maxprio ||
		    e->src >= v->nsources || e->port_lo > e->port_hi)
			BAD("hash: entry out of range");
		if (addr ? (fl & ~(PS_T_ENT_SELF | PS_T_ENT_V6)) != 0 ||
		                    !(fl & PS_T_ENT_SELF) ||
		                    (uint64_t)e->key_off + klen > v->strings_len
		         : (fl & ~(PS_T_ENT_SELF | PS_T_ENT_SUB)) != 0 ||
		                    fl == 0 || !str_ok(v, e->key_off))
			BAD("hash: bad entry key or flags");
	}
	return 0;
}

static bool
range_val_ok(const struct ps_table_view *v, uint32_t prio, uint32_t src,
             bool trust)
{
	if (prio == PS_PRIO_NONE)
		return src == PS_PRIO_NONE;
	if (trust)
		return prio == 0 && src == PS_PRIO_NONE;
	return prio <= v->hdr->settings.nrules + 1 && src < v->nsources;
}

/* One range array: v6 selects struct ps_t_range6 over ps_t_range4. */
struct range_array {
	const void *r;
	size_t n;
	bool v6;
};

static unsigned __int128
range_array_start(const struct range_array *a, size_t i)
{
	if (a->v6)
		return table_u128_load(
		        ((const struct ps_t_range6 *)a->r)[i].start, 16);
	return ((const struct ps_t_range4 *)a->r)[i].start;
}

static uint32_t
range_array_prio(const struct range_array *a, size_t i, uint32_t *src)
{
	if (a->v6) {
		*src = ((const struct ps_t_range6 *)a->r)[i].src;
		return ((const struct ps_t_range6 *)a->r)[i].prio;
	}
	*src = ((const struct ps_t_range4 *)a->r)[i].src;
	return ((const struct ps_t_range4 *)a->r)[i].prio;
}

static bool
rindex_zero(const struct ps_t_rindex *x)
{
	static const struct ps_t_rindex zero;

	return memcmp(x, &zero, sizeof(zero)) == 0;
}

/* The prefix must be well-formed, and hold every covered range. */
static int
check_rindex(const struct ps_table_view *v, const struct range_array *a,
             const struct ps_t_rindex *x, const char **why)
{
	unsigned width = a->v6 ? 128 : 32, p = x->prefix_len, k;
	unsigned __int128 pfx, lo, hi, end, max;
	uint32_t src;
	size_t i;

	(void)v;
	if (p > width - 16 || x->reserved[0] || x->reserved[1] ||
	    x->reserved[2])
		BAD("range index: bad prefix length");
	for (k = width / 8; k < 16; k++)
		if (x->prefix[k] != 0)
			BAD("range index: bad prefix");
	pfx = table_u128_load(x->prefix, width / 8);
	max = width == 128 ? ~(unsigned __int128)0
	                   : ((unsigned __int128)1 << 32) - 1;
	lo = pfx;
	hi = p == 0 ? max : pfx | (max >> p);
	if (p > 0 && (pfx & (max >> p)) != 0)
		BAD("range index: bad prefix");
	for (i = 0; i < a->n; i++) {
		if (range_array_prio(a, i, &src) == PS_PRIO_NONE)
			continue;
		end = i + 1 < a->n ? range_array_start(a, i + 1) - 1 : max;
		if (range_array_start(a, i) < lo || end > hi)
			BAD("range index: a covered range lies outside the "
			    "prefix");
	}
	return 0;
}

static int
check_ranges(const struct ps_table_view *v, const struct range_array *a,
             const uint32_t *idx, const struct ps_t_rindex *x, bool trust,
             const char **why)
{
	unsigned width = a->v6 ? 128 : 32;
	uint32_t prio, src;
	size_t i, j = 0;
	int r;

	if (a->n == 0 || range_array_start(a, 0) != 0)
		BAD("ranges do not start at the first address");
	for (i = 0; i < a->n; i++) {
		if (i > 0 &&
		    range_array_start(a, i) <= range_array_start(a, i - 1))
			BAD("ranges not sorted");
		prio = range_array_prio(a, i, &src);
		if (!range_val_ok(v, prio, src, trust))
			BAD("range value out of range");
	}
	if (x == NULL)
		return 0;
	if (idx == NULL) {
		if (!rindex_zero(x))
			BAD("range index: prefix without an index");
		return 0;
	}
	r = check_rindex(v, a, x, why);
	if (r < 0)
		return r;
	/* The index must be exactly what the lookup expects, not merely in
	 * bounds: a wrong bucket start would give a wrong answer. */
	for (i = 0; i < PS_T_INDEX_COUNT - 1; i++) {
		unsigned __int128 s = table_rindex_start(x, width, i);

		while (j + 1 < a->n && range_array_start(a, j + 1) <= s)
			j++;
		if (idx[i] != j)
			BAD("range index inconsistent with the ranges");
	}
	if (idx[PS_T_INDEX_COUNT - 1] != a->n - 1)
		BAD("range index inconsistent with the ranges");
	return 0;
}

static int
check_all_ranges(const struct ps_table_view *v, const char **why)
{
	const struct ps_t_header *h = v->hdr;
	struct range_array r4 = {v->v4, v->nv4, false},
	                   r6 = {v->v6, v->nv6, true};
	struct range_array t4 = {v->trust4, v->ntrust4, false};
	struct range_array t6 = {v->trust6, v->ntrust6, true};
	int r;

	if ((r = check_ranges(v, &r4, v->v4_index, &h->rindex[0], false, why)) <
	            0 ||
	    (r = check_ranges(v, &r6, v->v6_index, &h->rindex[1], false, why)) <
	            0 ||
	    (r = check_ranges(v, &t4, NULL, NULL, true, why)) < 0 ||
	    (r = check_ranges(v, &t6, NULL, NULL, true, why)) < 0)
		return r;
	return 0;
}

static int
check_filter(const struct ps_table_view *v, const char **why)
{
	size_t n = v->hdr->sec[PS_SEC_NAME_FILTER].count;

	/* Its bits are not checked against the keys: a wrong filter can
	 * only hide entries (a wrong answer, which the checksum guards
	 * against), never send a read out of bounds. */
	if ((n & (n - 1)) != 0)
		BAD("name filter size not a power of two");
	return 0;
}

/* Sorted, each lo <= hi, disjoint and not touching (the compiler merges). */
static int
check_https_ports(const struct ps_table_view *v, const char **why)
{
	size_t i;

	for (i = 0; i < v->nhttps_ports; i++) {
		if (v->https_ports[i].lo > v->https_ports[i].hi)
			BAD("https ports: range with lo > hi");
		if (i > 0 && (uint32_t)v->https_ports[i - 1].hi + 1 >=
		                     v->https_ports[i].lo)
			BAD("https ports: ranges not sorted and merged");
	}
	return 0;
}

static int
check_content(const struct ps_table_view *v, const char **why)
{
	const struct ps_t_section *sec = v->hdr->sec;
	int r;

	if (v->strings_len == 0 || v->strings[0] != '\0' ||
	    v->strings[v->strings_len - 1] != '\0')
		BAD("strings section not NUL-delimited");
	if ((r = check_https_ports(v, why)) < 0)
		return r;
	if ((sec[PS_SEC_V4_INDEX].count != 0 &&
	     sec[PS_SEC_V4_INDEX].count != PS_T_INDEX_COUNT) ||
	    (sec[PS_SEC_V6_INDEX].count != 0 &&
	     sec[PS_SEC_V6_INDEX].count != PS_T_INDEX_COUNT))
		BAD("range index has the wrong size");
	if ((r = check_settings(v, why)) < 0 ||
	    (r = check_upstreams(v, why)) < 0 ||
	    (r = check_rules(v, why)) < 0 ||
	    (r = check_hash(v, v->name_slots, v->nname_slots, v->name_ents,
	                    v->nname_ents, false, why)) < 0 ||
	    (r = check_hash(v, v->addr_slots, v->naddr_slots, v->addr_ents,
	                    v->naddr_ents, true, why)) < 0 ||
	    (r = check_filter(v, why)) < 0 ||
	    (r = check_all_ranges(v, why)) < 0)
		return r;
	return 0;
}

int
table_view_open(const void *base, size_t size, struct ps_table_view *v,
                const char **why)
{
	return table_view_open_flags(base, size, v, why, 0);
}

int
table_view_open_flags(const void *base, size_t size, struct ps_table_view *v,
                      const char **why, unsigned flags)
{
	struct ps_table_view tmp;
	const char *dummy;
	int r;

	if (why == NULL)
		why = &dummy;
	*why = "";
	memset(v, 0, sizeof(*v));
	r = check_header(base, size, flags, why);
	if (r < 0)
		return r;
	memset(&tmp, 0, sizeof(tmp));
	tmp.base = base;
	tmp.size = size;
	tmp.hdr = base;
	r = check_sections(&tmp, why);
	if (r < 0)
		return r;
	view_fill(&tmp);
	r = check_content(&tmp, why);
	if (r < 0)
		return r;
	/* Only a fully checked view ever reaches the caller. */
	*v = tmp;
	return 0;
}
