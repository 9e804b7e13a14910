/*
 * getaddrinfo() calls per second: NAME resolved N times by each of T
 * threads (and freed).  Run it under the shim with a config that proxies
 * NAME through a socks5h upstream (dns: remote: fake addresses) and
 * without the shim for a name in /etc/hosts, to compare:
 *
 *   resolve NAME [N [T]]      default N 200000, T 1
 *
 * Prints: "NAME threads T calls C seconds S calls_per_s R".
 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char *bench_name;
static long bench_n;

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
bench_run(void *arg)
{
	struct addrinfo hints, *res;
	long i, *fails = arg;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	for (i = 0; i < bench_n; i++) {
		if (getaddrinfo(bench_name, "443", &hints, &res) != 0) {
			(*fails)++;
			continue;
		}
		freeaddrinfo(res);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t th[64];
	long fails[64] = {0}, nf = 0;
	int t, nt;
	double t0, dt;

	if (argc < 2) {
		fprintf(stderr, "usage: resolve NAME [N [THREADS]]\n");
		return 2;
	}
	bench_name = argv[1];
	bench_n = argc > 2 ? atol(argv[2]) : 200000;
	nt = argc > 3 ? atoi(argv[3]) : 1;
	if (nt < 1 || nt > 64 || bench_n < 1)
		return 2;
	bench_run(&fails[0]); /* warm up: maps, caches, the name's slot */
	fails[0] = 0;
	t0 = bench_now();
	for (t = 0; t < nt; t++)
		pthread_create(&th[t], NULL, bench_run, &fails[t]);
	for (t = 0; t < nt; t++) {
		pthread_join(th[t], NULL);
		nf += fails[t];
	}
	dt = bench_now() - t0;
	printf("%s threads %d calls %ld seconds %.3f calls_per_s %.0f%s\n",
	       bench_name, nt, bench_n * nt, dt, (double)(bench_n * nt) / dt,
	       nf ? " (failures!)" : "");
	return nf ? 1 : 0;
}
