/*
 * bench/origin: the HTTP/1.0 origin of bench/connect.  One thread, epoll,
 * loopback only.  Each connection gets, once its request header is in:
 *
 *   HTTP/1.0 200 OK ... Content-Length: N ... "peer=<client address>\n"
 *
 * and is closed.  The body names the address the connection came from, so
 * a client can prove that every single connection crossed the proxy it
 * meant (the benchmark's proxies bind their outgoing side to their own
 * 127.0.0.x) or went direct.
 *
 * "GET /bytes/N" gets N bytes of body instead (bulk transfers, bench/https),
 * with the peer in an "X-Peer:" header; the body is written as the socket
 * takes it.
 *
 *   origin [-p PORT] [-t SECONDS]
 *
 * Prints the port it listens on (one line), then serves until SIGTERM or
 * until SECONDS (default 900) have passed, so a forgotten origin still
 * goes away.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN_MAX_FD 4096  /* connections with a higher fd are refused */
#define ORIGIN_REQ_MAX 2048 /* request header limit */
#define ORIGIN_EVENTS 64
#define ORIGIN_CHUNK (256 * 1024) /* bulk body: one send at most */

struct origin_conn {
	size_t len;
	char peer[INET_ADDRSTRLEN];
	char req[ORIGIN_REQ_MAX];
	/* Bulk: the header still to send (hdr[hoff..hlen)), then left bytes
	 * of body. */
	char hdr[256];
	size_t hoff, hlen;
	unsigned long long left;
	int bulk;
};

static char chunk[ORIGIN_CHUNK];

static struct origin_conn *conns[ORIGIN_MAX_FD];
static volatile sig_atomic_t origin_stop;

static void
origin_on_signal(int sig)
{
	(void)sig;
	origin_stop = 1;
}

static int
origin_listen(unsigned port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		close(fd);
		return -1;
	}
	printf("%u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

static void
origin_close(int fd)
{
	free(conns[fd]);
	conns[fd] = NULL;
	close(fd);
}

/* The whole reply in one write: it is small and the socket is fresh. */
static void
origin_reply(int fd, const struct origin_conn *c)
{
	char body[64], out[256];
	int blen, n;

	blen = snprintf(body, sizeof(body), "peer=%s\n", c->peer);
	n = snprintf(out, sizeof(out),
	             "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
	             "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
	             blen, body);
	if (n > 0 && send(fd, out, (size_t)n, MSG_NOSIGNAL) != n)
		fprintf(stderr, "origin: short reply on fd %d\n", fd);
}

static void
origin_accept(int lfd, int ep)
{
	struct sockaddr_in sin;
	struct epoll_event ev;
	socklen_t len;
	int fd, i;

	for (i = 0; i < 256; i++) {
		len = sizeof(sin);
		fd = accept4(lfd, (struct sockaddr *)&sin, &len,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (fd >= ORIGIN_MAX_FD ||
		    (conns[fd] = calloc(1, sizeof(*conns[fd]))) == NULL) {
			close(fd);
			continue;
		}
		inet_ntop(AF_INET, &sin.sin_addr, conns[fd]->peer,
		          sizeof(conns[fd]->peer));
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			origin_close(fd);
	}
}

/* Send what the socket takes; 1 = more to send, 0 = done, -1 = failed. */
static int
origin_bulk_send(int fd, struct origin_conn *c)
{
	size_t n;
	ssize_t w;

	while (c->hoff < c->hlen) {
		w = send(fd, c->hdr + c->hoff, c->hlen - c->hoff, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : -1;
		c->hoff += (size_t)w;
	}
	while (c->left > 0) {
		n = c->left < sizeof(chunk) ? (size_t)c->left : sizeof(chunk);
		w = send(fd, chunk, n, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : -1;
		c->left -= (unsigned long long)w;
	}
	return 0;
}

/* "GET /bytes/N ": start a bulk reply, waiting for EPOLLOUT.  0 = not a
 * bulk request, 1 = started, -1 = failed. */
static int
origin_bulk_start(int fd, int ep, struct origin_conn *c)
{
	struct epoll_event ev;
	char *end;
	int n;

	if (strncmp(c->req, "GET /bytes/", 11) != 0)
		return 0;
	c->left = strtoull(c->req + 11, &end, 10);
	if (*end != ' ')
		return -1;
	n = snprintf(c->hdr, sizeof(c->hdr),
	             "HTTP/1.0 200 OK\r\nContent-Type: "
	             "application/octet-stream\r\nContent-Length: %llu\r\n"
	             "X-Peer: %s\r\nConnection: close\r\n\r\n",
	             c->left, c->peer);
	if (n <= 0 || (size_t)n >= sizeof(c->hdr))
		return -1;
	c->hlen = (size_t)n;
	c->bulk = 1;
	ev.events = EPOLLOUT;
	ev.data.fd = fd;
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0 ? 1 : -1;
}

static void
origin_event(int fd, int ep)
{
	struct origin_conn *c = conns[fd];
	ssize_t n;

	if (c == NULL)
		return;
	if (c->bulk) {
		if (origin_bulk_send(fd, c) != 1)
			origin_close(fd);
		return;
	}
	n = recv(fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		origin_close(fd);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") != NULL) {
		switch (origin_bulk_start(fd, ep, c)) {
		case 1:
			return;
		case 0:
			origin_reply(fd, c);
			break;
		default:
			break;
		}
	} else if (c->len < sizeof(c->req) - 1)
		return;
	origin_close(fd);
}

static int
origin_serve(int lfd, long seconds)
{
	struct epoll_event ev, evs[ORIGIN_EVENTS];
	time_t end = time(NULL) + seconds;
	int ep, n, i;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
		return -1;
	while (!origin_stop && time(NULL) < end) {
		n = epoll_wait(ep, evs, ORIGIN_EVENTS, 1000);
		if (n < 0 && errno != EINTR)
			return -1;
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				origin_accept(lfd, ep);
			else
				origin_event(evs[i].data.fd, ep);
		}
	}
	close(ep);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long port = 0;
	long seconds = 900;
	int opt, lfd;

	while ((opt = getopt(argc, argv, "p:t:")) != -1) {
		switch (opt) {
		case 'p':
			port = strtoul(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: origin [-p PORT] [-t SECONDS]\n");
			return 2;
		}
	}
	if (port > 65535 || seconds <= 0) {
		fprintf(stderr, "origin: bad port or lifetime\n");
		return 2;
	}
	signal(SIGTERM, origin_on_signal);
	signal(SIGINT, origin_on_signal);
	signal(SIGPIPE, SIG_IGN);
	memset(chunk, 'x', sizeof(chunk));
	lfd = origin_listen((unsigned)port);
	if (lfd < 0) {
		perror("origin: listen");
		return 1;
	}
	if (origin_serve(lfd, seconds) != 0) {
		perror("origin: epoll");
		return 1;
	}
	return 0;
}
