/*
 * bench/startup: what preloading proxyshim adds to starting a process.
 *
 *   startup [-n RUNS] [-w WARMUP] [-p PROG] -l LIB [-t TABLE] [-c CONFIG]
 *           [-z NULL_LIB] [-e LABEL=OTHER_LIB]... [-T TRAMPOLINE]
 *           [-x LABEL=LAUNCHER ARG...]...
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
 *   exec-floor  -T TRAMPOLINE: PROG started by a program that only
 *               execv()s it (bench/trampoline.c): the floor for launchers
 *   LABEL       -x "LABEL=LAUNCHER ARG...": PROG started by a launcher
 *               (words split at spaces; PROG is appended), e.g.
 *               `proxyshim run -q -c FILE --`, `proxychains4 -q -f FILE`
 *
 * Every variant is run once first with its stderr captured: it must exit
 * 0 and the library must print nothing (a refused table would be logged),
 * else the benchmark stops.  The result is a markdown table: median, p10,
 * p90 in microseconds, the ratio of the medians to bare, and to the
 * variant's floor: null-preload for a preload, exec-floor for a launcher.
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
#define MAX_LAUNCHERS 10
#define MAX_VARIANTS (6 + MAX_EXTRA + MAX_LAUNCHERS)
#define MAX_ENV 4
#define MAX_ARGS 16

struct variant {
	const char *name;
	char *env[MAX_ENV + 1];
	char *argv[MAX_ARGS + 2]; /* launcher words, then PROG; [0] NULL: PROG alone */
	int launcher;             /* compared with exec-floor, else null-preload */
	double *us;               /* one per run */
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
spawn(const char *prog, const struct variant *v, int errfd, double *us)
{
	char *const plain[] = {(char *)prog, NULL};
	char *const *argv = v->argv[0] != NULL ? v->argv : plain;
	char *const *env = v->env;
	double t0 = now_us();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (errfd >= 0)
			dup2(errfd, 2);
		execve(argv[0], argv, env);
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
		st = spawn(prog, &variants[i], fd, &us);
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

/* A launcher variant: the words of spec (LABEL=WORD WORD...), then prog. */
static void
launcher_add(char *spec, const char *prog)
{
	struct variant *v;
	char *eq = strchr(spec, '='), *w, *save = NULL;
	size_t n = 0;

	*eq = '\0';
	variant_add(spec, NULL, NULL, NULL, NULL);
	v = &variants[nvariants - 1];
	v->launcher = 1;
	for (w = strtok_r(eq + 1, " ", &save); w != NULL && n < MAX_ARGS;
	     w = strtok_r(NULL, " ", &save))
		v->argv[n++] = w;
	v->argv[n++] = (char *)prog;
	v->argv[n] = NULL;
}

static double
median_of(struct variant *v, unsigned long runs)
{
	qsort(v->us, runs, sizeof(double), cmp_double);
	return v->us[runs / 2];
}

static void
report(const char *prog, unsigned long runs)
{
	double base = 0, pre_floor = 0, exec_floor = 0;
	size_t i;

	for (i = 0; i < nvariants; i++) {
		double med = median_of(&variants[i], runs);

		if (i == 0)
			base = med;
		if (strcmp(variants[i].name, "null-preload") == 0)
			pre_floor = med;
		if (strcmp(variants[i].name, "exec-floor") == 0)
			exec_floor = med;
	}
	printf("Start-up: `%s`, fork+execve+waitpid, %lu runs of each "
	       "variant, interleaved.\n\n",
	       prog, runs);
	printf("| variant | median µs | p10 µs | p90 µs | × bare | × floor |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < nvariants; i++) {
		struct variant *v = &variants[i];
		double med = v->us[runs / 2];
		double floor = v->launcher ? exec_floor : pre_floor;

		printf("| %s | %.1f | %.1f | %.1f | %.3f |", v->name, med,
		       v->us[runs / 10], v->us[runs * 9 / 10], med / base);
		if (i == 0 || floor <= 0)
			printf(" |\n");
		else
			printf(" %.3f %s |\n", med / floor,
			       v->launcher ? "exec" : "preload");
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: startup [-n RUNS] [-w WARMUP] [-p PROG] -l LIB "
	                "[-t TABLE] [-c CONFIG] [-z NULL_LIB] "
	                "[-e LABEL=OTHER_LIB]... [-T TRAMPOLINE] "
	                "[-x LABEL=LAUNCHER ARG...]...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *prog = "/bin/true", *lib = NULL, *table = NULL,
	           *config = NULL, *null_lib = NULL;
	char *extra[MAX_EXTRA], *launchers[MAX_LAUNCHERS];
	const char *tramp = NULL;
	unsigned long runs = 2000, warmup = 100, r, k;
	size_t i, v, nextra = 0, nlaunchers = 0;
	int opt;

	while ((opt = getopt(argc, argv, "n:w:p:l:t:c:z:e:T:x:")) != -1) {
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
		case 'T':
			tramp = optarg;
			break;
		case 'x':
			if (nlaunchers == MAX_LAUNCHERS ||
			    strchr(optarg, '=') == NULL)
				return usage();
			launchers[nlaunchers++] = optarg;
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
	if (tramp != NULL) {
		char spec[4096];

		snprintf(spec, sizeof(spec), "exec-floor=%s", tramp);
		launcher_add(strdup(spec), prog);
	}
	for (i = 0; i < nlaunchers; i++)
		launcher_add(launchers[i], prog);
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
			if (spawn(prog, &variants[v], -1, &us) != 0) {
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
