/*
 * proxyshim: the resolver's name map (resolver/names.c).
 *
 * One shared memory segment per table, "/proxyshim-<uid>-v<fmt>-<16 hex
 * identity>-names" (0600, owner-checked, O_NOFOLLOW), mapped by every
 * process of a run tree, so a fake address handed out before a fork or an
 * exec still means the same name after it.  Two parts:
 *
 *  - Fake addresses (dns: remote).  NAMES_FAKE_SLOTS slots; slot i is
 *    fake_ipv4 base + 1 + i and fake_ipv6 base + 1 + i (the network
 *    address itself is never handed out), so address -> name is an index.
 *    A name's home slot is its hash; it lives in the first free slot of the
 *    NAMES_PROBE slots from there (linear probing).  A slot, once used, is
 *    never empty again: it is only ever re-assigned, so probe chains are
 *    never cut.  The same name always gets the same slot while it is live.
 *    When the probe window holds no free slot, the least recently used slot
 *    of the window that has been idle for at least the TTL (default
 *    NAMES_TTL_MS, 10 minutes) is recycled; when none has, the lookup fails
 *    (-EAGAIN, logged by the caller): an address is never given to two live
 *    names.  "Used" means resolved or connected to.
 *
 *  - Real addresses recorded against names (names resolved locally), a
 *    direct-mapped cache of NAMES_REAL_SLOTS entries hashed by address.
 *    Last writer wins: when two names share an address (a CDN), connect()
 *    sees the name resolved last; a colliding address evicts the older one.
 *
 * Locking: readers (getaddrinfo hits, connect(), getnameinfo()) are
 * lock-free: every entry is a seqlock (odd while written).  Writers take a
 * process-shared robust mutex, held only for memory writes (never across
 * I/O); if a process dies while holding it, the next writer turns any
 * half-written entry into a recyclable tombstone and goes on.
 */
#ifndef PROXYSHIM_NAMES_H
#define PROXYSHIM_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "proxyshim/config.h" /* PS_MAX_HOST */
#include "proxyshim/route.h"
#include "proxyshim/table.h"

#define NAMES_FAKE_SLOTS 16384u /* fake addresses live at once */
#define NAMES_REAL_SLOTS 4096u  /* recorded real addresses */
#define NAMES_PROBE 512u        /* probe window of one name */
#define NAMES_TTL_MS 600000u    /* idle time before a slot may be reused */

struct names_seg; /* the shared layout, private to names.c */

struct names_params {
	uint8_t fake4[4];     /* network order, host bits clear */
	uint8_t fake4_prefix; /* 0 = no IPv4 fakes */
	uint8_t fake6[16];
	uint8_t fake6_prefix; /* 0 = no IPv6 fakes */
	uint32_t nslots;      /* 0 = NAMES_FAKE_SLOTS; capped by the ranges */
	uint32_t nreal;       /* 0 = NAMES_REAL_SLOTS */
	uint32_t ttl_ms;      /* 0 = NAMES_TTL_MS */
};

struct names_map {
	struct names_seg *seg;
	size_t len;
	struct names_params p; /* effective values */
	int shared;            /* 1 = named segment, 0 = anonymous */
	/* Recorded real addresses live in memory private to the process
	 * (inherited by fork): a name that another program resolved must
	 * not attach itself to this program's bare-IP connects
	 * (docs/behaviour.md#match-entries). */
	void *real;
	size_t real_len;
};

/* The segment's name for a table identity. */
void names_shm_name(uint64_t identity, char *buf, size_t bufsz);
/* Map (creating if needed) the segment name, or an anonymous shared
 * mapping when name is NULL (shared with forked children only).  A named
 * segment that is not ours, is accessible by others, or was made for other
 * ranges or sizes is refused.  0 or -errno. */
int names_open(struct names_map *m, const char *name,
               const struct names_params *p);
void names_close(struct names_map *m);
/* Unit tests only: the millisecond clock that ages fake-address slots, so
 * recycling can be tested without sleeping (NULL: CLOCK_MONOTONIC). */
void names_set_clock(int64_t (*now_ms)(void));
/* Parameters from a table's settings. */
void names_params_from_table(const struct ps_table_view *v,
                             struct names_params *p);

/* name (len bytes, any case, a trailing dot ignored) -> slot.  0, -EINVAL
 * (not a usable name), -EAGAIN (probe window full, nothing idle long
 * enough), -ENOTRECOVERABLE (lock lost). */
int names_fake_get(struct names_map *m, const char *name, size_t len,
                   uint32_t *slot);
/* The fake address of a slot: 0, or -EAFNOSUPPORT when that family has no
 * fake range. */
int names_fake_addr(const struct names_map *m, uint32_t slot, int family,
                    uint8_t addr[16]);
/* 1 and *slot when addr is in a fake range (IPv4-mapped IPv6 counts as
 * IPv4), else 0.  *slot may be past the slots (or the network address,
 * UINT32_MAX): names_fake_name() says -ENOENT for those.  Needs only the
 * parameters: no segment access. */
int names_fake_slot(const struct names_map *m, int family, const uint8_t *addr,
                    uint32_t *slot);
/* The slot's name into buf (NUL-terminated, lower case): its length, or
 * -ENOENT (never assigned / being rewritten), -ERANGE (buf too small).
 * Marks the slot used.  Lock-free, no allocation. */
int names_fake_name(struct names_map *m, uint32_t slot, char *buf, size_t size);

/* What the name hooks and the DNS stub hand out for a name that gets fake
 * addresses (docs/behaviour.md#name-lookups): its slot (names_fake_get())
 * and the slot's address in each family that has a fake range.  A full
 * map is logged here.  0, or names_fake_get()'s -errno. */
struct names_fake {
	uint32_t slot;
	int has4, has6;
	uint8_t v4[4];
	uint8_t v6[16];
};
int names_fake_lookup(struct names_map *m, const char *name, size_t len,
                      struct names_fake *f);

/* Record addr (4 or 16 bytes) as resolved from name.  0 or -errno. */
int names_real_record(struct names_map *m, int family, const uint8_t *addr,
                      const char *name, size_t len);
/* Record each address of a getaddrinfo() result against name, once
 * (glibc repeats an address per socket type): how many were recorded.
 * The name hooks and the DNS stub both record this way. */
struct addrinfo;
size_t names_real_record_ai(struct names_map *m, const char *name, size_t len,
                            const struct addrinfo *ai);
/* The name last recorded for addr: its length, -ENOENT or -ERANGE. */
int names_real_name(const struct names_map *m, int family, const uint8_t *addr,
                    char *buf, size_t size);

/* What the name hooks do with a name under a table
 * (docs/behaviour.md#name-lookups). */
enum names_how {
	NAMES_REAL = 0, /* resolve for real and record */
	NAMES_FAKE,     /* fake address, the proxy resolves */
};
enum names_why {
	NAMES_WHY_LOCAL = 1, /* dns: local */
	NAMES_WHY_DIRECT,    /* the route is direct */
	NAMES_WHY_ADDRESS,   /* the upstream needs an address (socks4/5) */
	NAMES_WHY_NO_RANGE,  /* no fake range configured */
	NAMES_WHY_PROXY,     /* the proxy takes names */
	NAMES_WHY_BLOCK,     /* blocked: no query, connect() is refused */
};
enum names_how names_decide(const struct ps_table_view *v, const char *name,
                            size_t len, uint16_t port, enum names_why *why);
const char *names_why_text(enum names_why why);

/* 1 when s is a host name the name hooks handle: not numeric, not
 * localhost, DNS syntax. */
int names_is_name(const char *s);

#endif
