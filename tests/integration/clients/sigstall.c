/*
 * sigstall: connect() while signals keep arriving, against an upstream that
 * stalls (test_faults.sh).
 *
 *   sigstall HOST PORT N restart|norestart [nonblock]
 *
 * An interval timer sends SIGALRM every 500 us for the whole run, its
 * handler installed with SA_RESTART (restart) or without (norestart).  N
 * times: a fresh socket, one connect() to HOST:PORT (a non-blocking one
 * that says EINPROGRESS is waited for with poll(), itself restarted on
 * EINTR, bounded at 30 s, and judged by SO_ERROR), then, when the connect
 * failed, getpeername() must fail with ENOTCONN: a socket that the caller
 * was told did not connect must not be left connected to the proxy
 * half-way through a handshake.  close() must return 0.
 *
 * One line per connect: "connect K: ERRNO MS peer=none|connected", then
 * "alarms=A eintr=E halfopen=H max_ms=M fds_before=B fds_after=C results=LIST"
 * where LIST is the distinct outcomes (OK or errno names) joined by ','.
 * Exit 0 when no connect returned EINTR, none was left half-open, and the
 * descriptors are the same before and after.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clientlib.h"

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static const char *
ename(int e)
{
	const char *s;

	if (e == 0)
		return "OK";
	s = strerrorname_np(e);
	return s ? s : "?";
}

/* Wait for a non-blocking connect; its outcome as an errno (0 = OK). */
static int
finish(int fd)
{
	long end = now_ms() + 30000;
	int err = 0;
	socklen_t el = sizeof(err);

	while (now_ms() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int r = poll(&pf, 1, 100);

		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
				return errno;
			return err;
		}
	}
	return ETIMEDOUT + 1000; /* the client's own bound: never expected */
}

int
main(int argc, char **argv)
{
	struct itimerval it = {{0, 500}, {0, 500}}, off = {{0, 0}, {0, 0}};
	struct sockaddr_in sin;
	struct sigaction sa;
	char results[512] = "";
	int n, i, restart, nonblock, eintr = 0, halfopen = 0, fds0, fds1;
	long max_ms = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: sigstall HOST PORT N restart|norestart "
		                "[nonblock]\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1)
		return 2;
	n = atoi(argv[3]);
	restart = strcmp(argv[4], "restart") == 0;
	nonblock = argc > 5 && strcmp(argv[5], "nonblock") == 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	fds0 = count_fds();
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ps;
		socklen_t pl = sizeof(ps);
		long t0 = now_ms(), ms;
		int fd, r, e, peer;

		fd = socket(AF_INET,
		            SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
		            0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		e = r == 0 ? 0 : errno;
		if (nonblock && e == EINPROGRESS)
			e = finish(fd);
		ms = now_ms() - t0;
		if (ms > max_ms)
			max_ms = ms;
		if (e == EINTR)
			eintr++;
		peer = getpeername(fd, (struct sockaddr *)&ps, &pl) == 0;
		if (e != 0 && peer)
			halfopen++;
		printf("connect %d: %s %ld peer=%s\n", i, ename(e), ms,
		       peer ? "connected" : "none");
		if (strstr(results, ename(e)) == NULL &&
		    strlen(results) + 40 < sizeof(results)) {
			if (results[0] != '\0')
				strcat(results, ",");
			strcat(results, ename(e));
		}
		if (close(fd) != 0) {
			printf("close %d: %s\n", i, ename(errno));
			halfopen++;
		}
	}
	setitimer(ITIMER_REAL, &off, NULL);
	fds1 = count_fds();
	printf("alarms=%s eintr=%d halfopen=%d max_ms=%ld fds_before=%d "
	       "fds_after=%d results=%s\n",
	       alarms > 100 ? "many" : "few", eintr, halfopen, max_ms, fds0,
	       fds1, results);
	return eintr == 0 && halfopen == 0 && fds0 == fds1 ? 0 : 1;
}
