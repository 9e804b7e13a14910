/*
 * The resolver's name map in shared memory and the resolve-or-fake
 * decision.  Design, capacity, recycling and
 * locking: include/proxyshim/names.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/shm.h"

#define NAMES_MAGIC 0x4d4e5350u /* "PSNM" */
#define NAMES_VERSION 2u
#define NAMES_INIT_NONE 0u
#define NAMES_INIT_BUSY 1u
#define NAMES_INIT_READY 2u
#define NAMES_INIT_WAIT_MS 2000 /* a creator slower than this is dead */

/* One fake slot.  seq: 0 = never used (the only "empty"), odd = being
 * written, even = stable; len 0 with seq != 0 is a tombstone (reusable). */
struct names_fake_ent {
	_Atomic uint32_t seq;
	uint32_t hash;
	_Atomic int64_t used_ms; /* last use, CLOCK_MONOTONIC (system-wide) */
	uint16_t len;
	char name[PS_MAX_HOST + 1];
};

struct names_real_ent {
	_Atomic uint32_t seq;
	uint8_t family;
	uint8_t addr[16];
	uint16_t len;
	char name[PS_MAX_HOST + 1];
};

struct names_hdr {
	uint32_t magic;
	uint32_t version;
	_Atomic uint32_t init;
	uint32_t nslots;
	uint32_t nreal;
	uint32_t ttl_ms;
	uint8_t fake4[4];
	uint8_t fake6[16];
	uint8_t fake4_prefix;
	uint8_t fake6_prefix;
	uint8_t reserved[6];
	_Atomic int64_t init_ms; /* when init went BUSY */
	pthread_mutex_t lock;    /* process-shared, robust */
};

struct names_seg {
	struct names_hdr h;
	struct names_fake_ent fake[]; /* nslots, then nreal real entries */
};

static int64_t (*names_test_clock)(void);

void
names_set_clock(int64_t (*now_ms)(void))
{
	names_test_clock = now_ms;
}

/* The clock slots age by (used_ms): CLOCK_MONOTONIC, or a test's own. */
static int64_t
names_now_ms(void)
{
	struct timespec ts;

	if (names_test_clock != NULL)
		return names_test_clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct names_real_ent *
names_real_ents(const struct names_map *m)
{
	if (m->real != NULL)
		return m->real;
	return (struct names_real_ent *)(void *)&m->seg->fake[m->p.nslots];
}

static size_t
names_seg_size(const struct names_params *p)
{
	return sizeof(struct names_seg) +
	       (size_t)p->nslots * sizeof(struct names_fake_ent) +
	       (size_t)p->nreal * sizeof(struct names_real_ent);
}

void
names_shm_name(uint64_t identity, char *buf, size_t bufsz)
{
	shm_companion_name(identity, "-names", buf, bufsz);
}

void
names_params_from_table(const struct ps_table_view *v, struct names_params *p)
{
	const struct ps_t_settings *s = &v->hdr->settings;

	memset(p, 0, sizeof(*p));
	memcpy(p->fake4, s->fake4, 4);
	memcpy(p->fake6, s->fake6, 16);
	p->fake4_prefix = s->fake4_prefix;
	p->fake6_prefix = s->fake6_prefix;
}

/* Effective sizes: a range of 2^k addresses holds 2^k - 2 slots (neither
 * the network address nor the last one). */
static void
names_params_fix(const struct names_params *in, struct names_params *p)
{
	uint64_t cap;

	*p = *in;
	if (p->nslots == 0)
		p->nslots = NAMES_FAKE_SLOTS;
	if (p->nreal == 0)
		p->nreal = NAMES_REAL_SLOTS;
	if (p->ttl_ms == 0)
		p->ttl_ms = NAMES_TTL_MS;
	if (p->fake4_prefix > 0 && p->fake4_prefix <= 32) {
		cap = p->fake4_prefix >= 2
		              ? (1ull << (32 - p->fake4_prefix)) - 2
		              : 0;
		if (cap < p->nslots)
			p->nslots = (uint32_t)cap;
	}
	if (p->fake6_prefix > 96 && p->fake6_prefix <= 128) {
		cap = (1ull << (128 - p->fake6_prefix)) - 2;
		if (cap < p->nslots)
			p->nslots = (uint32_t)cap;
	}
}

/* First mapper initialises the header and the robust mutex; the others
 * wait (bounded) for it. */
static int
names_seg_init(struct names_map *m)
{
	struct names_hdr *h = &m->seg->h;
	pthread_mutexattr_t a;
	uint32_t st = NAMES_INIT_NONE;
	int64_t deadline;

	if (atomic_compare_exchange_strong(&h->init, &st, NAMES_INIT_BUSY))
		goto init;
	deadline = names_now_ms() + NAMES_INIT_WAIT_MS;
	while (atomic_load(&h->init) != NAMES_INIT_READY) {
		if (names_now_ms() > deadline) {
			/* The creator died between BUSY and READY. */
			atomic_store(&h->init, NAMES_INIT_BUSY);
			goto init;
		}
		usleep(1000);
	}
	goto check;
init:
	h->magic = NAMES_MAGIC;
	h->version = NAMES_VERSION;
	h->nslots = m->p.nslots;
	h->nreal = m->p.nreal;
	h->ttl_ms = m->p.ttl_ms;
	memcpy(h->fake4, m->p.fake4, 4);
	memcpy(h->fake6, m->p.fake6, 16);
	h->fake4_prefix = m->p.fake4_prefix;
	h->fake6_prefix = m->p.fake6_prefix;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&h->lock, &a);
	pthread_mutexattr_destroy(&a);
	atomic_store(&h->init, NAMES_INIT_READY);
check:
	if (h->magic != NAMES_MAGIC || h->version != NAMES_VERSION ||
	    h->nslots != m->p.nslots || h->nreal != m->p.nreal ||
	    h->fake4_prefix != m->p.fake4_prefix ||
	    h->fake6_prefix != m->p.fake6_prefix ||
	    memcmp(h->fake4, m->p.fake4, 4) != 0 ||
	    memcmp(h->fake6, m->p.fake6, 16) != 0)
		return -EINVAL;
	m->p.ttl_ms = h->ttl_ms; /* the segment's creator decides */
	return 0;
}

int
names_open(struct names_map *m, const char *name, const struct names_params *p)
{
	void *base = NULL;
	int r;

	memset(m, 0, sizeof(*m));
	names_params_fix(p, &m->p);
	m->len = names_seg_size(&m->p);
	if (name != NULL) {
		r = shm_map_rw(name, m->len, 1, &base);
		if (r < 0)
			return r;
		m->shared = 1;
	} else {
		base = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
		            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED)
			return -errno;
	}
	m->seg = base;
	r = names_seg_init(m);
	if (r < 0) {
		munmap(base, m->len);
		m->seg = NULL;
		return r;
	}
	/* Zero-filled and backed lazily: untouched entries cost nothing. */
	m->real_len = (size_t)m->p.nreal * sizeof(struct names_real_ent);
	m->real = mmap(NULL, m->real_len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->real == MAP_FAILED)
		m->real = NULL; /* fall back to the shared entries */
	return 0;
}

void
names_close(struct names_map *m)
{
	if (m->seg != NULL)
		munmap(m->seg, m->len);
	if (m->real != NULL)
		munmap(m->real, m->real_len);
	m->seg = NULL;
	m->real = NULL;
}

/* ----------------------------------------------------------- the lock */

/* A holder that died left at most its one entry odd: make such entries
 * tombstones (fake) or empty (real), both safe for readers and probes. */
static void
names_repair(struct names_map *m)
{
	struct names_real_ent *re = names_real_ents(m);
	uint32_t i, s;

	for (i = 0; i < m->p.nslots; i++) {
		s = atomic_load(&m->seg->fake[i].seq);
		if (s & 1u) {
			m->seg->fake[i].len = 0;
			atomic_store(&m->seg->fake[i].used_ms, 0);
			atomic_store(&m->seg->fake[i].seq, s + 1);
		}
	}
	for (i = 0; i < m->p.nreal; i++) {
		s = atomic_load(&re[i].seq);
		if (s & 1u) {
			re[i].len = 0;
			atomic_store(&re[i].seq, s + 1);
		}
	}
}

static int
names_lock(struct names_map *m)
{
	int r = pthread_mutex_lock(&m->seg->h.lock);

	if (r == EOWNERDEAD) {
		names_repair(m);
		pthread_mutex_consistent(&m->seg->h.lock);
		r = 0;
	}
	return -r;
}

static void
names_unlock(struct names_map *m)
{
	pthread_mutex_unlock(&m->seg->h.lock);
}

/* -------------------------------------------------------- fake slots */

/* Lower case, no trailing dot, 1..PS_MAX_HOST bytes.  The key's length, or
 * -EINVAL. */
static int
names_key(const char *name, size_t len, char *key)
{
	size_t i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PS_MAX_HOST)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '\0')
			return -EINVAL;
		key[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	key[len] = '\0';
	return (int)len;
}

static uint32_t
names_hash(const char *key, size_t len)
{
	uint64_t h = ps_fnv1a64(PS_FNV64_INIT, key, len);

	return (uint32_t)(h ^ (h >> 32));
}

/* Mark e used; 0 when it changed under us (recycled).  A recycler checks
 * used_ms after making seq odd, and we check seq after storing used_ms
 * (both seq_cst): either it sees this use or we see its seq.  The store is
 * skipped when the last one is recent (a quarter of the TTL, at most 1 s):
 * threads resolving one name do not bounce its cache line. */
static int
names_touch(struct names_map *m, struct names_fake_ent *e, uint32_t s1)
{
	int64_t now = names_now_ms(), gran = m->p.ttl_ms / 4;

	if (gran > 1000)
		gran = 1000;
	if (now - atomic_load_explicit(&e->used_ms, memory_order_relaxed) <
	    gran)
		return atomic_load(&e->seq) == s1;
	atomic_store(&e->used_ms, now);
	return atomic_load(&e->seq) == s1;
}

/* Lock-free: 1 when slot i holds key (and it was marked used), 0 when it
 * does not, -1 when it was being written (ask again under the lock). */
static int
names_fake_match(struct names_map *m, uint32_t i, const char *key, size_t len,
                 uint32_t hash)
{
	struct names_fake_ent *e = &m->seg->fake[i];
	uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	int same;

	if (s1 & 1u)
		return -1;
	same = e->hash == hash && e->len == len &&
	       memcmp(e->name, key, len) == 0;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
		return -1;
	if (!same)
		return 0;
	return names_touch(m, e, s1) ? 1 : -1;
}

/* Probe the window: 1 found (*slot), 0 not there (stopped at an empty
 * slot or the window's end), -1 unsure. */
static int
names_fake_find(struct names_map *m, const char *key, size_t len, uint32_t hash,
                uint32_t *slot)
{
	uint32_t n = m->p.nslots, win = n < NAMES_PROBE ? n : NAMES_PROBE;
	uint32_t k, i;
	int r, unsure = 0;

	for (k = 0; k < win; k++) {
		i = (hash + k) % n;
		if (atomic_load_explicit(&m->seg->fake[i].seq,
		                         memory_order_acquire) == 0)
			break;
		r = names_fake_match(m, i, key, len, hash);
		if (r > 0) {
			*slot = i;
			return 1;
		}
		if (r < 0)
			unsure = 1;
	}
	return unsure ? -1 : 0;
}

static void
names_fake_write(struct names_map *m, uint32_t i, const char *key, size_t len,
                 uint32_t hash, uint32_t s)
{
	struct names_fake_ent *e = &m->seg->fake[i];

	e->hash = hash;
	e->len = (uint16_t)len;
	memcpy(e->name, key, len);
	e->name[len] = '\0';
	atomic_store(&e->used_ms, names_now_ms());
	atomic_store_explicit(&e->seq, (s | 1u) + 1u, memory_order_release);
}

/* Under the lock: a free slot, or the least recently used one idle for
 * the TTL, made odd (ours).  -EAGAIN when there is none. */
static int
names_fake_claim(struct names_map *m, uint32_t hash, uint32_t *slot,
                 uint32_t *seq)
{
	uint32_t n = m->p.nslots, win = n < NAMES_PROBE ? n : NAMES_PROBE;
	int64_t now = names_now_ms(), best_used = INT64_MAX, u;
	uint32_t k, i, best = UINT32_MAX, s;
	struct names_fake_ent *e;

	for (k = 0; k < win; k++) {
		i = (hash + k) % n;
		s = atomic_load(&m->seg->fake[i].seq);
		if (s == 0 || m->seg->fake[i].len == 0) {
			best = i; /* empty or tombstone: free */
			break;
		}
		u = atomic_load(&m->seg->fake[i].used_ms);
		if (now - u >= (int64_t)m->p.ttl_ms && u < best_used) {
			best = i;
			best_used = u;
		}
	}
	if (best == UINT32_MAX)
		return -EAGAIN;
	e = &m->seg->fake[best];
	s = atomic_load(&e->seq);
	atomic_store(&e->seq, s | 1u);
	u = atomic_load(&e->used_ms);
	if (s == 0 || e->len == 0 || now - u >= (int64_t)m->p.ttl_ms) {
		*slot = best;
		*seq = s | 1u;
		return 0;
	}
	/* Used again just now (names_fake_match): leave it to its name. */
	atomic_store(&e->seq, (s | 1u) + 1u);
	return -EAGAIN;
}

int
names_fake_get(struct names_map *m, const char *name, size_t len,
               uint32_t *slot)
{
	char key[PS_MAX_HOST + 1];
	uint32_t hash, s;
	int klen, r;

	klen = names_key(name, len, key);
	if (klen < 0 || m->p.nslots == 0)
		return -EINVAL;
	hash = names_hash(key, (size_t)klen);
	if (names_fake_find(m, key, (size_t)klen, hash, slot) > 0)
		return 0;
	r = names_lock(m);
	if (r < 0)
		return r;
	/* Again under the lock: no two slots ever hold one name. */
	if (names_fake_find(m, key, (size_t)klen, hash, slot) > 0)
		goto out;
	r = names_fake_claim(m, hash, slot, &s);
	if (r == 0)
		names_fake_write(m, *slot, key, (size_t)klen, hash, s);
out:
	names_unlock(m);
	return r;
}

int
names_fake_addr(const struct names_map *m, uint32_t slot, int family,
                uint8_t addr[16])
{
	uint32_t low, off = slot + 1;

	if (family == AF_INET && m->p.fake4_prefix > 0) {
		memcpy(&low, m->p.fake4, 4);
		low = htonl(ntohl(low) + off);
		memcpy(addr, &low, 4);
		return 0;
	}
	if (family == AF_INET6 && m->p.fake6_prefix > 0) {
		memcpy(addr, m->p.fake6, 16);
		memcpy(&low, addr + 12, 4);
		low = htonl(ntohl(low) + off);
		memcpy(addr + 12, &low, 4);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
names_fake_lookup(struct names_map *m, const char *name, size_t len,
                  struct names_fake *f)
{
	uint8_t a4[16] = {0};
	int r = names_fake_get(m, name, len, &f->slot);

	if (r < 0) {
		log_warn("%.*s: no fake address (%s): name map full of names "
		         "used in the last %u s",
		         (int)len, name, strerror(-r), m->p.ttl_ms / 1000);
		return r;
	}
	f->has4 = names_fake_addr(m, f->slot, AF_INET, a4) == 0;
	memcpy(f->v4, a4, 4);
	f->has6 = names_fake_addr(m, f->slot, AF_INET6, f->v6) == 0;
	return 0;
}

/* addr's first bits bits equal base's. */
static int
names_prefix_eq(const uint8_t *addr, const uint8_t *base, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(addr, base, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == (base[full] & mask);
}

int
names_fake_slot(const struct names_map *m, int family, const uint8_t *addr,
                uint32_t *slot)
{
	uint32_t a, b;

	addr = ps_addr_unmap(&family, addr);
	if (family == AF_INET && m->p.fake4_prefix > 0) {
		if (!names_prefix_eq(addr, m->p.fake4, m->p.fake4_prefix))
			return 0;
		memcpy(&a, addr, 4);
		memcpy(&b, m->p.fake4, 4);
	} else if (family == AF_INET6 && m->p.fake6_prefix > 0) {
		if (!names_prefix_eq(addr, m->p.fake6, m->p.fake6_prefix))
			return 0;
		/* Slots only ever use the last 32 bits. */
		if (memcmp(addr, m->p.fake6, 12) != 0) {
			*slot = UINT32_MAX;
			return 1;
		}
		memcpy(&a, addr + 12, 4);
		memcpy(&b, m->p.fake6 + 12, 4);
	} else {
		return 0;
	}
	/* In the range: a slot, or beyond the slots (no name ever). */
	*slot = ntohl(a) - ntohl(b) - 1u;
	return 1;
}

int
names_fake_name(struct names_map *m, uint32_t slot, char *buf, size_t size)
{
	struct names_fake_ent *e;
	uint32_t s1;
	size_t len;

	if (slot >= m->p.nslots)
		return -ENOENT;
	e = &m->seg->fake[slot];
	s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	if (s1 == 0 || (s1 & 1u))
		return -ENOENT;
	len = e->len;
	if (len == 0 || len > PS_MAX_HOST)
		return -ENOENT;
	if (len + 1 > size)
		return -ERANGE;
	memcpy(buf, e->name, len);
	buf[len] = '\0';
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
		return -ENOENT;
	return names_touch(m, e, s1) ? (int)len : -ENOENT;
}

/* -------------------------------------------------- recorded addresses */

static uint32_t
names_real_index(const struct names_map *m, int family, const uint8_t *addr)
{
	uint8_t k[17];
	size_t n = family == AF_INET ? 4 : 16;
	uint64_t h;

	k[0] = (uint8_t)family;
	memcpy(k + 1, addr, n);
	h = ps_fnv1a64(PS_FNV64_INIT, k, n + 1);
	return (uint32_t)((h ^ (h >> 32)) % m->p.nreal);
}

int
names_real_record(struct names_map *m, int family, const uint8_t *addr,
                  const char *name, size_t len)
{
	char key[PS_MAX_HOST + 1];
	struct names_real_ent *e;
	uint32_t s;
	int klen, r;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	klen = names_key(name, len, key);
	if (klen < 0)
		return klen;
	e = &names_real_ents(m)[names_real_index(m, family, addr)];
	r = names_lock(m);
	if (r < 0)
		return r;
	s = atomic_load(&e->seq);
	atomic_store(&e->seq, s | 1u);
	e->family = (uint8_t)family;
	memset(e->addr, 0, 16);
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	e->len = (uint16_t)klen;
	memcpy(e->name, key, (size_t)klen + 1);
	atomic_store_explicit(&e->seq, (s | 1u) + 1u, memory_order_release);
	names_unlock(m);
	return 0;
}

size_t
names_real_record_ai(struct names_map *m, const char *name, size_t len,
                     const struct addrinfo *ai)
{
	const void *prev = NULL, *a;
	size_t n = 0;

	for (; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)
			              ai->ai_addr)
			             ->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)
			              ai->ai_addr)
			             ->sin6_addr;
		else
			continue;
		if (prev != NULL &&
		    memcmp(prev, a, ai->ai_family == AF_INET ? 4 : 16) == 0)
			continue;
		if (names_real_record(m, ai->ai_family, a, name, len) == 0)
			n++;
		prev = a;
	}
	return n;
}

int
names_real_name(const struct names_map *m, int family, const uint8_t *addr,
                char *buf, size_t size)
{
	const struct names_real_ent *e;
	uint32_t s1;
	size_t len, n;
	int hit;

	addr = ps_addr_unmap(&family, addr);
	if (family != AF_INET && family != AF_INET6)
		return -ENOENT;
	n = family == AF_INET ? 4 : 16;
	e = &names_real_ents(m)[names_real_index(m, family, addr)];
	s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	if (s1 == 0 || (s1 & 1u))
		return -ENOENT;
	len = e->len;
	hit = e->family == family && memcmp(e->addr, addr, n) == 0 && len > 0 &&
	      len <= PS_MAX_HOST;
	if (hit && len + 1 > size)
		return -ERANGE;
	if (hit) {
		memcpy(buf, e->name, len);
		buf[len] = '\0';
	}
	atomic_thread_fence(memory_order_acquire);
	if (!hit || atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
		return -ENOENT;
	return (int)len;
}

/* ------------------------------------------------------- the decision */

static int
names_takes_name(enum ps_scheme s)
{
	return s == PS_SCHEME_HTTP || s == PS_SCHEME_HTTPS ||
	       s == PS_SCHEME_SOCKS4A || s == PS_SCHEME_SOCKS5H;
}

enum names_how
names_decide(const struct ps_table_view *v, const char *name, size_t len,
             uint16_t port, enum names_why *why)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	struct ps_route rt;
	struct ps_dest d;
	uint32_t i, first, n;

	if (s->dns_mode != PS_DNS_REMOTE) {
		*why = NAMES_WHY_LOCAL;
		return NAMES_REAL;
	}
	if (s->fake4_prefix == 0 && s->fake6_prefix == 0) {
		*why = NAMES_WHY_NO_RANGE;
		return NAMES_REAL;
	}
	memset(&d, 0, sizeof(d));
	d.name = name;
	d.name_len = len;
	d.port = port;
	route_lookup(v, &d, &rt);
	if (rt.action == PS_ROUTE_BLOCK) {
		*why = NAMES_WHY_BLOCK;
		return NAMES_FAKE;
	}
	if (rt.action != PS_ROUTE_VIA || rt.chain_len == 0) {
		*why = NAMES_WHY_DIRECT;
		return NAMES_REAL;
	}
	/* strict: the last hop is sent the name; failover / round_robin:
	 * any of the list may be, so all must take names. */
	first = rt.chain_first;
	n = rt.chain_len;
	if (s->chain_mode == PS_CHAIN_STRICT) {
		first += n - 1;
		n = 1;
	}
	for (i = first; i < first + n; i++) {
		if (!names_takes_name((enum ps_scheme)v->upstreams[v->chains[i]]
		                              .scheme)) {
			*why = NAMES_WHY_ADDRESS;
			return NAMES_REAL;
		}
	}
	*why = NAMES_WHY_PROXY;
	return NAMES_FAKE;
}

const char *
names_why_text(enum names_why why)
{
	switch (why) {
	case NAMES_WHY_LOCAL:
		return "dns: local";
	case NAMES_WHY_DIRECT:
		return "dns: remote, but the route is direct";
	case NAMES_WHY_ADDRESS:
		return "dns: remote, but the upstream needs an address";
	case NAMES_WHY_NO_RANGE:
		return "dns: remote, but no fake range is configured";
	case NAMES_WHY_PROXY:
		return "dns: remote, the proxy takes names";
	case NAMES_WHY_BLOCK:
		return "dns: remote, blocked: no query, connect is refused";
	}
	return "?";
}

int
names_is_name(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t i, len, n;

	if (s == NULL || *s == '\0')
		return 0;
	len = strlen(s);
	if (len > PS_MAX_HOST + 1 ||
	    (len == PS_MAX_HOST + 1 && s[PS_MAX_HOST] != '.'))
		return 0;
	/* Whatever glibc takes as numeric (inet_aton forms too, scoped
	 * IPv6) is not a name. */
	if (inet_aton(s, &a4) != 0 || strchr(s, ':') != NULL ||
	    inet_pton(AF_INET6, s, &a6) == 1)
		return 0;
	/* localhost and *.localhost, with or without the root's dot. */
	n = s[len - 1] == '.' ? len - 1 : len;
	if ((n == 9 && strncasecmp(s, "localhost", 9) == 0) ||
	    (n > 10 && strncasecmp(s + n - 10, ".localhost", 10) == 0))
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return 0;
	}
	return 1;
}
