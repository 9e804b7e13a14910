/*
 * The current segment of live reload: see include/proxyshim/current.h and
 * docs/behaviour.md#live-reload.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proxyshim/current.h"
#include "proxyshim/shm.h"

int
current_key_of(const char *path, uint64_t *key)
{
	char abs[PATH_MAX];
	uint64_t h = PS_FNV64_INIT;

	if (realpath(path, abs) == NULL)
		return -errno;
	/* A prefix unlike anything a table identity hashes. */
	h = ps_fnv1a64(h, "current:", 8);
	h = ps_fnv1a64(h, abs, strlen(abs));
	*key = h;
	return 0;
}

void
current_name(uint64_t key, char *buf, size_t size)
{
	shm_companion_name(key, PS_CURRENT_SUFFIX, buf, size);
}

int
current_open(uint64_t key, int create, struct ps_current_seg **out)
{
	char name[PS_SHM_NAME_MAX + sizeof(PS_CURRENT_SUFFIX)];
	void *p;
	int r;

	current_name(key, name, sizeof(name));
	r = shm_map_rw(name, sizeof(struct ps_current_seg), create, &p);
	if (r < 0)
		return r;
	*out = p;
	return 0;
}

void
current_close(struct ps_current_seg *s)
{
	if (s != NULL)
		munmap(s, sizeof(*s));
}

uint64_t
current_publish(struct ps_current_seg *s, uint64_t table)
{
	atomic_store_explicit(&s->table, table, memory_order_release);
	return atomic_fetch_add_explicit(&s->gen, 1, memory_order_acq_rel) + 1;
}

uint64_t
current_init(struct ps_current_seg *s, uint64_t table)
{
	uint64_t zero = 0, g;

	g = atomic_load_explicit(&s->gen, memory_order_acquire);
	if (g != 0)
		return g;
	/* The first to set the table decides; then generation 1. */
	atomic_compare_exchange_strong(&s->table, &zero, table);
	zero = 0;
	atomic_compare_exchange_strong(&s->gen, &zero, 1);
	return atomic_load_explicit(&s->gen, memory_order_acquire);
}

void
current_read(const struct ps_current_seg *s, uint64_t *gen, uint64_t *table)
{
	*gen = atomic_load_explicit(&s->gen, memory_order_acquire);
	*table = atomic_load_explicit(&s->table, memory_order_acquire);
}

int
current_claim_check(struct ps_current_seg *s, int64_t now_ms)
{
	int64_t last =
	        atomic_load_explicit(&s->checked_ms, memory_order_relaxed);

	if (last != 0 && now_ms - last < PS_CURRENT_CHECK_MS && now_ms >= last)
		return 0;
	return atomic_compare_exchange_strong(&s->checked_ms, &last, now_ms);
}
