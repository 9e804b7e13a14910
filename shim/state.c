/*
 * The shared state segment: "/proxyshim-<uid>-v<ver>-<identity>-state",
 * 0600, owner-checked like the table.  Every field is an atomic word, so a
 * process dying at any point leaves nothing locked and nothing torn.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/log.h"
#include "proxyshim/shm.h"
#include "shim.h"
#include "state.h"

#define STATE_MAGIC 0x54535350u /* "PSST" */

struct state_seg {
	uint32_t magic;
	uint32_t nupstreams;
	_Atomic uint64_t rr;
	_Atomic int64_t dead_until_ms[PS_STATE_MAX_UPSTREAMS];
};

static struct state_seg local_state; /* fallback: this process only */
static atomic_int state_warned;

static int64_t
state_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is system-wide: comparable across processes. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct state_seg *
state_map(const struct ps_table_view *v)
{
	char name[PS_SHM_NAME_MAX + sizeof("-state")];
	void *p;
	int r;

	shm_companion_name(v->hdr->source_hash, "-state", name, sizeof(name));
	r = shm_map_rw(name, sizeof(struct state_seg), 1, &p);
	if (r < 0) {
		errno = -r; /* for the caller's log line */
		return NULL;
	}
	return p;
}

/* The state of v's table: each generation of a reloaded policy has its
 * own, as its upstreams are numbered anew (docs/behaviour.md#live-reload). */
static struct state_seg *
state_get(const struct ps_table_view *v)
{
	_Atomic(void *) *slot = reload_state_slot(v);
	void *s = atomic_load(slot), *none = NULL;

	if (s != NULL)
		return s;
	s = state_map(v);
	if (s == NULL) {
		if (atomic_exchange(&state_warned, 1) == 0)
			log_warn("shared state unavailable (%s): failover "
			         "and round-robin are per process",
			         strerror(errno));
		s = &local_state;
	}
	if (!atomic_compare_exchange_strong(slot, &none, s)) {
		state_release(s); /* another thread was first */
		s = none;
	}
	return s;
}

void
state_release(void *s)
{
	if (s != NULL && s != (void *)&local_state)
		munmap(s, sizeof(struct state_seg));
}

int
state_is_dead(const struct ps_table_view *v, uint32_t up)
{
	struct state_seg *s = state_get(v);

	if (up >= PS_STATE_MAX_UPSTREAMS)
		return 0;
	return atomic_load_explicit(&s->dead_until_ms[up],
	                            memory_order_relaxed) > state_now_ms();
}

void
state_mark_dead(const struct ps_table_view *v, uint32_t up)
{
	struct state_seg *s = state_get(v);

	if (up < PS_STATE_MAX_UPSTREAMS)
		atomic_store_explicit(&s->dead_until_ms[up],
		                      state_now_ms() + PS_DEAD_MS,
		                      memory_order_relaxed);
}

void
state_mark_alive(const struct ps_table_view *v, uint32_t up)
{
	struct state_seg *s = state_get(v);

	if (up < PS_STATE_MAX_UPSTREAMS &&
	    atomic_load_explicit(&s->dead_until_ms[up], memory_order_relaxed))
		atomic_store_explicit(&s->dead_until_ms[up], 0,
		                      memory_order_relaxed);
}

uint64_t
state_rr_next(const struct ps_table_view *v)
{
	struct state_seg *s = state_get(v);

	return atomic_fetch_add_explicit(&s->rr, 1, memory_order_relaxed);
}
