/*
 * bench/accept: accepted connections per second of a server under the
 * shim reading PROXY v2 headers from haproxy, against the same server
 * without the shim behind haproxy sending no header (issue 5).
 *
 *   cc -std=c11 -O2 -pthread -o build/bench/accept bench/accept.c
 *   build/bench/accept [-s SECONDS] [-c CONCURRENCY] [-r ROUNDS] LIBPROXYSHIM
 *
 * Each round starts, for each variant, the server (this program, "serve"
 * mode) and haproxy (TCP mode, foreground) on loopback ephemeral ports,
 * drives CONCURRENCY client threads for SECONDS connecting from 127.0.0.5
 * (connect, send 1 byte, read the 1-byte answer, close) and stops exactly
 * the two PIDs it started.  The server answers '5' when accept() said the
 * client is 127.0.0.5, else '1'; every answer is checked (shim: '5', bare:
 * '1').  Prints the median rate of each variant and the ratio.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/ps-bench-accept.XXXXXX";
static atomic_long ok_count, bad_count;
static atomic_int stop;
static int target_port;
static char want;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
serve(const char *portfile)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	FILE *f;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (void *)&sin, sizeof(sin)) || listen(l, 1024) ||
	    getsockname(l, (void *)&sin, &sl))
		return 1;
	f = fopen(portfile, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%u\n", ntohs(sin.sin_port));
	fclose(f);
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		char b, in;
		int c = accept(l, (void *)&peer, &pl);

		if (c < 0)
			continue;
		b = peer.sin_family == AF_INET &&
		            ntohl(peer.sin_addr.s_addr) == 0x7f000005
		        ? '5'
		        : '1';
		/* A probe (wait_listen) closes without a byte: no answer. */
		if (read(c, &in, 1) == 1 && write(c, &b, 1) != 1)
			perror("write");
		close(c);
	}
}

static void *
client(void *arg)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET};

	(void)arg;
	src.sin_addr.s_addr = htonl(0x7f000005);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)target_port);
	while (!atomic_load(&stop)) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		char b = 0;

		if (bind(s, (void *)&src, sizeof(src)) == 0 &&
		    connect(s, (void *)&dst, sizeof(dst)) == 0 &&
		    write(s, "x", 1) == 1 && read(s, &b, 1) == 1 && b == want)
			atomic_fetch_add(&ok_count, 1);
		else
			atomic_fetch_add(&bad_count, 1);
		close(s);
	}
	return NULL;
}

static int
free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM, 0), p;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (void *)&sin, sizeof(sin));
	getsockname(s, (void *)&sin, &sl);
	p = ntohs(sin.sin_port);
	close(s);
	return p;
}

static int
wait_port(const char *file)
{
	int i, p = 0;

	for (i = 0; i < 500 && p == 0; i++) {
		FILE *f = fopen(file, "r");

		if (f != NULL) {
			if (fscanf(f, "%d", &p) != 1)
				p = 0;
			fclose(f);
		}
		if (p == 0)
			usleep(10000);
	}
	return p;
}

static int
wait_listen(int port)
{
	struct sockaddr_in d = {.sin_family = AF_INET};
	int i;

	d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d.sin_port = htons((uint16_t)port);
	for (i = 0; i < 500; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		int r = connect(s, (void *)&d, sizeof(d));

		close(s);
		if (r == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void
stop_pid(pid_t p)
{
	kill(p, SIGTERM);
	waitpid(p, NULL, 0);
}

/* One measurement: conns/s, or -1. */
static double
run_variant(const char *self, const char *lib, int shim, double secs, int conc)
{
	char cfg[256], hcfg[256], pf[256];
	pthread_t th[256];
	pid_t srv, hap;
	int sport, hport, i;
	double t0, t1;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/shim.yml", dir);
	snprintf(pf, sizeof(pf), "%s/port", dir);
	unlink(pf);
	srv = fork();
	if (srv == 0) {
		if (shim) {
			setenv("LD_PRELOAD", lib, 1);
			setenv("PROXYSHIM_CONFIG", cfg, 1);
		}
		execl(self, self, "serve", pf, (char *)NULL);
		_exit(127);
	}
	sport = wait_port(pf);
	hport = free_port();
	snprintf(hcfg, sizeof(hcfg), "%s/haproxy.cfg", dir);
	f = fopen(hcfg, "w");
	if (f == NULL || sport == 0)
		return -1;
	fprintf(f, "global\n\tmaxconn 4096\ndefaults\n\tmode tcp\n"
	           "\ttimeout connect 5s\n\ttimeout client 30s\n"
	           "\ttimeout server 30s\nlisten fe\n\tbind 127.0.0.1:%d\n"
	           "\tserver s1 127.0.0.1:%d%s\n",
	        hport, sport, shim ? " send-proxy-v2" : "");
	fclose(f);
	hap = fork();
	if (hap == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execlp("haproxy", "haproxy", "-f", hcfg, "-db", (char *)NULL);
		_exit(127);
	}
	if (wait_listen(hport) < 0) {
		stop_pid(hap);
		stop_pid(srv);
		return -1;
	}
	target_port = hport;
	want = shim ? '5' : '1';
	atomic_store(&ok_count, 0);
	atomic_store(&bad_count, 0);
	atomic_store(&stop, 0);
	t0 = now_s();
	for (i = 0; i < conc; i++)
		pthread_create(&th[i], NULL, client, NULL);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, 1);
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	stop_pid(hap);
	stop_pid(srv);
	if (atomic_load(&bad_count) > 0)
		fprintf(stderr, "%s: %ld bad connections\n",
		        shim ? "shim" : "bare", atomic_load(&bad_count));
	return (double)atomic_load(&ok_count) / (t1 - t0);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	double secs = 2, rate[2][32], med[2];
	int conc = 8, rounds = 5, o, r, v;
	char self[4096];
	ssize_t n;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	while ((o = getopt(argc, argv, "s:c:r:")) != -1) {
		if (o == 's')
			secs = atof(optarg);
		else if (o == 'c')
			conc = atoi(optarg);
		else if (o == 'r')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (optind != argc - 1 || conc < 1 || conc > 256 || rounds < 1 ||
	    rounds > 32) {
		fprintf(stderr, "usage: %s [-s SECONDS] [-c CONC] [-r ROUNDS] "
		                "LIBPROXYSHIM\n", argv[0]);
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || mkdtemp(dir) == NULL)
		return 1;
	self[n] = '\0';
	{
		char cfg[256];

		snprintf(cfg, sizeof(cfg), "%s/shim.yml", dir);
		f = fopen(cfg, "w");
		if (f == NULL)
			return 1;
		fprintf(f, "reverseProxy:\n  trustedOrigins: [127.0.0.1]\n"
		           "  headers: [PROXY]\n");
		fclose(f);
	}
	self[n] = '\0';
	for (r = 0; r < rounds; r++)
		for (v = 0; v < 2; v++) {
			int shim = (r + v) % 2; /* alternate which goes first */

			rate[shim][r] = run_variant(self, argv[optind], shim,
			                            secs, conc);
			if (rate[shim][r] < 0) {
				fprintf(stderr, "round %d: could not run\n", r);
				return 1;
			}
		}
	for (v = 0; v < 2; v++) {
		qsort(rate[v], (size_t)rounds, sizeof(double), cmp);
		med[v] = rate[v][rounds / 2];
	}
	printf("accept: %d rounds x %.1f s, %d client threads\n", rounds, secs,
	       conc);
	printf("  bare server, haproxy without header: %8.0f conn/s\n", med[0]);
	printf("  shim server, haproxy send-proxy-v2:  %8.0f conn/s\n", med[1]);
	printf("  ratio: %.3f\n", med[1] / med[0]);
	return 0;
}
