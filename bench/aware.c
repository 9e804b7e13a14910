/*
 * bench/aware: the proxy-aware client, the limit that proxyshim is measured
 * against.  It speaks SOCKS5 (no auth) or HTTP CONNECT itself, with the
 * same request bytes proxyshim sends, on a plain blocking socket, and then
 * does what bench/connect does (client.c).  It reads the proxy's reply
 * into its own buffer and keeps whatever follows it, as a proxy-aware
 * program (curl) can; a transparent shim must not read past the reply.
 *
 *   aware [-n N] [-e PEER] [-s] socks5|http PROXY_IP:PORT ORIGIN_IP:PORT
 *
 * -s sends the SOCKS5 greeting and request in one write (pipelining).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"

struct aware {
	struct sockaddr_in proxy;
	int http;     /* CONNECT rather than SOCKS5 */
	int pipeline; /* SOCKS5: greeting and request in one write */
	char connect_req[160];
	size_t connect_len;
};

/* Read more into buf[*len..CLIENT_BUF).  0, or -1 with a message. */
static int
aware_read(int fd, char *buf, size_t *len, const char *what)
{
	ssize_t n;

	for (;;) {
		if (*len == CLIENT_BUF) {
			fprintf(stderr, "%s: reply too long\n", what);
			return -1;
		}
		n = read(fd, buf + *len, CLIENT_BUF - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			*len += (size_t)n;
			return 0;
		}
		if (n == 0)
			fprintf(stderr, "%s: proxy closed\n", what);
		else
			perror(what);
		return -1;
	}
}

/* Length of a complete SOCKS5 CONNECT reply at buf, 0 = need more, -1 =
 * bad or refused. */
static long
aware_socks5_reply_len(const unsigned char *b, size_t len)
{
	size_t need;

	if (len < 5)
		return 0;
	if (b[0] != 5 || b[1] != 0)
		return -1;
	switch (b[3]) {
	case 1:
		need = 10;
		break;
	case 4:
		need = 22;
		break;
	case 3:
		need = 7 + (size_t)b[4];
		break;
	default:
		return -1;
	}
	return len >= need ? (long)need : 0;
}

/* Greeting (no auth), method reply, request, reply; the bytes after the
 * reply are moved to the front of buf. */
static int
aware_socks5(int fd, const struct client_opts *o, const struct aware *a,
             char *buf, size_t *len)
{
	unsigned char out[3 + 10] = {5, 1, 0, 5, 1, 0, 1};
	const unsigned char *b = (const unsigned char *)buf;
	size_t skip = 2;
	long r;

	memcpy(out + 7, &o->origin.sin_addr, 4);
	memcpy(out + 11, &o->origin.sin_port, 2);
	if (client_write_all(fd, out, a->pipeline ? 13 : 3) != 0)
		return -1;
	while (*len < 2)
		if (aware_read(fd, buf, len, "socks5 method") != 0)
			return -1;
	if (b[0] != 5 || b[1] != 0) {
		fprintf(stderr, "socks5: method %u refused\n", b[1]);
		return -1;
	}
	if (!a->pipeline) {
		if (*len != 2) {
			fprintf(stderr, "socks5: junk after method reply\n");
			return -1;
		}
		if (client_write_all(fd, out + 3, 10) != 0)
			return -1;
		*len = 0;
		skip = 0;
	}
	while ((r = aware_socks5_reply_len(b + skip, *len - skip)) == 0)
		if (aware_read(fd, buf, len, "socks5 reply") != 0)
			return -1;
	if (r < 0) {
		fprintf(stderr, "socks5: request refused (reply %u)\n",
		        b[skip + 1]);
		return -1;
	}
	*len -= skip + (size_t)r;
	memmove(buf, buf + skip + r, *len);
	return 0;
}

static int
aware_http(int fd, const struct aware *a, char *buf, size_t *len)
{
	char *end;
	size_t hdr;

	if (client_write_all(fd, a->connect_req, a->connect_len) != 0)
		return -1;
	for (;;) {
		if (aware_read(fd, buf, len, "CONNECT reply") != 0)
			return -1;
		end = memmem(buf, *len, "\r\n\r\n", 4);
		if (end != NULL)
			break;
	}
	if (*len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[9] != '2') {
		fprintf(stderr, "CONNECT refused: '%.12s'\n", buf);
		return -1;
	}
	hdr = (size_t)(end + 4 - buf);
	*len -= hdr;
	memmove(buf, buf + hdr, *len);
	return 0;
}

static int
aware_dial(const struct client_opts *o, void *arg, char *buf, size_t *len)
{
	const struct aware *a = arg;
	int fd, r;

	*len = 0;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&a->proxy, sizeof(a->proxy)) !=
	    0) {
		perror("connect to proxy");
		close(fd);
		return -1;
	}
	r = a->http ? aware_http(fd, a, buf, len)
	            : aware_socks5(fd, o, a, buf, len);
	if (r != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct client_opts o = {.n = 1000};
	struct aware a;
	const char *peer = "127.0.0.1";
	int opt, n;

	memset(&a, 0, sizeof(a));
	while ((opt = getopt(argc, argv, "n:e:s")) != -1) {
		switch (opt) {
		case 'n':
			o.n = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			peer = optarg;
			break;
		case 's':
			a.pipeline = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind + 3 != argc || o.n == 0)
		goto usage;
	if (strcmp(argv[optind], "http") == 0)
		a.http = 1;
	else if (strcmp(argv[optind], "socks5") != 0)
		goto usage;
	if (client_parse_addr(argv[optind + 1], &a.proxy) != 0 ||
	    client_setup(&o, argv[optind + 2], peer) != 0)
		goto usage;
	/* The bytes proxyshim's httpc_build_request() sends. */
	n = snprintf(a.connect_req, sizeof(a.connect_req),
	             "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", o.origin_str,
	             o.origin_str);
	a.connect_len = (size_t)n;
	return client_run(a.http       ? "aware-http"
	                  : a.pipeline ? "aware-socks5-pipelined"
	                               : "aware-socks5",
	                  &o, aware_dial, &a);
usage:
	fprintf(stderr, "usage: aware [-n N] [-e PEER] [-s] socks5|http "
	                "PROXY_IP:PORT ORIGIN_IP:PORT\n");
	return 2;
}
