/*
 * bench/lookup: the compiled table at scale.
 *
 *   build/bench/lookup [ENTRIES [LOOKUPS]]     (default 1000000 1000000)
 *
 * Writes ENTRIES exempt entries (exact names, suffixes, IPv4 and IPv6
 * CIDRs) as a YAML list into a temporary directory, then times
 * config_load_file(), compile_table() and table_view_open() (the check
 * every process runs on a mapped table), and route_lookup() over LOOKUPS
 * random destinations (hits and misses; names, addresses, both) in random
 * order, so the table is as cold as it is in a real program.
 *
 * Lookup times: each lookup is timed on its own with clock_gettime() and
 * the cost of an empty timed region is subtracted; the mean comes from
 * untimed batches.  Targets (docs/performance.md): compile <= 3 s
 * including the YAML read, table <= 64 MiB, median lookup <= 2.0x one
 * cache-missing memory access (measured in the same run).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"

#define NKIND 5

enum dkind { D_NAME_HIT, D_NAME_MISS, D_V4, D_V6, D_BOTH };

static const char *const kind_name[NKIND] = {"name, listed", "name, not listed",
                                             "IPv4 address", "IPv6 address",
                                             "name + address"};

static const char *const words[] = {
        "api",   "www",    "db",   "cache",  "svc",      "build", "git",
        "auth",  "mail",   "cdn",  "edge",   "internal", "corp",  "data",
        "queue", "search", "img",  "static", "media",    "vpn",   "ci",
        "k8s",   "node",   "east", "west",   "prod",     "stage", "dev",
        "test",  "lab",    "ops",  "sec",
};
static const char *const tlds[] = {"com",     "net",      "org",   "io",
                                   "example", "internal", "local", "dev"};
#define NWORDS (sizeof(words) / sizeof(words[0]))
#define NTLDS (sizeof(tlds) / sizeof(tlds[0]))

static uint64_t rng_state = 0x5eed;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
rnd(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Entry i's name: deterministic, so destinations can aim at it. */
static int
bench_name(char *buf, size_t bufsz, uint64_t i)
{
	return snprintf(buf, bufsz, "%s-%llx.%s%u.%s", words[i % NWORDS],
	                (unsigned long long)(i * 2654435761u % 0xfffffff),
	                words[(i / NWORDS) % NWORDS], (unsigned)(i % 97),
	                tlds[i % NTLDS]);
}

/* Entry i's IPv4 block: a /16 to /32 somewhere in the space. */
static void
bench_v4(uint64_t i, uint32_t *net, unsigned *prefix)
{
	uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull;

	*prefix = i % 2 ? 32 : 16 + (unsigned)(h >> 60) % 13;
	*net = (uint32_t)(h >> 20);
	*net &= *prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> *prefix);
}

static void
bench_v6(uint64_t i, uint8_t a[16], unsigned *prefix)
{
	uint64_t h = (i + 1) * 0xd6e8feb86659fd93ull;
	int k;

	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	for (k = 2; k < 8; k++)
		a[k] = (uint8_t)(h >> (8 * k));
	*prefix = i % 3 == 0 ? 128 : 32 + (unsigned)(h % 33);
	if (*prefix == 128)
		for (k = 8; k < 16; k++)
			a[k] = (uint8_t)(h >> (8 * (k - 8)) ^ 0x5a);
	for (k = 0; k < 16; k++) {
		unsigned keep = *prefix > 8u * (unsigned)k
		                        ? *prefix - 8u * (unsigned)k
		                        : 0;

		if (keep < 8)
			a[k] &= (uint8_t)(0xff00u >> keep);
	}
}

/* Mix: 40% names, 20% suffixes, 25% IPv4, 15% IPv6. */
static int
entry_kind(uint64_t i)
{
	unsigned m = (unsigned)(i % 20);

	return m < 8 ? 0 : m < 12 ? 1 : m < 17 ? 2 : 3;
}

static int
write_yaml(const char *path, uint64_t n, size_t *bytes)
{
	char buf[128], a6[INET6_ADDRSTRLEN];
	FILE *f = fopen(path, "w");
	uint8_t a[16];
	uint32_t net;
	unsigned prefix;
	uint64_t i;

	if (f == NULL)
		return -errno;
	fprintf(f, "proxy:\n  http: http://proxy.bench:3128\n  exempt:\n");
	for (i = 0; i < n; i++) {
		switch (entry_kind(i)) {
		case 0:
			bench_name(buf, sizeof(buf), i);
			fprintf(f, "    - %s\n", buf);
			break;
		case 1: /* a whole subtree: ".x.y.z" or "*.x.y.z" */
			bench_name(buf, sizeof(buf), i);
			fprintf(f, "    - \"%s%s\"\n", i % 2 ? "." : "*.", buf);
			break;
		case 2:
			bench_v4(i, &net, &prefix);
			fprintf(f, "    - %u.%u.%u.%u/%u\n", net >> 24,
			        (net >> 16) & 255, (net >> 8) & 255, net & 255,
			        prefix);
			break;
		default:
			bench_v6(i, a, &prefix);
			inet_ntop(AF_INET6, a, a6, sizeof(a6));
			fprintf(f, "    - \"%s/%u\"\n", a6, prefix);
		}
	}
	*bytes = (size_t)ftell(f);
	return fclose(f) == 0 ? 0 : -errno;
}

struct dest {
	struct ps_dest d;
	enum dkind kind;
};

static void
make_dest(struct dest *x, char *namebuf, uint64_t nentries)
{
	uint64_t i = rng() % nentries;
	uint32_t net;
	unsigned prefix;
	uint32_t r = rnd(100);
	int n;

	memset(x, 0, sizeof(*x));
	x->d.port = rnd(2) ? 443 : 80;
	x->kind = r < 25   ? D_NAME_HIT
	          : r < 50 ? D_NAME_MISS
	          : r < 75 ? D_V4
	          : r < 90 ? D_V6
	                   : D_BOTH;
	if (x->kind == D_NAME_HIT || x->kind == D_BOTH) {
		/* An exact name or under a suffix, with 0-2 extra labels. */
		while (entry_kind(i) > 1)
			i = (i + 1) % nentries;
		n = 0;
		if (rnd(2))
			n += snprintf(namebuf, 64, "%s.", words[rnd(NWORDS)]);
		if (entry_kind(i) == 1 || rnd(3) == 0)
			n += snprintf(namebuf + n, 64, "%s.",
			              words[rnd(NWORDS)]);
		bench_name(namebuf + n, 128, i);
	} else if (x->kind == D_NAME_MISS) {
		snprintf(namebuf, 192, "%s.%s-%x.%s%u.%s", words[rnd(NWORDS)],
		         words[rnd(NWORDS)], rnd(0xfffff), words[rnd(NWORDS)],
		         rnd(1000), tlds[rnd(NTLDS)]);
	}
	if (x->kind == D_NAME_HIT || x->kind == D_NAME_MISS ||
	    x->kind == D_BOTH) {
		x->d.name = namebuf;
		x->d.name_len = strlen(namebuf);
	}
	if (x->kind == D_V4 || x->kind == D_BOTH) {
		x->d.family = AF_INET;
		if (rnd(2)) { /* inside an entry's block */
			while (entry_kind(i) != 2)
				i = (i + 1) % nentries;
			bench_v4(i, &net, &prefix);
			net |= prefix < 32 ? (uint32_t)rng() &
			                             (0xffffffffu >> prefix)
			                   : 0;
		} else {
			net = (uint32_t)rng();
		}
		net = htonl(net);
		memcpy(x->d.addr, &net, 4);
	} else if (x->kind == D_V6) {
		x->d.family = AF_INET6;
		if (rnd(2)) {
			while (entry_kind(i) != 3)
				i = (i + 1) % nentries;
			bench_v6(i, x->d.addr, &prefix);
			if (prefix < 128)
				x->d.addr[15] ^= (uint8_t)rnd(256);
		} else {
			x->d.addr[0] = 0x20;
			x->d.addr[1] = 0x01;
			for (n = 2; n < 16; n++)
				x->d.addr[n] = (uint8_t)rnd(256);
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
ns_per(double sec, uint64_t n)
{
	return sec * 1e9 / (double)n;
}

static void
report(double *t, size_t n, const char *label)
{
	if (n == 0)
		return;
	qsort(t, n, sizeof(*t), cmp_double);
	printf("  %-18s %8zu %9.0f %9.0f\n", label, n, t[n / 2],
	       t[n * 99 / 100]);
}

/*
 * Bring destination i into the cache first: a program's destination name
 * is hot (it was just resolved or formatted), and the benchmark's own
 * array of a million names must not be what is measured.
 */
static uint32_t
dest_touch(const struct dest *x)
{
	uint32_t s = x->d.port;
	size_t i;

	for (i = 0; i < x->d.name_len; i++)
		s += (uint8_t)x->d.name[i];
	return s + x->d.addr[15];
}

/* Per-lookup timing, minus the cost of the timing itself; the median of
 * all lookups (ns), or -1. */
static double
time_lookups(const struct ps_table_view *v, const struct dest *dst, size_t n)
{
	double *t = malloc(n * sizeof(*t)), *byk[NKIND], overhead;
	double ov[1001];
	size_t nk[NKIND] = {0}, i, k;
	struct timespec a, b;
	struct ps_route rt;
	volatile uint32_t sink = 0;
	double t0, t1, mean, median;

	if (t == NULL)
		return -1;
	for (k = 0; k < NKIND; k++)
		byk[k] = malloc(n * sizeof(double));
	for (i = 0; i < 1001; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ov[i] = (double)(b.tv_sec - a.tv_sec) * 1e9 +
		        (double)(b.tv_nsec - a.tv_nsec);
	}
	qsort(ov, 1001, sizeof(double), cmp_double);
	overhead = ov[500];
	for (i = 0; i < n; i++) {
		sink += dest_touch(&dst[i]);
		clock_gettime(CLOCK_MONOTONIC, &a);
		route_lookup(v, &dst[i].d, &rt);
		clock_gettime(CLOCK_MONOTONIC, &b);
		sink += rt.why;
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e9 +
		       (double)(b.tv_nsec - a.tv_nsec) - overhead;
		if (byk[dst[i].kind])
			byk[dst[i].kind][nk[dst[i].kind]++] = t[i];
	}
	/* Untimed pass for the mean (destinations touched, as above, but
	 * that cost measured apart and taken off). */
	t0 = now();
	for (i = 0; i < n; i++)
		sink += dest_touch(&dst[i]);
	t1 = now() - t0;
	t0 = now();
	for (i = 0; i < n; i++) {
		sink += dest_touch(&dst[i]);
		route_lookup(v, &dst[i].d, &rt);
		sink += rt.why;
	}
	mean = ns_per(now() - t0 - t1, n);
	printf("lookups (clock_gettime overhead %.0f ns subtracted):\n",
	       overhead);
	printf("  %-18s %8s %9s %9s\n", "destination", "count", "median ns",
	       "p99 ns");
	report(t, n, "all");
	median = t[n / 2];
	for (k = 0; k < NKIND; k++)
		if (byk[k])
			report(byk[k], nk[k], kind_name[k]);
	printf("  mean over untimed batch: %.0f ns/lookup (%u)\n", mean,
	       sink & 1);
	for (k = 0; k < NKIND; k++)
		free(byk[k]);
	free(t);
	return median;
}

/*
 * What one cache-missing memory access costs here: a pointer chase
 * through a buffer as big as the table, one pointer per 64-byte line,
 * the lines in random order, so every step waits for the one before.  A
 * lookup that reads k lines of a cold table one after another costs
 * about k of these, which is the floor the medians above stand on.
 * Returns ns per access, or -1.
 */
static char *
chase_next(const char *line)
{
	char *next;

	memcpy(&next, line, sizeof(next));
	return next;
}

static double
mem_chase_ns(size_t bytes)
{
	size_t n = bytes / 64, i, j, t, steps = 2000000;
	size_t *perm = malloc(n * sizeof(*perm));
	char *buf = malloc(n * 64), *p;
	double t0, dt = -1;

	if (perm == NULL || buf == NULL || n < 2)
		goto out;
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = (size_t)(rng() % (i + 1));
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++) {
		p = buf + perm[(i + 1) % n] * 64;
		memcpy(buf + perm[i] * 64, &p, sizeof(p));
	}
	p = buf;
	for (i = 0; i < steps / 10; i++) /* warm the TLB walk caches alike */
		p = chase_next(p);
	t0 = now();
	for (i = 0; i < steps; i++)
		p = chase_next(p);
	dt = ns_per(now() - t0, steps);
	if (p == NULL) /* keeps the chase from being optimised away */
		dt = -1;
out:
	free(perm);
	free(buf);
	return dt;
}

/* YAML → config → table → view, timing each step; 0 or -1. */
static int
bench_build(const char *path, uint64_t nentries, struct ps_config *cfg,
            uint8_t **tbl, struct ps_table_view *v)
{
	char err[PS_ERR_MAX];
	const char *why = "";
	size_t len = 0, ybytes = 0;
	double t0, tload, tcomp, topen, tcrc, tskip;
	int r;

	r = write_yaml(path, nentries, &ybytes);
	if (r < 0) {
		fprintf(stderr, "lookup: %s: %s\n", path, strerror(-r));
		return -1;
	}
	t0 = now();
	if (config_load_file(path, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "lookup: %s\n", err);
		return -1;
	}
	tload = now() - t0;
	t0 = now();
	r = compile_table(cfg, 1, tbl, &len, err, sizeof(err));
	tcomp = now() - t0;
	if (r < 0) {
		fprintf(stderr, "lookup: compile: %s\n", err);
		return -1;
	}
	t0 = now();
	r = table_view_open(*tbl, len, v, &why);
	topen = now() - t0;
	if (r < 0) {
		fprintf(stderr, "lookup: table refused: %s\n", why);
		return -1;
	}
	t0 = now();
	(void)table_crc32c(0, *tbl, len);
	tcrc = now() - t0;
	t0 = now();
	(void)table_view_open_flags(*tbl, len, v, &why, PS_VIEW_SKIP_CRC);
	tskip = now() - t0;

	printf("exempt entries     %llu (40%% names, 20%% suffixes, 25%% IPv4 "
	       "CIDRs/IPs, 15%% IPv6)\n",
	       (unsigned long long)nentries);
	printf("YAML file          %.1f MiB\n", (double)ybytes / 1048576.0);
	printf("config_load_file   %7.3f s\n", tload);
	printf("compile_table      %7.3f s\n", tcomp);
	printf("load + compile     %7.3f s   (target <= 3 s)\n", tload + tcomp);
	printf("table size         %7.1f MiB (target <= 64 MiB): %zu name "
	       "slots, %zu name entries, %zu IPv4 ranges, %zu IPv6 ranges, "
	       "%zu sources, %zu bytes of strings\n",
	       (double)len / 1048576.0, v->nname_slots, v->nname_ents, v->nv4,
	       v->nv6, v->nsources, v->strings_len);
	printf("table_view_open    %7.1f ms  (CRC-32C alone %.1f ms, %.2f "
	       "GB/s; with PS_VIEW_SKIP_CRC %.1f ms)\n",
	       topen * 1e3, tcrc * 1e3, (double)len / tcrc / 1e9, tskip * 1e3);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t nentries = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	size_t nlookups = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	char dir[] = "/tmp/proxyshim-bench-XXXXXX", path[64];
	struct ps_config cfg;
	struct ps_table_view v;
	struct dest *dst = NULL;
	char *names = NULL;
	uint8_t *tbl = NULL;
	double median, miss;
	size_t i;
	int status = 1;

	/* Every kind of entry occurs once per 20 (entry_kind()). */
	if (nentries < 20 || nlookups == 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: lookup [ENTRIES >= 20 [LOOKUPS]]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/exempt.yml", dir);
	config_init(&cfg);
	if (bench_build(path, nentries, &cfg, &tbl, &v) < 0)
		goto out;
	dst = calloc(nlookups, sizeof(*dst));
	names = malloc(nlookups * 256);
	if (dst == NULL || names == NULL) {
		fprintf(stderr, "lookup: out of memory\n");
		goto out;
	}
	for (i = 0; i < nlookups; i++)
		make_dest(&dst[i], names + i * 256, nentries);
	median = time_lookups(&v, dst, nlookups);
	miss = mem_chase_ns(v.hdr->total_size);
	printf("memory: one dependent cache-missing access, over a buffer "
	       "of the table's size: %.0f ns\n",
	       miss);
	/* A lookup in a table far larger than the caches is bounded below
	 * by the memory it must reach: the target is a ratio to that, both
	 * measured in this run (docs/performance.md#route-lookup). */
	printf("median lookup      %7.2f x one cache-missing access "
	       "(target <= 2.0x)\n",
	       median / miss);
	status = 0;
out:
	free(dst);
	free(names);
	free(tbl);
	config_free(&cfg);
	unlink(path);
	rmdir(dir);
	return status;
}
