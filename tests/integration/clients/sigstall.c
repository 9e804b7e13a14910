/*
 * sigstall: connect() while signals keep arriving, against an upstream that
 * stalls (test_faults.sh).
 *
 *   sigstall HOST PORT N restart|norestart|mixed [nonblock] [once]
 *
 * An interval timer sends SIGALRM every 500 us for the whole run (once:
 * a single SIGALRM 300 ms into each connect, as alarm() bounds a connect),
 * its handler installed with SA_RESTART (restart) or without (norestart);
 * mixed: SIGALRM with SA_RESTART, and a SIGUSR1 handler without it that
 * never fires.  N times: a fresh socket, one connect() to HOST:PORT (a
 * non-blocking one that says EINPROGRESS is waited for with poll(), itself
 * restarted on EINTR, bounded at 30 s, and judged by SO_ERROR), then, when
 * the connect failed, getpeername() must fail with ENOTCONN: a socket that
 * the caller was told did not connect must not be left connected to the
 * proxy half-way through a handshake.  After an EINTR, a send() on the
 * socket must fail too (its errno is reported): nothing the program writes
 * may reach the proxy as if it were the destination.  close() must
 * return 0.
 *
 * One line per connect: "connect K: ERRNO MS peer=none|connected", then
 * "alarms=A eintr=E halfopen=H max_ms=M fds_before=B fds_after=C
 * results=LIST sends=LIST" where LIST is the distinct outcomes (OK or
 * errno names) joined by ',' (sends: of the send() after each EINTR, or
 * "-").  Exit 0 when none was left half-open, and the descriptors are the
 * same before and after.
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

/* Add e's name to the ','-joined list (once). */
static void
note(char *list, size_t size, const char *e)
{
	if (strstr(list, e) != NULL || strlen(list) + strlen(e) + 2 > size)
		return;
	if (list[0] != '\0')
		strcat(list, ",");
	strcat(list, e);
}

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
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) !=
			    0)
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
	struct itimerval one = {{0, 0}, {0, 300000}};
	struct sockaddr_in sin;
	struct sigaction sa;
	char results[512] = "", sends[512] = "";
	int n, i, restart, mixed, nonblock = 0, once = 0, eintr = 0,
	                          halfopen = 0, fds0, fds1;
	long max_ms = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: sigstall HOST PORT N "
		                "restart|norestart|mixed [nonblock] [once]\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1)
		return 2;
	n = atoi(argv[3]);
	mixed = strcmp(argv[4], "mixed") == 0;
	restart = mixed || strcmp(argv[4], "restart") == 0;
	for (i = 5; i < argc; i++) {
		nonblock |= strcmp(argv[i], "nonblock") == 0;
		once |= strcmp(argv[i], "once") == 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	if (mixed) {
		sa.sa_flags = 0;
		sigaction(SIGUSR1, &sa, NULL);
	}
	fds0 = count_fds();
	if (!once)
		setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ps;
		socklen_t pl = sizeof(ps);
		long t0 = now_ms(), ms;
		int fd, r, e, peer;

		fd = socket(AF_INET,
		            SOCK_STREAM | SOCK_CLOEXEC |
		                    (nonblock ? SOCK_NONBLOCK : 0),
		            0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (once)
			setitimer(ITIMER_REAL, &one, NULL);
		r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		e = r == 0 ? 0 : errno;
		if (nonblock && e == EINPROGRESS)
			e = finish(fd);
		ms = now_ms() - t0;
		if (once)
			setitimer(ITIMER_REAL, &off, NULL);
		if (ms > max_ms)
			max_ms = ms;
		peer = getpeername(fd, (struct sockaddr *)&ps, &pl) == 0;
		if (e != 0 && peer)
			halfopen++;
		printf("connect %d: %s %ld peer=%s", i, ename(e), ms,
		       peer ? "connected" : "none");
		if (e == EINTR) {
			ssize_t w = send(fd, "x", 1, MSG_NOSIGNAL);

			eintr++;
			note(sends, sizeof(sends), w < 0 ? ename(errno) : "OK");
			printf(" send=%s", w < 0 ? ename(errno) : "OK");
		}
		printf("\n");
		note(results, sizeof(results), ename(e));
		if (close(fd) != 0) {
			printf("close %d: %s\n", i, ename(errno));
			halfopen++;
		}
	}
	setitimer(ITIMER_REAL, &off, NULL);
	fds1 = count_fds();
	printf("alarms=%s eintr=%d halfopen=%d max_ms=%ld fds_before=%d "
	       "fds_after=%d results=%s sends=%s\n",
	       alarms > 100 ? "many" : "few", eintr, halfopen, max_ms, fds0,
	       fds1, results, sends[0] ? sends : "-");
	return halfopen == 0 && fds0 == fds1 ? 0 : 1;
}
