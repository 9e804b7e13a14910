/*
 * Load → compile → publish, for the command and for the shim's dlopen path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/compiler.h"
#include "proxyshim/log.h"
#include "proxyshim/table.h"

int
compiler_load(const struct ps_source *src, struct ps_config *cfg, char *err,
              size_t errsz)
{
	int r;

	switch (src->kind) {
	case PS_SOURCE_FILE:
		return config_load_file(src->path, cfg, err, errsz);
	case PS_SOURCE_ENV:
		r = config_load_env(cfg, NULL, err, errsz);
		return r < 0 ? -1 : 0;
	default:
		snprintf(err, errsz,
		         "no configuration: no config file found "
		         "and no http_proxy/https_proxy/all_proxy set");
		return -1;
	}
}

int
compiler_build(const struct ps_source *src, uint8_t **tbl, size_t *len,
               char *err, size_t errsz)
{
	struct ps_config cfg;
	int r;

	*tbl = NULL;
	*len = 0;
	config_init(&cfg);
	r = compiler_load(src, &cfg, err, errsz);
	if (r < 0)
		goto out;
	r = compile_table(&cfg, src->identity, tbl, len, err, errsz);
	if (r < 0)
		r = -1;
out:
	config_free(&cfg);
	return r;
}

/* A published object is usable only if it validates. */
static int
compiler_check_published(const char *name)
{
	struct ps_table_view v;
	const void *base;
	const char *why;
	size_t len;
	int r;

	r = shm_map(name, &base, &len);
	if (r < 0)
		return r;
	r = table_view_open(base, len, &v, &why);
	shm_unmap(base, len);
	return r;
}

int
compiler_publish(const struct ps_source *src, char *name, size_t namesz,
                 uint8_t **priv, size_t *privlen, char *err, size_t errsz)
{
	uint8_t *tbl = NULL;
	size_t len = 0;
	int r, existed = 0, attempt;

	*priv = NULL;
	*privlen = 0;
	name[0] = '\0';
	r = compiler_build(src, &tbl, &len, err, errsz);
	if (r < 0)
		return -1;
	shm_table_name(src->identity, name, namesz);
	for (attempt = 0; attempt < 2; attempt++) {
		r = shm_publish(name, tbl, len, &existed);
		if (r == 0 && (!existed || compiler_check_published(name) == 0))
			break;
		if (r == 0) {
			/* Ours but broken (crashed writer from an older
			 * version, tampering): replace it once. */
			log_warn("replacing invalid table %s", name);
			shm_remove(name);
			continue;
		}
		break;
	}
	if (r == 0 && attempt < 2) {
		free(tbl);
		return 0;
	}
	log_warn("cannot publish table %s (%s); using a private copy", name,
	         strerror(r < 0 ? -r : EINVAL));
	name[0] = '\0';
	*priv = tbl;
	*privlen = len;
	return 0;
}

PS_EXPORT int
proxyshim_compiler_publish(const struct ps_source *src, char *name,
                           size_t namesz, uint8_t **priv, size_t *privlen,
                           char *err, size_t errsz)
{
	log_init();
	return compiler_publish(src, name, namesz, priv, privlen, err, errsz);
}
