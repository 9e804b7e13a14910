/*
 * Which config applies (docs/behaviour.md#config-lookup) and its identity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proxyshim/env.h"
#include "proxyshim/shm.h"

/* The variables of the environment default, both spellings
 * (docs/behaviour.md#environment-default). */
static const char *const proxy_vars[] = {
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
        "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY",
};

uint64_t
ps_fnv1a64(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static const char *
source_getenv(ps_getenv_fn env, const char *name)
{
	return env != NULL ? env(name) : env_get(name);
}

int
source_identity_file(const char *path, uint64_t *id)
{
	struct stat st;
	uint64_t h = PS_FNV64_INIT;
	uint64_t f[8];

	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	f[0] = (uint64_t)st.st_dev;
	f[1] = (uint64_t)st.st_ino;
	f[2] = (uint64_t)st.st_size;
	f[3] = (uint64_t)st.st_mtim.tv_sec;
	f[4] = (uint64_t)st.st_mtim.tv_nsec;
	f[5] = (uint64_t)st.st_ctim.tv_sec;
	f[6] = (uint64_t)st.st_ctim.tv_nsec;
	f[7] = 0x66696c65; /* "file": never equal to an environment identity */
	h = ps_fnv1a64(h, f, sizeof(f));
	*id = h;
	return 0;
}

uint64_t
source_identity_env(ps_getenv_fn env)
{
	uint64_t h = PS_FNV64_INIT;
	size_t i;

	h = ps_fnv1a64(h, "env", 3);
	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
		const char *v = source_getenv(env, proxy_vars[i]);

		/* Separators keep "a"+"bc" apart from "ab"+"c". */
		h = ps_fnv1a64(h, v != NULL ? "=" : "!", 1);
		if (v != NULL)
			h = ps_fnv1a64(h, v, strlen(v) + 1);
	}
	return h;
}

static int
source_try(const char *path, struct ps_source *src)
{
	uint64_t id;
	int r;

	if (strlen(path) >= sizeof(src->path))
		return -ENAMETOOLONG;
	r = source_identity_file(path, &id);
	if (r < 0)
		return r;
	src->kind = PS_SOURCE_FILE;
	strcpy(src->path, path);
	src->identity = id;
	return 0;
}

static int
source_env_present(ps_getenv_fn env)
{
	size_t i;

	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
		const char *v = source_getenv(env, proxy_vars[i]);

		if (v != NULL && *v != '\0')
			return 1;
	}
	return 0;
}

int
source_find(const char *explicit_path, ps_getenv_fn env, struct ps_source *src)
{
	char buf[4096];
	const char *v;
	int r;

	memset(src, 0, sizeof(*src));
	if (explicit_path != NULL)
		return source_try(explicit_path, src);
	v = source_getenv(env, PS_ENV_CONFIG);
	if (v != NULL && *v != '\0')
		return source_try(v, src);
	if (source_try("proxyshim.yml", src) == 0)
		return 0;
	v = source_getenv(env, PS_ENV_XDG_CONFIG);
	if (v != NULL && *v != '\0')
		r = snprintf(buf, sizeof(buf), "%s/proxyshim/config.yml", v);
	else if ((v = source_getenv(env, PS_ENV_HOME)) != NULL && *v != '\0')
		r = snprintf(buf, sizeof(buf),
		             "%s/.config/proxyshim/config.yml", v);
	else
		r = -1;
	if (r > 0 && (size_t)r < sizeof(buf) && source_try(buf, src) == 0)
		return 0;
	if (source_try("/etc/proxyshim.yml", src) == 0)
		return 0;
	memset(src, 0, sizeof(*src));
	if (source_env_present(env)) {
		src->kind = PS_SOURCE_ENV;
		src->identity = source_identity_env(env);
	}
	return 0;
}
