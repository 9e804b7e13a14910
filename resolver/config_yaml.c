/*
 * The config reader's YAML node helpers: positions and errors
 * ("FILE:LINE:COL: message"), typed access to scalars, duplicate keys,
 * mappings of known keys, list-or-comma-string values and the value types
 * every section shares (enums, booleans, durations).  Nothing here knows
 * the schema; config.c (the native schema), config_kestra.c and
 * config_file.c build on it (config_yaml.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "proxyshim/config.h"
#include "config_yaml.h"

/* ---- errors and node helpers */

struct ps_pos
cfg_pos(const yaml_node_t *n)
{
	struct ps_pos p = {0, 0};

	if (n != NULL) {
		p.line = (uint32_t)(n->start_mark.line + 1);
		p.col = (uint32_t)(n->start_mark.column + 1);
	}
	return p;
}

static int cfg_vfail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt,
                        va_list ap) __attribute__((format(printf, 3, 0)));

static int
cfg_vfail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, va_list ap)
{
	int k;

	if (x->err == NULL || x->errsz == 0)
		return -EINVAL;
	k = snprintf(x->err, x->errsz, "%s:%u:%u: ", x->name, p.line, p.col);
	if (k >= 0 && (size_t)k < x->errsz)
		vsnprintf(x->err + k, x->errsz - (size_t)k, fmt, ap);
	return -EINVAL;
}

int
cfg_fail(struct cfg_ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_vfail_at(x, cfg_pos(n), fmt, ap);
	va_end(ap);
	return r;
}

int
cfg_fail_at(struct cfg_ctx *x, struct ps_pos p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_vfail_at(x, p, fmt, ap);
	va_end(ap);
	return r;
}

/* User text in a message: printable ASCII only, and not too much of it
 * (bufsz >= 8). */
const char *
cfg_quote(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t i;

	for (i = 0; i < len && i + 4 < bufsz; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* Key paths for messages ("proxy.rules[2].via"); truncating one is
 * harmless, so this wrapper keeps -Wformat-truncation quiet. */
void
cfg_subpath(char *buf, size_t bufsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, bufsz, fmt, ap);
	va_end(ap);
}

int
cfg_is(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && cfg_len(n) == strlen(s) &&
	       memcmp(cfg_str(n), s, cfg_len(n)) == 0;
}

int
cfg_is_nocase(const yaml_node_t *n, const char *s)
{
	return n->type == YAML_SCALAR_NODE && cfg_len(n) == strlen(s) &&
	       strncasecmp(cfg_str(n), s, cfg_len(n)) == 0;
}

/* A YAML null: "key:" with no value, "~", "null", or an explicit !!null. */
int
cfg_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return 0;
	if (n->tag != NULL && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
		return 1;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return cfg_len(n) == 0 || cfg_is(n, "~") || cfg_is(n, "null") ||
	       cfg_is(n, "Null") || cfg_is(n, "NULL");
}

static const char *
cfg_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a single value";
	}
}

int
cfg_want(struct cfg_ctx *x, const yaml_node_t *n, yaml_node_type_t type,
         const char *path, const char *what)
{
	if (n->type == type)
		return 0;
	return cfg_fail(x, n, "%s: expected %s, found %s", path, what,
	                cfg_kind(n));
}

yaml_node_t *
cfg_node(struct cfg_ctx *x, int i)
{
	x->work++;
	return yaml_document_get_node(x->doc, i);
}

void *
cfg_grow(struct cfg_ctx *x, void *arr, size_t *cap, size_t n, size_t elsz)
{
	size_t ncap;
	void *p;

	if (arr != NULL && n < *cap)
		return arr;
	x->work += n;
	ncap = *cap != 0 ? *cap * 2 : 8;
	if (ncap < n + 1 || ncap > SIZE_MAX / elsz)
		return NULL;
	p = realloc(arr, ncap * elsz);
	if (p != NULL)
		*cap = ncap;
	return p;
}

/* ---- duplicate keys */

struct cfg_key {
	const char *s;
	size_t len;
	size_t order;
	const yaml_node_t *node;
};

static int
cfg_key_cmp(const void *a, const void *b)
{
	const struct cfg_key *p = a, *q = b;
	size_t n = p->len < q->len ? p->len : q->len;
	int r = memcmp(p->s, q->s, n);

	if (r != 0)
		return r;
	if (p->len != q->len)
		return p->len < q->len ? -1 : 1;
	return p->order < q->order ? -1 : p->order > q->order;
}

/* libyaml keeps duplicate keys; YAML forbids them and a silently shadowed
 * proxy setting is exactly what a config check must catch.  Sorting keeps
 * this O(n log n) for large maps; the first duplicate in document order
 * is reported. */
int
cfg_check_map(struct cfg_ctx *x, const yaml_node_t *map, const char *path)
{
	const yaml_node_pair_t *p = map->data.mapping.pairs.start;
	size_t i, m = 0, n = (size_t)(map->data.mapping.pairs.top - p);
	const struct cfg_key *dup = NULL;
	struct cfg_key *keys;
	char q[64];
	int r = 0;

	if (n < 2)
		return 0;
	keys = calloc(n, sizeof(*keys));
	if (keys == NULL)
		return cfg_fail(x, map, "out of memory");
	for (i = 0; i < n; i++) {
		const yaml_node_t *k = cfg_node(x, p[i].key);

		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		keys[m].s = cfg_str(k);
		keys[m].len = cfg_len(k);
		keys[m].order = i;
		keys[m++].node = k;
	}
	qsort(keys, m, sizeof(*keys), cfg_key_cmp);
	for (i = 1; i < m; i++)
		if (keys[i].len == keys[i - 1].len &&
		    memcmp(keys[i].s, keys[i - 1].s, keys[i].len) == 0 &&
		    (dup == NULL || keys[i].order < dup->order))
			dup = &keys[i];
	if (dup != NULL)
		r = cfg_fail(x, dup->node, "%s: duplicate key '%s'", path,
		             cfg_quote(dup->s, dup->len, q, sizeof(q)));
	free(keys);
	return r;
}

/* Index of a key among names, or an "unknown key" error. */
int
cfg_key_index(struct cfg_ctx *x, const yaml_node_t *k, const char *path,
              const char *const *names, size_t n)
{
	char q[64];
	size_t i;

	if (k->type != YAML_SCALAR_NODE)
		return cfg_fail(x, k, "%s: expected a key name, found %s", path,
		                cfg_kind(k));
	for (i = 0; i < n; i++)
		if (cfg_is(k, names[i]))
			return (int)i;
	return cfg_fail(x, k, "%s: unknown key '%s'%s", path,
	                cfg_quote(cfg_str(k), cfg_len(k), q, sizeof(q)),
	                x->key_hint);
}

/* ---- list-or-comma-string values */

static int
cfg_pieces(struct cfg_ctx *x, const yaml_node_t *n, const char *path,
           cfg_piece_fn fn, void *arg)
{
	const char *s = cfg_str(n), *end = s + cfg_len(n), *comma;
	int r;

	for (; s <= end; s = comma + 1) {
		const char *p = s, *e;

		comma = memchr(s, ',', (size_t)(end - s));
		if (comma == NULL)
			comma = end;
		x->work += (size_t)(comma - s) + 1;
		e = comma;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' ||
		                 e[-1] == '\n' || e[-1] == '\r'))
			e--;
		if (p == e)
			continue;
		r = fn(x, n, path, p, (size_t)(e - p), arg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A string (comma-separated) or a list of strings. */
int
cfg_each(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
         cfg_piece_fn fn, void *arg)
{
	const yaml_node_item_t *it;
	int r;

	if (cfg_is_null(v))
		return 0;
	if (v->type == YAML_SCALAR_NODE)
		return cfg_pieces(x, v, path, fn, arg);
	if (v->type != YAML_SEQUENCE_NODE)
		return cfg_fail(x, v,
		                "%s: expected a string or a list, found "
		                "a mapping",
		                path);
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = cfg_node(x, *it);

		r = cfg_want(x, n, YAML_SCALAR_NODE, path, "a string");
		if (r == 0 && !cfg_is_null(n))
			r = cfg_pieces(x, n, path, fn, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A mapping of known keys: checked as a mapping, each key looked up in keys
 * (unknown ones are errors), "key:" with no value keeps the default, and fn
 * gets the value with its dotted path.  The one walk that proxy:,
 * proxy.timeouts, proxy.tls, reverseProxy: and an upstream's {url:, tls:}
 * share. */
int
cfg_keyed(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
          const char *const *keys, size_t nkeys, cfg_key_fn fn)
{
	const yaml_node_pair_t *p;
	char sub[128];
	int r, key;

	if (cfg_is_null(v))
		return 0;
	r = cfg_want(x, v, YAML_MAPPING_NODE, path, "a mapping");
	if (r == 0)
		r = cfg_check_map(x, v, path);
	for (p = v->data.mapping.pairs.start;
	     r == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *val = cfg_node(x, p->value);

		key = cfg_key_index(x, cfg_node(x, p->key), path, keys, nkeys);
		if (key < 0)
			return key;
		if (cfg_is_null(val))
			continue;
		cfg_subpath(sub, sizeof(sub), "%s.%s", path, keys[key]);
		r = fn(x, key, val, sub);
	}
	return r;
}

int
cfg_enum(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
         const struct cfg_enum *tab, size_t n, const char *choices, int *out)
{
	size_t i;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, choices);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (cfg_is_nocase(v, tab[i].name)) {
			*out = tab[i].value;
			return 0;
		}
	}
	return cfg_fail(x, v, "%s: expected %s", path, choices);
}

int
cfg_bool(struct cfg_ctx *x, const yaml_node_t *v, const char *path, bool *out)
{
	/* YAML 1.2 true/false, plus 1.1's yes/no/on/off that Helm's
	 * go-yaml still reads as booleans. */
	static const struct cfg_enum tab[] = {
	        {"true", 1}, {"false", 0}, {"yes", 1},
	        {"no", 0},   {"on", 1},    {"off", 0},
	};
	int b = 0, r;

	r = cfg_enum(x, v, path, tab, sizeof(tab) / sizeof(tab[0]),
	             "true or false", &b);
	*out = b != 0;
	return r;
}

int
cfg_duration(struct cfg_ctx *x, const yaml_node_t *v, const char *path,
             uint32_t *ms)
{
	const char *e;
	int r;

	r = cfg_want(x, v, YAML_SCALAR_NODE, path, "a duration");
	if (r < 0)
		return r;
	if (duration_parse(cfg_str(v), cfg_len(v), ms, &e) < 0)
		return cfg_fail(x, v, "%s: %s", path, e);
	if (*ms == 0)
		return cfg_fail(x, v, "%s: timeout must be greater than zero",
		                path);
	return 0;
}

const yaml_node_t *
cfg_child(struct cfg_ctx *x, const yaml_node_t *map, const char *key)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++)
		if (cfg_is(cfg_node(x, p->key), key))
			return cfg_node(x, p->value);
	return NULL;
}
