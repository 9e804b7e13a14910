/*
 * TLS to https:// upstreams, for the relay and the probe: one client
 * context per distinct CA file and verification setting, TLS session
 * resumption, and the TLS stream as a transport of the hop dialler
 * (include/proxyshim/dial.h), so that every hop after an https:// one runs
 * the same handshake driver as a plain one
 * (docs/behaviour.md#chains-through-an-https-upstream).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/dial.h"
#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "relay.h"

/* TLS session resumption, as curl and stunnel's client do it: the newest
 * session of each https:// upstream (indexed like the table's upstreams)
 * is offered on the next handshake with it.  A resumed handshake skips
 * the proxy's certificate, its signature and our chain verification.  The
 * cache lives and dies with this process, so with its table and TLS
 * settings. */
static SSL_SESSION **tls_sess;
static size_t tls_nsess;
static pthread_mutex_t tls_sess_mu = PTHREAD_MUTEX_INITIALIZER;

/* Why the last TLS operation failed, for the log. */
static void
tls_why(SSL *ssl, char *buf, size_t size)
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

/* OpenSSL's new-session callback (end of a TLS 1.2 handshake, or a TLS
 * 1.3 ticket, possibly in the data path's thread): keep the newest. */
static int
tls_sess_new(SSL *ssl, SSL_SESSION *s)
{
	SSL_SESSION **slot = SSL_get_app_data(ssl), *old;

	if (slot == NULL || !SSL_SESSION_is_resumable(s))
		return 0;
	pthread_mutex_lock(&tls_sess_mu);
	old = *slot;
	*slot = s;
	pthread_mutex_unlock(&tls_sess_mu);
	SSL_SESSION_free(old);
	return 1; /* the reference is ours now */
}

/* Offer upstream u's session to ssl and have new ones stored for u. */
static void
tls_sess_use(SSL *ssl, uint32_t u)
{
	if (u >= tls_nsess)
		return;
	SSL_set_app_data(ssl, &tls_sess[u]);
	pthread_mutex_lock(&tls_sess_mu);
	if (tls_sess[u] != NULL)
		SSL_set_session(ssl, tls_sess[u]);
	pthread_mutex_unlock(&tls_sess_mu);
}

/* After a failed handshake: start the next one afresh. */
static void
tls_sess_drop(uint32_t u)
{
	SSL_SESSION *old;

	if (u >= tls_nsess)
		return;
	pthread_mutex_lock(&tls_sess_mu);
	old = tls_sess[u];
	tls_sess[u] = NULL;
	pthread_mutex_unlock(&tls_sess_mu);
	SSL_SESSION_free(old);
}

/* --- the TLS stream as a transport -------------------------------------- */

/* An SSL call's result as a transport's: > 0 bytes; 0 = would block, *ev
 * set; PS_IO_EOF; -errno. */
static ssize_t
tls_result(SSL *ssl, int ret, short *ev)
{
	unsigned long e;

	if (ret > 0)
		return ret;
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*ev = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*ev = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return PS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		return errno != 0 ? -errno : PS_IO_EOF;
	default:
		e = ERR_peek_last_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
		if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return PS_IO_EOF;
#endif
		(void)e;
		return -EPROTO;
	}
}

static ssize_t
tls_send(struct dial_io *io, const void *buf, size_t len, short *ev)
{
	struct tls_dial *t = io->ctx;

	ERR_clear_error();
	errno = 0;
	return tls_result(t->ssl, SSL_write(t->ssl, buf, (int)len), ev);
}

static ssize_t
tls_recv(struct dial_io *io, void *buf, size_t len, bool peek, short *ev)
{
	struct tls_dial *t = io->ctx;
	int n;

	ERR_clear_error();
	errno = 0;
	n = peek ? SSL_peek(t->ssl, buf, (int)len)
	         : SSL_read(t->ssl, buf, (int)len);
	return tls_result(t->ssl, n, ev);
}

/* The name the proxy's certificate must carry (and SNI). */
static const char *
tls_name(const struct relay *r, uint32_t u)
{
	if (r->server_name[u] != NULL)
		return r->server_name[u];
	return table_str(&r->v, r->v.upstreams[u].host_off);
}

/* The TLS handshake with hop i over io's socket, by dl. */
static int
tls_handshake(struct tls_dial *t, uint32_t u, struct dial_io *io,
              const struct ps_deadline *dl)
{
	const char *name = tls_name(t->r, u);
	struct in6_addr ip;
	short ev = 0;
	ssize_t n;
	int r;

	t->ssl = SSL_new(t->r->ctx[u]);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, io->fd) != 1)
		return -ENOMEM;
	SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (inet_pton(AF_INET, name, &ip) == 1 ||
	    inet_pton(AF_INET6, name, &ip) == 1) {
		/* No SNI for an address (RFC 6066); check it as an IP SAN. */
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name);
	} else {
		SSL_set_tlsext_host_name(t->ssl, name);
		SSL_set1_host(t->ssl, name);
	}
	tls_sess_use(t->ssl, u);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		n = tls_result(t->ssl, SSL_connect(t->ssl), &ev);
		if (n > 0)
			return 0;
		if (n < 0)
			return (int)n;
		r = io_wait(io->fd, ev, dl);
		if (r < 0)
			return r;
	}
}

/* struct dial_tls's start(): TLS with hop i, then the stream is the
 * transport for its CONNECT and every later hop. */
static int
tls_start(struct dial_tls *seam, size_t i, const struct ps_hop *hop,
          struct dial_io *io, const struct ps_deadline *dl,
          struct dial_report *rep)
{
	struct tls_dial *t = seam->ctx;
	uint32_t u = t->ups[i];
	const char *display =
	        table_str(&t->r->v, t->r->v.upstreams[u].display_off);
	int r;

	(void)hop;
	r = tls_handshake(t, u, io, dl);
	if (r < 0) {
		if (r == -ETIMEDOUT)
			snprintf(rep->why, sizeof(rep->why),
			         "handshake timed out");
		else if (t->ssl != NULL)
			tls_why(t->ssl, rep->why, sizeof(rep->why));
		else
			snprintf(rep->why, sizeof(rep->why), "out of memory");
		if (!t->quiet)
			log_warn("TLS to %s (name %s) failed: %s", display,
			         tls_name(t->r, u), rep->why);
		tls_sess_drop(u);
		return -ECONNREFUSED;
	}
	log_debug("TLS to %s: %s%s", display, SSL_get_version(t->ssl),
	          SSL_session_reused(t->ssl) ? ", session resumed" : "");
	io->ctx = t;
	io->poll_first = false;
	io->send = tls_send;
	io->recv = tls_recv;
	return 0;
}

void
tls_dial_init(struct tls_dial *t, const struct relay *r, const uint32_t *ups,
              bool quiet)
{
	memset(t, 0, sizeof(*t));
	t->seam.start = tls_start;
	t->seam.ctx = t;
	t->r = r;
	t->ups = ups;
	t->quiet = quiet;
}

/* One client context: its CA store and whether it verifies. */
static SSL_CTX *
tls_ctx_new(const char *ca, const char *ca_from, int skip,
            const char *insecure_from, const char *display)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(
	        ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_sess_new);
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
struct tls_settings {
	const char *ca, *ca_from; /* ca "" = the system store */
	const char *name;         /* "" = the proxy's host */
	int skip;                 /* insecure_skip_verify */
	const char *skip_from;
};

static void
tls_settings_of(const struct relay *r, const struct ps_t_upstream *up,
                struct tls_settings *t)
{
	const char *env_ca = env_get(PS_ENV_TLS_CA);
	const char *env_name = env_get(PS_ENV_TLS_NAME);
	const char *env_insecure = env_get(PS_ENV_TLS_INSECURE);

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
tls_ctx_init(struct relay *r)
{
	size_t n = r->v.nupstreams, u, k;

	r->ctx = calloc(n ? n : 1, sizeof(*r->ctx));
	r->server_name = calloc(n ? n : 1, sizeof(*r->server_name));
	tls_sess = calloc(n ? n : 1, sizeof(*tls_sess));
	if (r->ctx == NULL || r->server_name == NULL || tls_sess == NULL)
		return -ENOMEM;
	tls_nsess = n;
	for (u = 0; u < n; u++) {
		const struct ps_t_upstream *up = &r->v.upstreams[u];
		struct tls_settings t, o;

		if (up->scheme != PS_SCHEME_HTTPS)
			continue;
		tls_settings_of(r, up, &t);
		r->server_name[u] = *t.name != '\0' ? t.name : NULL;
		for (k = 0; k < u && r->ctx[u] == NULL; k++) {
			if (r->ctx[k] == NULL)
				continue;
			tls_settings_of(r, &r->v.upstreams[k], &o);
			if (strcmp(o.ca, t.ca) == 0 && o.skip == t.skip) {
				SSL_CTX_up_ref(r->ctx[k]);
				r->ctx[u] = r->ctx[k];
			}
		}
		if (r->ctx[u] != NULL)
			continue;
		r->ctx[u] = tls_ctx_new(t.ca, t.ca_from, t.skip, t.skip_from,
		                        table_str(&r->v, up->display_off));
		if (r->ctx[u] == NULL)
			return -EINVAL;
	}
	return 0;
}
