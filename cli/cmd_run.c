/*
 * proxyshim run: publish the table, preload the library, exec the command.
 * Exit status is the command's; 127 when it is not found and 126 when it
 * cannot be executed, as env(1) does.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <link.h>
#endif

#include "proxyshim/compiler.h"
#include "proxyshim/env.h"
#include "cli.h"

#define LIB_NAME "libproxyshim.so"

/* $PROXYSHIM_LIB, else beside the command (build tree), else
 * ../lib/proxyshim/ (installed layout). */
static int
run_find_lib(char *out, size_t outsz)
{
	char exe[PATH_MAX - 64];
	const char *env = getenv(PS_ENV_LIB);
	ssize_t n;
	char *slash;

	if (env != NULL && *env != '\0') {
		if (realpath(env, out) == NULL || strlen(out) >= outsz)
			return -1;
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	if (strlen(exe) + 64 > outsz)
		return -1;
	snprintf(out, outsz, "%.*s/%s", (int)(outsz - 64), exe, LIB_NAME);
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, outsz, "%.*s/../lib/proxyshim/%s", (int)(outsz - 64), exe,
	         LIB_NAME);
	if (access(out, R_OK) == 0) {
		char real[PATH_MAX];

		if (realpath(out, real) != NULL && strlen(real) < outsz)
			strcpy(out, real);
		return 0;
	}
	return -1;
}

/* Put lib in LD_PRELOAD, first or last, unless it is already there: what
 * the user preloads keeps its place. */
static int
run_preload_add(const char *lib, bool first)
{
	const char *cur = getenv(PS_ENV_PRELOAD);
	char *v;
	size_t n;
	int r;

	if (cur == NULL || *cur == '\0')
		return setenv(PS_ENV_PRELOAD, lib, 1);
	if (strstr(cur, lib) != NULL)
		return 0;
	n = strlen(lib) + strlen(cur) + 2;
	v = malloc(n);
	if (v == NULL)
		return -1;
	snprintf(v, n, "%s:%s", first ? lib : cur, first ? cur : lib);
	r = setenv(PS_ENV_PRELOAD, v, 1);
	free(v);
	return r;
}

/* Append lib to LD_PRELOAD (a sanitizer runtime must come first). */
static int
run_set_preload(const char *lib)
{
	if (strchr(lib, ' ') != NULL || strchr(lib, ':') != NULL) {
		fprintf(stderr,
		        "proxyshim run: library path '%s' contains a "
		        "space or colon, which LD_PRELOAD cannot carry\n",
		        lib);
		return -1;
	}
	return run_preload_add(lib, false);
}

#ifdef __SANITIZE_ADDRESS__
static int
run_asan_runtime(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strstr(info->dlpi_name, "/libasan.so") == NULL ||
	    strlen(info->dlpi_name) >= PATH_MAX)
		return 0;
	strcpy(data, info->dlpi_name);
	return 1;
}

/* Sanitizer builds only: the library is instrumented, and the ASan runtime
 * must come first in the child's initial library list, which an
 * uninstrumented program's does not: preload the runtime this command runs
 * with before anything else, unless the caller already did. */
static int
run_preload_asan(void)
{
	char rt[PATH_MAX] = "";

	dl_iterate_phdr(run_asan_runtime, rt);
	return rt[0] == '\0' ? 0 : run_preload_add(rt, true);
}
#else
static int
run_preload_asan(void)
{
	return 0;
}
#endif

int
cmd_run(int argc, char **argv)
{
	char name[PS_SHM_NAME_MAX], err[PS_ERR_MAX], lib[PATH_MAX],
	        abspath[PATH_MAX];
	struct cli_opts o = {0};
	struct ps_source src;
	uint8_t *priv = NULL;
	size_t privlen = 0;
	int i, r;

	i = cli_parse_opts(argc, argv, &o, 1);
	if (i < 0)
		return CLI_USAGE;
	if (i >= argc) {
		fprintf(stderr, "usage: proxyshim run [-c FILE] [-q|-v] -- CMD "
		                "[ARG...]\n");
		return CLI_USAGE;
	}
	r = source_find(o.config, NULL, &src);
	if (r < 0) {
		const char *p = o.config ? o.config : getenv(PS_ENV_CONFIG);

		/* The table's name comes from the file's identity, which
		 * a pipe or a device does not have. */
		fprintf(stderr, "proxyshim run: %s: %s\n", p ? p : "config",
		        r == -EINVAL ? "not a regular file" : strerror(-r));
		return CLI_FAIL;
	}
	if (src.kind == PS_SOURCE_NONE) {
		fprintf(stderr, "proxyshim run: no configuration: no config "
		                "file found and no http_proxy, https_proxy or "
		                "all_proxy set; refusing to run unproxied\n");
		return CLI_FAIL;
	}
	if (compiler_publish(&src, name, sizeof(name), &priv, &privlen, err,
	                     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return CLI_FAIL;
	}
	free(priv);
	/* Held until exec: gc keeps the table while the command cannot
	 * yet be seen to need it; then gc of old segments, every 10
	 * minutes (docs/behaviour.md#garbage-collection-proxyshim-gc). */
	if (name[0] != '\0' && gc_hold(&src, name, sizeof(name)) == -EINVAL)
		return CLI_FAIL;
	reload_on_start(&src, name); /* docs/behaviour.md#live-reload */
	gc_auto();
	if (run_find_lib(lib, sizeof(lib)) < 0) {
		fprintf(stderr, "proxyshim run: cannot find %s (set %s)\n",
		        LIB_NAME, PS_ENV_LIB);
		return CLI_FAIL;
	}
	if (name[0] != '\0')
		setenv(PS_ENV_TABLE, name, 1);
	else
		unsetenv(PS_ENV_TABLE); /* children compile privately */
	if (src.kind == PS_SOURCE_FILE && realpath(src.path, abspath) != NULL)
		setenv(PS_ENV_CONFIG, abspath, 1);
	if (o.verbosity < 0)
		setenv(PS_ENV_LOG, "error", 1);
	else if (o.verbosity == 1)
		setenv(PS_ENV_LOG, "info", 1);
	else if (o.verbosity > 1)
		setenv(PS_ENV_LOG, "debug", 1);
	if (run_preload_asan() < 0 || run_set_preload(lib) < 0)
		return CLI_FAIL;
	execvp(argv[i], argv + i);
	r = errno;
	fprintf(stderr, "proxyshim run: %s: %s\n", argv[i], strerror(r));
	return r == ENOENT ? 127 : 126;
}
