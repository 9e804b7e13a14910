/*
 * proxyshim preload library: state shared by the hook files.
 */
#ifndef PROXYSHIM_SHIM_H
#define PROXYSHIM_SHIM_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proxyshim/table.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

enum shim_mode {
	SHIM_PASS = 0, /* nothing configured: everything passes through */
	SHIM_ACTIVE,   /* a valid table is mapped */
	SHIM_BROKEN,   /* a table was asked for but is unusable: fail closed */
};

struct shim_state {
	enum shim_mode mode;
	struct ps_table_view view; /* base and size: the table's memory */
	char table_name[64];
};

extern struct shim_state shim;

/* The real libc functions, resolved once (shim/init.c). */
struct shim_real {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*sendto)(int, const void *, size_t, int,
	                  const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
	                   struct addrinfo **);
	void (*freeaddrinfo)(struct addrinfo *);
	/* The name hooks (shim/getaddrinfo.c, gethostbyname.c,
	 * getnameinfo.c) and udp: block (shim/udp.c). */
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *,
	                   socklen_t, char *, socklen_t, int);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
	                       struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *,
	                        size_t, struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *,
	                       char *, size_t, struct hostent **, int *);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	/* The reverse-proxy side (shim/accept.c). */
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
};
extern struct shim_real real;

/* Runs init exactly once; cheap to call from every hook. */
void shim_init(void);

/*
 * Live reload (shim/reload.c, docs/behaviour.md#live-reload).  Every hook
 * that decides takes its table from shim_policy(), once per decision, and
 * uses that one table to the end of it: old or new, never a mix.  The
 * cost when nothing changed: one acquire load of the shared generation,
 * and (automatic pickup) one read of the coarse clock against the next
 * time the file is due to be looked at.
 */
struct shim_reload_hot {
	/* The current segment's generation; before set-up a local word
	 * that differs from seen, so the first call sets up. */
	_Atomic(const _Atomic uint64_t *) watch;
	_Atomic uint64_t seen;         /* generation this process follows */
	_Atomic int64_t next_check_ms; /* INT64_MAX: no automatic pickup */
	_Atomic(const struct ps_table_view *) view; /* NULL: shim.view */
};
extern struct shim_reload_hot reload_hot;
void reload_slow(void);
int64_t reload_now_ms(void);

static inline const struct ps_table_view *
shim_policy(void)
{
	const _Atomic uint64_t *w =
	        atomic_load_explicit(&reload_hot.watch, memory_order_relaxed);
	const struct ps_table_view *v;

	if (atomic_load_explicit(w, memory_order_acquire) !=
	            atomic_load_explicit(&reload_hot.seen,
	                                 memory_order_relaxed) ||
	    (atomic_load_explicit(&reload_hot.next_check_ms,
	                          memory_order_relaxed) != INT64_MAX &&
	     reload_now_ms() >= atomic_load_explicit(&reload_hot.next_check_ms,
	                                             memory_order_relaxed)))
		reload_slow();
	v = atomic_load_explicit(&reload_hot.view, memory_order_acquire);
	return v != NULL ? v : &shim.view;
}

/* The table in force without looking for a change (hooks that only read
 * settings: accept, udp). */
static inline const struct ps_table_view *
shim_view(void)
{
	const struct ps_table_view *v =
	        atomic_load_explicit(&reload_hot.view, memory_order_acquire);

	return v != NULL ? v : &shim.view;
}

/* A decision that goes on to block (a tunnel) holds its table until it
 * is done, so that the table is not reused under it. */
void reload_pin(const struct ps_table_view *v);
void reload_unpin(const struct ps_table_view *v);
/* The published name of v's table ("" for a private one), and where its
 * TLS relay's segment is kept (shim/relay.c). */
struct ps_relay_seg;
const char *reload_table_name(const struct ps_table_view *v);
/* Where the state segment of v's table is kept (shim/state.c). */
_Atomic(void *) *reload_state_slot(const struct ps_table_view *v);
_Atomic(struct ps_relay_seg *) *
reload_relay_slot(const struct ps_table_view *v);

/* Compile and publish src with the compiler library next to this one
 * (shim/init.c): the compiler's return, or -ENOENT when it cannot be
 * loaded (logged). */
struct ps_source;
int shim_compiler_publish(const struct ps_source *src, char *name,
                          size_t namesz, uint8_t **priv, size_t *privlen,
                          char *err, size_t errsz);

/* https:// upstreams (shim/relay.c): connect fd to the table's TLS relay,
 * starting it when needed, and have it dial ups[0..n-1] to dst.  0 or
 * -errno (docs/behaviour.md#errno-mapping). */
struct ps_target;
int relay_tunnel(int fd, int sockfam, const struct ps_table_view *v,
                 const uint32_t *ups, size_t n, const struct ps_target *dst);

#endif
