/*
 * Answering the filter's calls (docs/behaviour.md#static-and-go-programs):
 * connect(), and sendto()/sendmsg() with MSG_FASTOPEN.  For each: read the
 * destination from the caller's memory, check the call is still live, route
 * it with the table's route lookup, and
 *   - direct, or nothing we route (not IP, not a stream): let the kernel
 *     run the call as it is (SECCOMP_USER_NOTIF_FLAG_CONTINUE);
 *   - block: EACCES, as the library answers;
 *   - via: take the caller's socket (pidfd_getfd), dial the chain on it with
 *     the shared dialler (proto/dial.c), on a thread of its own so one slow
 *     upstream stalls nobody else, and answer 0 or the errno the library
 *     would give.  The socket keeps its flags: a non-blocking one (Go's)
 *     sees connect() return 0, a legal outcome its runtime handles.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/route.h"
#include "../shim/dest.h"
#include "supervisor.h"

/* The data of a MSG_FASTOPEN send that goes through a tunnel: sent on it
 * once it is up, as much as one send takes. */
#define SUP_DATA_MAX 65536
/* A non-blocking TCP connect to the DNS stub (loopback) answered while
 * still in progress after this long: EINPROGRESS, the caller waits. */
#define SUP_DNS_CONNECT_MS 1000

/* One call being answered. */
struct sup_call {
	struct sup *s;
	const struct ps_table_view *v; /* held for the call */
	struct seccomp_notif req;
	int fd;      /* the caller's socket, taken over; -1 before */
	int sockfam; /* the sockaddr's family */
	struct ps_dest d;
	struct ps_route rt;
	int fake; /* d.name came from a fake address */
	char name[PS_MAX_HOST + 1];
	uint64_t data_at; /* MSG_FASTOPEN: the caller's buffer */
	size_t data_len;
	bool data_iov; /* data_at is an iovec array of data_len entries */
};

static int
sup_reply(const struct sup *s, uint64_t id, int64_t val, int err,
          uint32_t flags)
{
	struct seccomp_notif_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.id = id;
	resp.val = val;
	resp.error = err;
	resp.flags = flags;
	/* ENOENT: the caller is gone (killed, or it died): nothing to
	 * answer. */
	return ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0
	               ? 0
	               : -errno;
}

static void
sup_continue(const struct sup_call *c)
{
	sup_reply(c->s, c->req.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

static bool
sup_valid(const struct sup_call *c)
{
	uint64_t id = c->req.id;

	return ioctl(c->s->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* len bytes at the caller's address at into buf: 0 or -errno (-EFAULT
 * for a bad or short address). */
static int
sup_read(const struct sup_call *c, uint64_t at, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)at,
	                       .iov_len = len};
	ssize_t n;

	if (at == 0)
		return -EFAULT;
	n = process_vm_readv((pid_t)c->req.pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EFAULT;
}

/* Where the call goes: the sockaddr's address and length, and for the
 * MSG_FASTOPEN sends their data.  -EFAULT: nothing to route (the kernel
 * says what is wrong); another -errno: the caller cannot be read. */
static int
sup_call_addr(struct sup_call *c, uint64_t *sa, uint64_t *salen)
{
	const __u64 *a = c->req.data.args;
	struct msghdr m;
	int r;

	switch (c->req.data.nr) {
	case SYS_connect:
		*sa = a[1];
		*salen = a[2];
		return 0;
	case SYS_sendto:
		*sa = a[4];
		*salen = a[5];
		c->data_at = a[1];
		c->data_len = (size_t)a[2];
		return 0;
	case SYS_sendmsg:
		r = sup_read(c, a[1], &m, sizeof(m));
		if (r < 0)
			return r;
		*sa = (uintptr_t)m.msg_name;
		*salen = m.msg_namelen;
		c->data_at = (uintptr_t)m.msg_iov;
		c->data_len = m.msg_iovlen;
		c->data_iov = true;
		return 0;
	default:
		return -EFAULT;
	}
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux >= 6.9 */
#endif

/* The thread group of thread tid (/proc), or -1. */
static pid_t
sup_tgid(pid_t tid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nTgid:");
	return p == NULL ? -1 : (pid_t)atoi(p + 6);
}

/* A pidfd for the calling thread's process: the call names a thread, which
 * pidfd_open() takes as it is only with PIDFD_THREAD.  *exact: the pidfd
 * names that thread (with PIDFD_THREAD), not its thread group. */
static int
sup_pidfd(pid_t tid, bool *exact)
{
	int fd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	pid_t tgid;

	*exact = fd >= 0;
	if (fd >= 0 || errno != EINVAL)
		return fd;
	tgid = sup_tgid(tid);
	if (tgid <= 0) {
		errno = ESRCH;
		return -1;
	}
	return (int)syscall(SYS_pidfd_open, tgid, 0);
}

/*
 * Each worker keeps the thread pidfd of the last thread it served: a Go
 * program dials from a few threads, so most calls skip pidfd_open() and
 * close().  Safe against thread ids used again: a thread pidfd names one
 * thread, and once that thread is gone pidfd_getfd() on it fails (ESRCH),
 * even if a new thread has its number; then a fresh pidfd is opened.  A
 * thread-group pidfd (kernels without PIDFD_THREAD) is never kept: the
 * group could outlive the thread whose number came back elsewhere.
 */
static _Thread_local struct {
	pid_t tid;
	int fd; /* -1: none */
} sup_cached = {0, -1};

static void
sup_cache_drop(void)
{
	if (sup_cached.fd >= 0)
		close(sup_cached.fd);
	sup_cached.fd = -1;
	sup_cached.tid = 0;
}

/* The caller's socket as ours: 0, or -errno. */
static int
sup_take_fd(struct sup_call *c)
{
	pid_t tid = (pid_t)c->req.pid;
	int target = (int)c->req.data.args[0];
	int pidfd, fd;
	bool exact;

	if (sup_cached.fd >= 0 && sup_cached.tid == tid) {
		fd = (int)syscall(SYS_pidfd_getfd, sup_cached.fd, target, 0);
		if (fd >= 0) {
			c->fd = fd;
			return 0;
		}
		if (errno != ESRCH)
			return -errno;
	}
	sup_cache_drop();
	pidfd = sup_pidfd(tid, &exact);
	if (pidfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
	if (fd < 0) {
		fd = -errno;
		close(pidfd);
		return fd;
	}
	if (exact) {
		sup_cached.tid = tid;
		sup_cached.fd = pidfd;
	} else {
		close(pidfd);
	}
	c->fd = fd;
	return 0;
}

static void
sup_format(const struct sup_call *c, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (c->d.name != NULL) {
		snprintf(buf, size, "%.*s:%u", (int)c->d.name_len, c->d.name,
		         c->d.port);
		return;
	}
	inet_ntop(c->d.family, c->d.addr, ip, sizeof(ip));
	snprintf(buf, size, c->d.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
	         c->d.port);
}

/* The library's decision line (shim/connect.c), for the supervised
 * caller: pid, fd, destination, action, first upstream, rule. */
static void
sup_log_route(const struct sup_call *c)
{
	const struct ps_table_view *v = c->v;
	const struct ps_route *rt = &c->rt;
	char where[PS_MAX_HOST + 8];
	const char *up, *rule;

	sup_format(c, where, sizeof(where));
	route_describe(v, rt, &up, &rule);
	log_info("supervised pid %u fd %d %s -> %s%s%s%s (%s)", c->req.pid,
	         (int)c->req.data.args[0], where,
	         rt->action == PS_ROUTE_DIRECT  ? "direct"
	         : rt->action == PS_ROUTE_BLOCK ? "block"
	                                        : "via",
	         *up ? " " : "", up,
	         rt->chain_len > 1 && rt->action == PS_ROUTE_VIA ? " ..." : "",
	         rule);
}

/* A fake address is its name alone (the proxy resolves); 0, 1 for a
 * fake, -EHOSTUNREACH for a fake nobody handed out. */
static int
sup_names(struct sup_call *c)
{
	uint32_t slot;
	int n;

	if (!c->s->have_names ||
	    !names_fake_slot(&c->s->names, c->d.family, c->d.addr, &slot))
		return 0;
	n = names_fake_name(&c->s->names, slot, c->name, sizeof(c->name));
	if (n < 0) {
		log_warn("connect to a fake address (slot %u) whose name is "
		         "unknown: EHOSTUNREACH",
		         slot);
		return -EHOSTUNREACH;
	}
	c->d.name = c->name;
	c->d.name_len = (size_t)n;
	c->d.family = 0;
	memset(c->d.addr, 0, sizeof(c->d.addr));
	return 1;
}

/* udp: block (docs/behaviour.md#the-proxy-section) on a UDP socket's
 * connect(), as the library's check: only loopback and exempt
 * destinations. */
static bool
sup_udp_refused(const struct sup_call *c)
{
	const struct ps_route *rt = &c->rt;

	if (c->v->hdr->settings.udp_mode != PS_UDP_BLOCK ||
	    dest_is_loopback(&c->d))
		return false;
	if (c->fake)
		return true;
	return !(rt->action == PS_ROUTE_DIRECT &&
	         (rt->why == PS_WHY_EXEMPT || rt->why == PS_WHY_RULE ||
	          rt->why == PS_WHY_LOOPBACK));
}

/*
 * Names of programs that resolve by themselves (Go's own resolver): with
 * dns: remote, a connect() of a UDP or TCP socket to port 53 of a
 * nameserver of /etc/resolv.conf is made to the supervisor's DNS stub
 * instead, here, on the caller's socket, so that no query for a proxied
 * name leaves the machine (docs/behaviour.md#names-for-static-and-go-programs).
 * An IPv6 socket goes to ::ffff:127.0.0.1, unless it is IPv6-only (then
 * the call goes on as routed, logged).  1 when handled (answered), else 0.
 */
static int
sup_dns_seam(struct sup_call *c, int type)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct pollfd p = {.fd = c->fd, .events = POLLOUT};
	int dom = 0, only = 0, port, r, fl;
	socklen_t len = sizeof(dom);

	if (c->req.data.nr != SYS_connect ||
	    (type != SOCK_DGRAM && type != SOCK_STREAM) ||
	    !sup_dns_redirects(c->s, c->v, &c->d))
		return 0;
	port = atomic_load(&c->s->dns.port);
	memset(&ss, 0, sizeof(ss));
	if (getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) != 0)
		return 0;
	if (dom == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else if (dom == AF_INET6) {
		len = sizeof(only);
		if (getsockopt(c->fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, &len) !=
		            0 ||
		    only) {
			log_warn("supervised pid %u fd %d: DNS on an IPv6-only "
			         "socket: not sent to the DNS stub",
			         c->req.pid, (int)c->req.data.args[0]);
			return 0;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		sin6->sin6_addr.s6_addr[12] = 127;
		sin6->sin6_addr.s6_addr[15] = 1;
		len = sizeof(*sin6);
	} else {
		return 0;
	}
	r = connect(c->fd, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
	fl = fcntl(c->fd, F_GETFL);
	if (r == -EINPROGRESS && fl >= 0 && (fl & O_NONBLOCK)) {
		/* Loopback: at once, but the caller may wait for it as it
		 * would for any non-blocking connect. */
		if (poll(&p, 1, SUP_DNS_CONNECT_MS) == 1) {
			len = sizeof(r);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &r, &len) ==
			    0)
				r = -r;
		}
	}
	log_info("supervised pid %u fd %d %s DNS to port 53 -> the DNS stub "
	         "(127.0.0.1:%d)%s%s",
	         c->req.pid, (int)c->req.data.args[0],
	         type == SOCK_DGRAM ? "UDP" : "TCP", port, r < 0 ? ": " : "",
	         r < 0 ? strerror(-r) : "");
	sup_reply(c->s, c->req.id, 0, r, 0);
	return 1;
}

/* The MSG_FASTOPEN data into buf (at most size bytes): its length, or
 * -1. */
static ssize_t
sup_data(const struct sup_call *c, unsigned char *buf, size_t size)
{
	struct iovec iov[16];
	size_t n = 0, i, k, cnt = c->data_len;

	if (!c->data_iov) {
		k = cnt < size ? cnt : size;
		return k == 0 || sup_read(c, c->data_at, buf, k) == 0
		               ? (ssize_t)k
		               : -1;
	}
	if (cnt > 16)
		cnt = 16;
	if (cnt > 0 && sup_read(c, c->data_at, iov, cnt * sizeof(*iov)) < 0)
		return -1;
	for (i = 0; i < cnt && n < size; i++) {
		k = iov[i].iov_len < size - n ? iov[i].iov_len : size - n;
		if (k > 0 &&
		    sup_read(c, (uintptr_t)iov[i].iov_base, buf + n, k) < 0)
			return -1;
		n += k;
	}
	return (ssize_t)n;
}

/* Dial n upstreams of the table as one chain on the caller's socket. */
static int
sup_dial_chain(struct sup_call *c, const uint32_t *ups, size_t n,
               const struct ps_target *dst)
{
	const struct ps_table_view *v = c->v;
	struct ps_hop hops[PS_MAX_HOPS];
	struct dial_route rt;
	struct dial_report rep;
	int r;

	r = dial_route_of(v, ups, n, c->sockfam, hops, &rt);
	if (r < 0)
		return r;
	r = dial_chain(&c->fd, &rt, dst, NULL, &rep);
	if (r == -EPROTONOSUPPORT && rep.step == DIAL_LOCAL) {
		/* TLS to the proxy lives in the relay, which only the
		 * library reaches. */
		log_warn("supervised pid %u: https:// upstreams are not "
		         "supported for programs without the library: "
		         "ECONNREFUSED",
		         c->req.pid);
		r = -ECONNREFUSED;
	}
	return r;
}

/* The route's chain: strict as one chain; failover and round_robin one
 * upstream at a time, from the first or from this tree's next. */
static int
sup_tunnel(struct sup_call *c)
{
	const struct ps_table_view *v = c->v;
	const uint32_t *ups = v->chains + c->rt.chain_first;
	size_t n = c->rt.chain_len, k, start = 0;
	struct ps_target dst;
	const uint8_t *a;
	int r = -ECONNREFUSED;

	memset(&dst, 0, sizeof(dst));
	dst.port = c->d.port;
	dst.name = c->d.name;
	dst.name_len = c->d.name_len;
	dst.family = c->d.family;
	a = ps_addr_unmap(&dst.family, c->d.addr);
	memcpy(dst.addr, a, dst.family == AF_INET ? 4 : sizeof(dst.addr));
	switch (v->hdr->settings.chain_mode) {
	case PS_CHAIN_ROUND_ROBIN:
		start = atomic_fetch_add(&c->s->rr, 1) % n;
		/* fall through */
	case PS_CHAIN_FAILOVER:
		for (k = 0; k < n; k++) {
			r = sup_dial_chain(c, &ups[(start + k) % n], 1, &dst);
			if (r == 0 || r == -EISCONN)
				return r;
			io_disconnect(c->fd);
		}
		return r;
	default:
		r = sup_dial_chain(c, ups, n, &dst);
		if (r < 0 && r != -EISCONN)
			io_disconnect(c->fd);
		return r;
	}
}

/* A fake address whose route is direct: resolve now and connect there,
 * on the caller's socket. */
static int
sup_connect_direct(struct sup_call *c)
{
	struct ps_target t = {.port = c->d.port};
	struct sockaddr_storage ss;
	socklen_t len;
	int r, gai;

	r = io_resolve(c->name, c->sockfam == AF_INET ? AF_INET : 0, &t, &gai);
	if (r < 0)
		return r;
	if (io_sockaddr(c->sockfam, &t, &ss, &len) < 0)
		return -EHOSTUNREACH;
	return io_connect(c->fd, (struct sockaddr *)&ss, len,
	                  (int)c->v->hdr->settings.connect_timeout_ms);
}

/* Dial, send the MSG_FASTOPEN data, answer; the thread's whole work. */
static void
sup_finish(struct sup_call *c)
{
	unsigned char *data = NULL;
	ssize_t n = 0;
	int r;

	if (c->rt.action == PS_ROUTE_DIRECT) {
		r = sup_connect_direct(c);
	} else {
		r = sup_tunnel(c);
		if (r < 0 && r != -EISCONN &&
		    c->v->hdr->settings.on_failure == PS_FAIL_DIRECT) {
			log_warn("supervised pid %u: proxy failed (%s), "
			         "on_failure: direct",
			         c->req.pid, strerror(-r));
			if (!c->fake) {
				sup_continue(c);
				return;
			}
			r = sup_connect_direct(c);
		}
	}
	if (r == 0 && c->req.data.nr != SYS_connect) {
		data = malloc(SUP_DATA_MAX);
		n = data == NULL ? -1 : sup_data(c, data, SUP_DATA_MAX);
		/* Read from the caller while it waits: if it died meanwhile,
		 * the bytes may be another process's. */
		if (n > 0 && !sup_valid(c))
			n = -1;
		if (n > 0)
			n = send(c->fd, data, (size_t)n, MSG_NOSIGNAL);
		r = n < 0 ? -EFAULT : 0;
		free(data);
	}
	/* Our copy of the socket goes first: the answer wakes the caller,
	 * which may take this CPU at once. */
	close(c->fd);
	c->fd = -1;
	sup_reply(c->s, c->req.id, r < 0 ? 0 : n, r, 0);
}

/* After the route: the socket's type decides what applies. */
static void
sup_routed(struct sup_call *c)
{
	int type = 0, r;
	socklen_t tl = sizeof(type);

	r = sup_take_fd(c);
	if (r < 0) {
		/* A bad fd: the kernel's own answer.  Otherwise we cannot
		 * do our part: fail closed. */
		if (r == -EBADF || r == -ESRCH)
			sup_continue(c);
		else
			sup_reply(c->s, c->req.id, 0, -ECONNREFUSED, 0);
		if (r != -EBADF && r != -ESRCH)
			log_err("supervised pid %u: cannot take its socket: "
			        "%s: ECONNREFUSED",
			        c->req.pid, strerror(-r));
		return;
	}
	/* The fd number could have been closed and reused since the call
	 * was made: the call must still be live now that we hold it. */
	if (!sup_valid(c))
		goto out;
	if (getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
		type = 0;
	if (sup_dns_seam(c, type))
		goto out;
	if (type != SOCK_STREAM) {
		if (type == SOCK_DGRAM && sup_udp_refused(c)) {
			log_info("supervised pid %u fd %d: UDP to port %u "
			         "refused (udp: block)",
			         c->req.pid, (int)c->req.data.args[0],
			         c->d.port);
			sup_reply(c->s, c->req.id, 0, -EPERM, 0);
		} else {
			sup_continue(c);
		}
		goto out;
	}
	if (ps_log_level >= PS_LOG_INFO)
		sup_log_route(c);
	if (c->rt.action == PS_ROUTE_BLOCK) {
		sup_reply(c->s, c->req.id, 0, -EACCES, 0);
		goto out;
	}
	if (c->rt.action == PS_ROUTE_DIRECT && !c->fake) {
		sup_continue(c);
		goto out;
	}
	sup_finish(c); /* this worker dials; the others serve on */
out:
	if (c->fd >= 0)
		close(c->fd);
}

/* The destination could not be read.  A bad address: the kernel's own
 * answer (EFAULT, EINVAL).  The caller gone: nothing.  Not allowed to read
 * it (a ptrace restriction such as Yama's): fail closed. */
static void
sup_unread(const struct sup_call *c, int r)
{
	if (r == -EFAULT) {
		sup_continue(c);
	} else if (r != -ESRCH) {
		log_err("supervised pid %u: cannot read its memory: %s: "
		        "ECONNREFUSED",
		        c->req.pid, strerror(-r));
		sup_reply(c->s, c->req.id, 0, -ECONNREFUSED, 0);
	}
}

static void
sup_handle(struct sup *s, const struct seccomp_notif *req)
{
	struct sockaddr_storage ss;
	uint64_t sa = 0, salen = 0;
	struct sup_call c;
	size_t len;
	int r;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.req = *req;
	c.fd = -1;
	r = sup_call_addr(&c, &sa, &salen);
	if (r == 0 && (sa == 0 || salen < sizeof(sa_family_t)))
		r = -EFAULT;
	len = salen < sizeof(ss) ? (size_t)salen : sizeof(ss);
	if (r == 0)
		r = sup_read(&c, sa, &ss, len);
	if (r < 0) {
		sup_unread(&c, r);
		return;
	}
	/* What was read belongs to this call only if the call is still
	 * live; that is checked once, after its socket is taken
	 * (sup_routed), before anything but an answer is done with it.
	 * Until then an answer to a call that died is refused by the
	 * kernel (ENOENT), whatever it was made of. */
	if (dest_from_sockaddr((struct sockaddr *)&ss, (socklen_t)len, &c.d) !=
	    0) {
		sup_continue(&c); /* AF_UNIX, AF_UNSPEC, ... */
		return;
	}
	c.sockfam = ss.ss_family;
	c.v = sup_policy_get(s);
	if (c.v == NULL) {
		if (dest_is_loopback(&c.d))
			sup_continue(&c);
		else
			sup_reply(s, c.req.id, 0, -ECONNREFUSED, 0);
		return;
	}
	r = sup_names(&c);
	if (r < 0) {
		sup_reply(s, c.req.id, 0, r, 0);
		goto out;
	}
	c.fake = r;
	route_lookup(c.v, &c.d, &c.rt);
	/* Direct goes on untouched, decided before any system call, unless
	 * the decision is logged or udp: block needs the socket's type. */
	if (c.rt.action == PS_ROUTE_DIRECT && !c.fake &&
	    ps_log_level < PS_LOG_INFO &&
	    c.v->hdr->settings.udp_mode != PS_UDP_BLOCK &&
	    !sup_dns_redirects(s, c.v, &c.d)) {
		sup_continue(&c);
		goto out;
	}
	sup_routed(&c);
out:
	sup_policy_put(s, c.v);
}

/*
 * The pool: idle workers wait in epoll_wait() on one epoll instance that
 * holds the listener, one-shot; the kernel wakes one of them for a call
 * (waiters of one epoll instance are woken one at a time), which takes it
 * with RECV, arms the listener again (a call already waiting wakes the next
 * worker then) and answers it, dial included.  Workers blocked in RECV
 * itself would all be woken by every call, the losers going back to sleep;
 * level-triggered, the epoll would wake the next waiter as it hands out the
 * event, before the call is taken: a context switch or more per call
 * wasted either way (docs/performance.md#supervision).  A worker that takes
 * the last idle slot starts another, so a slow upstream holds up one worker
 * and nobody else; past SUP_KEEP_IDLE idle ones, a worker leaves.
 */
static void *sup_worker(void *arg);

static void
sup_grow(struct sup *s)
{
	pthread_attr_t at;
	pthread_t t;

	if (atomic_fetch_add(&s->threads, 1) >= SUP_MAX_THREADS) {
		atomic_fetch_sub(&s->threads, 1);
		return;
	}
	atomic_fetch_add(&s->idle, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, SUP_STACK);
	if (pthread_create(&t, &at, sup_worker, s) != 0) {
		atomic_fetch_sub(&s->idle, 1);
		atomic_fetch_sub(&s->threads, 1);
	}
	pthread_attr_destroy(&at);
}

/* The listener back in the epoll, for the next call. */
static void
sup_arm(const struct sup *s)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT};

	if (s->ep >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->listener, &ev);
}

/* Wait for a call: 0, or -1 when the listener is finished (every process
 * of the tree gone, or an error). */
static int
sup_wait_call(const struct sup *s)
{
	struct epoll_event ev;
	int n;

	if (s->ep < 0)
		return 0; /* RECV waits */
	do
		n = epoll_wait(s->ep, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (n == 1 && (ev.events & (EPOLLHUP | EPOLLERR))))
		return -1;
	return 0;
}

static void *
sup_worker(void *arg)
{
	struct sup *s = arg;
	struct seccomp_notif req;
	int r;

	for (;;) {
		if (sup_wait_call(s) < 0)
			break;
		memset(&req, 0, sizeof(req));
		/* Woken for a call another worker took first: this RECV
		 * waits for the next one, as it would without the epoll. */
		r = ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, &req);
		sup_arm(s);
		if (r < 0) {
			if (errno == ENOENT || errno == EINTR)
				continue; /* the caller went away */
			break;
		}
		if (atomic_fetch_sub(&s->idle, 1) == 1)
			sup_grow(s);
		sup_handle(s, &req);
		if (atomic_fetch_add(&s->idle, 1) >= SUP_KEEP_IDLE) {
			atomic_fetch_sub(&s->idle, 1);
			break;
		}
	}
	sup_cache_drop();
	atomic_fetch_sub(&s->threads, 1);
	return NULL;
}

/* The epoll the idle workers wait in; without it (no memory), they wait
 * in RECV. */
static void
sup_epoll(struct sup *s)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT};

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep >= 0 &&
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->listener, &ev) < 0) {
		close(s->ep);
		s->ep = -1;
	}
}

int
sup_serve(struct sup *s, void (*start)(struct sup *))
{
	bool started = false;
	int i;

	s->ep = -1;
	/* This thread only waits: for the first call, to load the policy
	 * and start the workers then (a command tree that never makes one
	 * costs no thread, no table read and no DNS stub:
	 * docs/performance.md#supervision);
	 * for the command's exit, to let go of run's stderr; and for the end,
	 * POLLHUP once no process uses the filter (events 0 once started: a
	 * pending call does not wake it). */
	for (;;) {
		struct pollfd q[2] = {
		        {.fd = s->listener, .events = started ? 0 : POLLIN},
		        {.fd = s->command, .events = POLLIN}};

		if (poll(q, s->command >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (s->command >= 0 && q[1].revents != 0) {
			sup_wait_command(s->command);
			close(s->command);
			s->command = -1;
		}
		if (q[0].revents & POLLNVAL)
			return -EBADF;
		if (q[0].revents & (POLLHUP | POLLERR))
			return 0;
		if (!started && (q[0].revents & POLLIN)) {
			start(s);
			sup_epoll(s);
			for (i = 0; i < SUP_START_WORKERS; i++)
				sup_grow(s);
			started = true;
		}
	}
}
