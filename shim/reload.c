/*
 * Live reload in the library (docs/behaviour.md#live-reload): follow the
 * config file's current segment (include/proxyshim/current.h) and, with
 * automatic pickup, look at the file at most about once a second, on the
 * hooked calls, compiling and publishing a valid edit.
 *
 * Tables of the generations this process has used live in a few fixed
 * slots.  A slot that is no longer in force is reused only when no
 * decision holds it (reload_pin) and it has been out of force for
 * RELOAD_GRACE_MS, far longer than the few instructions between taking a
 * table and pinning it; with no slot free, the switch waits for the next
 * call.  So a process maps a bounded number of tables however often the
 * policy changes.  The first table (shim/init.c) is never unmapped.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/current.h"
#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/relay.h"
#include "proxyshim/shm.h"
#include "shim.h"
#include "state.h"

#define RELOAD_SLOTS 4
#define RELOAD_GRACE_MS 1000
#define RELOAD_BUF (64 * 1024) /* tables up to this size: no mapping */

enum { SLOT_FREE = 0, SLOT_LIVE, SLOT_RETIRED };

struct shim_gen {
	struct ps_table_view view; /* first: reload_gen_of() */
	char table_name[PS_SHM_NAME_MAX];
	const void *map; /* mapped for this slot (unmapped on reuse), or NULL */
	size_t maplen;
	_Atomic int refs;
	int use; /* SLOT_* */
	int64_t retired_ms;
	_Atomic(struct ps_relay_seg *) relay;
	_Atomic(void *) seg_state; /* shim/state.c */
	uint64_t buf[RELOAD_BUF / sizeof(uint64_t)];
};

static const _Atomic uint64_t reload_kick = 1; /* != seen: set up */
struct shim_reload_hot reload_hot = {
        .watch = &reload_kick,
        .seen = 0,
        .next_check_ms = INT64_MAX,
        .view = NULL,
};

static struct shim_gen gens[RELOAD_SLOTS];
static struct shim_gen *live; /* in force; NULL before set-up */
static _Atomic(struct ps_relay_seg *) first_relay; /* shim.view's */
static _Atomic(void *) first_state;
static struct ps_current_seg *cur_seg;
static char cfg_path[PATH_MAX];
static char cfg_at_start[PATH_MAX]; /* a relative config, made absolute */
static _Atomic int reload_busy;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

int64_t
reload_now_ms(void)
{
	struct timespec ts;

	/* The coarse clock: read from the vDSO without a system call. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct shim_gen *
reload_gen_of(const struct ps_table_view *v)
{
	uintptr_t p = (uintptr_t)v, lo = (uintptr_t)&gens[0],
	          hi = (uintptr_t)&gens[RELOAD_SLOTS];

	if (p < lo || p >= hi)
		return NULL; /* shim.view: the first table, never reused */
	return &gens[(p - lo) / sizeof(gens[0])];
}

void
reload_pin(const struct ps_table_view *v)
{
	struct shim_gen *g = reload_gen_of(v);

	if (g != NULL)
		atomic_fetch_add_explicit(&g->refs, 1, memory_order_acq_rel);
}

void
reload_unpin(const struct ps_table_view *v)
{
	struct shim_gen *g = reload_gen_of(v);

	if (g != NULL)
		atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel);
}

const char *
reload_table_name(const struct ps_table_view *v)
{
	struct shim_gen *g = reload_gen_of(v);

	return g != NULL ? g->table_name : shim.table_name;
}

_Atomic(void *) *
reload_state_slot(const struct ps_table_view *v)
{
	struct shim_gen *g = reload_gen_of(v);

	return g != NULL ? &g->seg_state : &first_state;
}

_Atomic(struct ps_relay_seg *) *
reload_relay_slot(const struct ps_table_view *v)
{
	struct shim_gen *g = reload_gen_of(v);

	return g != NULL ? &g->relay : &first_relay;
}

/* A lock taken by a thread that does not exist in a forked child. */
static void
reload_atfork_child(void)
{
	atomic_store(&reload_busy, 0);
}

static void
reload_atfork(void)
{
	pthread_atfork(NULL, NULL, reload_atfork_child);
}

static void
reload_auto_next(const struct ps_table_view *v, int64_t now)
{
	atomic_store_explicit(&reload_hot.next_check_ms,
	                      v->hdr->settings.reload_mode == PS_RELOAD_MANUAL
	                              ? INT64_MAX
	                              : now + PS_CURRENT_CHECK_MS,
	                      memory_order_relaxed);
}

/* The set-up waits for the first hooked call, but a relative config path
 * means the directory the program started in: resolve it now.  Nothing
 * for an absolute $PROXYSHIM_CONFIG (what run exports). */
__attribute__((constructor)) static void
reload_constructor(void)
{
	const char *p = env_get(PS_ENV_CONFIG);
	int saved = errno;

	if (p != NULL && *p != '\0') {
		if (*p != '/' && realpath(p, cfg_at_start) == NULL)
			cfg_at_start[0] = '\0';
	} else if (env_get(PS_ENV_TABLE) == NULL && getauxval(AT_SECURE) == 0 &&
	           access("proxyshim.yml", F_OK) == 0 &&
	           realpath("proxyshim.yml", cfg_at_start) == NULL) {
		cfg_at_start[0] = '\0'; /* the lookup's ./proxyshim.yml */
	}
	errno = saved;
}

/* Which file, which segment; the first table becomes slot 0.  0, or -1
 * when this process does not follow reloads (environment default, a
 * private table, no usable segment). */
static int
reload_setup(void)
{
	const char *p = env_get(PS_ENV_CONFIG);
	uint64_t key;
	int r;

	if (shim.mode != SHIM_ACTIVE || shim.table_name[0] == '\0')
		return -1;
	/* The file this process started with: not a lookup now, which
	 * could find another file from another directory. */
	if (cfg_at_start[0] != '\0')
		p = cfg_at_start; /* relative to where the program started */
	else if (p == NULL || *p != '/')
		p = table_str(&shim.view, shim.view.hdr->settings.source_off);
	if (p[0] != '/')
		return -1; /* the environment default */
	/* Absolute: the program may change directory later. */
	if (realpath(p, cfg_path) == NULL || current_key_of(cfg_path, &key) < 0)
		return -1;
	r = current_open(key, 1, &cur_seg);
	if (r < 0) {
		log_warn("live reload unavailable (%s): this process keeps "
		         "its policy",
		         strerror(-r));
		cur_seg = NULL;
		return -1;
	}
	gens[0].view = shim.view;
	memcpy(gens[0].table_name, shim.table_name, sizeof(gens[0].table_name));
	gens[0].use = SLOT_LIVE;
	live = &gens[0];
	atomic_store_explicit(&reload_hot.view, &gens[0].view,
	                      memory_order_release);
	current_init(cur_seg, shim.view.hdr->source_hash);
	atomic_store_explicit(&reload_hot.watch, &cur_seg->gen,
	                      memory_order_relaxed);
	reload_auto_next(&shim.view, reload_now_ms());
	return 0;
}

/* A slot to read a new table into, or NULL (try again later). */
static struct shim_gen *
reload_free_slot(int64_t now)
{
	struct shim_gen *g;
	struct ps_relay_seg *rs;
	size_t i;

	for (i = 0; i < RELOAD_SLOTS; i++) {
		g = &gens[i];
		if (g->use == SLOT_RETIRED && atomic_load(&g->refs) == 0 &&
		    now - g->retired_ms >= RELOAD_GRACE_MS) {
			shm_unmap(g->map, g->maplen);
			g->map = NULL;
			rs = atomic_exchange(&g->relay, NULL);
			if (rs != NULL)
				munmap(rs, sizeof(*rs));
			state_release(atomic_exchange(&g->seg_state, NULL));
			g->use = SLOT_FREE;
		}
		if (g->use == SLOT_FREE)
			return g;
	}
	return NULL;
}

/* Read table ident into g; 0 or -errno (logged). */
static int
reload_read(struct shim_gen *g, uint64_t ident, uint64_t gen)
{
	const char *why = "";
	const void *base;
	size_t len;
	int r;

	shm_table_name(ident, g->table_name, sizeof(g->table_name));
	r = shm_map_into(g->table_name, g->buf, sizeof(g->buf), &base, &len);
	if (r == 0) {
		r = table_view_open(base, len, &g->view, &why);
		if (r < 0 && base != (const void *)g->buf)
			shm_unmap(base, len);
	} else {
		why = strerror(-r);
	}
	if (r < 0) {
		log_err("policy generation %llu: table %s unusable (%s): "
		        "keeping the policy in force",
		        (unsigned long long)gen, g->table_name, why);
		return r;
	}
	g->map = base != (const void *)g->buf ? base : NULL;
	g->maplen = len;
	return 0;
}

/* Switch to the generation the segment names, when it is another. */
static void
reload_follow(int64_t now)
{
	struct shim_gen *g;
	uint64_t gen, ident;

	current_read(cur_seg, &gen, &ident);
	if (gen == atomic_load_explicit(&reload_hot.seen, memory_order_relaxed))
		return;
	if (ident == 0 || ident == live->view.hdr->source_hash) {
		atomic_store_explicit(&reload_hot.seen, gen,
		                      memory_order_relaxed);
		return;
	}
	g = reload_free_slot(now);
	if (g == NULL)
		return; /* every slot still held: on a later call */
	atomic_store_explicit(&reload_hot.seen, gen, memory_order_relaxed);
	if (reload_read(g, ident, gen) < 0)
		return;
	atomic_store(&g->refs, 0);
	atomic_store(&g->relay, NULL);
	atomic_store(&g->seg_state, NULL);
	g->use = SLOT_LIVE;
	live->use = SLOT_RETIRED;
	live->retired_ms = now;
	live = g;
	atomic_store_explicit(&reload_hot.view, &g->view, memory_order_release);
	reload_auto_next(&g->view, now);
	log_info("policy reloaded: generation %llu", (unsigned long long)gen);
}

/* Automatic pickup: a valid edit is compiled, published and put in
 * force; an invalid one is reported once and remembered. */
static void
reload_auto(int64_t now)
{
	char name[PS_SHM_NAME_MAX], err[PS_ERR_MAX];
	struct ps_source src;
	uint8_t *priv = NULL;
	size_t privlen = 0;
	uint64_t id, gen, ident;
	int r;

	if (now < atomic_load_explicit(&reload_hot.next_check_ms,
	                               memory_order_relaxed))
		return;
	reload_auto_next(&live->view, now);
	if (live->view.hdr->settings.reload_mode == PS_RELOAD_MANUAL ||
	    !current_claim_check(cur_seg, now))
		return;
	if (source_identity_file(cfg_path, &id) < 0)
		return; /* gone or being replaced: the policy stays */
	current_read(cur_seg, &gen, &ident);
	if (id == ident || id == atomic_load(&cur_seg->bad))
		return;
	memset(&src, 0, sizeof(src));
	src.kind = PS_SOURCE_FILE;
	memcpy(src.path, cfg_path,
	       sizeof(src.path) < sizeof(cfg_path) ? sizeof(src.path)
	                                           : sizeof(cfg_path));
	src.path[sizeof(src.path) - 1] = '\0';
	src.identity = id;
	err[0] = '\0';
	r = shim_compiler_publish(&src, name, sizeof(name), &priv, &privlen,
	                          err, sizeof(err));
	free(priv);
	if (r < 0 || name[0] == '\0') {
		atomic_store(&cur_seg->bad, id);
		log_warn("%s: edit ignored, generation %llu stays in force",
		         err[0] ? err : "config not published",
		         (unsigned long long)gen);
		return;
	}
	gen = current_publish(cur_seg, id);
	log_info("%s changed: published generation %llu", cfg_path,
	         (unsigned long long)gen);
}

void
reload_slow(void)
{
	int saved = errno, zero = 0;
	int64_t now;

	pthread_once(&atfork_once, reload_atfork);
	/* Never wait: another thread is at it, this call uses the table in
	 * force. */
	if (!atomic_compare_exchange_strong(&reload_busy, &zero, 1))
		goto out;
	if (atomic_load_explicit(&reload_hot.watch, memory_order_relaxed) ==
	            &reload_kick &&
	    reload_setup() < 0) {
		atomic_store(&reload_hot.seen, 1); /* never again */
		goto unlock;
	}
	now = reload_now_ms();
	reload_follow(now);
	reload_auto(now);
	reload_follow(now);
unlock:
	atomic_store(&reload_busy, 0);
out:
	errno = saved;
}
