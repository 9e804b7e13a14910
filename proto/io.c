/*
 * The one I/O helper: resolving an upstream, sockaddrs, deadlines
 * (CLOCK_MONOTONIC) and the one poll-with-deadline loop, connect with a
 * deadline, and the plain socket as a transport for the handshake driver
 * (proto/dial.c).  The program's fd may be blocking or not: the transport
 * never changes its flags (every call is MSG_DONTWAIT and waits in poll),
 * io_connect() sets O_NONBLOCK for its own connect and puts the flags back
 * exactly.  No malloc, no stdio, no locks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/addr.h"
#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/supervise.h"

int
io_marked_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return (int)syscall(SYS_connect, fd, sa, len, PS_SUPERVISE_MAGIC);
}

int
io_resolve(const char *name, int family, struct ps_target *t, int *gai)
{
	struct addrinfo hints, *res = NULL, *ai;
	int r = -EHOSTUNREACH;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family =
	        family == AF_INET || family == AF_INET6 ? family : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	*gai = io_real_getaddrinfo(name, NULL, &hints, &res);
	if (*gai != 0)
		return -EHOSTUNREACH;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *s = (void *)ai->ai_addr;

			t->family = AF_INET;
			memcpy(t->addr, &s->sin_addr, 4);
			r = 0;
			break;
		}
		if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *s = (void *)ai->ai_addr;

			t->family = AF_INET6;
			memcpy(t->addr, &s->sin6_addr, 16);
			r = 0;
			break;
		}
	}
	io_real_freeaddrinfo(res);
	return r;
}

int
io_sockaddr(int sockfam, const struct ps_target *t, struct sockaddr_storage *ss,
            socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (sockfam == 0)
		sockfam = t->family;
	if (t->family != AF_INET && t->family != AF_INET6)
		return -EINVAL;
	if (sockfam == AF_INET && t->family == AF_INET) {
		struct sockaddr_in *s = (void *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(t->port);
		memcpy(&s->sin_addr, t->addr, 4);
		*len = sizeof(*s);
		return 0;
	}
	if (sockfam == AF_INET6) {
		struct sockaddr_in6 *s = (void *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(t->port);
		if (t->family == AF_INET)
			ps_addr_map(s->sin6_addr.s6_addr, t->addr);
		else
			memcpy(&s->sin6_addr, t->addr, 16);
		*len = sizeof(*s);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* --- deadlines --------------------------------------------------------- */

int64_t
io_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
io_deadline(struct ps_deadline *d, int timeout_ms)
{
	d->none = timeout_ms <= 0;
	d->at_ns = d->none ? 0 : io_now_ns() + (int64_t)timeout_ms * 1000000;
	d->sock_nb = 0;
}

struct ps_deadline
io_deadline_min(struct ps_deadline a, struct ps_deadline b)
{
	if (a.none)
		return b;
	if (b.none)
		return a;
	return a.at_ns <= b.at_ns ? a : b;
}

int
io_left_ms(const struct ps_deadline *d)
{
	int64_t left;

	if (d->none)
		return -1;
	left = d->at_ns - io_now_ns();
	if (left <= 0)
		return 0;
	/* Rounded up, so that a wake-up never comes a hair before the
	 * deadline and spins. */
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Signals a fault raises on the faulting instruction. */
static int
io_sig_is_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
	       sig == SIGILL || sig == SIGTRAP || sig == SIGSYS;
}

/*
 * The EINTR rule (docs/behaviour.md#signals-during-a-proxied-connect):
 * after a signal handler interrupted one of our waits, does the caller's
 * connect() fail with EINTR (1) or go on (0)?  As the kernel's connect():
 * a non-blocking socket never blocks, so it goes on; a blocking one with
 * SO_SNDTIMEO set is interrupted by any handler; otherwise a handler with
 * SA_RESTART lets it go on and one without interrupts it.  poll() does not
 * say which signal arrived, so when any caught signal lacks SA_RESTART it
 * counts as that one; except the handlers of faults (SIGSEGV, SIGBUS, ...:
 * crash reporters, sanitizers), which run on the faulting instruction and
 * do not arrive in the middle of a wait.  Only runs after an EINTR:
 * nothing on the usual path.
 */
static int
io_eintr_stops(int fd, const struct ps_deadline *d)
{
	struct sigaction sa;
	struct timeval tv;
	socklen_t tl = sizeof(tv);
	int sig, fl, nonblock = d->sock_nb > 0;

	if (d->sock_nb == 0) {
		fl = fcntl(fd, F_GETFL);
		nonblock = fl < 0 || (fl & O_NONBLOCK) != 0;
	}
	if (nonblock)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tl) == 0 &&
	    (tv.tv_sec != 0 || tv.tv_usec != 0))
		return 1;
	for (sig = 1; sig < NSIG; sig++) {
		if (io_sig_is_fault(sig) || sigaction(sig, NULL, &sa) != 0)
			continue; /* SIGKILL, SIGSTOP, libc's own */
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return 1;
	}
	return 0;
}

int
io_wait(int fd, short events, const struct ps_deadline *d)
{
	struct pollfd p;
	int ms, n;

	for (;;) {
		ms = io_left_ms(d);
		if (ms == 0)
			return -ETIMEDOUT;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, ms);
		if (n > 0)
			return (p.revents & POLLNVAL) ? -EBADF : 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n < 0 && io_eintr_stops(fd, d))
			return -EINTR;
	}
}

/* --- the plain socket as a transport --------------------------------- */

static ssize_t
fd_send(struct dial_io *io, const void *buf, size_t len, short *ev)
{
	ssize_t n;

	do
		n = send(io->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
		*ev = POLLOUT;
		return 0;
	}
	return -errno;
}

static ssize_t
fd_recv(struct dial_io *io, void *buf, size_t len, bool peek, short *ev)
{
	ssize_t n;

	do
		n = recv(io->fd, buf, len,
		         MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0)
		return PS_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		*ev = POLLIN;
		return 0;
	}
	return -errno;
}

void
io_fd_transport(struct dial_io *io, int fd)
{
	io->fd = fd;
	io->ctx = NULL;
	io->poll_first = true;
	io->send = fd_send;
	io->recv = fd_recv;
}

int
io_handshake(int fd, const struct ps_hop *hop, const struct ps_target *dst,
             int timeout_ms, unsigned flags)
{
	struct dial_report rep;
	struct ps_deadline dl;
	struct dial_io io;

	/* TLS to the proxy is the caller's job (the relay's). */
	if (hop != NULL && hop->scheme == PS_SCHEME_HTTPS)
		return -EPROTONOSUPPORT;
	io_fd_transport(&io, fd);
	io_deadline(&dl, timeout_ms);
	return dial_handshake(&io, hop, dst, &dl, flags, &rep);
}

/* --- connect ------------------------------------------------------------ */

int
io_disconnect(int fd)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNSPEC;
	return io_real_connect(fd, &sa, sizeof(sa)) == 0 ? 0 : -errno;
}

int
io_connect(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct ps_deadline dl;
	int fl, rc, saved, tries;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	io_deadline(&dl, timeout_ms);
	dl.sock_nb = (fl & O_NONBLOCK) ? 1 : -1;
	if (io_real_connect(fd, sa, len) == 0) {
		rc = 0;
		goto out;
	}
	/* Already connected: the caller's business, and nothing to undo. */
	if (errno == EISCONN) {
		rc = -EISCONN;
		goto out;
	}
	/* EINTR: a non-blocking connect goes on in the background anyway. */
	if (errno != EINPROGRESS && errno != EINTR) {
		rc = -errno;
		goto out;
	}
	/*
	 * Ask connect() again rather than poll + SO_ERROR: a loopback or LAN
	 * connect has often finished already (0, or EISCONN), a failed one
	 * reports its error here, and only EALREADY means waiting.  This
	 * also moves the kernel's socket to "connected", so the program,
	 * which is told "connected", gets EISCONN from a later connect() as
	 * after a blocking one.  Bounded by the deadline, and by a count in
	 * case poll wakes without the state changing.
	 */
	for (tries = 0;; tries++) {
		if (io_real_connect(fd, sa, len) == 0 || errno == EISCONN) {
			rc = 0;
			break;
		}
		if ((errno != EALREADY && errno != EINPROGRESS &&
		     errno != EINTR) ||
		    tries >= 1000) {
			rc = tries >= 1000 ? -ETIMEDOUT : -errno;
			break;
		}
		rc = io_wait(fd, POLLOUT, &dl);
		if (rc < 0)
			break;
	}
	/* Drop our failed or half-open attempt, so the fd can be connected
	 * again (failover to the next upstream, on_failure: direct). */
	if (rc < 0)
		io_disconnect(fd);
out:
	if (!(fl & O_NONBLOCK)) {
		saved = errno;
		fcntl(fd, F_SETFL, fl);
		errno = saved;
	}
	return rc;
}

/* --- enum ps_proto_err ------------------------------------------------ */

int
proto_errno(int err)
{
	switch (err) {
	case PS_PROTO_E_NO_METHOD:
	case PS_PROTO_E_AUTH:
		return EACCES;
	default:
		return ECONNREFUSED;
	}
}

const char *
proto_strerror(int err)
{
	switch (err) {
	case PS_PROTO_E_VERSION:
		return "bad reply (wrong version)";
	case PS_PROTO_E_MALFORMED:
		return "bad reply (malformed)";
	case PS_PROTO_E_NO_METHOD:
		return "no acceptable authentication method";
	case PS_PROTO_E_AUTH:
		return "authentication rejected";
	case PS_PROTO_E_REJECTED:
		return "request rejected";
	case PS_PROTO_E_TOO_BIG:
		return "bad reply (header over 16 KiB)";
	default:
		return "unknown error";
	}
}
