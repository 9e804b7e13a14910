/*
 * bench/client: the part of a benchmark client that does not depend on how
 * the connection was dialled (see client.h).  Blocking sockets, plain
 * read/write: what a simple HTTP/1.0 client does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

static double
client_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
client_parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	unsigned long port;
	char *end;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

int
client_setup(struct client_opts *o, const char *origin, const char *peer)
{
	struct in_addr a;
	int n;

	if (client_parse_addr(origin, &o->origin) != 0 ||
	    inet_pton(AF_INET, peer, &a) != 1) {
		fprintf(stderr, "bad origin '%s' or peer '%s'\n", origin, peer);
		return -1;
	}
	snprintf(o->origin_str, sizeof(o->origin_str), "%s", origin);
	n = snprintf(o->expect, sizeof(o->expect), "peer=%s\n", peer);
	o->expect_len = (size_t)n;
	n = snprintf(o->request, sizeof(o->request),
	             "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", origin);
	o->request_len = (size_t)n;
	return 0;
}

int
client_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send the request, read the reply to EOF, check it.  0 or -1. */
static int
client_exchange(int fd, const struct client_opts *o, char *buf, size_t len)
{
	ssize_t n;

	if (client_write_all(fd, o->request, o->request_len) != 0) {
		perror("write request");
		return -1;
	}
	for (;;) {
		if (len == CLIENT_BUF) {
			fprintf(stderr, "reply over %d bytes\n", CLIENT_BUF);
			return -1;
		}
		n = read(fd, buf + len, CLIENT_BUF - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("read reply");
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len < 13 + o->expect_len || memcmp(buf, "HTTP/1.0 200 ", 13) != 0 ||
	    memcmp(buf + len - o->expect_len, o->expect, o->expect_len) != 0) {
		fprintf(stderr,
		        "unexpected reply (%zu bytes), wanted a 200 "
		        "ending in '%.*s': '%.*s'\n",
		        len, (int)o->expect_len - 1, o->expect, (int)len, buf);
		return -1;
	}
	return 0;
}

static int
client_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
client_run(const char *name, const struct client_opts *o, client_dial_fn dial,
           void *arg)
{
	char buf[CLIENT_BUF];
	double *lat, t0, t1, start, total;
	unsigned long i;
	size_t len;
	int fd, rc = 0;

	lat = calloc(o->n, sizeof(*lat));
	if (lat == NULL || o->n == 0)
		return 1;
	start = client_now();
	for (i = 0; i < o->n; i++) {
		t0 = client_now();
		len = 0;
		fd = dial(o, arg, buf, &len);
		if (fd < 0) {
			rc = 1;
			break;
		}
		if (client_exchange(fd, o, buf, len) != 0) {
			close(fd);
			rc = 1;
			break;
		}
		close(fd);
		t1 = client_now();
		lat[i] = (t1 - t0) * 1e6;
	}
	total = client_now() - start;
	if (rc != 0) {
		fprintf(stderr, "%s: connection %lu of %lu failed\n", name,
		        i + 1, o->n);
		free(lat);
		return rc;
	}
	qsort(lat, o->n, sizeof(*lat), client_cmp_double);
	printf("%s conns=%lu seconds=%.6f conn_per_s=%.1f p50_us=%.1f "
	       "p99_us=%.1f\n",
	       name, o->n, total, (double)o->n / total, lat[o->n / 2],
	       lat[o->n * 99 / 100]);
	free(lat);
	return 0;
}
