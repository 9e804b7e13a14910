/*
 * proxyshim run: find the table (publish it only when there is no valid one
 * for the config's identity), preload the library, exec the command.
 * Under a seccomp filter whose calls a supervisor answers, so that static
 * and Go programs follow the policy too (cli/supervise.c).
 * Exit status is the command's; 127 when it is not found and 126 when it
 * cannot be executed, as env(1) does.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <link.h>
#endif

#include "proxyshim/config.h"
#include "proxyshim/env.h"
#include "proxyshim/shm.h"
#include "proxyshim/supervise.h"
#include "proxyshim/table.h"
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

extern char **environ;

/* The command's environment is built in place of setenv(): a copy of
 * environ's pointers and the few strings run sets, in static storage, so
 * that a run with its table published never initialises malloc (a few
 * system calls and page faults of every start; docs/performance.md#start-up).
 * What does not fit goes to setenv(), which copies such an array. */
#define RUN_ENV_MAX 4096
#define RUN_POOL (3 * PATH_MAX)
static char *run_env[RUN_ENV_MAX + 8];
static char run_pool[RUN_POOL];
static size_t run_nenv, run_pool_used;
static bool run_env_own;

static void
run_env_init(void)
{
	size_t n = 0;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if (n > RUN_ENV_MAX)
		return;
	if (n > 0)
		memcpy(run_env, environ, n * sizeof(*run_env));
	run_env[n] = NULL;
	run_nenv = n;
	environ = run_env;
	run_env_own = true;
}

/* The index of name's entry in run_env, or run_nenv. */
static size_t
run_env_find(const char *name)
{
	size_t i, len = strlen(name);

	/* The first byte first: most entries differ there.  A strncmp()
	 * call per entry and variable was ~5k of run's ~196k instructions
	 * up to its exec (callgrind). */
	for (i = 0; i < run_nenv; i++)
		if (run_env[i][0] == name[0] &&
		    strncmp(run_env[i], name, len) == 0 &&
		    run_env[i][len] == '=')
			break;
	return i;
}

static int
run_setenv(const char *name, const char *value)
{
	size_t need = strlen(name) + strlen(value) + 2, i;
	char *e;

	if (!run_env_own || environ != run_env ||
	    run_nenv + 1 >= RUN_ENV_MAX + 8 || need > RUN_POOL - run_pool_used)
		return setenv(name, value, 1);
	e = run_pool + run_pool_used;
	cli_cat(e, need, name, "=", value);
	run_pool_used += need;
	i = run_env_find(name);
	run_env[i] = e;
	if (i == run_nenv)
		run_env[++run_nenv] = NULL;
	return 0;
}

static void
run_unsetenv(const char *name)
{
	size_t i;

	if (!run_env_own || environ != run_env) {
		unsetenv(name);
		return;
	}
	while ((i = run_env_find(name)) < run_nenv) {
		memmove(run_env + i, run_env + i + 1,
		        (run_nenv - i) * sizeof(*run_env));
		run_nenv--;
	}
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
		return run_setenv(PS_ENV_PRELOAD, lib);
	if (strstr(cur, lib) != NULL)
		return 0;
	n = strlen(lib) + strlen(cur) + 2;
	v = malloc(n);
	if (v == NULL)
		return -1;
	snprintf(v, n, "%s:%s", first ? lib : cur, first ? cur : lib);
	r = run_setenv(PS_ENV_PRELOAD, v);
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

/* Supervision of what the library does not reach
 * (docs/behaviour.md#static-and-go-programs): without it, run refuses,
 * unless the config says on_failure: direct. */
static int
run_supervise(const char *table)
{
	char exe[PATH_MAX];
	const char *step = "cannot find " PS_SUPERVISOR_EXE;
	struct ps_t_settings set;
	struct stat st;
	bool filtered = false;
	int r = -ENOENT;

	if (cli_find_file_stat(PS_SUPERVISOR_EXE, exe, sizeof(exe), &st) == 0)
		r = supervise_start(exe, &st, &step, &filtered);
	if (r == 0)
		return run_setenv(PS_ENV_SUPERVISED, "1");
	run_unsetenv(PS_ENV_SUPERVISED);
	if (!filtered && cli_table_settings(table, &set) == 0 &&
	    set.on_failure == PS_FAIL_DIRECT) {
		fprintf(stderr,
		        "proxyshim run: cannot supervise static and Go "
		        "programs (%s: %s); on_failure: direct, so they run "
		        "unsupervised\n",
		        step, strerror(-r));
		return 0;
	}
	fprintf(stderr,
	        "proxyshim run: cannot supervise static and Go programs (%s: "
	        "%s); refusing to run the command unsupervised\n",
	        step, strerror(-r));
	return -1;
}

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
	if (name[0] != '\0')
		reload_on_start(&src, name); /* docs/behaviour.md#live-reload */
	if (gc_due())
		cli_gc_auto(o.verbosity < 0);
	run_env_init();
	if (name[0] != '\0')
		run_setenv(PS_ENV_TABLE, name);
	else
		run_unsetenv(PS_ENV_TABLE); /* children compile privately */
	/* Absolute, so that it still holds after the command's chdir(); a
	 * path that already is one is passed as it is (its identity is that
	 * of the file it leads to, symbolic links or not). */
	if (src.kind == PS_SOURCE_FILE && src.path[0] == '/')
		run_setenv(PS_ENV_CONFIG, src.path);
	else if (src.kind == PS_SOURCE_FILE &&
	         realpath(src.path, abspath) != NULL)
		run_setenv(PS_ENV_CONFIG, abspath);
	if (o.verbosity < 0)
		run_setenv(PS_ENV_LOG, "error");
	else if (o.verbosity == 1)
		run_setenv(PS_ENV_LOG, "info");
	else if (o.verbosity > 1)
		run_setenv(PS_ENV_LOG, "debug");
	if (run_preload_asan() < 0 || run_set_preload(lib) < 0)
		return CLI_FAIL;
	if (run_supervise(name) < 0)
		return CLI_FAIL;
	execvp(argv[i], argv + i);
	r = errno;
	fprintf(stderr, "proxyshim run: %s: %s\n", argv[i], strerror(r));
	return r == ENOENT ? 127 : 126;
}
