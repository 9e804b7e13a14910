/*
 * bench/connect: the plain client.  N sequential connections to the
 * origin, each: socket, connect, an HTTP/1.0 GET, the whole reply, close.
 * It knows nothing of proxies: run it bare, under proxychains4 or under
 * proxyshim and it does the very same calls.
 *
 *   connect [-n N] [-e PEER] ORIGIN_IP:PORT
 *
 * PEER (default 127.0.0.1) is the address the origin must report having
 * seen: the proxy's outgoing address when the connection is proxied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"

static int
plain_dial(const struct client_opts *o, void *arg, char *buf, size_t *len)
{
	int fd;

	(void)arg;
	(void)buf;
	*len = 0;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&o->origin,
	            sizeof(o->origin)) != 0) {
		perror("connect");
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct client_opts o = {.n = 1000};
	const char *peer = "127.0.0.1";
	int opt;

	while ((opt = getopt(argc, argv, "n:e:")) != -1) {
		switch (opt) {
		case 'n':
			o.n = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			peer = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind + 1 != argc || o.n == 0)
		goto usage;
	if (client_setup(&o, argv[optind], peer) != 0)
		return 2;
	return client_run("connect", &o, plain_dial, NULL);
usage:
	fprintf(stderr, "usage: connect [-n N] [-e PEER] ORIGIN_IP:PORT\n");
	return 2;
}
