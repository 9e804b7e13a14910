/*
 * proxyshim check --probe [--target HOST:PORT]: dial every upstream of the
 * compiled table from this host and run a real handshake, step by step, so
 * that the report can say which step failed: reachable (TCP connect),
 * handshake (the proxy speaks the protocol), auth (credentials accepted),
 * then whether the proxy reached the target.
 *
 * The handshakes are the pure builders and parsers of proto.h run over a
 * small blocking reader here, not io_handshake(): that one folds every
 * failure into one errno, and a probe must tell "wrong password" from "the
 * destination refused".  The command is not preloaded, so io_connect()'s
 * io_real_connect is libc's connect(), which is what we want.
 *
 * Default target (no --target): the upstream's own host and port.  It
 * exercises the greeting and the authentication of every proxy type; a
 * proxy that then refuses to CONNECT to itself (squid allows CONNECT to
 * port 443 only, by default) still counts as working.  With --target the
 * tunnel itself must be granted.  https:// upstreams are only dialled: the
 * TLS session is the relay's business, and the line says "not probed".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/config.h"
#include "proxyshim/proto.h"
#include "proxyshim/table.h"
#include "cli.h"

/* How far one probe got. */
enum probe_step {
	PROBE_RESOLVE = 0, /* the upstream's name did not resolve */
	PROBE_CONNECT,     /* TCP connect to the upstream failed */
	PROBE_HANDSHAKE,   /* no valid protocol reply */
	PROBE_AUTH,        /* the proxy refused our credentials */
	PROBE_TUNNEL,      /* the proxy refused or failed the target */
	PROBE_DONE,        /* tunnel granted */
	PROBE_UNVERIFIED,  /* https://: reachable, TLS handshake not probed */
};

struct probe_result {
	enum probe_step step; /* the step that failed, or PROBE_DONE */
	int err;              /* errno of the failure, 0 when done */
	char why[160];        /* the reason in words */
	bool auth_used;       /* credentials were sent (and, past AUTH, ok) */
	double connect_ms;
	double total_ms;
};

int
probe_take_opts(int *argc, char **argv, struct probe_opts *po)
{
	int i, j = 1;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			/* operands follow: keep them and the "--" as they are
			 */
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(a, "--probe") == 0) {
			po->probe = 1;
		} else if (strcmp(a, "--target") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "proxyshim: --target needs "
				                "HOST:PORT\n");
				return -1;
			}
			po->target = argv[++i];
		} else if (strncmp(a, "--target=", 9) == 0) {
			po->target = a + 9;
		} else {
			argv[j++] = argv[i];
		}
	}
	*argc = j;
	argv[j] = NULL;
	if (po->target != NULL && !po->probe) {
		fprintf(stderr, "proxyshim check: --target needs --probe\n");
		return -1;
	}
	return 0;
}

static double
probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Wait for fd to be ready for ev before the deadline (ms, monotonic). */
static int
probe_wait(int fd, short ev, double deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int tries, r;

	for (tries = 0; tries < 1000; tries++) {
		double left = deadline - probe_now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
	return -ETIMEDOUT;
}

static int
probe_write(int fd, const void *buf, size_t len, double deadline)
{
	const uint8_t *p = buf;
	int r;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		r = probe_wait(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read exactly len bytes; a proxy that closes early is ECONNRESET. */
static int
probe_read(int fd, uint8_t *buf, size_t len, double deadline)
{
	int r;

	while (len > 0) {
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = probe_wait(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
probe_fail(struct probe_result *res, enum probe_step step, int err,
           const char *why)
{
	res->step = step;
	res->err = err;
	snprintf(res->why, sizeof(res->why), "%s", why);
	return -1;
}

/* An I/O failure during step: a timeout or a closed connection. */
static int
probe_io_fail(struct probe_result *res, enum probe_step step, int r)
{
	if (r == -ECONNRESET)
		return probe_fail(res, step, ECONNREFUSED,
		                  "the proxy closed the connection");
	if (r == -ETIMEDOUT)
		return probe_fail(res, step, ETIMEDOUT,
		                  "no answer within the handshake timeout");
	return probe_fail(res, step, -r, strerror(-r));
}

/* A parser error: bad replies are the handshake's, refusals the auth's. */
static int
probe_proto_fail(struct probe_result *res, int rc)
{
	enum probe_step st = rc == PS_PROTO_E_AUTH || rc == PS_PROTO_E_NO_METHOD
	                             ? PROBE_AUTH
	                             : PROBE_HANDSHAKE;

	return probe_fail(res, st, proto_errno(rc), proto_strerror(rc));
}

/* Read a SOCKS reply whose parser announces how much it needs. */
static int
probe_socks5_reply(int fd, double dl, struct probe_result *res,
                   struct socks5_reply *rep)
{
	uint8_t buf[PS_SOCKS5_REPLY_MAX];
	size_t have = 0, need = 2;
	int r, rc;

	for (;;) {
		if (need > sizeof(buf))
			return probe_proto_fail(res, PS_PROTO_E_MALFORMED);
		r = probe_read(fd, buf + have, need - have, dl);
		if (r < 0)
			return probe_io_fail(res, PROBE_TUNNEL, r);
		have = need;
		rc = socks5_parse_reply(buf, have, &need, rep);
		if (rc > 0)
			return 0;
		if (rc == PS_PROTO_E_REJECTED) {
			char why[96];

			snprintf(why, sizeof(why), "reply %u: %s", rep->rep,
			         socks5_rep_str(rep->rep));
			return probe_fail(res, PROBE_TUNNEL,
			                  socks5_rep_errno(rep->rep), why);
		}
		if (rc < 0)
			return probe_proto_fail(res, rc);
	}
}

static int
probe_socks5(int fd, const struct ps_hop *h, const struct ps_target *t,
             double dl, struct probe_result *res)
{
	uint8_t buf[PS_SOCKS5_AUTH_MAX];
	struct socks5_reply rep;
	size_t need;
	uint8_t method = 0;
	int n, r, rc;

	n = socks5_build_greeting(buf, sizeof(buf), h->user != NULL);
	if (n < 0)
		return probe_fail(res, PROBE_HANDSHAKE, -n, strerror(-n));
	r = probe_write(fd, buf, (size_t)n, dl);
	if (r == 0)
		r = probe_read(fd, buf, 2, dl);
	if (r < 0)
		return probe_io_fail(res, PROBE_HANDSHAKE, r);
	rc = socks5_parse_method_reply(buf, 2, &need, h->user != NULL, &method);
	if (rc < 0)
		return probe_proto_fail(res, rc);
	if (method == PS_SOCKS5_M_USERPASS) {
		res->auth_used = true;
		n = socks5_build_auth(buf, sizeof(buf), h->user, h->pass);
		if (n < 0)
			return probe_fail(res, PROBE_AUTH, EINVAL,
			                  "credential over 255 bytes");
		r = probe_write(fd, buf, (size_t)n, dl);
		if (r == 0)
			r = probe_read(fd, buf, 2, dl);
		if (r < 0)
			return probe_io_fail(res, PROBE_AUTH, r);
		rc = socks5_parse_auth_reply(buf, 2, &need);
		if (rc < 0)
			return probe_proto_fail(res, rc);
	}
	n = socks5_build_request(buf, sizeof(buf), t);
	if (n < 0)
		return probe_fail(res, PROBE_TUNNEL, -n, "bad target");
	r = probe_write(fd, buf, (size_t)n, dl);
	if (r < 0)
		return probe_io_fail(res, PROBE_TUNNEL, r);
	return probe_socks5_reply(fd, dl, res, &rep);
}

static int
probe_socks4(int fd, const struct ps_hop *h, const struct ps_target *t,
             double dl, struct probe_result *res)
{
	uint8_t buf[PS_SOCKS4_REQ_MAX];
	size_t need;
	uint8_t cd = 0;
	int n, r, rc;

	n = socks4_build_request(buf, sizeof(buf), t, h->user);
	if (n < 0)
		return probe_fail(res, PROBE_TUNNEL, -n,
		                  n == -EAFNOSUPPORT ? "SOCKS4 cannot carry an "
		                                       "IPv6 target"
		                                     : "bad target");
	res->auth_used = h->user != NULL;
	r = probe_write(fd, buf, (size_t)n, dl);
	if (r == 0)
		r = probe_read(fd, buf, PS_SOCKS4_REPLY_LEN, dl);
	if (r < 0)
		return probe_io_fail(res, PROBE_HANDSHAKE, r);
	rc = socks4_parse_reply(buf, PS_SOCKS4_REPLY_LEN, &need, &cd);
	if (rc > 0)
		return 0;
	if (rc == PS_PROTO_E_REJECTED) {
		char why[64];

		snprintf(why, sizeof(why), "reply code 0x%02x", cd);
		return probe_fail(res,
		                  cd == PS_SOCKS4_BAD_IDENT ? PROBE_AUTH
		                                            : PROBE_TUNNEL,
		                  socks4_cd_errno(cd), why);
	}
	return probe_proto_fail(res, rc);
}

static int
probe_http(int fd, const struct ps_hop *h, const struct ps_target *t, double dl,
           struct probe_result *res)
{
	char buf[PS_HTTPC_HDR_MAX + 1];
	size_t have = 0, need = 1;
	int n, r, rc, status = 0;

	n = httpc_build_request(buf, sizeof(buf), t, h->user, h->pass);
	if (n < 0)
		return probe_fail(res, PROBE_TUNNEL, -n, "bad target");
	res->auth_used = h->user != NULL;
	r = probe_write(fd, buf, (size_t)n, dl);
	if (r < 0)
		return probe_io_fail(res, PROBE_HANDSHAKE, r);
	/* Byte by byte: the reply's end is not known in advance, and a
	 * probe does not care for speed. */
	for (;;) {
		if (need > PS_HTTPC_HDR_MAX + 1)
			return probe_proto_fail(res, PS_PROTO_E_TOO_BIG);
		r = probe_read(fd, (uint8_t *)buf + have, need - have, dl);
		if (r < 0)
			return probe_io_fail(
			        res, status ? PROBE_TUNNEL : PROBE_HANDSHAKE,
			        r);
		have = need;
		rc = httpc_parse_reply(buf, have, &need, &status);
		if (rc > 0)
			return 0;
		if (rc == PS_PROTO_E_REJECTED) {
			char why[64];
			int e = httpc_status_errno(status);

			snprintf(why, sizeof(why), "HTTP status %d", status);
			return probe_fail(
			        res, e == EACCES ? PROBE_AUTH : PROBE_TUNNEL, e,
			        why);
		}
		if (rc < 0)
			return probe_proto_fail(res, rc);
	}
}

/* Resolve a name to an address of family (0 = any); why says why not. */
static int
probe_resolve(const char *name, int family, struct ps_target *t, char *why,
              size_t whysz)
{
	int gai, r = io_resolve(name, family, t, &gai);

	if (r < 0 && gai != 0)
		snprintf(why, whysz, "cannot resolve %s: %s", name,
		         gai_strerror(gai));
	else if (r < 0)
		snprintf(why, whysz, "%s has no IPv4 or IPv6 address", name);
	return r;
}

/* HOST:PORT, [V6]:PORT; the port is required. */
static int
probe_parse_target(const char *arg, char *host, size_t hostsz,
                   struct ps_target *t)
{
	const char *colon = strrchr(arg, ':'), *h = arg;
	size_t hlen;
	unsigned long port;
	char *ep;

	memset(t, 0, sizeof(*t));
	if (colon == NULL || colon[1] == '\0')
		return -1;
	hlen = (size_t)(colon - arg);
	if (arg[0] == '[') {
		if (hlen < 3 || colon[-1] != ']')
			return -1;
		h = arg + 1;
		hlen -= 2;
	} else if (memchr(arg, ':', hlen) != NULL) {
		return -1; /* a bare IPv6 literal needs brackets */
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &ep, 10);
	if (errno != 0 || *ep != '\0' || port == 0 || port > 65535)
		return -1;
	t->port = (uint16_t)port;
	if (inet_pton(AF_INET, host, t->addr) == 1) {
		t->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, t->addr) == 1) {
		t->family = AF_INET6;
	} else {
		if (!proto_name_ok(host, hlen))
			return -1;
		t->name = host;
		t->name_len = hlen;
	}
	return 0;
}

/* Fill a hop from the table's upstream record (as the shim does). */
static void
probe_hop(const struct ps_table_view *v, size_t u, struct ps_hop *h)
{
	const struct ps_t_upstream *up = &v->upstreams[u];

	memset(h, 0, sizeof(*h));
	h->scheme = (enum ps_scheme)up->scheme;
	if (up->user_off != PS_PRIO_NONE)
		h->user = table_str(v, up->user_off);
	if (up->pass_off != PS_PRIO_NONE)
		h->pass = table_str(v, up->pass_off);
	h->at.port = up->port;
	h->at.family = up->family;
	memcpy(h->at.addr, up->addr, sizeof(h->at.addr));
	if (up->family == 0) {
		h->at.name = table_str(v, up->host_off);
		h->at.name_len = strlen(h->at.name);
	}
}

/* The target this hop is sent: socks4/socks5 need an address. */
static int
probe_pick_target(const struct ps_hop *h, const struct ps_target *in,
                  struct ps_target *out, struct probe_result *res)
{
	char name[PS_MAX_HOST + 2], why[sizeof(res->why)];

	*out = *in;
	if (h->scheme != PS_SCHEME_SOCKS4 && h->scheme != PS_SCHEME_SOCKS5)
		return 0;
	out->name = NULL;
	out->name_len = 0;
	if (in->family != 0)
		return 0;
	memcpy(name, in->name, in->name_len);
	name[in->name_len] = '\0';
	if (probe_resolve(name, h->scheme == PS_SCHEME_SOCKS4 ? AF_INET : 0,
	                  out, why, sizeof(why)) < 0)
		return probe_fail(res, PROBE_TUNNEL, EHOSTUNREACH, why);
	return 0;
}

/* Connect to the upstream and run its handshake; fills res. */
static void
probe_one(const struct ps_table_view *v, size_t u, const struct ps_target *want,
          struct probe_result *res)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	struct sockaddr_storage ss;
	struct ps_target at, dst;
	struct ps_hop h;
	char why[sizeof(res->why)];
	socklen_t sl = 0;
	double t0, dl;
	int fd = -1, r;

	memset(res, 0, sizeof(*res));
	probe_hop(v, u, &h);
	at = h.at;
	if (at.family == 0 &&
	    probe_resolve(table_str(v, v->upstreams[u].host_off), 0, &at, why,
	                  sizeof(why)) < 0) {
		probe_fail(res, PROBE_RESOLVE, EHOSTUNREACH, why);
		return;
	}
	t0 = probe_now_ms();
	io_sockaddr(0, &at, &ss, &sl);
	fd = socket(at.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		probe_fail(res, PROBE_CONNECT, errno, strerror(errno));
		return;
	}
	r = io_connect(fd, (struct sockaddr *)&ss, sl,
	               (int)s->connect_timeout_ms);
	res->connect_ms = probe_now_ms() - t0;
	if (r < 0) {
		probe_fail(res, PROBE_CONNECT, -r, strerror(-r));
		goto out;
	}
	if (h.scheme == PS_SCHEME_HTTPS) {
		/* TLS to the proxy is the relay's (proxyshim relay); the probe
		 * only knows that the port answers. */
		res->step = PROBE_UNVERIFIED;
		goto out;
	}
	/* Default target: the upstream itself, by the name it was given
	 * (its resolved address for socks4/socks5, which need one). */
	if (probe_pick_target(&h, want ? want : &h.at, &dst, res) < 0)
		goto out;
	dl = probe_now_ms() + (double)s->handshake_timeout_ms;
	if (h.scheme == PS_SCHEME_SOCKS5 || h.scheme == PS_SCHEME_SOCKS5H)
		r = probe_socks5(fd, &h, &dst, dl, res);
	else if (h.scheme == PS_SCHEME_SOCKS4 || h.scheme == PS_SCHEME_SOCKS4A)
		r = probe_socks4(fd, &h, &dst, dl, res);
	else
		r = probe_http(fd, &h, &dst, dl, res);
	if (r == 0)
		res->step = PROBE_DONE;
out:
	res->total_ms = probe_now_ms() - t0;
	close(fd);
}

static const char *
probe_errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* One line per upstream; returns whether it works. */
static bool
probe_report(const char *display, const struct probe_result *res,
             bool default_target)
{
	bool ok = res->step == PROBE_DONE || res->step == PROBE_UNVERIFIED ||
	          (res->step == PROBE_TUNNEL && default_target);

	printf("%-4s %s: ", ok ? "ok" : "FAIL", display);
	if (res->step == PROBE_RESOLVE) {
		printf("unreachable: %s (%s)\n", probe_errname(res->err),
		       res->why);
		return false;
	}
	if (res->step == PROBE_CONNECT) {
		printf("unreachable: %s (%s), %.1f ms\n",
		       probe_errname(res->err), res->why, res->total_ms);
		return false;
	}
	printf("reachable (%.1f ms), ", res->connect_ms);
	if (res->step == PROBE_UNVERIFIED) {
		printf("TLS and handshake not probed (https:// upstream)\n");
		return true;
	}
	if (res->step == PROBE_HANDSHAKE) {
		printf("handshake failed: %s (%s)", probe_errname(res->err),
		       res->why);
	} else if (res->step == PROBE_AUTH) {
		printf("handshake ok, auth failed: %s (%s)",
		       probe_errname(res->err), res->why);
	} else {
		printf("handshake ok, auth %s, ",
		       res->auth_used ? "ok" : "none");
		if (res->step == PROBE_DONE)
			printf("tunnel ok");
		else
			printf("target refused: %s (%s)%s",
			       probe_errname(res->err), res->why,
			       default_target ? ", not an error with the "
			                        "default target"
			                      : "");
	}
	printf(", %.1f ms\n", res->total_ms);
	return ok;
}

int
probe_upstreams(const struct ps_table_view *v, const struct probe_opts *po)
{
	struct ps_target want;
	struct probe_result res;
	char host[PS_MAX_HOST + 2];
	size_t u, nok = 0;

	if (po->target != NULL &&
	    probe_parse_target(po->target, host, sizeof(host), &want) < 0) {
		fprintf(stderr,
		        "proxyshim check: bad --target '%s' "
		        "(HOST:PORT, [IPV6]:PORT)\n",
		        po->target);
		return CLI_USAGE;
	}
	if (v->nupstreams == 0) {
		printf("probe: no upstreams configured, nothing to probe\n");
		return CLI_OK;
	}
	fflush(stdout);
	for (u = 0; u < v->nupstreams; u++) {
		probe_one(v, u, po->target ? &want : NULL, &res);
		if (probe_report(table_str(v, v->upstreams[u].display_off),
		                 &res, po->target == NULL))
			nok++;
		fflush(stdout);
	}
	printf("probe: %zu of %zu upstreams work\n", nok, v->nupstreams);
	return nok == v->nupstreams ? CLI_OK : CLI_FAIL;
}
