/*
 * errloop: the same connect again and again, checking its outcome and that
 * nothing leaks.
 *
 *   errloop HOST PORT N EXPECT [nonblock]
 *   errloop once HOST PORT [nonblock]
 *
 * EXPECT is an errno name (ECONNREFUSED, EACCES, ETIMEDOUT, ...) or OK.
 * One warm-up connect, then the open descriptors of the process are
 * counted (/proc/self/fd), then N connects on fresh sockets, each of which
 * must end as EXPECT (a non-blocking one that says EINPROGRESS is waited
 * for with poll() and judged by SO_ERROR), and each socket must still be
 * ours to close (close() == 0).  Then the descriptors are counted again.
 * Prints "result=EXPECT count=K/N fds_before=A fds_after=B max_ms=M" and
 * the first unexpected outcome; exit 0 when all N matched and A == B.
 *
 * `once` makes one connect and prints its outcome (OK or the errno name),
 * exit 0: unlike a Python client, a connect that fails with ETIMEDOUT
 * cannot be mistaken for the client's own timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clientlib.h"

static struct sockaddr_storage ss;
static socklen_t sslen;
static int nonblock;

/* One attempt: "OK" or the errno name; *closed_ok tells close() == 0. */
static const char *
attempt(int *closed_ok)
{
	int fd, err = 0;
	socklen_t elen = sizeof(err);
	const char *res;

	fd = socket(ss.ss_family,
	            SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
	            0);
	if (fd < 0)
		return "socket-failed";
	if (connect(fd, (struct sockaddr *)&ss, sslen) == 0) {
		res = "OK";
	} else if (nonblock && errno == EINPROGRESS) {
		struct pollfd p = {fd, POLLOUT, 0};

		if (poll(&p, 1, 30000) != 1)
			res = "POLL-TIMEOUT";
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			res = "SO_ERROR-failed";
		else
			res = err == 0 ? "OK" : strerrorname_np(err);
	} else {
		res = strerrorname_np(errno);
	}
	*closed_ok = close(fd) == 0;
	return res ? res : "?";
}

static void
set_dest(const char *host, const char *port)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((unsigned short)atoi(port));
		inet_pton(AF_INET6, host, &s->sin6_addr);
		sslen = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((unsigned short)atoi(port));
		inet_pton(AF_INET, host, &s->sin_addr);
		sslen = sizeof(*s);
	}
}

int
main(int argc, char **argv)
{
	const char *expect, *res, *first_bad = NULL;
	int n, i, good = 0, before, after, closed_ok, close_bad = 0;
	long t0, dt, max_ms = 0;

	if ((argc == 4 || argc == 5) && strcmp(argv[1], "once") == 0) {
		nonblock = argc == 5 && strcmp(argv[4], "nonblock") == 0;
		set_dest(argv[2], argv[3]);
		res = attempt(&closed_ok);
		printf("%s%s\n", res, closed_ok ? "" : " (close failed)");
		return 0;
	}
	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: errloop HOST PORT N EXPECT [nonblock]\n"
		                "       errloop once HOST PORT [nonblock]\n");
		return 2;
	}
	n = atoi(argv[3]);
	expect = argv[4];
	nonblock = argc == 6 && strcmp(argv[5], "nonblock") == 0;
	set_dest(argv[1], argv[2]);
	res = attempt(&closed_ok); /* warm-up: lazy set-up may open files */
	before = count_fds();
	for (i = 0; i < n; i++) {
		t0 = now_ms();
		res = attempt(&closed_ok);
		dt = now_ms() - t0;
		if (dt > max_ms)
			max_ms = dt;
		if (strcmp(res, expect) == 0)
			good++;
		else if (first_bad == NULL)
			first_bad = res;
		if (!closed_ok)
			close_bad++;
	}
	after = count_fds();
	printf("result=%s count=%d/%d fds_before=%d fds_after=%d max_ms=%ld\n",
	       expect, good, n, before, after, max_ms);
	if (first_bad != NULL)
		printf("unexpected: %s\n", first_bad);
	if (close_bad)
		printf("close() failed %d times: the socket was not ours\n",
		       close_bad);
	return good == n && before == after && before > 0 && !close_bad ? 0 : 1;
}
