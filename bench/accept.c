/*
 * bench/accept: accepted connections per second of a server under the
 * shim reading PROXY v2 headers from haproxy, against the same server
 * without the shim behind haproxy sending no header.  The
 * haproxies, the servers and the interleaved rounds are bench/run.sh's.
 *
 *   accept serve PORTFILE
 *       the server: binds 127.0.0.1 port 0, writes the port to PORTFILE,
 *       then accept(), read 1 byte, answer '5' when accept() said the
 *       client is 127.0.0.5 (else '1'), close; one connection at a time.
 *   accept drive [-s SECONDS] [-c CONCURRENCY] -w 5|1 PORT
 *       CONCURRENCY client threads for SECONDS, connecting from 127.0.0.5
 *       to 127.0.0.1:PORT (connect, send 1 byte, read the answer, close);
 *       every answer must be the -w byte.  Prints
 *       `conn_per_s=N ok=N bad=N`; exit status 1 when any was bad.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
	/* Many short connections from one address: the port is picked at
	 * connect() time, per destination. */
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)target_port);
	while (!atomic_load(&stop)) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		char b = 0;

		int one = 1;

		setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		           sizeof(one));
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
drive(int argc, char **argv)
{
	pthread_t th[256];
	double secs = 2, t0, t1;
	int conc = 8, o, i;
	long ok, bad;

	while ((o = getopt(argc, argv, "s:c:w:")) != -1) {
		if (o == 's')
			secs = atof(optarg);
		else if (o == 'c')
			conc = atoi(optarg);
		else if (o == 'w')
			want = optarg[0];
		else
			return 2;
	}
	if (optind != argc - 1 || conc < 1 || conc > 256 || secs <= 0 ||
	    (want != '5' && want != '1'))
		return 2;
	target_port = atoi(argv[optind]);
	if (target_port <= 0 || target_port > 65535)
		return 2;
	t0 = now_s();
	for (i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, client, NULL) != 0)
			return 1;
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, 1);
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	ok = atomic_load(&ok_count);
	bad = atomic_load(&bad_count);
	printf("conn_per_s=%.0f ok=%ld bad=%ld\n", (double)ok / (t1 - t0), ok,
	       bad);
	return bad > 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "drive") == 0)
		return drive(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s serve PORTFILE\n"
	                "       %s drive [-s SECONDS] [-c CONC] -w 5|1 PORT\n",
	        argv[0], argv[0]);
	return 2;
}
