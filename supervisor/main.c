/*
 * proxyshim-supervisor FD: started by `proxyshim run` (cli/supervise.c),
 * which sends the seccomp listener over the socket FD.  It leaves run's
 * session (a Ctrl-C for the command must not end it), maps the table run
 * named in the environment, and serves until no process uses the filter.
 *
 * It runs as two processes: the server, and its parent, which waits for it
 * and says on stderr when it died of a signal — the supervised programs'
 * connects fail from then on (fail closed), and the user should know why
 * (docs/behaviour.md#static-and-go-programs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/shm.h"
#include "supervisor.h"

/* The listener sent by run, and a pidfd of the command when run sent
 * one (else -1); -1 when run sent no listener (it could not install the
 * filter, and said so). */
static int
sup_receive(int sock, int *cmd)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))], one;
	struct iovec iov = {.iov_base = &one, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = cbuf,
	                   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int fds[2] = {-1, -1};
	ssize_t n;

	*cmd = -1;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (c == NULL || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(fds, CMSG_DATA(c),
	       c->cmsg_len >= CMSG_LEN(2 * sizeof(int)) ? 2 * sizeof(int)
	                                                : sizeof(int));
	*cmd = fds[1];
	return fds[0];
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

static int
sup_watch(pid_t pid, int cmd)
{
	struct pollfd p[2];
	int st, srv = (int)syscall(SYS_pidfd_open, pid, 0);

	p[0].fd = srv;
	p[0].events = POLLIN;
	p[1].fd = cmd;
	p[1].events = POLLIN;
	while (srv >= 0 && p[1].fd >= 0) {
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0)
			break;
		if (p[1].revents != 0) {
			sup_release_stderr();
			p[1].fd = -1;
		}
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(st)) {
		log_err("the supervisor (pid %d) was killed by signal %d: "
		        "connections of the supervised programs fail from now "
		        "on (fail closed)",
		        (int)pid, WTERMSIG(st));
		return 1;
	}
	return WEXITSTATUS(st);
}

int
main(int argc, char **argv)
{
	struct sup s;
	int sock, null, cmd, r;
	pid_t pid;

	memset(&s, 0, sizeof(s));
	log_init();
	if (argc != 2)
		return 2;
	sock = atoi(argv[1]);
	(void)setsid();
	signal(SIGPIPE, SIG_IGN);
	/* Keep run's stderr for reports; nothing else of the terminal. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	s.listener = sup_receive(sock, &cmd);
	close(sock);
	if (s.listener < 0)
		return 0; /* run said why */
	pid = fork();
	if (pid < 0) {
		log_err("fork: %s: connections of the supervised programs "
		        "fail (fail closed)",
		        strerror(errno));
		return 1;
	}
	if (pid > 0) {
		close(s.listener);
		return sup_watch(pid, cmd);
	}
	s.command = cmd;
	r = sup_serve(&s, sup_start);
	sup_dns_stop(&s);
	if (r < 0)
		log_err("listener: %s: connections of the supervised "
		        "programs fail from now on (fail closed)",
		        strerror(-r));
	return r < 0 ? 1 : 0;
}
