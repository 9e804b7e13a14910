/*
 * The launcher's way to the parts it does not link: the compiler library
 * (when run must compile), libproxyshim-tools.so (check, explain, compile,
 * dump) and the relay program.  Each is found beside the command or in
 * ../lib/proxyshim/ (docs/performance.md#start-up).  The statically
 * linked command (PS_STATIC_FRONT) loads no library: it execs
 * proxyshim-dyn, the same command linked dynamically, instead.
 */
#ifndef PS_STATIC_FRONT
#include <dlfcn.h>
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "cli.h"

/* The directory of this program, read once. */
static const char *
cli_exe_dir(void)
{
	static char dir[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	if (dir[0] != '\0')
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return NULL;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		dir[0] = '\0';
		return NULL;
	}
	*slash = '\0';
	return dir;
}

/* file exists at path: stat() into *st when asked (one call for both). */
static int
cli_exists(const char *path, struct stat *st)
{
	return st != NULL ? stat(path, st) : access(path, R_OK);
}

int
cli_find_file_stat(const char *file, char *out, size_t outsz, struct stat *st)
{
	const char *exe = cli_exe_dir();
	char real[PATH_MAX];

	if (exe == NULL)
		return -1;
	if (cli_cat(out, outsz, exe, "/", file) == 0 &&
	    cli_exists(out, st) == 0)
		return 0;
	if (cli_cat(out, outsz, exe, "/../lib/proxyshim/", file) < 0 ||
	    cli_exists(out, st) != 0)
		return -1;
	if (realpath(out, real) != NULL && strlen(real) < outsz)
		strcpy(out, real);
	return 0;
}

int
cli_find_file(const char *file, char *out, size_t outsz)
{
	return cli_find_file_stat(file, out, outsz, NULL);
}

/* Exec the program file of the installation with argv (argv[0] becomes its
 * path); who names the command in the error lines.  Returns only on
 * failure. */
static int
cli_exec_file(const char *who, const char *file, char **argv)
{
	char path[PATH_MAX];

	if (cli_find_file(file, path, sizeof(path)) < 0) {
		fprintf(stderr,
		        "%s: cannot find %s beside the command or in "
		        "../lib/proxyshim/\n",
		        who, file);
		return CLI_FAIL;
	}
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
	return CLI_FAIL;
}

#ifdef PS_STATIC_FRONT
/* This command's own arguments, to proxyshim-dyn: it does the whole
 * command, from the start.  Returns only on failure. */
static int
cli_exec_dyn(void)
{
	return cli_exec_file("proxyshim", PS_DYN_EXE, cli_main_argv);
}

int
cli_publish(const char *lib, const struct ps_source *src, char *name,
            size_t namesz)
{
	(void)lib;
	(void)src;
	(void)namesz;
	name[0] = '\0';
	(void)cli_exec_dyn();
	return -1;
}

int
cli_tools(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_exec_dyn();
}

void
cli_gc_auto(bool silent)
{
	(void)silent; /* proxyshim-dyn reads run's -q again */
	(void)cli_exec_dyn();
}

#else
int
cli_publish(const char *lib, const struct ps_source *src, char *name,
            size_t namesz)
{
	char path[PATH_MAX], err[PS_ERR_MAX];
	ps_compiler_publish_fn fn;
	const char *slash = strrchr(lib, '/');
	uint8_t *priv = NULL;
	size_t privlen = 0;
	void *h;
	int r;

	name[0] = '\0';
	if (slash == NULL ||
	    (size_t)(slash - lib) + sizeof(PS_COMPILER_LIB) + 1 > sizeof(path))
		return -1;
	snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - lib), lib,
	         PS_COMPILER_LIB);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "proxyshim: cannot load %s: %s\n", path,
		        dlerror());
		return -1;
	}
	fn = (ps_compiler_publish_fn)dlsym(h, PS_COMPILER_SYMBOL);
	if (fn == NULL) {
		fprintf(stderr, "proxyshim: %s: no %s\n", path,
		        PS_COMPILER_SYMBOL);
		dlclose(h);
		return -1;
	}
	r = fn(src, name, namesz, &priv, &privlen, err, sizeof(err));
	dlclose(h);
	free(priv);
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

int
cli_tools(int argc, char **argv)
{
	char path[PATH_MAX];
	int (*fn)(int, char **);
	void *h;

	if (cli_find_file(PS_TOOLS_LIB, path, sizeof(path)) < 0) {
		fprintf(stderr,
		        "proxyshim %s: cannot find %s beside the command "
		        "or in ../lib/proxyshim/\n",
		        argv[0], PS_TOOLS_LIB);
		return CLI_FAIL;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "proxyshim %s: cannot load %s: %s\n", argv[0],
		        path, dlerror());
		return CLI_FAIL;
	}
	fn = (int (*)(int, char **))dlsym(h, PS_TOOLS_SYMBOL);
	if (fn == NULL) {
		fprintf(stderr, "proxyshim %s: %s: no %s\n", argv[0], path,
		        PS_TOOLS_SYMBOL);
		return CLI_FAIL;
	}
	/* Not dlclose()d: the command exits after it, and stdio buffers
	 * the library filled are flushed by exit(). */
	return fn(argc, argv);
}

void
cli_gc_auto(bool silent)
{
	char gc[] = "gc", opt[] = "--auto", q[] = "-q";
	char *argv[] = {gc, opt, silent ? q : NULL, NULL};

	(void)cli_tools(silent ? 3 : 2, argv);
}

#endif

int
cli_relay(int argc, char **argv)
{
	(void)argc;
	return cli_exec_file("proxyshim relay", PS_RELAY_EXE, argv);
}
