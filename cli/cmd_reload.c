/*
 * proxyshim reload: validate the config file, publish its table and put
 * it in force for every running program started with that file
 * (docs/behaviour.md#live-reload).  Also what explain and dump print of
 * the current segment (include/proxyshim/current.h); what run does with
 * it is in cli/reload_start.c.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/config.h"
#include "proxyshim/current.h"
#include "proxyshim/env.h"
#include "proxyshim/shm.h"
#include "proxyshim/supervise.h"
#include "proxyshim/table.h"
#include "cli.h"

/* Does this /proc/PID/maps text map the object dev:ino? */
static int
reload_maps_have(FILE *f, dev_t dev, ino_t ino)
{
	char line[1024];
	unsigned maj, min;
	unsigned long long i;

	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &i) ==
		            3 &&
		    (ino_t)i == ino && makedev(maj, min) == dev)
			return 1;
	return 0;
}

/* run's supervisor follows the segment too; it is no program of the
 * user's and is not counted (docs/behaviour.md#static-and-go-programs). */
static int
reload_is_supervisor(long pid)
{
	char path[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	return strcmp(base != NULL ? base + 1 : exe, PS_SUPERVISOR_EXE) == 0;
}

/* How many processes (other than us) map the current segment: those
 * follow the file and switch at their next connect or name lookup. */
static int
reload_count_followers(uint64_t key)
{
	char name[PS_SHM_NAME_MAX + sizeof(PS_CURRENT_SUFFIX)], path[300];
	struct dirent *e;
	struct stat st;
	DIR *d;
	FILE *f;
	int n = 0;

	current_name(key, name, sizeof(name));
	snprintf(path, sizeof(path), "%s%s", PS_SHM_DIR, name);
	if (stat(path, &st) != 0 || (d = opendir("/proc")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (pid <= 0 || *end != '\0' || pid == (long)getpid() ||
		    reload_is_supervisor(pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		n += reload_maps_have(f, st.st_dev, st.st_ino);
		fclose(f);
	}
	closedir(d);
	return n;
}

void
reload_print_generation(const struct cli_opts *o, uint64_t shown)
{
	struct ps_current_seg *s;
	struct ps_source src;
	uint64_t key, gen, table;

	if (source_find(o->config, NULL, &src) < 0 ||
	    src.kind != PS_SOURCE_FILE || current_key_of(src.path, &key) < 0)
		return;
	if (current_open(key, 0, &s) < 0) {
		printf("generation: none in force (no program has used this "
		       "file yet)\n");
		return;
	}
	current_read(s, &gen, &table);
	current_close(s);
	if (gen == 0)
		printf("generation: none in force\n");
	else if (table == shown)
		printf("generation: %llu in force (this table)\n",
		       (unsigned long long)gen);
	else
		printf("generation: %llu in force, from an earlier version "
		       "of the file (shown: the file as it is now; apply it "
		       "with proxyshim reload)\n",
		       (unsigned long long)gen);
}

int
cmd_reload(int argc, char **argv)
{
	char name[PS_SHM_NAME_MAX], err[PS_ERR_MAX];
	struct cli_opts o = {0};
	struct ps_current_seg *s;
	struct ps_source src;
	uint8_t *priv = NULL;
	size_t privlen = 0;
	uint64_t key, gen, table;
	int i, r, n;

	i = cli_parse_opts(argc, argv, &o, 1);
	if (i < 0 || i != argc) {
		fprintf(stderr, "usage: proxyshim reload [-c FILE] [-q]\n");
		return CLI_USAGE;
	}
	r = source_find(o.config, NULL, &src);
	if (r < 0 || src.kind != PS_SOURCE_FILE) {
		const char *p = o.config ? o.config : getenv(PS_ENV_CONFIG);

		fprintf(stderr, "proxyshim reload: %s: %s\n", p ? p : "config",
		        r < 0 ? (r == -EINVAL ? "not a regular file"
		                              : strerror(-r))
		              : "no config file (the environment default "
		                "cannot change under a running program)");
		return CLI_FAIL;
	}
	/* Validated and published before anything is put in force: an
	 * error changes nothing anywhere. */
	if (compiler_publish(&src, name, sizeof(name), &priv, &privlen, err,
	                     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return CLI_FAIL;
	}
	free(priv);
	if (name[0] == '\0') {
		fprintf(stderr, "proxyshim reload: could not publish the "
		                "table in shared memory\n");
		return CLI_FAIL;
	}
	r = current_key_of(src.path, &key);
	if (r == 0)
		r = current_open(key, 1, &s);
	if (r < 0) {
		fprintf(stderr, "proxyshim reload: %s: %s\n", src.path,
		        strerror(-r));
		return CLI_FAIL;
	}
	current_read(s, &gen, &table);
	if (gen != 0 && table == src.identity) {
		current_close(s);
		if (o.verbosity >= 0)
			printf("generation %llu already in force: %s\n",
			       (unsigned long long)gen, name);
		return CLI_OK;
	}
	gen = current_publish(s, src.identity);
	current_close(s);
	n = reload_count_followers(key);
	if (o.verbosity >= 0) {
		printf("generation %llu in force: %s\n",
		       (unsigned long long)gen, name);
		if (n >= 0)
			printf("%d running process(es) follow %s and switch "
			       "at their next connect or name lookup\n",
			       n, src.path);
	}
	return CLI_OK;
}
