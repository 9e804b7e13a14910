/*
 * proxyshim check --probe [--target HOST:PORT]: dial every upstream of the
 * compiled table from this host with the shared hop dialler (proto/dial.c;
 * https:// upstreams with the relay's TLS transport, relay/tls.c) and
 * report the step that failed: reachable (resolve, TCP connect), TLS
 * (https://), handshake (the proxy speaks the protocol), auth (credentials
 * accepted), then whether the proxy reached the target, with the proxy's
 * own code.  The command is not preloaded, so io_connect()'s
 * io_real_connect is libc's connect(), which is what we want.
 *
 * Default target (no --target): the upstream's own host and port.  It
 * exercises the greeting and the authentication of every proxy type; a
 * proxy that then refuses to CONNECT to itself (squid allows CONNECT to
 * port 443 only, by default) still counts as working.  With --target the
 * tunnel itself must be granted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../relay/relay.h"
#include "proxyshim/config.h"
#include "proxyshim/dial.h"
#include "proxyshim/proto.h"
#include "proxyshim/table.h"
#include "cli.h"

/* How one probe went. */
struct probe_result {
	struct dial_report rep;
	const struct ps_target *target; /* what the upstream was asked for */
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

static const char *
probe_errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* The probed upstream's TLS contexts (those of the relay, from the same
 * table and environment); NULL when the table has no https:// upstream,
 * or when they could not be set up (logged). */
static struct relay *
probe_tls_setup(const struct ps_table_view *v)
{
	static struct relay r;
	size_t u;

	for (u = 0; u < v->nupstreams; u++)
		if (v->upstreams[u].scheme == PS_SCHEME_HTTPS)
			break;
	if (u == v->nupstreams)
		return NULL;
	r.v = *v;
	return tls_ctx_init(&r) == 0 ? &r : NULL;
}

static double
probe_ms(int64_t from_ns, int64_t to_ns)
{
	return (double)(to_ns - from_ns) / 1e6;
}

/* Dial upstream u alone and ask it for want (NULL: itself). */
static void
probe_one(const struct ps_table_view *v, struct relay *tlsr, uint32_t u,
          const struct ps_target *want, struct probe_result *res)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	struct dial_route rt;
	struct tls_dial tls;
	struct ps_hop h;
	int64_t t0;
	int fd = -1;

	memset(res, 0, sizeof(*res));
	dial_hop_of(v, u, &h);
	memset(&rt, 0, sizeof(rt));
	rt.hops = &h;
	rt.n = 1;
	rt.connect_ms = (int)s->connect_timeout_ms;
	rt.handshake_ms = (int)s->handshake_timeout_ms;
	rt.overall.none = true;
	rt.flags = DIAL_QUIET;
	if (tlsr != NULL) {
		tls_dial_init(&tls, tlsr, &u, true);
		rt.tls = &tls.seam;
	}
	/* Default target: the upstream itself, by the name it was given
	 * (resolved by the dialler for socks4/socks5, which need one). */
	res->target = want != NULL ? want : &h.at;
	t0 = io_now_ns();
	dial_chain(&fd, &rt, res->target, NULL, &res->rep);
	res->total_ms = probe_ms(t0, io_now_ns());
	if (res->rep.connected_ns != 0)
		res->connect_ms = probe_ms(t0, res->rep.connected_ns);
	if (tlsr != NULL && tls.ssl != NULL)
		SSL_free(tls.ssl);
	if (fd >= 0)
		close(fd);
}

/* The reason in words, from the report: the proxy's own code, the
 * protocol error, the TLS layer's reason, or the errno. */
static void
probe_why(const struct ps_table_view *v, uint32_t u,
          const struct probe_result *res, char *buf, size_t size)
{
	const struct dial_report *r = &res->rep;
	enum ps_scheme sch = (enum ps_scheme)v->upstreams[u].scheme;
	const struct ps_target *t = res->target;

	if (r->step == DIAL_RESOLVE) {
		/* hop 0's own name before the connect, else the target's */
		const char *name =
		        r->connected_ns == 0
		                ? table_str(v, v->upstreams[u].host_off)
		                : NULL;

		snprintf(buf, size, "cannot resolve %.*s: %s",
		         name ? (int)strlen(name) : (int)t->name_len,
		         name ? name : t->name,
		         r->gai != 0 ? gai_strerror(r->gai)
		                     : "no IPv4 or IPv6 address");
	} else if (r->step == DIAL_TLS) {
		snprintf(buf, size, "%s", r->why);
	} else if (r->step == DIAL_LOCAL && r->err == EPROTONOSUPPORT) {
		snprintf(buf, size, "no TLS context (see the error above)");
	} else if (r->closed) {
		snprintf(buf, size, "the proxy closed the connection");
	} else if (r->proto != 0) {
		snprintf(buf, size, "%s", proto_strerror(r->proto));
	} else if (r->code != 0 &&
	           (sch == PS_SCHEME_SOCKS5 || sch == PS_SCHEME_SOCKS5H)) {
		snprintf(buf, size, "reply %u: %s", r->code,
		         socks5_rep_str(r->code));
	} else if (r->code != 0 &&
	           (sch == PS_SCHEME_SOCKS4 || sch == PS_SCHEME_SOCKS4A)) {
		snprintf(buf, size, "reply code 0x%02x", r->code);
	} else if (r->code != 0) {
		snprintf(buf, size, "HTTP status %u", r->code);
	} else if (r->err == ETIMEDOUT && r->step >= DIAL_GREETING) {
		snprintf(buf, size, "no answer within the handshake timeout");
	} else if (r->err == EAFNOSUPPORT && r->step == DIAL_LOCAL) {
		snprintf(buf, size, "%s cannot carry an IPv6 target",
		         dial_scheme_str(sch));
	} else {
		snprintf(buf, size, "%s", strerror(r->err));
	}
}

/* A bad reply at any step is the handshake's: the proxy does not speak
 * the protocol. */
static bool
probe_bad_reply(const struct dial_report *r)
{
	return r->step == DIAL_GREETING ||
	       (r->proto != 0 && r->proto != PS_PROTO_E_AUTH &&
	        r->proto != PS_PROTO_E_NO_METHOD);
}

/* One line per upstream; returns whether it works. */
static bool
probe_report(const struct ps_table_view *v, uint32_t u,
             const struct probe_result *res, bool default_target)
{
	const struct dial_report *r = &res->rep;
	bool https = v->upstreams[u].scheme == PS_SCHEME_HTTPS;
	bool ok = r->step == DIAL_OK || (r->step == DIAL_TUNNEL &&
	                                 default_target && !probe_bad_reply(r));
	const char *en = probe_errname(r->err);
	char why[200];

	probe_why(v, u, res, why, sizeof(why));
	printf("%-4s %s: ", ok ? "ok" : "FAIL",
	       table_str(v, v->upstreams[u].display_off));
	if (r->connected_ns == 0) {
		if (r->step == DIAL_CONNECT)
			printf("unreachable: %s (%s), %.1f ms\n", en, why,
			       res->total_ms);
		else
			printf("unreachable: %s (%s)\n", en, why);
		return false;
	}
	printf("reachable (%.1f ms), ", res->connect_ms);
	if (r->step == DIAL_TLS || (r->step == DIAL_LOCAL && https)) {
		printf("TLS failed: %s (%s), %.1f ms\n", en, why,
		       res->total_ms);
		return false;
	}
	if (https)
		printf("TLS ok, ");
	if (r->step == DIAL_RESOLVE || r->step == DIAL_LOCAL)
		printf("target not asked: %s (%s)", en, why);
	else if (r->step != DIAL_OK && probe_bad_reply(r))
		printf("handshake failed: %s (%s)", en, why);
	else if (r->step == DIAL_AUTH)
		printf("handshake ok, auth failed: %s (%s)", en, why);
	else if (r->step == DIAL_OK)
		printf("handshake ok, auth %s, tunnel ok",
		       r->auth_used ? "ok" : "none");
	else
		printf("handshake ok, auth %s, target refused: %s (%s)%s",
		       r->auth_used ? "ok" : "none", en, why,
		       default_target ? ", not an error with the default target"
		                      : "");
	printf(", %.1f ms\n", res->total_ms);
	return ok;
}

int
probe_upstreams(const struct ps_table_view *v, const struct probe_opts *po)
{
	struct ps_target want;
	struct probe_result res;
	struct relay *tlsr;
	char host[PS_MAX_HOST + 2];
	size_t nok = 0;
	uint32_t u;

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
	tlsr = probe_tls_setup(v);
	for (u = 0; u < v->nupstreams; u++) {
		probe_one(v, tlsr, u, po->target ? &want : NULL, &res);
		if (probe_report(v, u, &res, po->target == NULL))
			nok++;
		fflush(stdout);
	}
	printf("probe: %zu of %zu upstreams work\n", nok, v->nupstreams);
	return nok == v->nupstreams ? CLI_OK : CLI_FAIL;
}
