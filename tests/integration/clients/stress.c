/*
 * stress: many connections at once, each one checked end to end, against
 * a banner-and-echo server (start_banner).
 *
 *   stress threads|fork|signals WORKERS CONNS HOST PORT BANNER
 *
 * WORKERS threads (or forked children) each make CONNS connections one
 * after the other: connect, read the banner line (must be BANNER CRLF),
 * send a token unique to the worker and connection, read the same bytes
 * back, close.  In fork mode the parent makes one connection first, so the
 * children inherit an initialised library.  In signals mode the WORKERS
 * run one after the other in the main thread while an interval timer
 * interrupts it every 200 us (SIGALRM, with SA_RESTART: the handshake goes
 * on, docs/behaviour.md#signals-during-a-proxied-connect): a connect()
 * that gives up with EINTR counts as a failure.  Prints "ok=N fail=M" and the
 * first error of each failing worker; exit 0 when all N succeeded.  Every
 * read and write is bounded (10 s), so a stuck tunnel fails, not hangs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clientlib.h"

static const char *host, *banner;
static int port, conns;

struct worker {
	pthread_t tid;
	int id, ok;
	char err[160];
};

static int
dial(void)
{
	struct sockaddr_storage ss;
	struct timeval tv = {10, 0};
	socklen_t len;
	int fd, saved;

	len = sockaddr_of(host, port, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* After connect(): with SO_SNDTIMEO set, any signal handler, even
	 * one with SA_RESTART, interrupts a blocking connect() (the kernel's
	 * rule, docs/behaviour.md#signals-during-a-proxied-connect). */
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* One connection; 0, or -1 with a message in err. */
static int
one(int wid, int c, char *err, size_t errsz)
{
	char want[512], got[512], tok[64];
	size_t blen, tlen;
	const char *step;
	int fd, r;

	fd = dial();
	if (fd < 0) {
		step = "connect";
		goto bad;
	}
	blen = (size_t)snprintf(want, sizeof(want), "%s\r\n", banner);
	step = "banner";
	if (read_n(fd, got, blen) != 0)
		goto bad;
	if (memcmp(got, want, blen) != 0) {
		snprintf(err, errsz, "worker %d conn %d: wrong banner", wid, c);
		close(fd);
		return -1;
	}
	tlen = (size_t)snprintf(tok, sizeof(tok), "w%d-c%d-%ld\n", wid, c,
	                        (long)getpid());
	r = echo_token(fd, tok, tlen, got, &step);
	if (r < 0)
		goto bad;
	if (r > 0) {
		snprintf(err, errsz, "worker %d conn %d: wrong echo", wid, c);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
bad:
	snprintf(err, errsz, "worker %d conn %d: %s: %s", wid, c, step,
	         strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	if (fd >= 0)
		close(fd);
	return -1;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	char err[160];
	int c;

	for (c = 0; c < conns; c++) {
		if (one(w->id, c, err, sizeof(err)) == 0)
			w->ok++;
		else if (w->err[0] == '\0')
			memcpy(w->err, err, sizeof(err));
	}
	return NULL;
}

static int
threads(int n)
{
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	int i, ok = 0, started = 0;

	if (ws == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		ws[i].id = i;
		if (pthread_create(&ws[i].tid, NULL, run, &ws[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(ws[i].tid, NULL);
		ok += ws[i].ok;
		if (ws[i].err[0])
			printf("%s\n", ws[i].err);
	}
	printf("ok=%d fail=%d\n", ok, n * conns - ok);
	free(ws);
	return ok == n * conns ? 0 : 1;
}

static int
forks(int n)
{
	char err[160];
	int i, st, ok = 0, bad = 0;
	pid_t pid;

	/* The parent connects first: children inherit a library that has
	 * already mapped its table. */
	if (one(-1, 0, err, sizeof(err)) != 0) {
		printf("%s\n", err);
		bad = 1;
	}
	fflush(stdout);
	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			struct worker w = {.id = i};

			run(&w);
			if (w.err[0])
				printf("%s\n", w.err);
			fflush(stdout);
			_exit(w.ok == conns ? 0 : 1);
		}
	}
	while ((pid = wait(&st)) > 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			ok++;
		} else {
			bad = 1;
			if (WIFSIGNALED(st))
				printf("child %ld killed by signal %d\n",
				       (long)pid, WTERMSIG(st));
		}
	}
	printf("children_ok=%d children_failed=%d\n", ok, n - ok);
	return ok == n && !bad ? 0 : 1;
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int
signals(int n)
{
	struct itimerval it = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
	struct sigaction sa;
	struct worker w;
	int i, ok = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART; /* without it connect() may say EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < n; i++) {
		memset(&w, 0, sizeof(w));
		w.id = i;
		run(&w);
		ok += w.ok;
		if (w.err[0])
			printf("%s\n", w.err);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	printf("alarms=%s\n", alarms > 100 ? "many" : "few");
	printf("ok=%d fail=%d\n", ok, n * conns - ok);
	return ok == n * conns ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int n;

	if (argc != 7) {
		fprintf(stderr,
		        "usage: stress threads|fork|signals WORKERS CONNS HOST "
		        "PORT BANNER\n");
		return 2;
	}
	n = atoi(argv[2]);
	conns = atoi(argv[3]);
	host = argv[4];
	port = atoi(argv[5]);
	banner = argv[6];
	if (strcmp(argv[1], "threads") == 0)
		return threads(n);
	if (strcmp(argv[1], "fork") == 0)
		return forks(n);
	if (strcmp(argv[1], "signals") == 0)
		return signals(n);
	return 2;
}
