/*
 * A TCP server for the reverse-proxy tests: for each connection it prints
 * what accept() and getpeername() report (also on a dup() of the fd, and
 * with a 4-byte buffer to show truncation), reads the first line, answers
 * "you are ADDR\n" and closes.
 *
 *   peerserver PORTFILE [block|nonblock|accept4]
 *
 * block: blocking listener, accept(); nonblock: non-blocking listener,
 * poll + accept4(SOCK_NONBLOCK); accept4: blocking listener,
 * accept4(SOCK_NONBLOCK | SOCK_CLOEXEC).  Listens on 127.0.0.1, port 0;
 * writes the port to PORTFILE.  Output, one line per connection:
 *   conn accept=ADDR:PORT peer=ADDR:PORT dup=ADDR trunc=LEN first=LINE
 * and `accept error ERRNO` for a failed accept.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
fmt(const struct sockaddr_storage *ss, char *buf, size_t size, int port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned p = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		p = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		p = ntohs(s->sin6_port);
	}
	if (port)
		snprintf(buf, size, "%s:%u", ip, p);
	else
		snprintf(buf, size, "%s", ip);
}

static void
serve(int c, const struct sockaddr_storage *acc)
{
	struct sockaddr_storage ss, ds;
	socklen_t sl = sizeof(ss), dl = sizeof(ds), tl = 4;
	char a[80], p[80], d[80], line[512], out[700], tiny[4];
	size_t n = 0;
	int dupfd, i;

	fmt(acc, a, sizeof(a), 1);
	if (getpeername(c, (struct sockaddr *)&ss, &sl) != 0)
		snprintf(p, sizeof(p), "error%d", errno);
	else
		fmt(&ss, p, sizeof(p), 1);
	dupfd = fcntl(c, F_DUPFD_CLOEXEC, 100);
	if (dupfd >= 0 && getpeername(dupfd, (struct sockaddr *)&ds, &dl) == 0)
		fmt(&ds, d, sizeof(d), 0);
	else
		snprintf(d, sizeof(d), "error");
	getpeername(c, (struct sockaddr *)tiny, &tl);
	if (dupfd >= 0)
		close(dupfd);
	/* the first line, bounded (5 s) */
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
	for (i = 0; i < 50 && n < sizeof(line) - 1; i++) {
		struct pollfd pf = {.fd = c, .events = POLLIN};
		ssize_t r;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = read(c, line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		if (line[n] == '\r' || line[n] < 0x20)
			line[n] = '.';
		n++;
	}
	line[n] = '\0';
	printf("conn accept=%s peer=%s dup=%s trunc=%u first=%s\n", a, p, d,
	       (unsigned)tl, line);
	fflush(stdout);
	snprintf(out, sizeof(out), "you are %s\n", p);
	if (write(c, out, strlen(out)) < 0)
		perror("write");
	close(c);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const char *mode = argc > 2 ? argv[2] : "block";
	socklen_t sl = sizeof(sin);
	int l, one = 1;
	FILE *f;

	if (argc < 2)
		return 2;
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(l, 64) != 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) != 0) {
		perror("listen");
		return 1;
	}
	if (strcmp(mode, "nonblock") == 0)
		fcntl(l, F_SETFL, O_NONBLOCK);
	f = fopen(argv[1], "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%u\n", ntohs(sin.sin_port));
	fclose(f);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t al = sizeof(ss);
		int c;

		if (strcmp(mode, "nonblock") == 0) {
			struct pollfd pf = {.fd = l, .events = POLLIN};

			poll(&pf, 1, -1);
			c = accept4(l, (struct sockaddr *)&ss, &al, SOCK_NONBLOCK);
		} else if (strcmp(mode, "accept4") == 0) {
			c = accept4(l, (struct sockaddr *)&ss, &al,
			            SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c >= 0 && (!(fcntl(c, F_GETFL) & O_NONBLOCK) ||
			               !(fcntl(c, F_GETFD) & FD_CLOEXEC)))
				printf("flags lost\n");
		} else {
			c = accept(l, (struct sockaddr *)&ss, &al);
		}
		if (c < 0) {
			printf("accept error %s\n", strerror(errno));
			fflush(stdout);
			continue;
		}
		serve(c, &ss);
	}
}
