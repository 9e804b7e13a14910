/*
 * The table the supervisor routes with, following live reload
 * (docs/behaviour.md#live-reload): the config file's current segment names
 * the table in force; a new generation is mapped on the next call and the
 * old one unmapped once no call holds it.  The supervisor does not look at
 * the file itself: an edit reaches it once `proxyshim reload` or a process
 * with the library has published it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/current.h"
#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/shm.h"
#include "supervisor.h"

struct sup_gen {
	struct ps_table_view view; /* first: sup_policy_put() */
	const void *map;
	size_t len;
	int refs; /* under sup.lock; the generation in force holds one */
};

static struct sup_gen *
sup_gen_map(const char *name)
{
	struct sup_gen *g = calloc(1, sizeof(*g));
	const char *why = "";
	int r;

	if (g == NULL)
		return NULL;
	r = shm_map(name, &g->map, &g->len);
	if (r == 0 && table_view_open(g->map, g->len, &g->view, &why) < 0) {
		shm_unmap(g->map, g->len);
		r = -EINVAL;
	}
	if (r < 0) {
		log_err("table %s: %s%s%s", name, strerror(-r),
		        *why ? ": " : "", why);
		free(g);
		return NULL;
	}
	g->refs = 1;
	return g;
}

static void
sup_gen_drop(struct sup_gen *g)
{
	if (--g->refs > 0)
		return;
	shm_unmap(g->map, g->len);
	free(g);
}

int
sup_policy_init(struct sup *s, const char *name)
{
	const char *cfg = getenv(PS_ENV_CONFIG);
	uint64_t key;

	pthread_mutex_init(&s->lock, NULL);
	s->gen = sup_gen_map(name);
	if (s->gen == NULL)
		return -EINVAL;
	/* run passes the config file's absolute path; the environment
	 * default has no file to reload. */
	if (cfg != NULL && cfg[0] == '/' && current_key_of(cfg, &key) == 0 &&
	    current_open(key, 1, &s->cur) == 0)
		current_init(s->cur, s->gen->view.hdr->source_hash);
	return 0;
}

/* Switch to the generation the current segment names, when it changed. */
static void
sup_policy_follow(struct sup *s)
{
	uint64_t gen, ident;
	char name[PS_SHM_NAME_MAX];
	struct sup_gen *g;

	current_read(s->cur, &gen, &ident);
	if (gen == atomic_load(&s->seen))
		return;
	pthread_mutex_lock(&s->lock);
	if (gen != atomic_load(&s->seen) && ident != 0 &&
	    ident != s->gen->view.hdr->source_hash) {
		shm_table_name(ident, name, sizeof(name));
		g = sup_gen_map(name);
		if (g != NULL) {
			sup_gen_drop(s->gen);
			s->gen = g;
			log_info("supervisor: table %s in force (generation "
			         "%llu)",
			         name, (unsigned long long)gen);
		}
	}
	atomic_store(&s->seen, gen);
	pthread_mutex_unlock(&s->lock);
}

const struct ps_table_view *
sup_policy_get(struct sup *s)
{
	struct sup_gen *g;

	if (s->gen == NULL)
		return NULL;
	if (s->cur != NULL)
		sup_policy_follow(s);
	pthread_mutex_lock(&s->lock);
	g = s->gen;
	g->refs++;
	pthread_mutex_unlock(&s->lock);
	return &g->view;
}

void
sup_policy_put(struct sup *s, const struct ps_table_view *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	sup_gen_drop((struct sup_gen *)(void *)v);
	pthread_mutex_unlock(&s->lock);
}
