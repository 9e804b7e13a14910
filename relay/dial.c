/*
 * One new connection of the TLS relay: read the shim's CONNECT, check the
 * secret, dial the chain with the shared dialler (proto/dial.c; the
 * https:// hop's TLS from tls.c, and every hop after it over that TLS
 * stream), answer, and hand the pair to the data path.  Blocking in
 * spirit, non-blocking in fact: every wait is a poll() bounded by the
 * table's timeouts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/dial.h"
#include "proxyshim/proto.h"
#include "relay.h"

#define DIAL_REQ_MAX 8192

struct dial {
	struct relay *r;
	int cfd, ufd;
	SSL *ssl;
	int64_t deadline_ms;
	char host[PS_MAX_HOST + 1]; /* the destination, as asked */
	struct ps_target dst;
	uint32_t ups[PS_MAX_HOPS];
	size_t n;
};

/* Wait for the client's socket within the dial's deadline. */
static int
dial_wait(int fd, short ev, const struct dial *d)
{
	struct ps_deadline dl = {false, d->deadline_ms * 1000000};

	return io_wait(fd, ev, &dl);
}

/* Read the request header exactly (peek, then consume to its end). */
static int
dial_read_request(struct dial *d, char *buf, size_t size)
{
	ssize_t n;
	char *end;
	int rc;

	for (;;) {
		n = recv(d->cfd, buf, size - 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			buf[n] = '\0';
			end = strstr(buf, "\r\n\r\n");
			if (end != NULL) {
				n = recv(d->cfd, buf, (size_t)(end + 4 - buf),
				         0);
				if (n < 0)
					return -errno;
				buf[n] = '\0';
				return (int)n;
			}
			if ((size_t)n >= size - 1)
				return -E2BIG;
		}
		rc = dial_wait(d->cfd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
b64decode(const char *in, size_t len, char *out, size_t size)
{
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0, v;

	for (i = 0; i < len && in[i] != '='; i++) {
		v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* The secret, and the upstream list "u<i>,<j>" it comes with. */
static int
dial_check_auth(struct dial *d, const char *req)
{
	char cred[512], hex[PS_RELAY_SECRET_HEX + 1], *colon, *p, *e;
	const char *line = req, *v;
	unsigned long u;
	size_t vl;

	for (line = strstr(req, "\r\n"); line != NULL;
	     line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, "Proxy-Authorization:", 20) == 0)
			break;
	}
	if (line == NULL)
		return -EACCES;
	v = line + 20;
	v += strspn(v, " \t");
	if (strncasecmp(v, "Basic ", 6) != 0)
		return -EACCES;
	v += 6;
	vl = strcspn(v, "\r\n");
	if (b64decode(v, vl, cred, sizeof(cred)) < 0)
		return -EACCES;
	colon = strchr(cred, ':');
	if (colon == NULL || strlen(colon + 1) != PS_RELAY_SECRET_HEX)
		return -EACCES;
	relayseg_hex(d->r->seg, hex);
	if (CRYPTO_memcmp(colon + 1, hex, PS_RELAY_SECRET_HEX) != 0)
		return -EACCES;
	*colon = '\0';
	if (cred[0] != 'u')
		return -EINVAL;
	for (p = cred + 1, d->n = 0; *p != '\0' && d->n < PS_MAX_HOPS;) {
		u = strtoul(p, &e, 10);
		if (e == p || u >= d->r->v.nupstreams)
			return -EINVAL;
		d->ups[d->n++] = (uint32_t)u;
		p = *e == ',' ? e + 1 : e;
		if (*e != ',' && *e != '\0')
			return -EINVAL;
	}
	return d->n > 0 && *p == '\0' ? 0 : -EINVAL;
}

/* "CONNECT host:port HTTP/1.x" */
static int
dial_parse_target(struct dial *d, const char *req)
{
	const char *a, *sp, *colon;
	size_t hl;
	unsigned long port;
	char *e;

	if (strncmp(req, "CONNECT ", 8) != 0)
		return -EINVAL;
	a = req + 8;
	sp = strchr(a, ' ');
	if (sp == NULL)
		return -EINVAL;
	colon = sp;
	while (colon > a && *colon != ':')
		colon--;
	if (*colon != ':')
		return -EINVAL;
	port = strtoul(colon + 1, &e, 10);
	if (e != sp || port == 0 || port > 65535)
		return -EINVAL;
	if (*a == '[' && colon > a + 1 && colon[-1] == ']') {
		a++;
		hl = (size_t)(colon - 1 - a);
	} else {
		hl = (size_t)(colon - a);
	}
	if (hl == 0 || hl > PS_MAX_HOST)
		return -EINVAL;
	memcpy(d->host, a, hl);
	d->host[hl] = '\0';
	memset(&d->dst, 0, sizeof(d->dst));
	d->dst.port = (uint16_t)port;
	if (inet_pton(AF_INET, d->host, d->dst.addr) == 1) {
		d->dst.family = AF_INET;
	} else if (inet_pton(AF_INET6, d->host, d->dst.addr) == 1) {
		d->dst.family = AF_INET6;
	} else {
		if (!proto_name_ok(d->host, hl))
			return -EINVAL;
		d->dst.name = d->host;
		d->dst.name_len = hl;
	}
	return 0;
}

static const char *
dial_display(const struct dial *d, uint32_t u)
{
	return table_str(&d->r->v, d->r->v.upstreams[u].display_off);
}

/* Dial the whole chain with the shared dialler (proto/dial.c); the
 * https:// hop's TLS through tls.c.  0 or -errno. */
static int
dial_upstreams(struct dial *d)
{
	const struct ps_t_settings *st = &d->r->v.hdr->settings;
	struct ps_hop hops[PS_MAX_HOPS];
	struct dial_report rep;
	struct dial_route rt;
	struct tls_dial tls;
	size_t i;
	int r;

	for (i = 0; i < d->n; i++)
		dial_hop_of(&d->r->v, d->ups[i], &hops[i]);
	tls_dial_init(&tls, d->r, d->ups, false);
	memset(&rt, 0, sizeof(rt));
	rt.hops = hops;
	rt.n = d->n;
	rt.connect_ms = (int)st->connect_timeout_ms;
	/* The hops' TLS and handshakes share what is left of the request's
	 * deadline (connect + handshake timeouts from its start), which the
	 * program's side waits for too: no limit of their own. */
	rt.handshake_ms = 0;
	rt.overall.at_ns = d->deadline_ms * 1000000;
	rt.tls = &tls.seam;
	r = dial_chain(&d->ufd, &rt, &d->dst, NULL, &rep);
	d->ssl = tls.ssl;
	if (r < 0 && rep.step == DIAL_CONNECT)
		log_warn("upstream %s: connect: %s", dial_display(d, d->ups[0]),
		         strerror(rep.err));
	return r;
}

static void
dial_reply(int fd, const char *msg)
{
	ssize_t n = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)n;
}

static const char *
dial_status_line(int r)
{
	if (r == -EACCES)
		return "HTTP/1.1 407 Upstream authentication failed\r\n\r\n";
	if (r == -ETIMEDOUT)
		return "HTTP/1.1 504 Gateway Timeout\r\n\r\n";
	return "HTTP/1.1 502 Bad Gateway\r\n\r\n";
}

void *
dial_run(void *arg)
{
	struct relay_dial *rd = arg;
	const struct ps_t_settings *st;
	char req[DIAL_REQ_MAX];
	struct dial *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		close(rd->cfd);
		goto done;
	}
	d->r = rd->r;
	d->cfd = rd->cfd;
	d->ufd = -1;
	st = &d->r->v.hdr->settings;
	d->deadline_ms = relayseg_now_ms() + st->handshake_timeout_ms;
	r = dial_read_request(d, req, sizeof(req));
	if (r < 0)
		goto fail;
	d->deadline_ms += st->connect_timeout_ms;
	r = dial_check_auth(d, req);
	if (r == -EACCES) {
		log_warn("refused a request without the relay's secret");
		dial_reply(d->cfd, "HTTP/1.1 407 Proxy Authentication Required"
		                   "\r\nProxy-Authenticate: ProxyShim\r\n\r\n");
		goto fail;
	}
	if (r == 0)
		r = dial_parse_target(d, req);
	explicit_bzero(req, sizeof(req));
	if (r < 0) {
		log_warn("refused a malformed request");
		dial_reply(d->cfd, "HTTP/1.1 400 Bad Request\r\n\r\n");
		goto fail;
	}
	r = dial_upstreams(d);
	if (r != 0) {
		dial_reply(d->cfd, dial_status_line(r));
		goto fail;
	}
	dial_reply(d->cfd, "HTTP/1.1 200 Connection established\r\n\r\n");
	if (relay_add(d->r, d->cfd, d->ufd, d->ssl, "", 0) == 0)
		goto done_free;
fail:
	if (d->ssl != NULL)
		SSL_free(d->ssl);
	if (d->ufd >= 0)
		close(d->ufd);
	/* A refusal's reply is a graceful end: a FIN after it, not a reset. */
	setsockopt(d->cfd, SOL_SOCKET, SO_LINGER, &(struct linger){0, 0},
	           sizeof(struct linger));
	close(d->cfd);
done_free:
	free(d);
done:
	relay_release(rd->r);
	free(rd);
	return NULL;
}
