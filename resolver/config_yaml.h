/*
 * The config reader's shared parts, private to resolver/config*.c: the
 * reading context, the YAML node helpers (config_yaml.c) and the entry
 * points one part of the reader calls in another.
 *
 *   config_file.c    file and document  -> cfg_root()
 *   config.c         the native schema  -> cfg_micronaut(), cfg_append_krules()
 *   config_kestra.c  the Kestra dialect
 *   config_yaml.c    node helpers, used by all three
 */
#ifndef PROXYSHIM_CONFIG_YAML_H
#define PROXYSHIM_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "proxyshim/config.h"

struct cfg_ctx {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errsz;
	struct ps_config *c;
	size_t exempt_cap;
	size_t rules_cap;
	size_t trusted_cap;
	size_t ports_cap;
	struct ps_rule *krules; /* Kestra services: appended after rules */
	size_t nkrules;
	size_t krules_cap;
	const yaml_node_t *seen_proxy; /* proxy: at top level or coderd: */
	const yaml_node_t *seen_rp;
	/* Where the tls: keys being read go: proxy.tls or one upstream's. */
	char **tls_ca, **tls_name;
	bool *tls_insecure, *tls_insecure_set;
	/* An upstream's url: and tls: values, while its mapping is read. */
	const yaml_node_t *upstream_part[2];
	/* Appended to "unknown key" errors: what the mapping may hold. */
	const char *key_hint;
	/* Units of reading work (struct ps_config's load_work says which). */
	size_t work;
};

/* A growable array of match entries and where its count lives. */
struct cfg_matches {
	struct ps_match **arr;
	size_t *n;
	size_t *cap;
};

struct cfg_enum {
	const char *name;
	int value;
};

#define CFG_N(t) (sizeof(t) / sizeof((t)[0]))

/* ---- config_yaml.c: errors and node helpers */

struct ps_pos cfg_pos(const yaml_node_t *n);
/* Writes "NAME:LINE:COL: message" at n (NULL: no position); -EINVAL. */
int cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The same at a position kept from the parse (checks that need the whole
 * file). */
int cfg_fail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const char *cfg_quote(const char *s, size_t len, char *buf, size_t bufsz);
void cfg_subpath(char *buf, size_t bufsz, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A scalar's bytes (NUL-terminated by libyaml) and length. */
static inline const char *
cfg_str(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline size_t
cfg_len(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

int cfg_is(const yaml_node_t *n, const char *s);
int cfg_is_nocase(const yaml_node_t *n, const char *s);
int cfg_is_null(const yaml_node_t *n);
int cfg_want(struct cfg_ctx *x, const yaml_node_t *n, yaml_node_type_t type,
             const char *path, const char *what);
yaml_node_t *cfg_node(struct cfg_ctx *x, int i);
/* Room for element n: doubles the array, so the elements a realloc may
 * copy add up to less than twice the final count (counted in x->work). */
void *cfg_grow(struct cfg_ctx *x, void *arr, size_t *cap, size_t n,
               size_t elsz);
/* The value of key in map, or NULL. */
const yaml_node_t *cfg_child(struct cfg_ctx *x, const yaml_node_t *map,
                             const char *key);

/* A mapping with no key twice; the index of k in keys, or an error. */
int cfg_check_map(struct cfg_ctx *x, const yaml_node_t *map, const char *path);
int cfg_key_index(struct cfg_ctx *x, const yaml_node_t *k, const char *path,
                  const char *const *names, size_t n);

/* Called for every non-empty, trimmed piece of a comma-separated string or
 * of each string in a list; n is the node to blame. */
typedef int (*cfg_piece_fn)(struct cfg_ctx *x, const yaml_node_t *n,
                            const char *path, const char *s, size_t len,
                            void *arg);
int cfg_each(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             cfg_piece_fn fn, void *arg);

/* A mapping of known keys, each value handed to fn (see cfg_keyed()). */
typedef int (*cfg_key_fn)(struct cfg_ctx *x, int key, const yaml_node_t *v,
                          const char *path);
int cfg_keyed(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
              const char *const *keys, size_t nkeys, cfg_key_fn fn);

int cfg_enum(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             const struct cfg_enum *tab, size_t n, const char *choices,
             int *out);
int cfg_bool(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             bool *out);
int cfg_duration(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
                 uint32_t *ms);

/* ---- config.c: the native schema */

/* The document's root: proxy:, reverseProxy:, coderd:, micronaut:. */
int cfg_root(struct cfg_ctx *x, const yaml_node_t *root);
void config_rules_free(struct ps_rule *r, size_t n);

/* ---- config_kestra.c: micronaut.http.services.<name> */

int cfg_micronaut(struct cfg_ctx *x, const yaml_node_t *v);
/* Appends the services' rules after proxy.rules. */
int cfg_append_krules(struct cfg_ctx *x);

#endif
