/*
 * proxyshim-supervisor FD [NAME]: one per user (and mount namespace, and
 * build), started by the first `proxyshim run` that finds none
 * (cli/supervise.c), which sends its tree over the socket FD.  It listens
 * on the abstract unix socket NAME for the trees of later runs, and serves
 * each tree in a process of its own, forked at the tree's first call: that
 * process maps the table the tree's run named, answers the tree's calls
 * (serve.c) and leaves with the tree; this one waits for it and says on
 * the tree's stderr when it died of a signal (the tree's connects fail
 * from then on: fail closed).  A tree that makes no call costs a message
 * and a few descriptors here, no process.  With no tree left it stays
 * PROXYSHIM_SUPERVISOR_IDLE seconds (default 60), then leaves
 * (docs/behaviour.md#static-and-go-programs).
 *
 * It never runs a thread: a fork of it is a fork of one thread, and costs
 * little (docs/performance.md#supervision).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/shm.h"
#include "proxyshim/supervise.h"
#include "supervisor.h"

#define ZY_MAX_PENDING 64 /* connections whose tree has not come yet */
#define ZY_IDLE_DEFAULT 60
#define ZY_IDLE_MAX 86400

/* One tree as run sent it: fds -1 when absent. */
struct zy_msg {
	int lfd, err, cmd, log;
	const char *table, *config, *level;
	char buf[PS_SUP_MSG_MAX + 1];
};

/* A tree being served.  Its server is forked at its first call (the
 * listener readable): a tree that makes none, such as a dynamic program
 * whose connects the library marks, costs no process. */
struct zy_tree {
	struct zy_msg *m; /* as run sent it; m->lfd is the server's once
	                     forked, m->cmd and m->err -1 once the command
	                     exited */
	pid_t pid;        /* its server; 0: none yet */
	int srv;          /* a pidfd of the server */
};

struct zy {
	int lsock; /* the named socket; -1: not (or no longer) listening */
	int pend[ZY_MAX_PENDING];
	size_t npend;
	struct zy_tree *t;
	size_t nt, cap;
	int idle_ms;
};

static void
zy_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
zy_msg_close(struct zy_msg *m)
{
	zy_close(&m->lfd);
	zy_close(&m->err);
	zy_close(&m->cmd);
	zy_close(&m->log);
}

/* The next NUL-terminated string of the message at *at; "" past its end. */
static const char *
zy_str(struct zy_msg *m, size_t *at, size_t n)
{
	const char *s = m->buf + *at;
	size_t len;

	if (*at >= n)
		return "";
	len = strnlen(s, n - *at);
	*at += len + 1;
	return s;
}

/* Read one tree (include/proxyshim/supervise.h) from sock: 0; 1 when
 * nothing has come yet; -1 when what came is not one (the peer gave up,
 * or is not run). */
static int
zy_receive(int sock, struct zy_msg *m)
{
	char cbuf[CMSG_SPACE(PS_SUP_MAX_FDS * sizeof(int))];
	struct iovec iov = {.iov_base = m->buf, .iov_len = PS_SUP_MSG_MAX};
	struct msghdr h = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = cbuf,
	                   .msg_controllen = sizeof(cbuf)};
	struct ps_sup_hello hello;
	int fds[PS_SUP_MAX_FDS], nfd = 0, want = 1, i = 0;
	struct cmsghdr *c;
	size_t at = sizeof(hello);
	ssize_t n;

	m->lfd = m->err = m->cmd = m->log = -1;
	do
		n = recvmsg(sock, &h, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 1 : -1;
	for (c = CMSG_FIRSTHDR(&h); c != NULL; c = CMSG_NXTHDR(&h, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    nfd == 0 && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nfd > PS_SUP_MAX_FDS)
				nfd = PS_SUP_MAX_FDS;
			memcpy(fds, CMSG_DATA(c), (size_t)nfd * sizeof(int));
		}
	if ((size_t)n >= sizeof(hello))
		memcpy(&hello, m->buf, sizeof(hello));
	if ((size_t)n < sizeof(hello) || memcmp(hello.magic, "PSUP", 4) != 0 ||
	    hello.proto != PS_SUP_PROTO || (h.msg_flags & MSG_CTRUNC))
		want = -1;
	else
		want += !!(hello.flags & PS_SUP_HAS_STDERR) +
		        !!(hello.flags & PS_SUP_HAS_PIDFD) +
		        !!(hello.flags & PS_SUP_HAS_LOGFD);
	/* The first descriptor must be a seccomp listener: the ioctl
	 * that checks a notification id answers ENOENT on one (no such
	 * id), ENOTTY or EINVAL on anything else.  A client of our own uid
	 * that sends something else gets nothing served. */
	if (want == nfd) {
		uint64_t id = 0;

		if (ioctl(fds[0], SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 ||
		    errno != ENOENT)
			want = -1;
	}
	if (want != nfd) {
		for (i = 0; i < nfd; i++)
			close(fds[i]);
		return -1;
	}
	m->lfd = fds[i++];
	if (hello.flags & PS_SUP_HAS_STDERR)
		m->err = fds[i++];
	if (hello.flags & PS_SUP_HAS_PIDFD)
		m->cmd = fds[i++];
	if (hello.flags & PS_SUP_HAS_LOGFD)
		m->log = fds[i++];
	m->buf[n] = '\0';
	m->table = zy_str(m, &at, (size_t)n);
	m->config = zy_str(m, &at, (size_t)n);
	m->level = zy_str(m, &at, (size_t)n);
	return 0;
}

/* Once the command has exited, run's stderr is let go (it may be a pipe
 * that the caller reads to its end): what the tree's daemons still do is
 * logged nowhere, or to PROXYSHIM_LOG_FILE. */
static void
sup_release_stderr(void)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
}

/* Wait until fd (a pidfd) is readable, or forever when it is -1. */
void
sup_wait_command(int cmd)
{
	struct pollfd p = {.fd = cmd, .events = POLLIN};

	if (cmd < 0)
		return;
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	sup_release_stderr();
}

/* The table run named ($PROXYSHIM_TABLE) and its name map.  Without
 * one, the server fails closed, as the library does. */
static void
sup_load(struct sup *s)
{
	const char *name = getenv(PS_ENV_TABLE);
	char nname[PS_SHM_NAME_MAX + 8];
	const struct ps_table_view *v;
	struct names_params p;

	if (name == NULL || *name == '\0') {
		log_err("no published table: supervised connections to "
		        "non-loopback addresses are refused (fail closed)");
		return;
	}
	if (sup_policy_init(s, name) < 0) {
		log_err("supervised connections to non-loopback addresses "
		        "are refused (fail closed)");
		return;
	}
	/* The name map of the first table, as in the library
	 * (shim/namemap.c). */
	v = sup_policy_get(s);
	names_params_from_table(v, &p);
	names_shm_name(v->hdr->source_hash, nname, sizeof(nname));
	if (names_open(&s->names, nname, &p) == 0)
		s->have_names = true;
	sup_policy_put(s, v);
}

/* The parent: wait for the server; report a death by signal (on run's
 * stderr while the command runs). */
/* At the first supervised call: the policy, then the DNS stub. */
static void
sup_start(struct sup *s)
{
	sup_load(s);
	sup_dns_start(s);
}

/* The environment run would have given a supervisor of its own. */
static void
zy_env(const char *name, const char *value)
{
	if (*value != '\0')
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static void
zy_tree_close(struct zy_tree *t)
{
	zy_msg_close(t->m);
	free(t->m);
	t->m = NULL;
	zy_close(&t->srv);
}

/* The tree's server, in the forked process: nothing of the other trees,
 * run's stderr as its own, run's table, config and log settings. */
static void
zy_serve_tree(struct zy *z, struct zy_tree *t)
{
	struct zy_msg *m = t->m;
	struct sup s;
	size_t i;
	int level, r;

	zy_close(&z->lsock);
	for (i = 0; i < z->npend; i++)
		zy_close(&z->pend[i]);
	for (i = 0; i < z->nt; i++)
		if (&z->t[i] != t)
			zy_tree_close(&z->t[i]);
	if (m->err >= 0) {
		dup2(m->err, 2);
		zy_close(&m->err);
	}
	zy_env(PS_ENV_TABLE, m->table);
	zy_env(PS_ENV_CONFIG, m->config);
	zy_env(PS_ENV_LOG, m->level);
	level = log_level_parse(m->level);
	log_setup(level >= 0 ? level : PS_LOG_WARN, m->log >= 0 ? m->log : 2);
	memset(&s, 0, sizeof(s));
	s.listener = m->lfd;
	s.command = m->cmd;
	r = sup_serve(&s, sup_start);
	sup_dns_stop(&s);
	if (r < 0)
		log_err("listener: %s: connections of the supervised "
		        "programs fail from now on (fail closed)",
		        strerror(-r));
	exit(r < 0 ? 1 : 0);
}

/* A line on the tree's stderr (while its command runs) and log file. */
static void
zy_report(const struct zy_tree *t, const char *line)
{
	int fds[2] = {t->m->err, t->m->log}, i;

	for (i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		log_setup(-1, fds[i]);
		log_err("%s: connections of the supervised programs fail from "
		        "now on (fail closed)",
		        line);
	}
	log_setup(-1, 2);
}

/* A tree that came: kept until its first call. */
static void
zy_add_tree(struct zy *z, struct zy_msg *m)
{
	if (z->nt == z->cap) {
		size_t cap = z->cap ? 2 * z->cap : 16;
		struct zy_tree *n = realloc(z->t, cap * sizeof(*n));

		if (n == NULL) {
			zy_msg_close(m); /* its calls fail: ENOSYS */
			free(m);
			return;
		}
		z->t = n;
		z->cap = cap;
	}
	z->t[z->nt++] = (struct zy_tree){.m = m, .pid = 0, .srv = -1};
}

static void
zy_drop_tree(struct zy *z, size_t i)
{
	zy_tree_close(&z->t[i]);
	z->t[i] = z->t[--z->nt];
}

/* Its first call: fork the tree's server.  false when that failed (the
 * tree is dropped: its calls fail). */
static bool
zy_fork_server(struct zy *z, size_t i)
{
	struct zy_tree *t = &z->t[i];
	pid_t pid = fork();

	if (pid == 0)
		zy_serve_tree(z, t);
	if (pid < 0) {
		char line[96];

		snprintf(line, sizeof(line), "fork: %s", strerror(errno));
		zy_report(t, line);
		zy_drop_tree(z, i);
		return false;
	}
	t->pid = pid;
	t->srv = (int)syscall(SYS_pidfd_open, pid, 0);
	zy_close(&t->m->lfd); /* the server's now */
	return true;
}

/* The tree's server has left: reap it, say why when a signal ended it. */
static void
zy_end_tree(struct zy *z, size_t i)
{
	struct zy_tree *t = &z->t[i];
	int st;

	while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		char line[96];

		snprintf(line, sizeof(line),
		         "the supervisor (pid %d) was killed by signal %d",
		         (int)t->pid, WTERMSIG(st));
		zy_report(t, line);
	}
	zy_drop_tree(z, i);
}

/* Take one connection from the queue: false when there was none. */
static bool
zy_accept(struct zy *z)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd;

	fd = accept4(z->lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return false;
	/* Only our own user hands us trees. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
	    cr.uid != geteuid() || z->npend == ZY_MAX_PENDING)
		close(fd);
	else
		z->pend[z->npend++] = fd;
	return true;
}

/* Idle: new runs are refused (and start their own supervisor), the
 * connections already made are taken and served, then the name goes. */
static void
zy_stop_listening(struct zy *z)
{
	int n;

	shutdown(z->lsock, SHUT_RDWR);
	for (n = 0; n < 4 * ZY_MAX_PENDING && z->npend < ZY_MAX_PENDING; n++)
		if (!zy_accept(z))
			break;
	zy_close(&z->lsock);
}

static int
zy_listen(const char *name)
{
	struct sockaddr_un sa;
	size_t n = strlen(name);
	int fd;

	if (n == 0 || n + 1 > sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name, n);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* Taken (another supervisor won the race, or another user holds
	 * the name): serve the tree that came and leave with it. */
	if (bind(fd, (struct sockaddr *)&sa,
	         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) !=
	            0 ||
	    listen(fd, 64) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
zy_setup(struct zy *z)
{
	const char *v = env_get(PS_ENV_SUPERVISOR_IDLE);
	struct rlimit rl;
	char *end;
	long idle = ZY_IDLE_DEFAULT;
	int null;

	if (v != NULL && *v != '\0') {
		idle = strtol(v, &end, 10);
		if (*end != '\0' || idle < 0)
			idle = ZY_IDLE_DEFAULT;
		if (idle > ZY_IDLE_MAX)
			idle = ZY_IDLE_MAX;
	}
	z->idle_ms = (int)idle * 1000;
	(void)setsid();
	signal(SIGPIPE, SIG_IGN);
	/* Nothing of the first run's terminal or pipes: each tree's stderr
	 * comes with it. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	log_setup(PS_LOG_WARN, 2);
	/* Up to five descriptors a tree. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The trees' events, from the last (dropping one moves the last into its
 * place); p: two entries a tree. */
static void
zy_trees(struct zy *z, const struct pollfd *p)
{
	size_t i;

	for (i = z->nt; i-- > 0;) {
		const struct pollfd *q = &p[2 * i];
		struct zy_tree *t = &z->t[i];

		if (q[1].revents != 0) {
			/* The command exited: let go of stderr. */
			zy_close(&t->m->cmd);
			zy_close(&t->m->err);
		}
		if (q[0].revents == 0)
			continue;
		if (t->pid > 0)
			zy_end_tree(z, i);
		else if (q[0].revents & POLLIN)
			(void)zy_fork_server(z, i);
		else
			zy_drop_tree(z, i); /* ended without a call */
	}
}

int
main(int argc, char **argv)
{
	struct pollfd *p = NULL;
	struct zy z;
	struct zy_msg *m;
	size_t i, np, npend, cap = 0;
	int r;

	if (argc < 2 || argc > 3)
		return 2;
	memset(&z, 0, sizeof(z));
	zy_setup(&z);
	z.pend[z.npend++] = atoi(argv[1]); /* the first run's tree */
	z.lsock = argc == 3 ? zy_listen(argv[2]) : -1;
	for (;;) {
		if (z.nt == 0 && z.npend == 0 && z.lsock < 0)
			break;
		if (cap < 2 * z.nt + ZY_MAX_PENDING + 1) {
			struct pollfd *n;

			cap = 2 * (z.cap + 16) + ZY_MAX_PENDING + 1;
			n = realloc(p, cap * sizeof(*p));
			if (n == NULL)
				return 1;
			p = n;
		}
		/* The trees, the connections, the named socket. */
		np = 0;
		for (i = 0; i < z.nt; i++) {
			struct zy_tree *t = &z.t[i];

			p[np++] = (struct pollfd){.fd = t->pid > 0 ? t->srv
			                                           : t->m->lfd,
			                          .events = POLLIN};
			p[np++] = (struct pollfd){.fd = t->m->cmd,
			                          .events = POLLIN};
		}
		for (i = 0; i < z.npend; i++)
			p[np++] = (struct pollfd){.fd = z.pend[i],
			                          .events = POLLIN};
		p[np++] = (struct pollfd){
		        .fd = z.npend < ZY_MAX_PENDING ? z.lsock : -1,
		        .events = POLLIN};
		r = poll(p, np, z.nt == 0 && z.npend == 0 ? z.idle_ms : -1);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r == 0) {
			zy_stop_listening(&z);
			continue;
		}
		if (r < 0)
			continue;
		/* Where the connections and the named socket are, before
		 * zy_trees() changes the count of trees. */
		np = 2 * z.nt;
		npend = z.npend;
		zy_trees(&z, p);
		for (i = npend; i-- > 0;) {
			if (p[np + i].revents == 0)
				continue;
			m = malloc(sizeof(*m));
			r = m != NULL ? zy_receive(z.pend[i], m) : -1;
			if (r == 0)
				zy_add_tree(&z, m);
			else
				free(m);
			if (r > 0)
				continue;
			close(z.pend[i]);
			z.pend[i] = z.pend[--z.npend];
		}
		if (p[np + npend].fd >= 0 && p[np + npend].revents != 0)
			(void)zy_accept(&z);
	}
	free(p);
	free(z.t);
	return 0;
}
