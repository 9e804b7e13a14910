/*
 * run's side of supervision (docs/behaviour.md#static-and-go-programs):
 * start the supervisor, install the seccomp filter on this process, hand
 * the filter's listener to the supervisor, and let run exec the command,
 * which keeps run's PID and inherits the filter, as does every process it
 * starts.
 *
 * The supervisor is forked before the filter exists (it must not be
 * supervised itself) and twice, so that it is nobody's child in the
 * command's tree: a shell's `wait` must not wait for it.  The filter is
 * written by hand: a few system calls, no library, so run stays a libc-only
 * program (docs/performance.md#supervision).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/supervise.h"
#include "cli.h"

#if defined(__x86_64__)
#define SUP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SUP_ARCH AUDIT_ARCH_AARCH64
#else
#error "supervision: unknown architecture"
#endif

/* A label-resolving BPF assembler for a program of a few dozen
 * instructions: jumps name a label, resolved when the program is done. */
#define SUP_MAX 48
enum sup_label {
	L_NEXT = 0, /* the next instruction */
	L_ALLOW,
	L_NOTIFY,
	L_ENOSYS,
	L_CONNECT,
	L_SENDTO,
	L_SENDMSG,
	L_FOREIGN,
	L_COUNT
};

struct sup_prog {
	struct sock_filter f[SUP_MAX];
	unsigned char jt[SUP_MAX], jf[SUP_MAX];
	unsigned short at[L_COUNT];
	unsigned short n;
};

static void
sup_op(struct sup_prog *p, unsigned short code, uint32_t k, enum sup_label jt,
       enum sup_label jf)
{
	if (p->n >= SUP_MAX)
		return;
	p->f[p->n] = (struct sock_filter){code, 0, 0, k};
	p->jt[p->n] = (unsigned char)jt;
	p->jf[p->n] = (unsigned char)jf;
	p->n++;
}

static void
sup_here(struct sup_prog *p, enum sup_label l)
{
	p->at[l] = p->n;
}

static int
sup_link(struct sup_prog *p)
{
	unsigned short i;

	for (i = 0; i < p->n; i++) {
		unsigned t = p->jt[i] == L_NEXT ? i + 1u : p->at[p->jt[i]];
		unsigned f = p->jf[i] == L_NEXT ? i + 1u : p->at[p->jf[i]];

		if (BPF_CLASS(p->f[i].code) != BPF_JMP)
			continue;
		if (t <= i || f <= i || t - i - 1 > 255 || f - i - 1 > 255)
			return -EINVAL;
		p->f[i].jt = (unsigned char)(t - i - 1);
		p->f[i].jf = (unsigned char)(f - i - 1);
	}
	return p->n < SUP_MAX ? 0 : -E2BIG;
}

#define SUP_LD (BPF_LD | BPF_W | BPF_ABS)
#define SUP_JEQ (BPF_JMP | BPF_JEQ | BPF_K)
#define SUP_JGE (BPF_JMP | BPF_JGE | BPF_K)
#define SUP_JSET (BPF_JMP | BPF_JSET | BPF_K)
#define SUP_RET (BPF_RET | BPF_K)
/* Little-endian halves of a 64-bit argument. */
#define SUP_ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]))
#define SUP_ARG_HI(i) (SUP_ARG_LO(i) + 4u)

/*
 * connect: notify, unless it carries the library's mark.
 * sendto/sendmsg: notify only with MSG_FASTOPEN (they connect).
 * io_uring_setup: ENOSYS, so runtimes use the calls above.
 * Another ABI (x32, i386 on x86_64): its socket calls get ENOSYS rather
 * than going unseen.
 */
static void
sup_build(struct sup_prog *p)
{
	memset(p, 0, sizeof(*p));
	sup_op(p, SUP_LD, offsetof(struct seccomp_data, arch), 0, 0);
	sup_op(p, SUP_JEQ, SUP_ARCH, L_NEXT, L_FOREIGN);
	sup_op(p, SUP_LD, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef __x86_64__
	sup_op(p, SUP_JGE, 0x40000000u /* __X32_SYSCALL_BIT */, L_ENOSYS,
	       L_NEXT);
#endif
	sup_op(p, SUP_JEQ, SYS_connect, L_CONNECT, L_NEXT);
	sup_op(p, SUP_JEQ, SYS_sendto, L_SENDTO, L_NEXT);
	sup_op(p, SUP_JEQ, SYS_sendmsg, L_SENDMSG, L_NEXT);
	sup_op(p, SUP_JEQ, SYS_io_uring_setup, L_ENOSYS, L_ALLOW);
	sup_here(p, L_CONNECT);
	sup_op(p, SUP_LD, SUP_ARG_LO(3), 0, 0);
	sup_op(p, SUP_JEQ, (uint32_t)PS_SUPERVISE_MAGIC, L_NEXT, L_NOTIFY);
	sup_op(p, SUP_LD, SUP_ARG_HI(3), 0, 0);
	sup_op(p, SUP_JEQ, (uint32_t)(PS_SUPERVISE_MAGIC >> 32), L_ALLOW,
	       L_NOTIFY);
	sup_here(p, L_SENDTO);
	sup_op(p, SUP_LD, SUP_ARG_LO(3), 0, 0);
	sup_op(p, SUP_JSET, MSG_FASTOPEN, L_NOTIFY, L_ALLOW);
	sup_here(p, L_SENDMSG);
	sup_op(p, SUP_LD, SUP_ARG_LO(2), 0, 0);
	sup_op(p, SUP_JSET, MSG_FASTOPEN, L_NOTIFY, L_ALLOW);
	/* The returns come last: classic BPF ends with one. */
	sup_here(p, L_FOREIGN);
#ifdef __x86_64__
	/* i386: socketcall, connect, sendto, sendmsg, io_uring_setup. */
	sup_op(p, SUP_JEQ, AUDIT_ARCH_I386, L_NEXT, L_ENOSYS);
	sup_op(p, SUP_LD, offsetof(struct seccomp_data, nr), 0, 0);
	sup_op(p, SUP_JEQ, 102, L_ENOSYS, L_NEXT);
	sup_op(p, SUP_JEQ, 362, L_ENOSYS, L_NEXT);
	sup_op(p, SUP_JEQ, 369, L_ENOSYS, L_NEXT);
	sup_op(p, SUP_JEQ, 370, L_ENOSYS, L_NEXT);
	sup_op(p, SUP_JEQ, 425, L_ENOSYS, L_ALLOW);
#else
	sup_op(p, SUP_RET, SECCOMP_RET_ERRNO | ENOSYS, 0, 0);
#endif
	sup_here(p, L_NOTIFY);
	sup_op(p, SUP_RET, SECCOMP_RET_USER_NOTIF, 0, 0);
	sup_here(p, L_ALLOW);
	sup_op(p, SUP_RET, SECCOMP_RET_ALLOW, 0, 0);
	sup_here(p, L_ENOSYS);
	sup_op(p, SUP_RET, SECCOMP_RET_ERRNO | ENOSYS, 0, 0);
}

static long
sup_seccomp(const struct sock_fprog *fp)
{
	long fd;

	/* Killable wait: once the supervisor has a call, only a fatal
	 * signal ends it, so Go's preemption signals cannot cut a
	 * handshake in two (docs/behaviour.md#static-and-go-programs). */
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	             SECCOMP_FILTER_FLAG_NEW_LISTENER |
	                     SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
	             fp);
	if (fd < 0 && errno == EINVAL) /* Linux < 5.19 */
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		             SECCOMP_FILTER_FLAG_NEW_LISTENER, fp);
	return fd;
}

/* Install the filter on this process: its listener, or -errno.  Without
 * CAP_SYS_ADMIN the kernel takes a filter only with no_new_privs, which
 * also keeps setuid programs of the tree from gaining privileges; root
 * tries without it first, so that sudo and the like still work. */
static int
sup_filter(void)
{
	struct sup_prog p;
	struct sock_fprog fp;
	long fd = -1;
	int r;

	sup_build(&p);
	r = sup_link(&p);
	if (r < 0)
		return r;
	fp.len = p.n;
	fp.filter = p.f;
	if (geteuid() == 0)
		fd = sup_seccomp(&fp);
	if (fd < 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			return -errno;
		fd = sup_seccomp(&fp);
	}
	return fd < 0 ? -errno : (int)fd;
}

/* The grandchild: become the supervisor, with the socket on which the
 * listener will come as its argument. */
static void
sup_exec(const char *exe, int sock)
{
	char arg[16], *p = arg + sizeof(arg) - 1;
	unsigned v = (unsigned)sock;
	char *argv[3];

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (fcntl(sock, F_SETFD, 0) != 0)
		_exit(127);
	/* Nothing of run's caller but stderr: a pipe it reads to its end
	 * must not wait for the supervisor. */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0u, 0);
	/* The library is for the command, not for the supervisor. */
	unsetenv("LD_PRELOAD");
	argv[0] = (char *)PS_SUPERVISOR_EXE;
	argv[1] = p;
	argv[2] = NULL;
	execv(exe, argv);
	fprintf(stderr, "proxyshim run: %s: %s: connections will fail\n", exe,
	        strerror(errno));
	_exit(127);
}

/* The listener and a pidfd of this process (the command once it execs:
 * the supervisor lets go of run's stderr when it exits), in one message. */
static int
sup_send(int sock, int fd, int pidfd)
{
	int fds[2] = {fd, pidfd};
	size_t n = pidfd >= 0 ? 2 : 1;
	char cbuf[CMSG_SPACE(sizeof(fds))], one = 'L';
	struct iovec iov = {.iov_base = &one, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = cbuf,
	                   .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *c;

	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

int
supervise_start(const char *exe, const char **step)
{
	int sv[2], st, lfd, pfd, r;
	pid_t pid;

	*step = "socketpair";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	*step = "fork";
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (fork() == 0)
			sup_exec(exe, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		r = -errno;
		close(sv[0]);
		return r;
	}
	*step = "seccomp filter";
	lfd = sup_filter();
	if (lfd < 0) {
		close(sv[0]); /* the supervisor sees no listener and leaves */
		return lfd;
	}
	*step = "handing the listener to the supervisor";
	pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	r = sup_send(sv[0], lfd, pfd);
	if (pfd >= 0)
		close(pfd);
	close(lfd);
	close(sv[0]);
	return r;
}
