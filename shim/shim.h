/*
 * proxyshim preload library: state shared by the hook files.
 */
#ifndef PROXYSHIM_SHIM_H
#define PROXYSHIM_SHIM_H

#include <netdb.h>
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

/* https:// upstreams (shim/relay.c): connect fd to the table's TLS relay,
 * starting it when needed, and have it dial ups[0..n-1] to dst.  0 or
 * -errno (docs/behaviour.md#errno-mapping). */
struct ps_target;
int relay_tunnel(int fd, int sockfam, const struct ps_table_view *v,
                 const uint32_t *ups, size_t n, const struct ps_target *dst);

#endif
