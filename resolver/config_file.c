/*
 * Reading a config: the file's bytes, the one YAML document they must hold
 * (syntax errors as "FILE:LINE:COL: YAML syntax error: ..."), and the paths
 * made absolute against the file's directory (tls.ca_file).  The
 * document's contents are config.c's business (cfg_root).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "proxyshim/config.h"
#include "config_yaml.h"

static int
cfg_yaml_error(struct cfg_ctx *x, const yaml_parser_t *p, const char *buf,
               size_t len)
{
	size_t line = p->problem_mark.line + 1,
	       col = p->problem_mark.column + 1;
	size_t i;

	/* Reader errors (bad UTF-8, control characters) carry only an
	 * offset. */
	if (p->error == YAML_READER_ERROR) {
		line = 1;
		col = 1;
		for (i = 0; i < p->problem_offset && i < len; i++) {
			col++;
			if (buf[i] == '\n') {
				line++;
				col = 1;
			}
		}
	}
	if (x->err != NULL && x->errsz > 0)
		snprintf(x->err, x->errsz,
		         "%s:%zu:%zu: YAML syntax error: %s%s%s%s", x->name,
		         line, col,
		         p->error == YAML_MEMORY_ERROR ? "out of memory"
		         : p->problem != NULL          ? p->problem
		                                       : "unknown error",
		         p->context != NULL ? " (" : "",
		         p->context != NULL ? p->context : "",
		         p->context != NULL ? ")" : "");
	return -EINVAL;
}

/* A strict chain holds one TLS layer: an https:// hop after another one
 * would need TLS inside TLS
 * (docs/behaviour.md#chains-through-an-https-upstream).  Failover and round
 * robin use one upstream of a list at a time. */
static int
cfg_check_tls_chains(struct cfg_ctx *x)
{
	const struct ps_config *c = x->c;
	const struct ps_via *via;
	size_t i, j;
	bool tls;

	if (c->chain != PS_CHAIN_STRICT)
		return 0;
	for (i = 0; i < c->nrules; i++) {
		via = &c->rules[i].via;
		if (via->kind != PS_VIA_PROXY)
			continue;
		for (j = 0, tls = false; j < via->nhops; j++) {
			if (via->hops[j].scheme != PS_SCHEME_HTTPS)
				continue;
			if (tls)
				return cfg_fail_at(
				        x, via->hops[j].pos,
				        "proxy.%s.via[%zu]: an https:// proxy "
				        "cannot follow another https:// proxy "
				        "in a chain (TLS inside TLS is not "
				        "supported)",
				        c->rules[i].label, j);
			tls = true;
		}
	}
	return 0;
}

/* Parse the first document, and refuse a second one: a values file split
 * in two would otherwise lose half its settings without a word. */
static int
cfg_parse(struct cfg_ctx *x, yaml_parser_t *parser, const char *buf, size_t len)
{
	yaml_document_t doc;
	const yaml_node_t *root;
	int r;

	if (!yaml_parser_load(parser, &doc))
		return cfg_yaml_error(x, parser, buf, len);
	x->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	r = root != NULL ? cfg_root(x, root) : 0;
	yaml_document_delete(&doc);
	x->doc = NULL;
	if (r == 0)
		r = cfg_check_tls_chains(x);
	if (r < 0)
		return r;
	if (!yaml_parser_load(parser, &doc))
		return cfg_yaml_error(x, parser, buf, len);
	root = yaml_document_get_root_node(&doc);
	if (root != NULL)
		r = cfg_fail(x, root, "only one YAML document is allowed");
	yaml_document_delete(&doc);
	return r;
}

int
config_load_buffer(const char *name, const char *buf, size_t len,
                   struct ps_config *out, char *err, size_t errsz)
{
	struct cfg_ctx x;
	yaml_parser_t parser;
	int r = -ENOMEM;

	config_init(out);
	memset(&x, 0, sizeof(x));
	x.key_hint = "";
	x.name = name;
	x.err = err;
	x.errsz = errsz;
	x.c = out;
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	out->source = strdup(name);
	if (out->source == NULL || !yaml_parser_initialize(&parser)) {
		cfg_fail(&x, NULL, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	r = cfg_parse(&x, &parser, buf, len);
	yaml_parser_delete(&parser);
out:
	config_rules_free(x.krules, x.nkrules);
	if (r < 0) {
		config_free(out);
		return -1;
	}
	out->load_work = x.work;
	return 0;
}

static int
cfg_read_file(int fd, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = NULL, *nb;
	ssize_t k;

	for (;;) {
		if (b == NULL || n == cap) {
			cap = b == NULL ? cap : cap * 2;
			nb = realloc(b, cap);
			if (nb == NULL) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		k = read(fd, b + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			k = -errno;
			free(b);
			return (int)k;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* A relative ca_file (proxy.tls's or an upstream's) is relative to the
 * config file's directory: the relay runs in whatever directory the
 * wrapped program happened to be in. */
static int
cfg_abs_path(const char *path, char **file)
{
	char dir[PATH_MAX], *slash, *abs;
	size_t n;

	if (*file == NULL || (*file)[0] == '/')
		return 0;
	slash = strrchr(path, '/');
	n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -1;
	memcpy(dir, slash == NULL ? "." : path, n);
	dir[n] = '\0';
	abs = realpath(dir, NULL);
	if (abs == NULL)
		return -1;
	n = strlen(abs) + 1 + strlen(*file) + 1;
	slash = malloc(n);
	if (slash != NULL)
		snprintf(slash, n, "%s/%s", strcmp(abs, "/") == 0 ? "" : abs,
		         *file);
	free(abs);
	if (slash == NULL)
		return -1;
	free(*file);
	*file = slash;
	return 0;
}

/* Every ca_file of the config made absolute; on failure *at is where the
 * offending one was written. */
static int
cfg_abs_ca_files(const char *path, struct ps_config *c, struct ps_pos *at)
{
	struct ps_url *one[2] = {c->http, c->https};
	size_t i, k;

	*at = c->tls_pos;
	if (cfg_abs_path(path, &c->tls_ca_file) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if (one[i] == NULL)
			continue;
		*at = one[i]->tls_pos;
		if (cfg_abs_path(path, &one[i]->tls_ca_file) < 0)
			return -1;
	}
	for (i = 0; i < c->nrules; i++) {
		const struct ps_via *via = &c->rules[i].via;

		if (via->kind != PS_VIA_PROXY)
			continue;
		for (k = 0; k < via->nhops; k++) {
			*at = via->hops[k].tls_pos;
			if (cfg_abs_path(path, &via->hops[k].tls_ca_file) < 0)
				return -1;
		}
	}
	return 0;
}

int
config_load_file(const char *path, struct ps_config *out, char *err,
                 size_t errsz)
{
	struct ps_pos at;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	config_init(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = cfg_read_file(fd, &buf, &len);
	close(fd);
	if (r < 0)
		goto out;
	r = config_load_buffer(path, buf, len, out, err, errsz);
	free(buf);
	if (r == 0 && cfg_abs_ca_files(path, out, &at) < 0) {
		config_free(out);
		if (err != NULL && errsz > 0)
			snprintf(err, errsz,
			         "%s:%u:%u: tls.ca_file: cannot make the path "
			         "absolute",
			         path, at.line, at.col);
		return -1;
	}
	return r;
out:
	/* The read failed: buf was never handed over. */
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s:0:0: cannot read: %s", path,
		         strerror(-r));
	return -1;
}
