/*
 * httpget: the small, plain C client of the integration tests.  It knows
 * nothing about proxies; run it under the shim.
 *
 *   httpget get HOST PORT PATH       GET PATH (HTTP/1.0), body on stdout;
 *                                    exit 0 on status 200
 *   httpget banner HOST PORT TOKEN   read the server's first line and print
 *                                    it (without CRLF), then send TOKEN and
 *                                    print "echo TOKEN" once it came back
 *   httpget twice HOST PORT PATH     like get, but connect() the connected
 *                                    socket a second time first and print
 *                                    "again: ERRNAME" (EISCONN expected) on
 *                                    stderr; the first connection must
 *                                    still carry the request
 *   httpget tfo HOST PORT PATH       like get, but connect by sendto() with
 *                                    MSG_FASTOPEN and the request as data
 *   httpget tfomsg HOST PORT PATH    the same with sendmsg()
 *
 * With HTTPGET_BIND=ADDR in the environment the socket is bound to ADDR
 * (port 0) before it connects.
 *
 * HOST is a numeric IPv4 or IPv6 address (an IPv6 one uses an AF_INET6
 * socket; ::ffff:a.b.c.d is IPv4-mapped).  On failure: "httpget: STEP:
 * ERRNAME" on stderr, exit 1.  Every read and write is bounded (15 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef __GLIBC__
/* musl (the static build of test_supervisor.sh) has no strerrorname_np. */
static const char *
strerrorname_np(int e)
{
	switch (e) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case EISCONN: return "EISCONN";
	case ECONNRESET: return "ECONNRESET";
	default: return "E?";
	}
}
#endif

static int
die(const char *step, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "httpget: %s: %s\n", step, name ? name : "?");
	return 1;
}

static int mode_twice;
static const char *tfo_data; /* tfo: the data sent with the connect */
static int tfo_msg;          /* ... by sendmsg() rather than sendto() */

/* Bind fd to $HTTPGET_BIND (port 0) when it is set. */
static int
bind_source(int fd, int family)
{
	const char *b = getenv("HTTPGET_BIND");
	struct sockaddr_storage ss;
	socklen_t len;

	if (b == NULL || *b == '\0')
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, b, &s->sin6_addr) != 1)
			return errno = EINVAL, -1;
		len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		if (inet_pton(AF_INET, b, &s->sin_addr) != 1)
			return errno = EINVAL, -1;
		len = sizeof(*s);
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

/* Connect fd by TCP Fast Open: the data goes with the connect. */
static int
connect_tfo(int fd, const struct sockaddr *sa, socklen_t len)
{
	size_t n = strlen(tfo_data);
	ssize_t w;

	if (tfo_msg) {
		struct iovec iov = {(void *)tfo_data, n};
		struct msghdr m;

		memset(&m, 0, sizeof(m));
		m.msg_name = (void *)sa;
		m.msg_namelen = len;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		w = sendmsg(fd, &m, MSG_FASTOPEN | MSG_NOSIGNAL);
	} else {
		w = sendto(fd, tfo_data, n, MSG_FASTOPEN | MSG_NOSIGNAL, sa,
		           len);
	}
	if (w < 0)
		return -1;
	if ((size_t)w != n)
		return errno = EMSGSIZE, -1;
	return 0;
}

/* A connected socket to HOST:PORT, or -1 with errno set. */
static int
dial(const char *host, const char *port)
{
	struct sockaddr_storage ss;
	struct timeval tv = {15, 0};
	socklen_t len;
	int fd, saved, r;

	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((unsigned short)atoi(port));
		if (inet_pton(AF_INET6, host, &s->sin6_addr) != 1)
			return errno = EINVAL, -1;
		len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((unsigned short)atoi(port));
		if (inet_pton(AF_INET, host, &s->sin_addr) != 1)
			return errno = EINVAL, -1;
		len = sizeof(*s);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind_source(fd, ss.ss_family) != 0)
		goto bad;
	if (tfo_data != NULL)
		r = connect_tfo(fd, (struct sockaddr *)&ss, len);
	else
		r = connect(fd, (struct sockaddr *)&ss, len);
	if (r != 0)
		goto bad;
	if (mode_twice) {
		const char *name;

		r = connect(fd, (struct sockaddr *)&ss, len);
		name = r == 0 ? "OK" : strerrorname_np(errno);
		fprintf(stderr, "again: %s\n", name ? name : "?");
	}
	return fd;
bad:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
do_get(const char *host, const char *port, const char *path)
{
	char req[1024], buf[65536];
	size_t have = 0;
	char *end = NULL;
	ssize_t n;
	int fd, status = 0;

	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
	         path, host);
	if (tfo_data != NULL)
		tfo_data = req;
	fd = dial(host, port);
	if (fd < 0)
		return die("connect", errno);
	if (tfo_data == NULL && send_all(fd, req, strlen(req)) < 0)
		return die("send", errno);
	/* The header first (it fits in buf), then stream the body. */
	while (end == NULL) {
		if (have == sizeof(buf) - 1)
			return die("header too big", EMSGSIZE);
		n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return die("recv header", n == 0 ? ECONNRESET : errno);
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status != 200) {
		fprintf(stderr, "httpget: status %d\n", status);
		return 1;
	}
	end += 4;
	fwrite(end, 1, have - (size_t)(end - buf), stdout);
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return die("recv body", errno);
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	close(fd);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Read up to and including '\n' (at most cap-1 bytes). */
static ssize_t
read_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1) {
		n = recv(fd, buf + len, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? (errno = ECONNRESET, -1) : -1;
		if (buf[len++] == '\n')
			break;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static int
do_banner(const char *host, const char *port, const char *token)
{
	char line[4096], msg[1024], back[1024];
	size_t n, got = 0;
	ssize_t r;
	int fd;

	fd = dial(host, port);
	if (fd < 0)
		return die("connect", errno);
	if (read_line(fd, line, sizeof(line)) < 0)
		return die("read banner", errno);
	line[strcspn(line, "\r\n")] = '\0';
	printf("%s\n", line);
	snprintf(msg, sizeof(msg), "%s\n", token);
	n = strlen(msg);
	if (send_all(fd, msg, n) < 0)
		return die("send", errno);
	while (got < n) {
		r = recv(fd, back + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return die("read echo", r == 0 ? ECONNRESET : errno);
		got += (size_t)r;
	}
	if (memcmp(back, msg, n) != 0) {
		fprintf(stderr, "httpget: echo differs\n");
		return 1;
	}
	printf("echo %s\n", token);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "get") == 0)
		return do_get(argv[2], argv[3], argv[4]);
	if (argc == 5 && strcmp(argv[1], "twice") == 0) {
		mode_twice = 1;
		return do_get(argv[2], argv[3], argv[4]);
	}
	if (argc == 5 && (strcmp(argv[1], "tfo") == 0 ||
	                  strcmp(argv[1], "tfomsg") == 0)) {
		tfo_data = "";
		tfo_msg = strcmp(argv[1], "tfomsg") == 0;
		return do_get(argv[2], argv[3], argv[4]);
	}
	if (argc == 5 && strcmp(argv[1], "banner") == 0)
		return do_banner(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: httpget get|twice|tfo|tfomsg HOST PORT PATH\n"
	                "       httpget banner HOST PORT TOKEN\n");
	return 2;
}
