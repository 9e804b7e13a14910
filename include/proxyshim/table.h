/*
 * proxyshim: the compiled rule table, the one definition of its layout.
 *
 * Plain, position-independent data: fixed-width little-endian records,
 * 32-bit offsets from the start of the table, no pointers.  The compiler
 * (resolver/compile.c) writes it, the shim maps it read-only from POSIX
 * shared memory and never trusts it: table_view_open() checks magic,
 * version, sizes, checksum and every offset before anything else reads it.
 *
 * Layout:  [header][section 0][section 1]...  each section 8-byte aligned,
 * sections in id order and not overlapping.  The checksum (CRC-32C) covers
 * the whole table with the checksum field taken as 0.
 *
 * How a lookup uses it (resolver/route.c):
 *  - names: an open-addressing hash (linear probing, load <= 0.5 over
 *    the keys, home slot by multiply-shift so the slot count need not be
 *    a power of two) keyed by the full lower-case name.  A slot holds the
 *    index of the first entry of its key plus one, and 8 bits of the hash
 *    as a tag so most probes are decided without touching the entries.
 *    Large name hashes have a Bloom filter in front, small enough to stay
 *    cached, so the label suffixes that match nothing (most of them) cost
 *    no trip to memory.
 *    The entries of one key are consecutive, share key_off, and are sorted
 *    by (prio, src).  A destination "a.b.c" probes "a.b.c" (SELF entries),
 *    "b.c" and "c" (SUB entries): cost grows with labels, not entries.
 *  - addresses that carry a port: the same hash keyed by the raw 4 or 16
 *    address bytes.
 *  - port-less addresses and CIDRs: sorted, disjoint ranges covering the
 *    whole v4 (or v6) space, each carrying the best (prio, src) of all the
 *    CIDRs covering it; large range arrays get a 65537-entry index by 16
 *    bits of the address (the first 16 below the prefix all covered
 *    addresses share, see ps_t_rindex) so a lookup binary-searches one
 *    bucket only.
 *  - "*" entries: the best one is in the settings.
 * Every structure answers with the smallest (prio, src) that matches; the
 * lookup takes the smallest of those, which is the first match in file
 * order.  Small configs get no index and no filter: the table stays
 * about a KiB, one page to map and check at every process start.
 *
 * The table needs a compiler with unsigned __int128 (gcc, clang on 64-bit
 * targets) and a little-endian host.
 */
#ifndef PROXYSHIM_TABLE_H
#define PROXYSHIM_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PS_TABLE_MAGIC 0x42545350u /* "PSTB" read little-endian */
/* 3: proxy.tls in the settings; 4: TLS per upstream, https ports as
 * ranges. */
#define PS_TABLE_VERSION 4
#define PS_TABLE_MAX_SIZE (1024u * 1024u * 1024u) /* refuse anything larger */

/* Priorities: lower wins.  0 = the upstreams themselves; rule i = i + 1;
 * exempt = nrules + 1. */
#define PS_PRIO_UPSTREAM 0u
#define PS_PRIO_NONE UINT32_MAX
/* Sources keep priorities in 16 bits (see ps_t_source): at most 65533
 * rules, far beyond any real config. */
#define PS_PRIO_MAX 0xfffeu

/* Range arrays at or below this many ranges carry no index (count 0): a
 * binary search over a few KiB is as fast, and small tables stay small
 * (an index is 256 KiB, which every process would map and checksum). */
#define PS_T_INDEX_MIN_RANGES 4096u
#define PS_T_INDEX_COUNT 65537u
/* Name hashes with at least this many keys get a Bloom filter in front. */
#define PS_T_FILTER_MIN_KEYS 4096u
#define PS_T_FILTER_BITS_PER_KEY 10u /* at least; rounded up to 2^n words */

enum ps_section_id {
	PS_SEC_STRINGS = 0, /* bytes; strings are NUL-terminated; the section
	                       starts and ends with a NUL, so any offset
	                       inside it is a valid string */
	PS_SEC_UPSTREAMS,   /* struct ps_t_upstream */
	PS_SEC_CHAINS,      /* uint32_t upstream indices */
	PS_SEC_RULES,       /* struct ps_t_rule: user rules, then the http
	                       and https default routes */
	PS_SEC_SOURCES,     /* struct ps_t_source: every match entry written,
	                       upstream-self entries first; sorted by prio */
	PS_SEC_NAME_FILTER, /* uint64_t[0 or 2^n]: blocked Bloom filter over
	                       the name keys, see table_filter_*() */
	PS_SEC_NAME_SLOTS,  /* uint32_t, see PS_T_SLOT_*; at least one empty
	                       slot unless the count is 0 */
	PS_SEC_NAME_ENTS,   /* struct ps_t_ent, grouped per key, by prio */
	PS_SEC_ADDR_SLOTS,  /* as NAME_*, keyed by raw 4 or 16 address bytes */
	PS_SEC_ADDR_ENTS,   /*   (address entries that carry a port) */
	PS_SEC_V4_INDEX,    /* uint32_t[0 or 65537]: for each bucket b, the
	                       range holding the first address of the bucket
	                       (see ps_t_rindex); [65536] = last range */
	PS_SEC_V4_RANGES,   /* struct ps_t_range4, sorted, covering 0..2^32-1 */
	PS_SEC_V6_INDEX,    /* uint32_t[0 or 65537]: idem for IPv6 */
	PS_SEC_V6_RANGES,   /* struct ps_t_range6, sorted, covering all */
	PS_SEC_HTTPS_PORTS, /* struct ps_t_portrange, sorted, disjoint and
	                       not adjacent (merged) */
	PS_SEC_TRUST4,      /* struct ps_t_range4 over trustedOrigins (prio 0 =
	                       trusted, PS_PRIO_NONE = not; src unused) */
	PS_SEC_TRUST6,      /* struct ps_t_range6, idem */
	PS_SEC_COUNT
};

struct ps_t_section {
	uint32_t off;       /* from table start, 8-aligned */
	uint32_t count;     /* number of elements */
	uint32_t elem_size; /* bytes per element */
	uint32_t reserved;  /* 0 */
};

struct ps_t_settings {
	uint32_t nrules;     /* user rules; the rules section holds more */
	uint32_t http_rule;  /* rules index of the http default route, or
	                        PS_PRIO_NONE */
	uint32_t https_rule; /* idem for https ports; = http_rule when no
	                        https upstream is configured */
	uint32_t star_prio;  /* best prio of a "*" entry, PS_PRIO_NONE */
	uint32_t star_src;
	uint8_t chain_mode; /* enum ps_chain_mode */
	uint8_t dns_mode;   /* enum ps_dns_mode */
	uint8_t on_failure; /* enum ps_on_failure */
	uint8_t udp_mode;   /* enum ps_udp_mode */
	uint8_t proxy_loopback;
	uint8_t fake4_prefix;
	uint8_t fake6_prefix;
	uint8_t nheaders;   /* reverse proxy headers */
	uint8_t headers[8]; /* enum ps_rp_header, configured order */
	uint8_t fake4[4];
	uint8_t fake6[16];
	uint32_t connect_timeout_ms;
	uint32_t handshake_timeout_ms;
	uint32_t rp_timeout_ms;
	uint32_t source_off; /* string: config path or "<environment>" */
	/* proxy.tls as written, for dump (the relay reads each upstream's
	 * resolved tls_* fields). */
	uint32_t tls_ca_off;   /* string: CA file, absolute; 0 ("") = the
	                          system store */
	uint32_t tls_name_off; /* string: server name; 0 ("") = each proxy's
	                          host */
	uint32_t tls_flags;    /* PS_T_TLS_* */
	uint32_t reload_mode;  /* enum ps_reload_mode */
	uint32_t reserved[4];  /* 0 */
};

#define PS_T_TLS_INSECURE 1u /* insecure_skip_verify: true */

/*
 * How a range index cuts the address space.  Every address covered by
 * some CIDR shares the first prefix_len bits (prefix); an address that
 * does not is covered by none.  Buckets are the next 16 bits: bucket b
 * starts at prefix | b << (W - 16 - prefix_len), W = 32 or 128.  So a
 * list of fd00::/8 networks is indexed by bits 8..23 rather than piling
 * into one bucket.  All zero when the section has no index.
 */
struct ps_t_rindex {
	uint8_t prefix_len;  /* 0..W-16 */
	uint8_t reserved[3]; /* 0 */
	uint8_t prefix[16];  /* network order, bits past prefix_len 0 */
};

struct ps_t_header {
	uint32_t magic;
	uint16_t version;
	uint16_t header_size; /* sizeof(struct ps_t_header) */
	uint32_t total_size;  /* bytes, header included */
	uint32_t checksum;    /* CRC-32C, see above */
	uint64_t generation;  /* 1: the generation in force for a config file
	                         is kept in its current segment
	                         (include/proxyshim/current.h) */
	uint64_t source_hash; /* identity of what it was compiled from */
	struct ps_t_settings settings;
	struct ps_t_section sec[PS_SEC_COUNT];
	struct ps_t_rindex rindex[2]; /* [0] V4_INDEX, [1] V6_INDEX */
};

struct ps_t_upstream {
	uint8_t scheme; /* enum ps_scheme */
	uint8_t family; /* 0 = host is a name (resolved at connect time) */
	uint16_t port;  /* host order */
	uint8_t addr[16];
	uint32_t host_off;    /* string (no brackets) */
	uint32_t user_off;    /* string, or PS_PRIO_NONE when absent */
	uint32_t pass_off;    /* string, or PS_PRIO_NONE when absent */
	uint32_t display_off; /* masked URL string, password as *** */
	/* TLS to an https:// upstream: its own tls: keys, else proxy.tls's,
	 * resolved by the compiler (the relay reads only these; the
	 * PROXYSHIM_TLS_* environment variables override them).  0 and
	 * flags 0 for the other schemes. */
	uint32_t tls_ca_off;   /* string: CA file, absolute; 0 = system store */
	uint32_t tls_name_off; /* string: server name; 0 = the proxy's host */
	uint32_t tls_flags;    /* PS_T_TLS_* */
	uint32_t reserved;     /* 0 */
};

/* https_ports: destination ports lo..hi (inclusive) are https traffic. */
struct ps_t_portrange {
	uint16_t lo;
	uint16_t hi;
};

enum ps_t_action { PS_T_DIRECT = 0, PS_T_BLOCK, PS_T_VIA };

struct ps_t_rule {
	uint8_t action; /* enum ps_t_action */
	uint8_t reserved[3];
	uint32_t chain_first; /* VIA: chain section index */
	uint32_t chain_len;   /* VIA: 1..PS_MAX_HOPS; else 0 */
	uint32_t label_off;   /* string, e.g. "rules[2]", "proxy.http" */
	uint32_t line;
	uint32_t col;
};

/* 12 bytes: a million-entry exempt list has a million of these. */
struct ps_t_source {
	uint32_t text_off; /* string: the entry as written */
	uint32_t line;
	uint16_t col;  /* saturates at 65535 (very long flow lines) */
	uint16_t prio; /* which rule (or exempt) it belongs to */
};

/* A hash slot: 0 = empty, else tag << 24 | (first entry index + 1);
 * the tag is table_slot_tag() of the key's hash. */
#define PS_T_SLOT_TAG(s) ((uint32_t)(s) >> 24)
#define PS_T_SLOT_ENT(s) (((s)&0x00ffffffu) - 1u)
#define PS_T_SLOT_MAX_ENTS 0x00fffffeu

#define PS_T_ENT_SELF 1u /* matches the key itself */
#define PS_T_ENT_SUB 2u  /* matches proper subdomains of the key */
#define PS_T_ENT_V6 4u   /* ADDR entries: the key is 16 bytes, else 4 */
#define PS_T_ENT_PRIO(pf) ((pf)&0x00ffffffu)
#define PS_T_ENT_FLAGS(pf) ((pf) >> 24)

/*
 * One name or address entry.  Priority and flags share a word to keep the
 * record at 16 bytes: with a million exempt entries every byte here is a
 * megabyte of table.  (Priorities fit 16 bits, flags take 8 of the top.)
 */
struct ps_t_ent {
	uint32_t key_off;    /* strings: the name (NUL-terminated), or the
	                        raw address bytes (4, or 16 with ENT_V6) */
	uint32_t prio_flags; /* PS_T_ENT_PRIO | PS_T_ENT_FLAGS << 24 */
	uint32_t src;        /* sources index */
	uint16_t port_lo;    /* destination port range, 0..65535 = any */
	uint16_t port_hi;
};

struct ps_t_range4 {
	uint32_t start; /* host order */
	uint32_t prio;  /* PS_PRIO_NONE = nothing covers the range */
	uint32_t src;   /* PS_PRIO_NONE when prio is */
};

struct ps_t_range6 {
	uint8_t start[16]; /* network order */
	uint32_t prio;
	uint32_t src;
};

/*
 * Range index arithmetic, shared by the compiler, the validator and the
 * lookup.  Addresses are W-bit numbers (W = 32 or 128) in host order.
 */
static inline unsigned __int128
table_u128_load(const uint8_t *p, unsigned bytes)
{
	uint64_t hi, lo;
	uint32_t w;

	/* Big-endian; bytes is 4 or 16 (the two sizes that occur). */
	if (bytes == 16) {
		memcpy(&hi, p, 8);
		memcpy(&lo, p + 8, 8);
		return (unsigned __int128)__builtin_bswap64(hi) << 64 |
		       __builtin_bswap64(lo);
	}
	memcpy(&w, p, 4);
	return __builtin_bswap32(w);
}

/* 1 and the bucket of a, or 0 when a is outside the index prefix (and so
 * covered by no CIDR at all). */
static inline int
table_rindex_bucket(const struct ps_t_rindex *x, unsigned width,
                    unsigned __int128 a, size_t *bucket)
{
	unsigned p = x->prefix_len;

	if (p > 0 &&
	    (a >> (width - p)) !=
	            (table_u128_load(x->prefix, width / 8) >> (width - p)))
		return 0;
	*bucket = (size_t)(a >> (width - 16 - p)) & 0xffff;
	return 1;
}

static inline unsigned __int128
table_rindex_start(const struct ps_t_rindex *x, unsigned width, size_t b)
{
	return table_u128_load(x->prefix, width / 8) |
	       (unsigned __int128)b << (width - 16 - x->prefix_len);
}

/* A validated table: the shim and the command read it only through this. */
struct ps_table_view {
	const uint8_t *base;
	size_t size;
	const struct ps_t_header *hdr;
	const char *strings;
	size_t strings_len;
	const struct ps_t_upstream *upstreams;
	size_t nupstreams;
	const uint32_t *chains;
	size_t nchains;
	const struct ps_t_rule *rules;
	size_t nrules_total;
	const struct ps_t_source *sources;
	size_t nsources;
	const uint64_t *name_filter; /* NULL when the table has none */
	size_t nname_filter;
	const uint32_t *name_slots;
	size_t nname_slots;
	const struct ps_t_ent *name_ents;
	size_t nname_ents;
	const uint32_t *addr_slots;
	size_t naddr_slots;
	const struct ps_t_ent *addr_ents;
	size_t naddr_ents;
	const uint32_t *v4_index; /* NULL when the table has none */
	const struct ps_t_range4 *v4;
	size_t nv4;
	const uint32_t *v6_index; /* NULL when the table has none */
	const struct ps_t_range6 *v6;
	size_t nv6;
	const struct ps_t_portrange *https_ports;
	size_t nhttps_ports;
	const struct ps_t_range4 *trust4;
	size_t ntrust4;
	const struct ps_t_range6 *trust6;
	size_t ntrust6;
};

/*
 * Validate bytes as a table and fill the view.  Checks magic, version, sizes,
 * checksum, every section's bounds and alignment, every string offset (in
 * range and NUL-terminated), every index (chains → upstreams, slots →
 * entries, entries → sources, rules → chains, range and index arrays sorted,
 * exact and in bounds).  Returns 0, or -EINVAL (bad) / -EPROTO (version)
 * with a static reason in *why (why may be NULL).  Allocation-free.
 *
 * The structural checks alone make every later read by route_lookup() and
 * table_dump() stay in bounds, whatever the bytes (tests/unit/check_table.c
 * forges checksums to prove it).  The checksum adds detection of tables
 * that are well-formed but not what was written.  table_view_open() always
 * verifies it: the common table is a few KiB (microseconds); a table of a
 * million entries (60 MiB) costs about 40 ms in all, 80% of it the CRC.
 */
int table_view_open(const void *base, size_t size, struct ps_table_view *v,
                    const char **why);

/*
 * The same with flags.  PS_VIEW_SKIP_CRC skips only the checksum, for a
 * caller that maps a table it has other reasons to trust byte for byte
 * (its own uid's 0600 shared memory object, published atomically and
 * verified in full once by the publisher) and cannot afford the CRC on a
 * very large table at every process start.
 */
#define PS_VIEW_SKIP_CRC 1u
int table_view_open_flags(const void *base, size_t size,
                          struct ps_table_view *v, const char **why,
                          unsigned flags);

/* A string from the strings section, "" when off is out of range. */
const char *table_str(const struct ps_table_view *v, uint32_t off);

/* CRC-32C (Castagnoli), software slice-by-8.  Chainable: start with 0. */
uint32_t table_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven path, always available (the tests compare the two). */
uint32_t table_crc32c_soft(uint32_t crc, const void *buf, size_t len);

/*
 * The name/addr slot hash: 64-bit FNV-1a over the key's bytes taken from
 * the last to the first, then mixed down to 32 bits.  Running it backwards
 * lets a lookup hash every label suffix of a name in one pass:
 * after feeding "example.com" the state is that of the key "example.com",
 * one more byte and it is ".example.com".  Part of the layout (slots
 * depend on it), hence defined here.
 */
#define PS_T_HASH_INIT 0xcbf29ce484222325ull

static inline uint64_t
table_hash_step(uint64_t h, uint8_t c)
{
	return (h ^ c) * 0x100000001b3ull;
}

/* The full 64-bit mix: the low half picks the home slot, the top byte is
 * the slot tag, the high half feeds the name filter. */
static inline uint64_t
table_hash_mix64(uint64_t h)
{
	h ^= h >> 31;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return h;
}

static inline uint32_t
table_hash_final(uint64_t h)
{
	return (uint32_t)table_hash_mix64(h);
}

/* The whole key at once (compiler, address keys). */
static inline uint64_t
table_hash_key64(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = PS_T_HASH_INIT;

	while (len-- > 0)
		h = table_hash_step(h, p[len]);
	return table_hash_mix64(h);
}

/* Home slot of a key: multiply-shift maps the hash onto any count. */
static inline size_t
table_slot_home(uint64_t mix, size_t nslots)
{
	return (size_t)(((uint64_t)(uint32_t)mix * nslots) >> 32);
}

static inline uint32_t
table_slot_tag(uint64_t mix)
{
	return (uint32_t)(mix >> 56);
}

/*
 * The name filter: one 64-bit word per key (chosen by the high half of
 * the mix) with three bits set in it, so a probe costs one cache line
 * that is almost always already cached.  nwords is a power of two.
 */
static inline size_t
table_filter_word(uint64_t mix, size_t nwords)
{
	return (size_t)(mix >> 32) & (nwords - 1);
}

static inline uint64_t
table_filter_bits(uint64_t mix)
{
	uint64_t g = (mix >> 32) * 0x9e3779b97f4a7c15ull;

	return 1ull << (g >> 58) | 1ull << ((g >> 52) & 63) |
	       1ull << ((g >> 46) & 63);
}

uint32_t table_hash(const void *key, size_t len);

struct ps_config;
/*
 * Compile a config into a freshly malloc'ed table (*out, *outlen).
 * source_hash identifies the source (file identity or environment).
 * Returns 0 or -errno with a message in err.
 */
int compile_table(const struct ps_config *c, uint64_t source_hash,
                  uint8_t **out, size_t *outlen, char *err, size_t errsz);

#include <stdio.h>
/* Human-readable listing of a table (proxyshim dump); no credentials. */
void table_dump(const struct ps_table_view *v, FILE *f);

#endif
