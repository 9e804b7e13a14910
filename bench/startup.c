/*
 * bench/startup: what preloading proxyshim adds to starting a process.
 *
 *   startup [-n RUNS] [-w WARMUP] [-p PROG] -l LIB [-t TABLE] [-c CONFIG]
 *           [-z NULL_LIB] [-e LABEL=OTHER_LIB]...
 *
 * Times fork + execve(PROG) + waitpid with CLOCK_MONOTONIC, RUNS times for
 * each variant, interleaved: every round runs each variant once, starting
 * from a different one each round, so drift and caches hit all alike.
 * Variants (those whose option is given):
 *
 *   bare        PROG with no preload
 *   null-preload  LD_PRELOAD of an empty library (-z): the loader's own
 *               price for any preload, the floor for proxyshim
 *   table       LD_PRELOAD=LIB PROXYSHIM_TABLE=TABLE (what `run` exports)
 *   config      LD_PRELOAD=LIB PROXYSHIM_CONFIG=CONFIG (by hand; the table
 *               must already be published)
 *   unconfigured  LD_PRELOAD=LIB and nothing else (pass-through mode)
 *   LABEL       -e LABEL=OTHER_LIB: OTHER_LIB with PROXYSHIM_TABLE=TABLE, to
 *               compare another build of the library in the same run
 *
 * Every variant is run once first with its stderr captured: it must exit
 * 0 and the library must print nothing (a refused table would be logged),
 * else the benchmark stops.  The result is a markdown table: median, p10,
 * p90 in microseconds, and the ratio of the medians to bare.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXTRA 4
#define MAX_VARIANTS (5 + MAX_EXTRA)
#define MAX_ENV 4

struct variant {
	const char *name;
	char *env[MAX_ENV + 1];
	double *us; /* one per run */
};

static struct variant variants[MAX_VARIANTS];
static size_t nvariants;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *
env_pair(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *s = malloc(n);

	if (s == NULL) {
		perror("malloc");
		exit(1);
	}
	snprintf(s, n, "%s=%s", k, v);
	return s;
}

/* A variant with PATH set, plus up to two more variables (NULL = none). */
static void
variant_add(const char *name, const char *k1, const char *v1, const char *k2,
            const char *v2)
{
	struct variant *v = &variants[nvariants++];
	size_t e = 0;

	v->name = name;
	v->env[e++] = env_pair("PATH", "/usr/bin:/bin");
	if (k1 != NULL)
		v->env[e++] = env_pair(k1, v1);
	if (k2 != NULL)
		v->env[e++] = env_pair(k2, v2);
	v->env[e] = NULL;
}

/* One fork + execve + waitpid.  Returns the exit status (or 256 + signal,
 * or -1), *us the wall time.  errfd >= 0: the child's stderr goes there. */
static int
spawn(const char *prog, char *const env[], int errfd, double *us)
{
	char *const argv[] = {(char *)prog, NULL};
	double t0 = now_us();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (errfd >= 0)
			dup2(errfd, 2);
		execve(prog, argv, env);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	*us = now_us() - t0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 256 + WTERMSIG(status) : -1;
}

/* Run each variant once with stderr captured: exit 0, nothing printed. */
static int
check_variants(const char *prog)
{
	char tmpl[] = "/tmp/proxyshim-startup.XXXXXX", out[512];
	size_t i;
	double us;
	ssize_t n;
	int fd, st;

	fd = mkstemp(tmpl);
	if (fd < 0)
		return -1;
	unlink(tmpl);
	for (i = 0; i < nvariants; i++) {
		if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
			break;
		st = spawn(prog, variants[i].env, fd, &us);
		n = pread(fd, out, sizeof(out) - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		if (st != 0 || n != 0) {
			fprintf(stderr,
			        "startup: variant %s: exit %d, "
			        "stderr: %s\n",
			        variants[i].name, st, out);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return i == nvariants ? 0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
report(const char *prog, unsigned long runs)
{
	double base = 0;
	size_t i;

	printf("Start-up: `%s`, fork+execve+waitpid, %lu runs of each "
	       "variant, interleaved.\n\n",
	       prog, runs);
	printf("| variant | median µs | p10 µs | p90 µs | × bare |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (i = 0; i < nvariants; i++) {
		struct variant *v = &variants[i];
		double med;

		qsort(v->us, runs, sizeof(double), cmp_double);
		med = v->us[runs / 2];
		if (i == 0)
			base = med;
		printf("| %s | %.1f | %.1f | %.1f | %.3f |\n", v->name, med,
		       v->us[runs / 10], v->us[runs * 9 / 10], med / base);
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: startup [-n RUNS] [-w WARMUP] [-p PROG] -l LIB "
	                "[-t TABLE] [-c CONFIG] [-z NULL_LIB] "
	                "[-e LABEL=OTHER_LIB]...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *prog = "/bin/true", *lib = NULL, *table = NULL,
	           *config = NULL, *null_lib = NULL;
	char *extra[MAX_EXTRA];
	unsigned long runs = 2000, warmup = 100, r, k;
	size_t i, v, nextra = 0;
	int opt;

	while ((opt = getopt(argc, argv, "n:w:p:l:t:c:z:e:")) != -1) {
		switch (opt) {
		case 'n':
			runs = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			warmup = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			prog = optarg;
			break;
		case 'l':
			lib = optarg;
			break;
		case 't':
			table = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'z':
			null_lib = optarg;
			break;
		case 'e':
			if (nextra == MAX_EXTRA || strchr(optarg, '=') == NULL)
				return usage();
			extra[nextra++] = optarg;
			break;
		default:
			return usage();
		}
	}
	if (lib == NULL || runs < 10 || runs > 1000000 ||
	    (nextra > 0 && table == NULL))
		return usage();
	variant_add("bare", NULL, NULL, NULL, NULL);
	if (null_lib != NULL)
		variant_add("null-preload", "LD_PRELOAD", null_lib, NULL, NULL);
	if (table != NULL)
		variant_add("table", "LD_PRELOAD", lib, "PROXYSHIM_TABLE",
		            table);
	if (config != NULL)
		variant_add("config", "LD_PRELOAD", lib, "PROXYSHIM_CONFIG",
		            config);
	variant_add("unconfigured", "LD_PRELOAD", lib, NULL, NULL);
	for (i = 0; i < nextra; i++) {
		char *eq = strchr(extra[i], '=');

		*eq = '\0';
		variant_add(extra[i], "LD_PRELOAD", eq + 1, "PROXYSHIM_TABLE",
		            table);
	}
	for (i = 0; i < nvariants; i++) {
		variants[i].us = calloc(runs, sizeof(double));
		if (variants[i].us == NULL)
			return 1;
	}
	if (check_variants(prog) != 0)
		return 1;
	for (r = 0; r < warmup + runs; r++) {
		for (k = 0; k < nvariants; k++) {
			double us;

			v = (size_t)((r + k) % nvariants);
			if (spawn(prog, variants[v].env, -1, &us) != 0) {
				fprintf(stderr, "startup: %s failed\n",
				        variants[v].name);
				return 1;
			}
			if (r >= warmup)
				variants[v].us[r - warmup] = us;
		}
	}
	report(prog, runs);
	return 0;
}
