/*
 * The one I/O helper: runs the handshake builders/parsers on a socket.
 *
 * Owns the deadline (one per call, CLOCK_MONOTONIC), EINTR, partial
 * writes and exact-length reads.  The program's fd may be blocking or
 * not: io_handshake() never changes its flags (every call is MSG_DONTWAIT
 * and waits in poll), io_connect() sets O_NONBLOCK for its own connect and
 * puts the flags back exactly.  No malloc, no stdio, no locks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "proxyshim/addr.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"

int (*io_real_connect)(int, const struct sockaddr *, socklen_t) = connect;
int (*io_real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                           struct addrinfo **) = getaddrinfo;
void (*io_real_freeaddrinfo)(struct addrinfo *) = freeaddrinfo;

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

/* recv() saw the proxy close before the reply was complete.  Outside both
 * the -errno range and enum ps_proto_err. */
#define IO_EOF (-2000)

struct deadline {
	bool none;
	int64_t at_ns; /* CLOCK_MONOTONIC */
};

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
deadline_init(struct deadline *d, int timeout_ms)
{
	d->none = timeout_ms <= 0;
	d->at_ns = d->none ? 0 : mono_ns() + (int64_t)timeout_ms * 1000000;
}

/* poll()'s timeout: -1 = none, 0 = expired, else rounded up so that a
 * wake-up never comes a hair before the deadline and spins. */
static int
deadline_left_ms(const struct deadline *d)
{
	int64_t left;

	if (d->none)
		return -1;
	left = d->at_ns - mono_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait until fd is ready for events (or has an error or hangup, which
 * the following send/recv reports).  0, -ETIMEDOUT or -errno. */
static int
wait_fd(int fd, short events, const struct deadline *d)
{
	struct pollfd p;
	int ms, n;

	for (;;) {
		ms = deadline_left_ms(d);
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
	}
}

static int
send_all(int fd, const void *buf, size_t len, const struct deadline *d)
{
	const uint8_t *p = buf;
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLOUT, d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One recv of at most want bytes (want > 0), waiting for data first.
 * wait_first: poll before the first recv.  Right after a request the reply
 * is not there yet (the proxy has to run, and usually to dial), so an
 * optimistic recv would only return EAGAIN: one syscall wasted per reply.
 * Returns the count, IO_EOF or -errno. */
static int
recv_some(int fd, void *buf, size_t want, int flags, int wait_first,
          const struct deadline *d)
{
	ssize_t n;
	int rc;

	if (wait_first) {
		rc = wait_fd(fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		n = recv(fd, buf, want, flags | MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (n == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

typedef int (*parse_fn)(const uint8_t *buf, size_t len, size_t *need,
                        void *arg);

/* Read a length-announcing reply (SOCKS): ask only for what the parser
 * says is still missing, so the read can never run into tunnel data. */
static int
read_exact_reply(int fd, uint8_t *buf, size_t cap, parse_fn parse, void *arg,
                 const struct deadline *d)
{
	size_t len = 0, need;
	int rc;

	for (;;) {
		rc = parse(buf, len, &need, arg);
		if (rc != PS_PROTO_MORE)
			return rc;
		if (need <= len || need > cap)
			return PS_PROTO_E_MALFORMED; /* cannot happen */
		rc = recv_some(fd, buf + len, need - len, 0, len == 0, d);
		if (rc < 0)
			return rc;
		len += (size_t)rc;
	}
}

/* Consume exactly len bytes that a peek has shown to be there. */
static int
consume(int fd, char *buf, size_t len, const struct deadline *d)
{
	int rc;

	while (len > 0) {
		rc = recv_some(fd, buf, len, 0, 0, d);
		if (rc < 0)
			return rc;
		buf += rc;
		len -= (size_t)rc;
	}
	return 0;
}

/*
 * Read an HTTP reply header without taking one byte past its blank line:
 * peek at what is there; if the header ends inside it, consume exactly up
 * to the end; if not, all of it is header, so consume it all (which also
 * keeps the next poll from waking at once on the same bytes).
 */
static int
read_http_reply(int fd, char *buf, int *status, const struct deadline *d)
{
	size_t len = 0, need;
	int rc, n;

	for (;;) {
		rc = httpc_parse_reply(buf, len, &need, status);
		if (rc != PS_PROTO_MORE)
			return rc;
		n = recv_some(fd, buf + len, PS_HTTPC_HDR_MAX - len, MSG_PEEK,
		              len == 0, d);
		if (n < 0)
			return n;
		rc = httpc_parse_reply(buf, len + (size_t)n, &need, status);
		if (rc > 0) {
			n = consume(fd, buf + len, (size_t)rc - len, d);
			return n < 0 ? n : rc;
		}
		if (rc != PS_PROTO_MORE)
			return rc;
		rc = consume(fd, buf + len, (size_t)n, d);
		if (rc < 0)
			return rc;
		len += (size_t)n;
	}
}

/* --- error reporting ---------------------------------------------------- */

struct hs {
	int fd;
	const struct ps_hop *hop;
	const struct ps_target *dst; /* as sent */
	struct deadline dl;
	const char *step; /* for the log: what we were waiting on */
	unsigned code;    /* REP / CD / HTTP status of a refusal */
};

static const char *
scheme_str(enum ps_scheme s)
{
	switch (s) {
	case PS_SCHEME_HTTP:
		return "http";
	case PS_SCHEME_HTTPS:
		return "https";
	case PS_SCHEME_SOCKS4:
		return "socks4";
	case PS_SCHEME_SOCKS4A:
		return "socks4a";
	case PS_SCHEME_SOCKS5:
		return "socks5";
	case PS_SCHEME_SOCKS5H:
		return "socks5h";
	default:
		return "?";
	}
}

/* The host part of a target for a log line (never credentials). */
static const char *
target_host(const struct ps_target *t, char *buf, size_t size)
{
	size_t n;

	if (t->name != NULL) {
		n = t->name_len < size - 1 ? t->name_len : size - 1;
		memcpy(buf, t->name, n);
		buf[n] = '\0';
		return buf;
	}
	if (inet_ntop(t->family, t->addr, buf, (socklen_t)size) != NULL)
		return buf;
	return "?";
}

static int
rejected_errno(const struct hs *h)
{
	switch (h->hop->scheme) {
	case PS_SCHEME_SOCKS5:
	case PS_SCHEME_SOCKS5H:
		return socks5_rep_errno(h->code);
	case PS_SCHEME_SOCKS4:
	case PS_SCHEME_SOCKS4A:
		return socks4_cd_errno(h->code);
	default:
		return httpc_status_errno((int)h->code);
	}
}

/* Map any failure to the -errno of SPEC §4 and log it once. */
static int
hs_fail(const struct hs *h, int rc)
{
	char hb[PS_MAX_HOST + 1], db[PS_MAX_HOST + 1];
	const char *hop = target_host(&h->hop->at, hb, sizeof(hb));
	const char *dst = target_host(h->dst, db, sizeof(db));
	const char *sch = scheme_str(h->hop->scheme);
	unsigned hp = h->hop->at.port, dp = h->dst->port;
	int err;

	if (rc == PS_PROTO_E_REJECTED) {
		err = rejected_errno(h);
		if (h->hop->scheme == PS_SCHEME_HTTP)
			log_warn("%s proxy %s:%u refused %s:%u: status %u", sch,
			         hop, hp, dst, dp, h->code);
		else if (h->hop->scheme == PS_SCHEME_SOCKS5 ||
		         h->hop->scheme == PS_SCHEME_SOCKS5H)
			log_warn("%s proxy %s:%u refused %s:%u: reply %u (%s)",
			         sch, hop, hp, dst, dp, h->code,
			         socks5_rep_str(h->code));
		else
			log_warn("%s proxy %s:%u refused %s:%u: code 0x%02x",
			         sch, hop, hp, dst, dp, h->code);
		return -err;
	}
	if (rc <= PS_PROTO_E_VERSION && rc >= PS_PROTO_E_LAST) {
		log_warn("%s proxy %s:%u, %s for %s:%u: %s", sch, hop, hp,
		         h->step, dst, dp, proto_strerror(rc));
		return -proto_errno(rc);
	}
	if (rc == IO_EOF || rc == -ECONNRESET || rc == -EPIPE) {
		log_warn("%s proxy %s:%u closed the connection during %s "
		         "for %s:%u",
		         sch, hop, hp, h->step, dst, dp);
		return -ECONNREFUSED;
	}
	/* No strerror(): it may translate, and translating may allocate. */
	if (rc == -ETIMEDOUT)
		log_warn("%s proxy %s:%u timed out during %s for %s:%u", sch,
		         hop, hp, h->step, dst, dp);
	else
		log_warn("%s proxy %s:%u, %s for %s:%u: errno %d", sch, hop, hp,
		         h->step, dst, dp, -rc);
	return rc;
}

/* --- the handshakes -------------------------------------------------- */

struct method_arg {
	bool offered_auth;
	uint8_t method;
};

static int
parse_method(const uint8_t *buf, size_t len, size_t *need, void *arg)
{
	struct method_arg *m = arg;

	return socks5_parse_method_reply(buf, len, need, m->offered_auth,
	                                 &m->method);
}

static int
parse_auth(const uint8_t *buf, size_t len, size_t *need, void *arg)
{
	(void)arg;
	return socks5_parse_auth_reply(buf, len, need);
}

static int
parse_socks5(const uint8_t *buf, size_t len, size_t *need, void *arg)
{
	struct hs *h = arg;
	struct socks5_reply r;
	int rc = socks5_parse_reply(buf, len, need, &r);

	h->code = r.rep;
	return rc;
}

static int
parse_socks4(const uint8_t *buf, size_t len, size_t *need, void *arg)
{
	struct hs *h = arg;
	uint8_t cd = 0;
	int rc = socks4_parse_reply(buf, len, need, &cd);

	h->code = cd;
	return rc;
}

/* Method negotiation and, if the server picks it, RFC 1929. */
static int
socks5_auth(struct hs *h, const uint8_t *greet, size_t glen)
{
	uint8_t auth[PS_SOCKS5_AUTH_MAX], in[2];
	struct method_arg m = {h->hop->user != NULL, 0};
	int rc, n = 0;

	h->step = "greeting";
	rc = send_all(h->fd, greet, glen, &h->dl);
	if (rc == 0)
		rc = read_exact_reply(h->fd, in, sizeof(in), parse_method, &m,
		                      &h->dl);
	if (rc < 0 || m.method != PS_SOCKS5_M_USERPASS)
		goto out;
	n = socks5_build_auth(auth, sizeof(auth), h->hop->user, h->hop->pass);
	if (n < 0) {
		rc = n;
		goto out;
	}
	h->step = "authentication";
	rc = send_all(h->fd, auth, (size_t)n, &h->dl);
	if (rc == 0)
		rc = read_exact_reply(h->fd, in, sizeof(in), parse_auth, NULL,
		                      &h->dl);
out:
	explicit_bzero(auth, (size_t)(n > 0 ? n : 0));
	return rc < 0 ? rc : 0;
}

static int
socks5_run(struct hs *h, unsigned flags)
{
	uint8_t out[PS_SOCKS5_GREETING_MAX + PS_SOCKS5_REQ_MAX];
	uint8_t in[PS_SOCKS5_REPLY_MAX];
	bool with_auth = h->hop->user != NULL;
	bool pipe = !with_auth && (flags & PS_IO_PIPELINE);
	int g, r, rc;

	g = socks5_build_greeting(out, sizeof(out), with_auth);
	r = socks5_build_request(out + g, sizeof(out) - (size_t)g, h->dst);
	/* A bad target is the caller's mistake: nothing sent, no log. */
	if (r < 0)
		return r;
	/* Bad credentials are a config problem: fail before sending. */
	if (with_auth &&
	    (strlen(h->hop->user) > PS_MAX_CRED ||
	     (h->hop->pass != NULL && strlen(h->hop->pass) > PS_MAX_CRED)))
		return -EINVAL;
	rc = socks5_auth(h, out, (size_t)(pipe ? g + r : g));
	if (rc < 0)
		return hs_fail(h, rc);
	if (!pipe) {
		h->step = "request";
		rc = send_all(h->fd, out + g, (size_t)r, &h->dl);
		if (rc < 0)
			return hs_fail(h, rc);
	}
	h->step = "reply";
	rc = read_exact_reply(h->fd, in, sizeof(in), parse_socks5, h, &h->dl);
	return rc < 0 ? hs_fail(h, rc) : 0;
}

static int
socks4_run(struct hs *h)
{
	uint8_t out[PS_SOCKS4_REQ_MAX], in[PS_SOCKS4_REPLY_LEN];
	int n, rc;

	n = socks4_build_request(out, sizeof(out), h->dst, h->hop->user);
	if (n < 0)
		return n;
	h->step = "request";
	rc = send_all(h->fd, out, (size_t)n, &h->dl);
	if (rc == 0) {
		h->step = "reply";
		rc = read_exact_reply(h->fd, in, sizeof(in), parse_socks4, h,
		                      &h->dl);
	}
	return rc < 0 ? hs_fail(h, rc) : 0;
}

static int
http_run(struct hs *h)
{
	char out[PS_HTTPC_REQ_MAX], in[PS_HTTPC_HDR_MAX];
	int n, rc, status = 0;

	n = httpc_build_request(out, sizeof(out), h->dst, h->hop->user,
	                        h->hop->pass);
	if (n < 0)
		return n;
	h->step = "request";
	rc = send_all(h->fd, out, (size_t)n, &h->dl);
	explicit_bzero(out, (size_t)n);
	if (rc == 0) {
		h->step = "reply";
		rc = read_http_reply(h->fd, in, &status, &h->dl);
		h->code = (unsigned)status;
	}
	return rc < 0 ? hs_fail(h, rc) : 0;
}

/* What the hop is sent: socks4/socks5 take only an address, the others
 * the name when there is one. */
static int
pick_target(enum ps_scheme s, const struct ps_target *dst,
            struct ps_target *out)
{
	*out = *dst;
	if (s == PS_SCHEME_SOCKS4 || s == PS_SCHEME_SOCKS5) {
		if (dst->family != AF_INET && dst->family != AF_INET6)
			return -EINVAL;
		out->name = NULL;
		out->name_len = 0;
		return 0;
	}
	if (dst->name == NULL && dst->family != AF_INET &&
	    dst->family != AF_INET6)
		return -EINVAL;
	return 0;
}

int
io_handshake(int fd, const struct ps_hop *hop, const struct ps_target *dst,
             int timeout_ms, unsigned flags)
{
	struct ps_target t;
	struct hs h;
	int rc;

	if (hop == NULL || dst == NULL)
		return -EINVAL;
	rc = pick_target(hop->scheme, dst, &t);
	if (rc < 0)
		return rc;
	memset(&h, 0, sizeof(h));
	h.fd = fd;
	h.hop = hop;
	h.dst = &t;
	deadline_init(&h.dl, timeout_ms);
	switch (hop->scheme) {
	case PS_SCHEME_SOCKS5:
	case PS_SCHEME_SOCKS5H:
		return socks5_run(&h, flags);
	case PS_SCHEME_SOCKS4:
	case PS_SCHEME_SOCKS4A:
		return socks4_run(&h);
	case PS_SCHEME_HTTP:
		return http_run(&h);
	case PS_SCHEME_HTTPS:
		return -EPROTONOSUPPORT;
	default:
		return -EINVAL;
	}
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
	struct deadline dl;
	int fl, rc, saved, tries;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	deadline_init(&dl, timeout_ms);
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
		rc = wait_fd(fd, POLLOUT, &dl);
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
