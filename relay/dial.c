/*
 * One new connection of the TLS relay: read the shim's CONNECT, check the
 * secret, dial the chain (plain hops with the shim's own io_handshake(),
 * the https:// hop with OpenSSL, later http hops with CONNECT inside
 * TLS), answer, and hand the pair to the data path.  Blocking in spirit,
 * non-blocking in fact: every wait is a poll() bounded by the table's
 * timeouts.
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
#include "proxyshim/proto.h"
#include "proxyshim/relayreq.h"
#include "relay.h"

/* TLS session resumption, as curl and stunnel's client do it: the newest
 * session of each https:// upstream (indexed like the table's upstreams)
 * is offered on the next handshake with it.  A resumed handshake skips
 * the proxy's certificate, its signature and our chain verification.  The
 * cache lives and dies with this process, so with its table and TLS
 * settings. */
static SSL_SESSION **dial_sess;
static size_t dial_nsess;
static pthread_mutex_t dial_sess_mu = PTHREAD_MUTEX_INITIALIZER;

struct dial {
	struct relay *r;
	int cfd, ufd;
	SSL *ssl;
	int64_t deadline_ms;
	char host[PS_MAX_HOST + 1]; /* the destination, as asked */
	struct ps_target dst;
	uint32_t ups[PS_MAX_HOPS];
	size_t n;
	char pre[PS_HTTPC_HDR_MAX]; /* upstream bytes past the reply */
	size_t prelen;
};

static int
dial_left(const struct dial *d)
{
	int64_t left = d->deadline_ms - relayseg_now_ms();

	return left <= 0 ? 0 : (int)left;
}

static int
dial_wait(int fd, short ev, const struct dial *d)
{
	struct pollfd p = {fd, ev, 0};
	int n, ms;

	for (;;) {
		ms = dial_left(d);
		if (ms == 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
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

static void
dial_hop(const struct relay *r, uint32_t u, struct ps_hop *h)
{
	const struct ps_t_upstream *up = &r->v.upstreams[u];

	memset(h, 0, sizeof(*h));
	h->scheme = (enum ps_scheme)up->scheme;
	h->user = up->user_off != PS_PRIO_NONE ? table_str(&r->v, up->user_off)
	                                       : NULL;
	h->pass = up->pass_off != PS_PRIO_NONE ? table_str(&r->v, up->pass_off)
	                                       : NULL;
	h->at.port = up->port;
	h->at.family = up->family;
	if (up->family != 0)
		memcpy(h->at.addr, up->addr, sizeof(h->at.addr));
	h->at.name = table_str(&r->v, up->host_off);
	h->at.name_len = strlen(h->at.name);
}

static const char *
dial_display(const struct dial *d, uint32_t u)
{
	return table_str(&d->r->v, d->r->v.upstreams[u].display_off);
}

/* A target for a socks4/socks5 hop needs an address. */
static int
dial_resolve(const struct ps_target *t, struct ps_target *out, char *name,
             size_t size)
{
	int gai, r;

	*out = *t;
	if (t->family != 0)
		return 0;
	snprintf(name, size, "%.*s", (int)t->name_len, t->name);
	r = io_resolve(name, 0, out, &gai);
	if (r < 0)
		log_warn("cannot resolve %s: %s", name,
		         gai != 0 ? gai_strerror(gai) : "no usable address");
	return r;
}

/* TCP to the first hop. */
static int
dial_first(struct dial *d, const struct ps_hop *h)
{
	struct sockaddr_storage ss;
	struct ps_target t;
	char name[PS_MAX_HOST + 1];
	socklen_t len;
	int one = 1, r;

	r = dial_resolve(&h->at, &t, name, sizeof(name));
	if (r < 0)
		return r;
	io_sockaddr(0, &t, &ss, &len);
	d->ufd = socket(t.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->ufd < 0)
		return -errno;
	setsockopt(d->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return io_connect(d->ufd, (struct sockaddr *)&ss, len,
	                  (int)d->r->v.hdr->settings.connect_timeout_ms);
}

/* Why the last TLS operation failed, for the log. */
static void
dial_tls_why(SSL *ssl, char *buf, size_t size)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long e;

	if (vr != X509_V_OK) {
		snprintf(buf, size, "certificate: %s",
		         X509_verify_cert_error_string(vr));
		return;
	}
	e = ERR_peek_last_error();
	if (e != 0) {
		snprintf(buf, size, "protocol: ");
		ERR_error_string_n(e, buf + strlen(buf), size - strlen(buf));
	} else {
		snprintf(buf, size,
		         "protocol: the proxy closed the connection");
	}
}

/* Run one SSL call to completion: ret > 0, or -ETIMEDOUT / -EPROTO. */
static int
dial_tls_op(struct dial *d, int ret)
{
	int err = SSL_get_error(d->ssl, ret), r;

	if (ret > 0)
		return ret;
	if (err == SSL_ERROR_WANT_READ)
		r = dial_wait(d->ufd, POLLIN, d);
	else if (err == SSL_ERROR_WANT_WRITE)
		r = dial_wait(d->ufd, POLLOUT, d);
	else
		return err == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
	return r < 0 ? r : 0;
}

/* OpenSSL's new-session callback (end of a TLS 1.2 handshake, or a TLS
 * 1.3 ticket, possibly in the data path's thread): keep the newest. */
static int
dial_sess_new(SSL *ssl, SSL_SESSION *s)
{
	SSL_SESSION **slot = SSL_get_app_data(ssl), *old;

	if (slot == NULL || !SSL_SESSION_is_resumable(s))
		return 0;
	pthread_mutex_lock(&dial_sess_mu);
	old = *slot;
	*slot = s;
	pthread_mutex_unlock(&dial_sess_mu);
	SSL_SESSION_free(old);
	return 1; /* the reference is ours now */
}

/* Offer upstream u's session to ssl and have new ones stored for u. */
static void
dial_sess_use(SSL *ssl, uint32_t u)
{
	if (u >= dial_nsess)
		return;
	SSL_set_app_data(ssl, &dial_sess[u]);
	pthread_mutex_lock(&dial_sess_mu);
	if (dial_sess[u] != NULL)
		SSL_set_session(ssl, dial_sess[u]);
	pthread_mutex_unlock(&dial_sess_mu);
}

/* After a failed handshake: start the next one afresh. */
static void
dial_sess_drop(uint32_t u)
{
	SSL_SESSION *old;

	if (u >= dial_nsess)
		return;
	pthread_mutex_lock(&dial_sess_mu);
	old = dial_sess[u];
	dial_sess[u] = NULL;
	pthread_mutex_unlock(&dial_sess_mu);
	SSL_SESSION_free(old);
}

static int
dial_tls_start(struct dial *d, const struct ps_hop *h, uint32_t u)
{
	const char *name =
	        d->r->server_name[u] ? d->r->server_name[u] : h->at.name;
	struct in6_addr ip;
	char why[256];
	int r;

	d->ssl = SSL_new(d->r->ctx[u]);
	if (d->ssl == NULL || SSL_set_fd(d->ssl, d->ufd) != 1)
		return -ENOMEM;
	SSL_set_mode(d->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (inet_pton(AF_INET, name, &ip) == 1 ||
	    inet_pton(AF_INET6, name, &ip) == 1) {
		/* No SNI for an address (RFC 6066); check it as an IP SAN. */
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(d->ssl), name);
	} else {
		SSL_set_tlsext_host_name(d->ssl, name);
		SSL_set1_host(d->ssl, name);
	}
	dial_sess_use(d->ssl, u);
	ERR_clear_error();
	do {
		r = dial_tls_op(d, SSL_connect(d->ssl));
	} while (r == 0);
	if (r < 0) {
		if (r == -ETIMEDOUT)
			snprintf(why, sizeof(why), "handshake timed out");
		else
			dial_tls_why(d->ssl, why, sizeof(why));
		log_warn("TLS to %s (name %s) failed: %s", dial_display(d, u),
		         name, why);
		dial_sess_drop(u);
		return -ECONNREFUSED;
	}
	log_debug("TLS to %s: %s%s", dial_display(d, u),
	          SSL_get_version(d->ssl),
	          SSL_session_reused(d->ssl) ? ", session resumed" : "");
	return 0;
}

/* CONNECT inside TLS; bytes past the reply go to d->pre.  0, -errno,
 * or an HTTP status >= 300 as a positive number. */
static int
dial_tls_connect(struct dial *d, const struct ps_hop *h,
                 const struct ps_target *next, uint32_t u)
{
	char out[PS_HTTPC_REQ_MAX];
	size_t len = 0, need, off = 0;
	int n, r, status = 0;

	n = httpc_build_request(out, sizeof(out), next, h->user, h->pass);
	if (n < 0)
		return n;
	while (off < (size_t)n) {
		r = dial_tls_op(d, SSL_write(d->ssl, out + off,
		                             (int)((size_t)n - off)));
		if (r < 0)
			goto out;
		off += (size_t)r;
	}
	for (;;) {
		r = httpc_parse_reply(d->pre, len, &need, &status);
		if (r > 0) {
			memmove(d->pre, d->pre + r, len - (size_t)r);
			d->prelen = len - (size_t)r;
			r = 0;
			goto out;
		}
		if (r == PS_PROTO_E_REJECTED) {
			log_warn("https proxy %s refused %s:%u: status %d",
			         dial_display(d, u), d->host, d->dst.port,
			         status);
			r = status;
			goto out;
		}
		if (r < 0) {
			log_warn("https proxy %s: bad reply: %s",
			         dial_display(d, u), proto_strerror(r));
			r = -ECONNREFUSED;
			goto out;
		}
		r = dial_tls_op(d, SSL_read(d->ssl, d->pre + len,
		                            (int)(sizeof(d->pre) - len)));
		if (r < 0) {
			log_warn("https proxy %s closed or failed during "
			         "CONNECT",
			         dial_display(d, u));
			goto out;
		}
		len += (size_t)r;
	}
out:
	explicit_bzero(out, sizeof(out));
	return r;
}

/* Dial the whole chain.  0, -errno or an upstream's HTTP status. */
static int
dial_chain(struct dial *d)
{
	struct ps_hop hops[PS_MAX_HOPS];
	struct ps_target next;
	char name[PS_MAX_HOST + 1];
	size_t i;
	int r;

	for (i = 0; i < d->n; i++)
		dial_hop(d->r, d->ups[i], &hops[i]);
	r = dial_first(d, &hops[0]);
	if (r < 0) {
		log_warn("upstream %s: connect: %s", dial_display(d, d->ups[0]),
		         strerror(-r));
		return r;
	}
	for (i = 0; i < d->n; i++) {
		next = i + 1 < d->n ? hops[i + 1].at : d->dst;
		if (hops[i].scheme == PS_SCHEME_HTTPS) {
			if (d->ssl != NULL) {
				log_warn(
				        "%s: TLS inside TLS (two https:// hops "
				        "in one chain) is not supported",
				        dial_display(d, d->ups[i]));
				return -ECONNREFUSED;
			}
			r = dial_tls_start(d, &hops[i], d->ups[i]);
			if (r == 0)
				r = dial_tls_connect(d, &hops[i], &next,
				                     d->ups[i]);
		} else if (d->ssl != NULL) {
			if (hops[i].scheme != PS_SCHEME_HTTP) {
				log_warn("%s: only http:// hops may follow an "
				         "https:// hop",
				         dial_display(d, d->ups[i]));
				return -ECONNREFUSED;
			}
			r = dial_tls_connect(d, &hops[i], &next, d->ups[i]);
		} else {
			if (hops[i].scheme == PS_SCHEME_SOCKS4 ||
			    hops[i].scheme == PS_SCHEME_SOCKS5) {
				r = dial_resolve(&next, &next, name,
				                 sizeof(name));
				if (r < 0)
					return r;
			}
			r = io_handshake(d->ufd, &hops[i], &next, dial_left(d),
			                 0);
		}
		if (r != 0)
			return r;
	}
	return 0;
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
	if (r == 401 || r == 407 || r == -EACCES)
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
	r = dial_chain(d);
	if (r != 0) {
		dial_reply(d->cfd, dial_status_line(r));
		goto fail;
	}
	dial_reply(d->cfd, "HTTP/1.1 200 Connection established\r\n\r\n");
	if (relay_add(d->r, d->cfd, d->ufd, d->ssl, d->pre, d->prelen) == 0)
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

/* One client context: its CA store and whether it verifies. */
static SSL_CTX *
dial_ctx_new(const char *ca, const char *ca_from, int skip,
             const char *insecure_from, const char *display)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(
	        ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, dial_sess_new);
	/* Read what the socket has, not one record header and then its body
	 * (two read()s per 16 KiB record on a bulk download).  Buffered
	 * bytes are safe: the data path reads until OpenSSL says
	 * WANT_READ (relay_round), so none wait without an event. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
	if (ca != NULL && *ca != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			log_err("cannot load the CA file %s (%s)", ca, ca_from);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_err("cannot load the system CA store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (skip) {
		log_warn("insecure_skip_verify (%s): the certificate of %s is "
		         "NOT verified",
		         insecure_from, display);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

/* One https:// upstream's TLS settings as they take effect: what the
 * compiler resolved for it (its own tls: keys, else proxy.tls's), each
 * overridden by its environment variable when that is set (non-empty). */
struct dial_tls {
	const char *ca, *ca_from; /* ca "" = the system store */
	const char *name;         /* "" = the proxy's host */
	int skip;                 /* insecure_skip_verify */
	const char *skip_from;
};

static void
dial_tls_of(const struct relay *r, const struct ps_t_upstream *up,
            struct dial_tls *t)
{
	const char *env_ca = secure_getenv(PS_ENV_TLS_CA);
	const char *env_name = secure_getenv(PS_ENV_TLS_NAME);
	const char *env_insecure = secure_getenv(PS_ENV_TLS_INSECURE);

	t->ca = env_ca;
	t->ca_from = PS_ENV_TLS_CA;
	if (t->ca == NULL || *t->ca == '\0') {
		t->ca = table_str(&r->v, up->tls_ca_off);
		t->ca_from = "tls.ca_file in the config";
	}
	t->name = env_name;
	if (t->name == NULL || *t->name == '\0')
		t->name = table_str(&r->v, up->tls_name_off);
	t->skip = (up->tls_flags & PS_T_TLS_INSECURE) != 0;
	t->skip_from = "config";
	if (env_insecure != NULL && (strcmp(env_insecure, "1") == 0 ||
	                             strcmp(env_insecure, "0") == 0)) {
		t->skip = strcmp(env_insecure, "1") == 0;
		t->skip_from = PS_ENV_TLS_INSECURE;
	}
}

/* A context per https:// upstream; upstreams whose CA file and
 * verification come out the same share one. */
int
dial_ctx_init(struct relay *r)
{
	size_t n = r->v.nupstreams, u, k;

	r->ctx = calloc(n ? n : 1, sizeof(*r->ctx));
	r->server_name = calloc(n ? n : 1, sizeof(*r->server_name));
	dial_sess = calloc(n ? n : 1, sizeof(*dial_sess));
	if (r->ctx == NULL || r->server_name == NULL || dial_sess == NULL)
		return -ENOMEM;
	dial_nsess = n;
	for (u = 0; u < n; u++) {
		const struct ps_t_upstream *up = &r->v.upstreams[u];
		struct dial_tls t, o;

		if (up->scheme != PS_SCHEME_HTTPS)
			continue;
		dial_tls_of(r, up, &t);
		r->server_name[u] = *t.name != '\0' ? t.name : NULL;
		for (k = 0; k < u && r->ctx[u] == NULL; k++) {
			if (r->ctx[k] == NULL)
				continue;
			dial_tls_of(r, &r->v.upstreams[k], &o);
			if (strcmp(o.ca, t.ca) == 0 && o.skip == t.skip) {
				SSL_CTX_up_ref(r->ctx[k]);
				r->ctx[u] = r->ctx[k];
			}
		}
		if (r->ctx[u] != NULL)
			continue;
		r->ctx[u] = dial_ctx_new(t.ca, t.ca_from, t.skip, t.skip_from,
		                         table_str(&r->v, up->display_off));
		if (r->ctx[u] == NULL)
			return -EINVAL;
	}
	return 0;
}
