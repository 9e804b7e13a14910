/*
 * proxyshim relay: the TLS relay for https:// upstreams (`proxyshim relay`).
 * relay.c owns the listener, the idle timer and the epoll data path;
 * dial.c runs one thread per new connection: check the request and its
 * secret, dial the chain (proto/dial.c, with tls.c's TLS transport for the
 * https:// hop), answer, then hand both ends to the data path.
 */
#ifndef PROXYSHIM_RELAY_PRIV_H
#define PROXYSHIM_RELAY_PRIV_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxyshim/dial.h"
#include "proxyshim/relay.h"
#include "proxyshim/table.h"

#define RELAY_BUF (64 * 1024) /* per direction and tunnel */
#define RELAY_MAX_DIALS 1024  /* handshakes in progress */

struct relay {
	struct ps_table_view v;
	struct ps_relay_seg *seg;
	SSL_CTX **ctx;            /* per upstream index; NULL unless
	                             https:// (tls_ctx_init) */
	const char **server_name; /* per upstream: overrides SNI + the
	                             checked name; NULL = its host */
	int epfd;
	atomic_int active; /* dials + tunnels */
	atomic_int dials;
	_Atomic int64_t last_ms; /* last time active went to 0 */
};

struct relay_dial {
	struct relay *r;
	int cfd;
};

/* dial.c */
void *dial_run(void *arg);

/* tls.c: a client context per https:// upstream (sharing those whose CA
 * file and verification come out the same), server names, the session
 * cache.  0 or -errno. */
int tls_ctx_init(struct relay *r);

/* https:// hops for dial_chain() (include/proxyshim/dial.h): ups[i] is
 * hop i's upstream index.  ssl is the session of the https:// hop once
 * its handshake began (the caller frees it); quiet: no log lines. */
struct tls_dial {
	struct dial_tls seam;
	const struct relay *r;
	const uint32_t *ups;
	bool quiet;
	SSL *ssl;
};
void tls_dial_init(struct tls_dial *t, const struct relay *r,
                   const uint32_t *ups, bool quiet);

/* relay.c: take over a connected pair; pre = upstream bytes already
 * read past the CONNECT reply.  0 or -errno (the caller closes). */
int relay_add(struct relay *r, int cfd, int ufd, SSL *ssl, const void *pre,
              size_t prelen);
void relay_release(struct relay *r);
/* `proxyshim relay --table NAME [--idle S] [--detach]` */
int relay_main(int argc, char **argv);

#endif
