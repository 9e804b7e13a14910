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
#include "proxyshim/relayreq.h"
#include "relay.h"

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
	struct ps_deadline dl = {.none = false,
	                         .at_ns = d->deadline_ms * 1000000};

	return io_wait(fd, ev, &dl);
}

/* Read the request into buf (PS_RELAYREQ_MAX bytes): what arrives is
 * taken, never peeked at, so a request that stops short only waits.
 * The shim sends nothing before the relay's answer, so bytes after the
 * blank line are refused (-EPROTO).  The header length, or -errno. */
static int
dial_read_request(struct dial *d, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int end, rc;

	for (;;) {
		n = recv(d->cfd, buf + len, size - len, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return -errno;
		if (n > 0) {
			len += (size_t)n;
			end = relayreq_end(buf, len);
			if (end < 0)
				return end;
			if (end > 0)
				return (size_t)end == len ? end : -EPROTO;
			continue;
		}
		rc = dial_wait(d->cfd, POLLIN, d);
		if (rc < 0)
			return rc;
	}
}

/* Decode the request and check its secret against the relay's own:
 * 0, -EACCES (407) or -EINVAL (400). */
static int
dial_check_request(struct dial *d, const char *req, size_t len)
{
	char hex[PS_RELAY_SECRET_HEX + 1];
	struct relayreq q;
	int r, ok;

	r = relayreq_decode(req, len, d->r->v.nupstreams, &q);
	if (r == -EACCES || q.secret[0] == '\0')
		goto out;
	ok = relayseg_hex(d->r->seg, hex) == 0 &&
	     CRYPTO_memcmp(q.secret, hex, PS_RELAY_SECRET_HEX) == 0;
	explicit_bzero(hex, sizeof(hex));
	if (!ok) {
		r = -EACCES;
		goto out;
	}
	if (r < 0)
		goto out;
	memcpy(d->host, q.host, sizeof(d->host));
	d->dst = q.dst;
	if (d->dst.name != NULL)
		d->dst.name = d->host;
	memcpy(d->ups, q.ups, sizeof(d->ups));
	d->n = q.n;
out:
	explicit_bzero(&q, sizeof(q));
	return r == -EACCES || r == 0 ? r : -EINVAL;
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
	char req[PS_RELAYREQ_MAX];
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
	if (r == -EPROTO || r == -E2BIG) {
		log_warn("refused a malformed request");
		dial_reply(d->cfd, "HTTP/1.1 400 Bad Request\r\n\r\n");
		goto fail;
	}
	if (r < 0)
		goto fail;
	d->deadline_ms += st->connect_timeout_ms;
	r = dial_check_request(d, req, (size_t)r);
	explicit_bzero(req, sizeof(req));
	if (r == -EACCES) {
		log_warn("refused a request without the relay's secret");
		dial_reply(d->cfd, "HTTP/1.1 407 Proxy Authentication Required"
		                   "\r\nProxy-Authenticate: ProxyShim\r\n\r\n");
		goto fail;
	}
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
