/*
 * proxyshim run: find the table (publish it only when there is no valid one
 * for the config's identity), preload the library, exec the command.
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

#include "proxyshim/env.h"
#include "proxyshim/shm.h"
#include "cli.h"

#define LIB_NAME "libproxyshim.so"

/* $PROXYSHIM_LIB, else beside the command (build tree), else
 * ../lib/proxyshim/ (installed layout). */
static int
run_find_lib(char *out, size_t outsz)
{
	const char *env = getenv(PS_ENV_LIB);

	if (env != NULL && *env != '\0') {
		if (realpath(env, out) == NULL || strlen(out) >= outsz)
			return -1;
		return 0;
	}
	return cli_find_file(LIB_NAME, out, outsz);
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
	char name[PS_SHM_NAME_MAX], lib[PATH_MAX], abspath[PATH_MAX];
	struct cli_opts o = {0};
	struct ps_source src;
	int i, r, fd, tries;

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
	if (run_find_lib(lib, sizeof(lib)) < 0) {
		fprintf(stderr, "proxyshim run: cannot find %s (set %s)\n",
		        LIB_NAME, PS_ENV_LIB);
		return CLI_FAIL;
	}
	/* A valid table already published for this identity is used as it
	 * is: no YAML read, nothing written.  Otherwise compile and publish,
	 * then hold it; again if gc removed it in between.  Held until exec:
	 * gc keeps the table while the command cannot yet be seen to need
	 * it (docs/behaviour.md#garbage-collection-proxyshim-gc). */
	shm_table_name(src.identity, name, sizeof(name));
	fd = gc_hold(name);
	for (tries = 0; fd < 0 && tries < 8; tries++) {
		if (cli_publish(lib, &src, name, sizeof(name)) < 0)
			return CLI_FAIL;
		if (name[0] == '\0')
			break; /* a private copy: nothing shared */
		fd = gc_hold(name);
	}
	(void)fd; /* closed by exec */
	gc_auto();
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
