/*
 * nbclient: a non-blocking client, the way event loops connect.
 *
 *   nbclient poll|epoll HOST PORT PATH [COUNT]
 *
 * COUNT times (default 1): a SOCK_NONBLOCK|SOCK_CLOEXEC socket; connect()
 * must return 0 or -1/EINPROGRESS; then wait for writability with poll()
 * or epoll, SO_ERROR must be 0; the socket must still be non-blocking and
 * close-on-exec; then GET PATH (HTTP/1.0) and read the reply to EOF, both
 * non-blocking, waiting with the same mechanism.  Prints per connection
 * "connect=0|EINPROGRESS so_error=0 nonblock=1 cloexec=1" on stderr and the
 * last body on stdout; exit 0 when every step of every connection was
 * right.  Every wait is bounded (10 s).
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clientlib.h"

#define WAIT_MS 10000

static int use_epoll;

static int
fail(const char *step, int err)
{
	const char *name = strerrorname_np(err);

	fprintf(stderr, "nbclient: %s: %s\n", step, name ? name : "?");
	return -1;
}

/* Wait until fd is ready for ev (POLLIN/POLLOUT); 0, or -1 on timeout. */
static int
wait_ready(int fd, short ev)
{
	if (use_epoll) {
		struct epoll_event e = {0}, out;
		int ep = epoll_create1(EPOLL_CLOEXEC), n;

		if (ep < 0)
			return -1;
		e.events = ev == POLLIN ? EPOLLIN : EPOLLOUT;
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
			close(ep);
			return -1;
		}
		do
			n = epoll_wait(ep, &out, 1, WAIT_MS);
		while (n < 0 && errno == EINTR);
		close(ep);
		return n == 1 ? 0 : (errno = ETIMEDOUT, -1);
	} else {
		struct pollfd p = {fd, ev, 0};
		int n;

		do
			n = poll(&p, 1, WAIT_MS);
		while (n < 0 && errno == EINTR);
		return n == 1 ? 0 : (errno = ETIMEDOUT, -1);
	}
}

static int
one(const char *host, int port, const char *path, int last)
{
	struct sockaddr_storage ss;
	socklen_t len, elen;
	char req[1024], buf[65536], *body;
	size_t off = 0, rlen, have = 0;
	int fd, r, err = 0, fl, fdfl, inprogress = 0, rc = -1;
	static char resp[1 << 20];
	ssize_t n;

	len = sockaddr_of(host, port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0)
		return fail("socket", errno);
	r = connect(fd, (struct sockaddr *)&ss, len);
	if (r != 0) {
		if (errno != EINPROGRESS) {
			fail("connect", errno);
			goto out;
		}
		inprogress = 1;
	}
	if (wait_ready(fd, POLLOUT) != 0) {
		fail("wait writable", errno);
		goto out;
	}
	elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
		fail("SO_ERROR", err ? err : errno);
		goto out;
	}
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	fprintf(stderr, "connect=%s so_error=%d nonblock=%d cloexec=%d\n",
	        inprogress ? "EINPROGRESS" : "0", err, !!(fl & O_NONBLOCK),
	        !!(fdfl & FD_CLOEXEC));
	if (!(fl & O_NONBLOCK) || !(fdfl & FD_CLOEXEC)) {
		fail("flags changed", EINVAL);
		goto out;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path,
	         host);
	rlen = strlen(req);
	while (off < rlen) {
		n = send(fd, req + off, rlen - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_ready(fd, POLLOUT) != 0) {
				fail("wait send", errno);
				goto out;
			}
		} else {
			fail("send", errno);
			goto out;
		}
	}
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			if (have + (size_t)n > sizeof(resp) - 1) {
				fail("reply too big", EMSGSIZE);
				goto out;
			}
			memcpy(resp + have, buf, (size_t)n);
			have += (size_t)n;
		} else if (n == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_ready(fd, POLLIN) != 0) {
				fail("wait recv", errno);
				goto out;
			}
		} else {
			fail("recv", errno);
			goto out;
		}
	}
	resp[have] = '\0';
	if (strncmp(resp, "HTTP/1.0 200", 12) != 0 &&
	    strncmp(resp, "HTTP/1.1 200", 12) != 0) {
		fail("status", EPROTO);
		goto out;
	}
	body = strstr(resp, "\r\n\r\n");
	if (body == NULL) {
		fail("no header end", EPROTO);
		goto out;
	}
	body += 4;
	if (last)
		fwrite(body, 1, have - (size_t)(body - resp), stdout);
	rc = 0;
out:
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	int count = 1, i;

	if (argc < 5 || argc > 6 ||
	    (strcmp(argv[1], "poll") != 0 && strcmp(argv[1], "epoll") != 0)) {
		fprintf(stderr, "usage: nbclient poll|epoll HOST PORT PATH "
		                "[COUNT]\n");
		return 2;
	}
	use_epoll = strcmp(argv[1], "epoll") == 0;
	if (argc == 6)
		count = atoi(argv[5]);
	for (i = 0; i < count; i++)
		if (one(argv[2], atoi(argv[3]), argv[4], i == count - 1) != 0)
			return 1;
	return 0;
}
