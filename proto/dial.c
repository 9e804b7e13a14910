/*
 * The hop dialler: one table-upstream -> hop conversion, one "does this hop
 * need an address" rule, one handshake driver over a transport (a plain
 * socket or a TLS stream) that reports the step that failed and the
 * proxy's own code, and the chain that strings them together.  Shared by
 * the preload library, the TLS relay, `check --probe` and the supervisor
 * (include/proxyshim/dial.h).  No malloc, no stdio, no locks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"

/* --- moving bytes over a transport -------------------------------------- */

static int
send_all(struct dial_io *io, const void *buf, size_t len,
         const struct ps_deadline *d)
{
	const uint8_t *p = buf;
	ssize_t n;
	short ev;
	int rc;

	while (len > 0) {
		ev = 0;
		n = io->send(io, p, len, &ev);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		rc = io_wait(io->fd, ev, d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One recv of at most want bytes (want > 0), waiting for data first when
 * wait_first and the transport says polling first pays (dial.h).  Returns
 * the count, PS_IO_EOF or -errno. */
static int
recv_some(struct dial_io *io, void *buf, size_t want, bool peek,
          bool wait_first, const struct ps_deadline *d)
{
	ssize_t n;
	short ev = POLLIN;
	int rc;

	if (wait_first && io->poll_first) {
		rc = io_wait(io->fd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		n = io->recv(io, buf, want, peek, &ev);
		if (n != 0)
			return (int)n;
		rc = io_wait(io->fd, ev, d);
		if (rc < 0)
			return rc;
	}
}

typedef int (*parse_fn)(const uint8_t *buf, size_t len, size_t *need,
                        void *arg);

/* Read a length-announcing reply (SOCKS): ask only for what the parser
 * says is still missing, so the read can never run into tunnel data. */
static int
read_exact_reply(struct dial_io *io, uint8_t *buf, size_t cap, parse_fn parse,
                 void *arg, const struct ps_deadline *d)
{
	size_t len = 0, need;
	int rc;

	for (;;) {
		rc = parse(buf, len, &need, arg);
		if (rc != PS_PROTO_MORE)
			return rc;
		if (need <= len || need > cap)
			return PS_PROTO_E_MALFORMED; /* cannot happen */
		rc = recv_some(io, buf + len, need - len, false, len == 0, d);
		if (rc < 0)
			return rc;
		len += (size_t)rc;
	}
}

/* Consume exactly len bytes that a peek has shown to be there. */
static int
consume(struct dial_io *io, char *buf, size_t len, const struct ps_deadline *d)
{
	int rc;

	while (len > 0) {
		rc = recv_some(io, buf, len, false, false, d);
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
 * keeps the next poll from waking at once on the same bytes).  *status is
 * set as soon as the status line is in.
 */
static int
read_http_reply(struct dial_io *io, char *buf, int *status,
                const struct ps_deadline *d)
{
	size_t len = 0, need;
	int rc, n;

	for (;;) {
		rc = httpc_parse_reply(buf, len, &need, status);
		if (rc != PS_PROTO_MORE)
			return rc;
		n = recv_some(io, buf + len, PS_HTTPC_HDR_MAX - len, true,
		              len == 0, d);
		if (n < 0)
			return n;
		rc = httpc_parse_reply(buf, len + (size_t)n, &need, status);
		if (rc > 0) {
			n = consume(io, buf + len, (size_t)rc - len, d);
			return n < 0 ? n : rc;
		}
		if (rc != PS_PROTO_MORE)
			return rc;
		rc = consume(io, buf + len, (size_t)n, d);
		if (rc < 0)
			return rc;
		len += (size_t)n;
	}
}

/* --- names for reports and logs ---------------------------------------- */

const char *
dial_scheme_str(enum ps_scheme s)
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

const char *
dial_step_str(enum dial_step s)
{
	static const char *const names[] = {
	        "ok",  "local",    "resolve", "connect",
	        "TLS", "greeting", "auth",    "tunnel",
	};

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
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

/* --- one handshake ---------------------------------------------------- */

struct hs {
	struct dial_io *io;
	const struct ps_hop *hop;
	const struct ps_target *dst; /* as sent */
	const struct ps_deadline *dl;
	unsigned flags;
	struct dial_report *rep;
	enum dial_step st; /* the step under way */
	const char *word;  /* for the log: what we were waiting on */
	unsigned code;     /* REP / CD / HTTP status of a refusal */
};

static bool
is_socks5(enum ps_scheme s)
{
	return s == PS_SCHEME_SOCKS5 || s == PS_SCHEME_SOCKS5H;
}

static bool
is_socks4(enum ps_scheme s)
{
	return s == PS_SCHEME_SOCKS4 || s == PS_SCHEME_SOCKS4A;
}

/* A refusal's code: the errno of docs/behaviour.md#errors-by-step, and whether
 * it refuses the credentials (then the step is auth, else the tunnel). */
static int
refusal_errno(enum ps_scheme s, unsigned code, bool *auth)
{
	int e;

	if (is_socks5(s)) {
		*auth = false;
		return socks5_rep_errno(code);
	}
	if (is_socks4(s)) {
		*auth = code == PS_SOCKS4_BAD_IDENT;
		return socks4_cd_errno(code);
	}
	e = httpc_status_errno((int)code);
	*auth = e == EACCES;
	return e;
}

static void
hs_log(const struct hs *h, int rc)
{
	char hb[PS_MAX_HOST + 1], db[PS_MAX_HOST + 1];
	const char *hop = target_host(&h->hop->at, hb, sizeof(hb));
	const char *dst = target_host(h->dst, db, sizeof(db));
	const char *sch = dial_scheme_str(h->hop->scheme);
	unsigned hp = h->hop->at.port, dp = h->dst->port;

	if (rc == PS_PROTO_E_REJECTED) {
		if (is_socks5(h->hop->scheme))
			log_warn("%s proxy %s:%u refused %s:%u: reply %u (%s)",
			         sch, hop, hp, dst, dp, h->code,
			         socks5_rep_str(h->code));
		else if (is_socks4(h->hop->scheme))
			log_warn("%s proxy %s:%u refused %s:%u: code 0x%02x",
			         sch, hop, hp, dst, dp, h->code);
		else
			log_warn("%s proxy %s:%u refused %s:%u: status %u", sch,
			         hop, hp, dst, dp, h->code);
	} else if (rc <= PS_PROTO_E_VERSION && rc >= PS_PROTO_E_LAST) {
		log_warn("%s proxy %s:%u, %s for %s:%u: %s", sch, hop, hp,
		         h->word, dst, dp, proto_strerror(rc));
	} else if (rc == PS_IO_EOF || rc == -ECONNRESET || rc == -EPIPE) {
		log_warn("%s proxy %s:%u closed the connection during %s "
		         "for %s:%u",
		         sch, hop, hp, h->word, dst, dp);
	} else if (rc == -ETIMEDOUT) {
		log_warn("%s proxy %s:%u timed out during %s for %s:%u", sch,
		         hop, hp, h->word, dst, dp);
	} else if (rc == -EINTR) {
		/* The program's own signal, not the proxy's fault. */
		log_info("%s proxy %s:%u, %s for %s:%u: interrupted by a "
		         "signal",
		         sch, hop, hp, h->word, dst, dp);
	} else {
		/* No strerror(): it may translate, and translating may
		 * allocate. */
		log_warn("%s proxy %s:%u, %s for %s:%u: errno %d", sch, hop, hp,
		         h->word, dst, dp, -rc);
	}
}

/*
 * The one place a handshake failure becomes a step, a code and an errno
 * (docs/behaviour.md#errors-by-step): refusals by their code, bad replies
 * ECONNREFUSED, auth and "no acceptable method" EACCES, a proxy that
 * closes early ECONNREFUSED, timeouts ETIMEDOUT.  Logs once (unless
 * DIAL_QUIET).  Returns -errno.
 */
static int
hs_fail(struct hs *h, int rc)
{
	struct dial_report *rep = h->rep;
	bool auth = false;

	rep->step = h->st;
	if (rc == PS_PROTO_E_REJECTED) {
		rep->code = h->code;
		rep->err = refusal_errno(h->hop->scheme, h->code, &auth);
		rep->step = auth ? DIAL_AUTH : DIAL_TUNNEL;
	} else if (rc <= PS_PROTO_E_VERSION && rc >= PS_PROTO_E_LAST) {
		rep->proto = rc;
		rep->err = proto_errno(rc);
		if (rc == PS_PROTO_E_AUTH || rc == PS_PROTO_E_NO_METHOD)
			rep->step = DIAL_AUTH;
	} else if (rc == PS_IO_EOF || rc == -ECONNRESET || rc == -EPIPE) {
		rep->closed = true;
		rep->err = ECONNREFUSED;
	} else {
		rep->err = -rc;
	}
	if (!(h->flags & DIAL_QUIET))
		hs_log(h, rc);
	return -rep->err;
}

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

	h->st = DIAL_GREETING;
	h->word = "greeting";
	rc = send_all(h->io, greet, glen, h->dl);
	if (rc == 0)
		rc = read_exact_reply(h->io, in, sizeof(in), parse_method, &m,
		                      h->dl);
	if (rc < 0 || m.method != PS_SOCKS5_M_USERPASS)
		goto out;
	n = socks5_build_auth(auth, sizeof(auth), h->hop->user, h->hop->pass);
	if (n < 0) {
		rc = n;
		goto out;
	}
	h->st = DIAL_AUTH;
	h->word = "authentication";
	h->rep->auth_used = true;
	rc = send_all(h->io, auth, (size_t)n, h->dl);
	if (rc == 0)
		rc = read_exact_reply(h->io, in, sizeof(in), parse_auth, NULL,
		                      h->dl);
out:
	explicit_bzero(auth, (size_t)(n > 0 ? n : 0));
	return rc < 0 ? rc : 0;
}

static int
socks5_run(struct hs *h)
{
	uint8_t out[PS_SOCKS5_GREETING_MAX + PS_SOCKS5_REQ_MAX];
	uint8_t in[PS_SOCKS5_REPLY_MAX];
	bool with_auth = h->hop->user != NULL;
	bool pipe = !with_auth && (h->flags & PS_IO_PIPELINE);
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
	h->st = DIAL_TUNNEL;
	if (!pipe) {
		h->word = "request";
		rc = send_all(h->io, out + g, (size_t)r, h->dl);
		if (rc < 0)
			return hs_fail(h, rc);
	}
	h->word = "reply";
	rc = read_exact_reply(h->io, in, sizeof(in), parse_socks5, h, h->dl);
	return rc < 0 ? hs_fail(h, rc) : 0;
}

/* SOCKS4 and HTTP CONNECT have one exchange: until its reply says
 * otherwise, a failure is the greeting's (the proxy did not answer in its
 * protocol). */
static int
hs_request(struct hs *h, const void *req, size_t len)
{
	h->st = DIAL_GREETING;
	h->word = "request";
	h->rep->auth_used = h->hop->user != NULL;
	return send_all(h->io, req, len, h->dl);
}

static int
socks4_run(struct hs *h)
{
	uint8_t out[PS_SOCKS4_REQ_MAX], in[PS_SOCKS4_REPLY_LEN];
	int n, rc;

	n = socks4_build_request(out, sizeof(out), h->dst, h->hop->user);
	if (n < 0)
		return n;
	rc = hs_request(h, out, (size_t)n);
	if (rc == 0) {
		h->word = "reply";
		rc = read_exact_reply(h->io, in, sizeof(in), parse_socks4, h,
		                      h->dl);
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
	rc = hs_request(h, out, (size_t)n);
	explicit_bzero(out, (size_t)n);
	if (rc == 0) {
		h->word = "reply";
		rc = read_http_reply(h->io, in, &status, h->dl);
		h->code = (unsigned)status;
		if (status != 0)
			h->st = DIAL_TUNNEL;
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
	if (dial_needs_address(s)) {
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

/* A caller error found before anything was sent: not logged. */
static int
dial_local(struct dial_report *rep, int rc)
{
	rep->step = DIAL_LOCAL;
	rep->err = -rc;
	return rc;
}

int
dial_handshake(struct dial_io *io, const struct ps_hop *hop,
               const struct ps_target *dst, const struct ps_deadline *dl,
               unsigned flags, struct dial_report *rep)
{
	struct ps_target t;
	struct hs h;
	int rc;

	rep->step = DIAL_OK;
	rep->err = 0;
	rep->proto = 0;
	rep->code = 0;
	rep->closed = false;
	rep->auth_used = false;
	if (hop == NULL || dst == NULL)
		return dial_local(rep, -EINVAL);
	rc = pick_target(hop->scheme, dst, &t);
	if (rc < 0)
		return dial_local(rep, rc);
	memset(&h, 0, sizeof(h));
	h.io = io;
	h.hop = hop;
	h.dst = &t;
	h.dl = dl;
	h.flags = flags;
	h.rep = rep;
	switch (hop->scheme) {
	case PS_SCHEME_SOCKS5:
	case PS_SCHEME_SOCKS5H:
		rc = socks5_run(&h);
		break;
	case PS_SCHEME_SOCKS4:
	case PS_SCHEME_SOCKS4A:
		rc = socks4_run(&h);
		break;
	case PS_SCHEME_HTTP:
	case PS_SCHEME_HTTPS: /* CONNECT; the TLS under it is the caller's */
		rc = http_run(&h);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	/* Builders' -EINVAL / -EAFNOSUPPORT: nothing was sent. */
	if (rc < 0 && rep->err == 0)
		return dial_local(rep, rc);
	return rc;
}

/* --- hops and chains ---------------------------------------------------- */

void
dial_hop_of(const struct ps_table_view *v, uint32_t u, struct ps_hop *h)
{
	const struct ps_t_upstream *up = &v->upstreams[u];

	memset(h, 0, sizeof(*h));
	h->scheme = (enum ps_scheme)up->scheme;
	h->user = up->user_off != PS_PRIO_NONE ? table_str(v, up->user_off)
	                                       : NULL;
	h->pass = up->pass_off != PS_PRIO_NONE ? table_str(v, up->pass_off)
	                                       : NULL;
	h->at.port = up->port;
	h->at.family = up->family;
	/* An address is what a previous hop is sent; the name only when
	 * there is none (a TLS hop takes its certificate name from the
	 * upstream record itself). */
	if (up->family != 0) {
		memcpy(h->at.addr, up->addr, sizeof(h->at.addr));
	} else {
		h->at.name = table_str(v, up->host_off);
		h->at.name_len = strlen(h->at.name);
	}
}

int
dial_route_of(const struct ps_table_view *v, const uint32_t *ups, size_t n,
              int sockfam, struct ps_hop *hops, struct dial_route *rt)
{
	size_t i;

	if (n == 0 || n > PS_MAX_HOPS)
		return -EINVAL;
	for (i = 0; i < n; i++)
		dial_hop_of(v, ups[i], &hops[i]);
	memset(rt, 0, sizeof(*rt));
	rt->hops = hops;
	rt->n = n;
	rt->sockfam = sockfam;
	rt->connect_ms = (int)v->hdr->settings.connect_timeout_ms;
	rt->handshake_ms = (int)v->hdr->settings.handshake_timeout_ms;
	rt->overall.none = true;
	return 0;
}

bool
dial_needs_address(enum ps_scheme s)
{
	return s == PS_SCHEME_SOCKS4 || s == PS_SCHEME_SOCKS5;
}

/* Resolve a name-only target with the real resolver (in the library, the
 * shim's own name hooks are not involved). */
static int
dial_resolve(struct ps_target *t, int family, unsigned flags,
             struct dial_report *rep)
{
	char name[PS_MAX_HOST + 1];
	int r, gai = 0;

	if (t->name == NULL || t->name_len > PS_MAX_HOST)
		return dial_local(rep, -EINVAL);
	memcpy(name, t->name, t->name_len);
	name[t->name_len] = '\0';
	r = io_resolve(name, family, t, &gai);
	if (r < 0) {
		rep->step = DIAL_RESOLVE;
		rep->gai = gai;
		rep->err = -r;
		if (!(flags & DIAL_QUIET))
			log_warn("cannot resolve %s: %s", name,
			         gai != 0 ? gai_strerror(gai)
			                  : "no usable address");
	}
	return r;
}

/* A step's timeout in ms under the overall deadline: 0 none, -1 expired. */
static int
dial_step_ms(int ms, const struct ps_deadline *overall)
{
	int left = io_left_ms(overall);

	if (left < 0)
		return ms > 0 ? ms : 0;
	if (left == 0)
		return -1;
	return ms <= 0 || left < ms ? left : ms;
}

/* TCP to hop 0 (resolved), on *fd or a new socket. */
static int
dial_connect(int *fd, const struct dial_route *rt, struct dial_report *rep)
{
	struct sockaddr_storage ss;
	struct ps_target first = rt->hops[0].at;
	socklen_t sslen;
	int one = 1, ms, r;

	if (first.family == 0) {
		r = dial_resolve(&first, rt->sockfam == AF_INET ? AF_INET : 0,
		                 rt->flags, rep);
		if (r < 0)
			return r;
	}
	r = io_sockaddr(rt->sockfam, &first, &ss, &sslen);
	if (r < 0) {
		if (!(rt->flags & DIAL_QUIET))
			log_warn("cannot reach an IPv6 upstream from an IPv4 "
			         "socket");
		return dial_local(rep, r);
	}
	if (*fd < 0) {
		*fd = socket(first.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*fd < 0)
			return dial_local(rep, -errno);
		setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	ms = dial_step_ms(rt->connect_ms, &rt->overall);
	r = ms < 0 ? -ETIMEDOUT
	           : io_connect(*fd, (struct sockaddr *)&ss, sslen, ms);
	if (r < 0) {
		rep->step = DIAL_CONNECT;
		rep->err = -r;
		return r;
	}
	rep->connected_ns = io_now_ns();
	return 0;
}

/* TLS with hop i, when it is an https:// one. */
static int
dial_tls_hop(const struct dial_route *rt, size_t i, struct dial_io *io,
             bool *tls_on, const struct ps_deadline *dl,
             struct dial_report *rep)
{
	int r;

	if (rt->hops[i].scheme != PS_SCHEME_HTTPS)
		return 0;
	if (rt->tls == NULL)
		return dial_local(rep, -EPROTONOSUPPORT);
	rep->step = DIAL_TLS;
	if (*tls_on) {
		/* The config check refuses such chains
		 * (docs/behaviour.md#chains-through-an-https-upstream). */
		static const char why[] = "TLS inside TLS (an https:// hop "
		                          "after another) is not supported";

		memcpy(rep->why, why, sizeof(why));
		if (!(rt->flags & DIAL_QUIET))
			log_warn("%s", rep->why);
		rep->err = ECONNREFUSED;
		return -ECONNREFUSED;
	}
	r = rt->tls->start(rt->tls, i, &rt->hops[i], io, dl, rep);
	if (r < 0) {
		rep->step = DIAL_TLS;
		rep->err = -r;
		return r;
	}
	rep->step = DIAL_OK;
	*tls_on = true;
	return 0;
}

int
dial_chain(int *fd, const struct dial_route *rt, const struct ps_target *dst,
           struct dial_io *out, struct dial_report *rep)
{
	const struct ps_hop *hops = rt->hops;
	struct ps_deadline dl;
	struct ps_target next;
	struct dial_io io;
	bool tls_on = false;
	size_t i;
	int r, ms;

	memset(rep, 0, sizeof(*rep));
	if (rt->n == 0 || rt->n > PS_MAX_HOPS || dst == NULL)
		return dial_local(rep, -EINVAL);
	r = dial_connect(fd, rt, rep);
	if (r < 0)
		return r;
	io_fd_transport(&io, *fd);
	for (i = 0; i < rt->n; i++) {
		rep->hop = i;
		/* Resolving is not the proxy's time: the hop's deadline
		 * starts after it (a hop needing an address is never TLS). */
		next = i + 1 < rt->n ? hops[i + 1].at : *dst;
		if (dial_needs_address(hops[i].scheme) && next.family == 0) {
			r = dial_resolve(&next,
			                 hops[i].scheme == PS_SCHEME_SOCKS4
			                         ? AF_INET
			                         : 0,
			                 rt->flags, rep);
			if (r < 0)
				return r;
		}
		ms = dial_step_ms(rt->handshake_ms, &rt->overall);
		if (ms < 0) {
			rep->step = DIAL_GREETING;
			rep->err = ETIMEDOUT;
			return -ETIMEDOUT;
		}
		io_deadline(&dl, ms);
		r = dial_tls_hop(rt, i, &io, &tls_on, &dl, rep);
		if (r < 0)
			return r;
		r = dial_handshake(&io, &hops[i], &next, &dl, rt->flags, rep);
		if (r < 0)
			return r;
	}
	if (out != NULL)
		*out = io;
	rep->step = DIAL_OK;
	rep->err = 0;
	return 0;
}
