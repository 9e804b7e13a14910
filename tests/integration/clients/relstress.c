/*
 * relstress: the reliability stress client (test_reliability.sh).
 *
 *   relstress threads ROUNDS WORKERS CONNS HOST PPORT PBANNER EPORT EBANNER BPORT [SUFFIX NNAMES]
 *   relstress fork    1      WORKERS CONNS HOST PPORT PBANNER EPORT EBANNER BPORT [SUFFIX NNAMES]
 *
 * Each connection goes to one of three destinations, by its index c:
 * c % 8 in 0..4 → PPORT (proxied by the config), 5..6 → EPORT (exempt:
 * direct), 7 → BPORT (a block rule: connect must fail with EACCES, which
 * counts as expected).  With SUFFIX and NNAMES, c % 8 in 3..4 goes to
 * PPORT by name instead: "n<K>.SUFFIX" (K = (worker + c) % NNAMES)
 * through getaddrinfo(AF_INET), which under `dns: remote` must answer a
 * fake address in 198.18.0.0/15 (the default fake_ipv4; anything else
 * is a failure), and the proxy resolves the name to HOST.  A connection that succeeds must read its
 * server's banner line exactly ("BANNER\r\n") and echo a token unique to
 * the process, worker and connection back byte for byte.
 *
 * threads: ROUNDS rounds of WORKERS threads × CONNS connections.  Before
 * round 1 and after every round the open descriptors (/proc/self/fd) are
 * counted; the resident set (/proc/self/statm) is read after round 1 and
 * after the last round.
 * fork: the parent makes one connection of each kind first (the children
 * inherit an initialised library), then WORKERS forked children make
 * CONNS connections each; each child checks its own descriptors.
 *
 * Last line: "ok=N blocked=M fail=K fds_before=A fds_after=B rss1_kb=R1
 * rssN_kb=RN" (threads) or "children_ok=N children_failed=K ok=.. blocked=..
 * fail=.." (fork).  Every read and write is bounded (10 s).  Exit 0 when
 * there was no unexpected outcome and no descriptor leaked; the RSS bound
 * is judged by the caller.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clientlib.h"

static const char *host, *pbanner, *ebanner;
static int pport, eport, bport, conns, nnames;
static const char *suffix;

struct worker {
	pthread_t tid;
	int id, ok, blocked, fail;
	char err[200];
};

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size = 0, res = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
dial(int port)
{
	struct sockaddr_in s;
	struct timeval tv = {10, 0};
	int fd, saved;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, host, &s.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&s, sizeof(s)) != 0) {
		saved = errno;
		if (close(fd) != 0)
			saved = EBADF; /* the library took our descriptor */
		errno = saved;
		return -1;
	}
	return fd;
}

/* By name: getaddrinfo() must give a fake address, then dial it. */
static int
dial_name(const char *name, int port)
{
	struct addrinfo hints, *res = NULL;
	struct timeval tv = {10, 0};
	const unsigned char *a;
	char serv[16];
	int fd, r, saved;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(serv, sizeof(serv), "%d", port);
	r = getaddrinfo(name, serv, &hints, &res);
	if (r != 0) {
		errno = r == EAI_SYSTEM ? errno : EHOSTUNREACH;
		return -2;
	}
	a = (const unsigned char *)&((struct sockaddr_in *)(void *)res->ai_addr)
	            ->sin_addr;
	if (res->ai_family != AF_INET || a[0] != 198 || (a[1] & 0xfe) != 18) {
		freeaddrinfo(res);
		errno = EADDRNOTAVAIL;
		return -3;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r = connect(fd, res->ai_addr, res->ai_addrlen);
	saved = errno;
	freeaddrinfo(res);
	if (r != 0) {
		if (close(fd) != 0)
			saved = EBADF;
		errno = saved;
		return -1;
	}
	return fd;
}

static const char *
ename(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "?";
}

/* One connection; 0 ok, 1 blocked as expected, -1 with a message. */
static int
one(int wid, int c, char *err, size_t errsz)
{
	char want[512], got[512], tok[96], name[300];
	int kind = c % 8, port, fd, r;
	const char *banner, *step;
	size_t blen, tlen;

	port = kind < 5 ? pport : kind < 7 ? eport : bport;
	banner = kind < 5 ? pbanner : ebanner;
	if (nnames > 0 && (kind == 3 || kind == 4)) {
		snprintf(name, sizeof(name), "n%d.%s",
		         ((wid < 0 ? 0 : wid) + c) % nnames, suffix);
		fd = dial_name(name, port);
		if (fd == -2 || fd == -3) {
			snprintf(err, errsz, "worker %d conn %d: %.100s: %s", wid,
			         c, name,
			         fd == -2 ? "getaddrinfo failed"
			                  : "not a fake address");
			return -1;
		}
	} else {
		fd = dial(port);
	}
	if (kind == 7) {
		if (fd < 0 && errno == EACCES)
			return 1;
		snprintf(err, errsz, "worker %d conn %d: blocked port: %s", wid,
		         c, fd < 0 ? ename(errno) : "connected");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd < 0) {
		step = "connect";
		goto bad;
	}
	blen = (size_t)snprintf(want, sizeof(want), "%s\r\n", banner);
	step = "banner";
	if (read_n(fd, got, blen) != 0)
		goto bad;
	if (memcmp(got, want, blen) != 0) {
		snprintf(err, errsz, "worker %d conn %d: wrong banner (port %d)",
		         wid, c, port);
		close(fd);
		return -1;
	}
	tlen = (size_t)snprintf(tok, sizeof(tok), "relstress-%ld-w%d-c%d-%08x\n",
	                        (long)getpid(), wid, c,
	                        (unsigned)(wid * 7919 + c * 104729));
	r = echo_token(fd, tok, tlen, got, &step);
	if (r < 0)
		goto bad;
	if (r > 0) {
		snprintf(err, errsz, "worker %d conn %d: wrong echo", wid, c);
		close(fd);
		return -1;
	}
	if (close(fd) != 0) {
		step = "close";
		fd = -1;
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errsz, "worker %d conn %d (port %d): %s: %s", wid, c, port,
	         step, ename(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	char err[200];
	int c, r;

	for (c = 0; c < conns; c++) {
		r = one(w->id, c, err, sizeof(err));
		if (r == 0)
			w->ok++;
		else if (r == 1)
			w->blocked++;
		else {
			w->fail++;
			if (w->err[0] == '\0')
				memcpy(w->err, err, sizeof(err));
		}
	}
	return NULL;
}

static int
threads(int rounds, int n)
{
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	long ok = 0, blocked = 0, failed = 0, rss1 = -1, rssn = -1;
	int i, r, fds0, fds = -1, leak = 0, printed = 0;

	if (ws == NULL)
		return 1;
	fds0 = count_fds();
	for (r = 0; r < rounds; r++) {
		int started = 0;

		memset(ws, 0, (size_t)n * sizeof(*ws));
		for (i = 0; i < n; i++) {
			ws[i].id = r * 1000 + i;
			if (pthread_create(&ws[i].tid, NULL, run, &ws[i]) != 0)
				break;
			started++;
		}
		failed += (long)(n - started) * conns;
		for (i = 0; i < started; i++) {
			pthread_join(ws[i].tid, NULL);
			ok += ws[i].ok;
			blocked += ws[i].blocked;
			failed += ws[i].fail;
			if (ws[i].err[0] && printed++ < 10)
				printf("%s\n", ws[i].err);
		}
		fds = count_fds();
		if (fds != fds0)
			leak = 1;
		if (r == 0)
			rss1 = rss_kb();
		rssn = rss_kb();
		printf("round %d: ok=%ld blocked=%ld fail=%ld fds=%d rss_kb=%ld\n",
		       r + 1, ok, blocked, failed, fds, rssn);
		fflush(stdout);
	}
	printf("ok=%ld blocked=%ld fail=%ld fds_before=%d fds_after=%d "
	       "rss1_kb=%ld rssN_kb=%ld\n",
	       ok, blocked, failed, fds0, fds, rss1, rssn);
	free(ws);
	return failed == 0 && !leak ? 0 : 1;
}

static int
forks(int n)
{
	char err[200];
	int i, st, ok = 0, bad = 0, c;
	pid_t pid;

	for (c = 0; c < 8; c++) { /* one of each kind */
		int r = one(-1, c, err, sizeof(err));

		if (r < 0) {
			printf("%s\n", err);
			bad = 1;
		}
	}
	fflush(stdout);
	for (i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			struct worker w = {.id = i};
			int f0 = count_fds(), f1;

			run(&w);
			f1 = count_fds();
			if (w.err[0])
				printf("%s\n", w.err);
			if (f1 != f0)
				printf("child %d: fds %d -> %d\n", i, f0, f1);
			printf("child %d: ok=%d blocked=%d fail=%d\n", i, w.ok,
			       w.blocked, w.fail);
			fflush(stdout);
			_exit(w.fail == 0 && f1 == f0 ? 0 : 1);
		}
	}
	while ((pid = wait(&st)) > 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			ok++;
		} else {
			bad = 1;
			if (WIFSIGNALED(st))
				printf("child %ld killed by signal %d\n", (long)pid,
				       WTERMSIG(st));
		}
	}
	printf("children_ok=%d children_failed=%d\n", ok, n - ok);
	return ok == n && !bad ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int rounds, n;

	if (argc != 11 && argc != 13) {
		fprintf(stderr, "usage: relstress threads|fork ROUNDS WORKERS CONNS "
		                "HOST PPORT PBANNER EPORT EBANNER BPORT "
		                "[SUFFIX NNAMES]\n");
		return 2;
	}
	if (argc == 13) {
		suffix = argv[11];
		nnames = atoi(argv[12]);
	}
	rounds = atoi(argv[2]);
	n = atoi(argv[3]);
	conns = atoi(argv[4]);
	host = argv[5];
	pport = atoi(argv[6]);
	pbanner = argv[7];
	eport = atoi(argv[8]);
	ebanner = argv[9];
	bport = atoi(argv[10]);
	if (strcmp(argv[1], "threads") == 0)
		return threads(rounds, n);
	if (strcmp(argv[1], "fork") == 0)
		return forks(n);
	return 2;
}
