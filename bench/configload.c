/*
 * bench/configload: how reading a large exempt list scales.
 *
 *   build/bench/configload [SMALL [BIG]]      (default 100000 1000000)
 *
 * For each form of `proxy.exempt` (one comma-separated string, and a YAML
 * list with one entry per line) and each size, builds the YAML text in
 * memory and reports the best of three runs of:
 *   - yaml:   libyaml alone loading the document (yaml_parser_load), the
 *             part of the work that is not ours;
 *   - config: config_load_buffer(), libyaml plus our reader;
 * and the BIG/SMALL ratio of each.  Linear code gives a ratio near
 * BIG/SMALL; a ratio well above it that libyaml shows as much as the whole
 * reader comes from libyaml or the memory system, not from our code.
 *
 * Nothing here is a pass/fail verdict: the unit suite checks the reader's
 * work count instead (docs/performance.md#reading-large-configs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <yaml.h>

#include "proxyshim/config.h"
#include "../tests/exempt_yaml.h"

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
time_yaml(const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_document_t doc;
	double t;

	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	t = now_s();
	if (!yaml_parser_load(&p, &doc)) {
		yaml_parser_delete(&p);
		return -1;
	}
	yaml_document_delete(&doc);
	t = now_s() - t;
	yaml_parser_delete(&p);
	return t;
}

static long
minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* The whole reader's time; *faults gets the page faults it took and
 * *work its own work count (struct ps_config's load_work). */
static double
time_config(const char *buf, size_t len, size_t n, long *faults, size_t *work)
{
	struct ps_config c;
	long f = minor_faults();
	double t = now_s();

	if (config_load_buffer("bench", buf, len, &c, NULL, 0) < 0)
		return -1;
	t = now_s() - t;
	*faults = minor_faults() - f;
	*work = c.load_work;
	if (c.nexempt != n)
		t = -1;
	config_free(&c);
	return t;
}

struct result {
	double yaml, cfg; /* seconds, best of three */
	long faults;      /* page faults of the best whole-reader run */
	size_t work;      /* the reader's work count */
};

/* Best of three of both measurements for one form and size. */
static int
measure(size_t n, int list, struct result *r)
{
	size_t len;
	char *buf = exempt_yaml(n, list, &len);
	int k;

	if (buf == NULL)
		return -1;
	r->yaml = r->cfg = 1e9;
	for (k = 0; k < 3; k++) {
		long f;
		double a = time_yaml(buf, len),
		       b = time_config(buf, len, n, &f, &r->work);

		if (a < 0 || b < 0) {
			free(buf);
			return -1;
		}
		r->yaml = a < r->yaml ? a : r->yaml;
		if (b < r->cfg) {
			r->cfg = b;
			r->faults = f;
		}
	}
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t sizes[2] = {100000, 1000000};
	int list;

	if (argc > 1)
		sizes[0] = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		sizes[1] = strtoul(argv[2], NULL, 10);
	if (sizes[0] == 0 || sizes[1] <= sizes[0]) {
		fprintf(stderr,
		        "usage: configload [SMALL [BIG]], SMALL < BIG\n");
		return 2;
	}
	printf("| form | entries | libyaml load (s) | whole reader (s) | "
	       "page faults | reader work |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	for (list = 0; list < 2; list++) {
		struct result r[2];
		int i;

		for (i = 0; i < 2; i++) {
			if (measure(sizes[i], list, &r[i]) < 0) {
				fprintf(stderr, "configload: load failed\n");
				return 1;
			}
			printf("| %s | %zu | %.3f | %.3f | %ld | %zu |\n",
			       list ? "list" : "string", sizes[i], r[i].yaml,
			       r[i].cfg, r[i].faults, r[i].work);
		}
		printf("| %s | ratio (%zux entries) | %.1fx | %.1fx | %.1fx | "
		       "%.1fx |\n",
		       list ? "list" : "string", sizes[1] / sizes[0],
		       r[1].yaml / r[0].yaml, r[1].cfg / r[0].cfg,
		       (double)r[1].faults /
		               (double)(r[0].faults ? r[0].faults : 1),
		       (double)r[1].work / (double)r[0].work);
	}
	return 0;
}
