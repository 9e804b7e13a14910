/*
 * proxyshim relay: the TLS relay for https:// upstreams (`proxyshim relay`).
 * relay.c owns the listener, the idle timer and the epoll data path;
 * dial.c runs one thread per new connection: check the request and its
 * secret, dial the chain, TLS, CONNECT inside TLS, answer 200, then hand
 * both ends to the data path.
 */
#ifndef PROXYSHIM_RELAY_PRIV_H
#define PROXYSHIM_RELAY_PRIV_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proxyshim/relay.h"
#include "proxyshim/table.h"

#define RELAY_BUF (64 * 1024) /* per direction and tunnel */
#define RELAY_MAX_DIALS 1024  /* handshakes in progress */

struct relay {
	struct ps_table_view v;
	struct ps_relay_seg *seg;
	SSL_CTX **ctx;            /* per upstream index; NULL unless
	                             https:// (dial_ctx_init) */
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
int dial_ctx_init(struct relay *r);
void *dial_run(void *arg);

/* relay.c: take over a connected pair; pre = upstream bytes already
 * read past the CONNECT reply.  0 or -errno (the caller closes). */
int relay_add(struct relay *r, int cfd, int ufd, SSL *ssl, const void *pre,
              size_t prelen);
void relay_release(struct relay *r);
/* `proxyshim relay --table NAME [--idle S] [--detach]` */
int relay_main(int argc, char **argv);

#endif
