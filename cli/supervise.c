/*
 * run's side of supervision (docs/behaviour.md#static-and-go-programs):
 * install the seccomp filter on this process, hand the filter's listener
 * to the supervisor, and let run exec the command, which keeps run's PID
 * and inherits the filter, as does every process it starts.
 *
 * One supervisor serves all runs of a user (in a mount namespace, of one
 * build): run connects to its socket and sends the listener, so a run
 * costs a connect and a message, no process (docs/performance.md#supervision).
 * When none is running, run starts one, before the filter exists (it must
 * not be supervised itself) and twice forked, so that it is nobody's child
 * in the command's tree: a shell's `wait` must not wait for it.  The filter
 * is written by hand: a few system calls, no library, so run stays a
 * libc-only program.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/env.h"
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
sup_filter(uid_t euid)
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
	if (euid == 0)
		fd = sup_seccomp(&fp);
	if (fd < 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			return -errno;
		fd = sup_seccomp(&fp);
	}
	return fd < 0 ? -errno : (int)fd;
}

/* The supervisor's socket name for this user, mount namespace (its tables
 * and resolv.conf are those of the namespace) and supervisor build
 * (include/proxyshim/supervise.h): sun_path, a NUL first (abstract: nothing
 * on disk, gone with the socket).  Returns the address length. */
static socklen_t
sup_name(const struct stat *exe, uid_t euid, struct sockaddr_un *sa)
{
	static const char hex[] = "0123456789abcdef";
	const size_t pre = sizeof(PS_SUP_SOCK_PREFIX) - 1;
	uint64_t w[8], h = 0xcbf29ce484222325ull; /* FNV-1a */
	const unsigned char *b;
	struct stat st;
	size_t i;

	memset(w, 0, sizeof(w));
	w[0] = PS_SUP_PROTO;
	w[1] = euid;
	if (stat("/proc/self/ns/mnt", &st) == 0) {
		w[2] = st.st_dev;
		w[3] = st.st_ino;
	}
	w[4] = exe->st_dev;
	w[5] = exe->st_ino;
	w[6] = (uint64_t)exe->st_mtim.tv_sec;
	w[7] = (uint64_t)exe->st_mtim.tv_nsec ^ (uint64_t)exe->st_size << 32;
	b = (const unsigned char *)w;
	for (i = 0; i < sizeof(w); i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path + 1, PS_SUP_SOCK_PREFIX, pre);
	for (i = 0; i < 16; i++)
		sa->sun_path[1 + pre + i] = hex[(h >> (60 - 4 * i)) & 0xf];
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + pre +
	                   16);
}

/* A connection to the running supervisor of this user, or -1 (none, or
 * the name is held by another user's socket: then run starts its own). */
static int
sup_join(const struct sockaddr_un *sa, socklen_t len, uid_t euid)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
	                0);

	if (fd < 0)
		return -1;
	/* Non-blocking: a full backlog is EAGAIN, not a wait. */
	if (connect(fd, (const struct sockaddr *)sa, len) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 ||
	    cr.uid != euid) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The grandchild: become the supervisor, with the socket on which the
 * listener will come and the name to listen on as its arguments. */
static void
sup_exec(const char *exe, int sock, const char *name)
{
	char arg[16], *p = arg + sizeof(arg) - 1;
	unsigned v = (unsigned)sock;
	char *argv[4];

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (fcntl(sock, F_SETFD, 0) != 0)
		_exit(127);
	/* Nothing of run's caller but stderr, and that only until the
	 * exec (the supervisor gets it again with each tree): a pipe the
	 * caller reads to its end must not wait for the supervisor. */
	if (sock > 3) /* by number: musl has no close_range() wrapper */
		syscall(SYS_close_range, 3u, (unsigned)sock - 1, 0u);
	syscall(SYS_close_range, (unsigned)sock + 1, ~0u, 0u);
	/* The library is for the command, not for the supervisor; the
	 * table, config and log settings come with each tree, and gc must
	 * not take the first tree's table for one in use by the supervisor
	 * (it reads PROXYSHIM_TABLE in processes' environments). */
	unsetenv("LD_PRELOAD");
	unsetenv(PS_ENV_TABLE);
	unsetenv(PS_ENV_CONFIG);
	unsetenv(PS_ENV_LOG);
	unsetenv(PS_ENV_LOG_FILE);
	argv[0] = (char *)PS_SUPERVISOR_EXE;
	argv[1] = p;
	argv[2] = (char *)name;
	argv[3] = NULL;
	execv(exe, argv);
	fprintf(stderr, "proxyshim run: %s: %s: connections will fail\n", exe,
	        strerror(errno));
	_exit(127);
}

/* Start a supervisor (twice forked, so that it is nobody's child in the
 * command's tree); the socket on which it takes this tree, or -errno. */
static int
sup_spawn(const char *exe, const struct sockaddr_un *sa, socklen_t len)
{
	char name[sizeof(sa->sun_path)];
	int sv[2], st, r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	memcpy(name, sa->sun_path + 1,
	       len - offsetof(struct sockaddr_un, sun_path) - 1);
	name[len - offsetof(struct sockaddr_un, sun_path) - 1] = '\0';
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (fork() == 0)
			sup_exec(exe, sv[1], name);
		_exit(0);
	}
	close(sv[1]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		r = -errno;
		close(sv[0]);
		return r;
	}
	return sv[0];
}

static size_t
sup_put(char *buf, size_t at, size_t size, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (at + n + 1 > size)
		n = 0; /* cannot happen: names and paths are bounded */
	if (n > 0)
		memcpy(buf + at, s, n);
	buf[at + n] = '\0';
	return at + n + 1;
}

/* This tree, in one message (include/proxyshim/supervise.h): the
 * listener, run's stderr (the supervisor reports there while the command
 * runs), a pidfd of this process (the command once it execs: the
 * supervisor lets go of stderr when it exits), the log file, and the
 * environment the supervisor would have read.  The descriptors it opens
 * are close-on-exec: run execs next. */
static int
sup_send(int sock, int lfd)
{
	char buf[PS_SUP_MSG_MAX];
	struct ps_sup_hello h = {.magic = {'P', 'S', 'U', 'P'},
	                         .proto = PS_SUP_PROTO,
	                         .flags = PS_SUP_HAS_STDERR};
	int fds[PS_SUP_MAX_FDS], n = 0, logfd = -1, pidfd, i;
	const char *file = getenv(PS_ENV_LOG_FILE);
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = {.iov_base = buf};
	struct msghdr m = {
	        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf};
	struct cmsghdr *c;
	size_t at = sizeof(h);
	ssize_t sent;

	fds[n++] = lfd;
	fds[n++] = 2;
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd >= 0) {
		fds[n++] = pidfd;
		h.flags |= PS_SUP_HAS_PIDFD;
	}
	if (file != NULL && *file != '\0')
		logfd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		             0600);
	if (logfd >= 0) {
		fds[n++] = logfd;
		h.flags |= PS_SUP_HAS_LOGFD;
	}
	at = sup_put(buf, at, sizeof(buf), getenv(PS_ENV_TABLE));
	at = sup_put(buf, at, sizeof(buf), getenv(PS_ENV_CONFIG));
	at = sup_put(buf, at, sizeof(buf), getenv(PS_ENV_LOG));
	iov.iov_len = at;
	/* Twice at most: without stderr when run has none (EBADF). */
	for (i = 0; i < 2; i++) {
		memcpy(buf, &h, sizeof(h));
		memset(cbuf, 0, sizeof(cbuf));
		/* socklen_t in musl's struct msghdr, size_t in glibc's */
		m.msg_controllen =
		        (socklen_t)CMSG_SPACE((size_t)n * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = (socklen_t)CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
		sent = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (sent >= 0 || errno != EBADF ||
		    !(h.flags & PS_SUP_HAS_STDERR))
			break;
		h.flags &= (uint8_t)~PS_SUP_HAS_STDERR;
		memmove(fds + 1, fds + 2, (size_t)(n - 2) * sizeof(int));
		n--;
	}
	return sent == (ssize_t)at ? 0 : sent < 0 ? -errno : -EIO;
}

int
supervise_start(const char *exe, const struct stat *st, const char **step,
                bool *filtered)
{
	uid_t euid = geteuid();
	struct sockaddr_un sa;
	socklen_t len = sup_name(st, euid, &sa);
	int sock, lfd, r;

	/* Join the running supervisor, or start one; both before the
	 * filter exists (a supervisor must not be supervised itself). */
	*step = "starting the supervisor";
	sock = sup_join(&sa, len, euid);
	if (sock < 0)
		sock = sup_spawn(exe, &sa, len);
	if (sock < 0)
		return sock;
	*step = "seccomp filter";
	lfd = sup_filter(euid);
	if (lfd < 0) {
		close(sock); /* the supervisor sees no tree */
		return lfd;
	}
	*filtered = true;
	*step = "handing the listener to the supervisor";
	/* On success the listener and the socket are closed by the exec
	 * that follows (close-on-exec). */
	r = sup_send(sock, lfd);
	if (r < 0) {
		close(lfd);
		close(sock);
	}
	return r;
}
