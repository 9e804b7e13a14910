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
	/* The resolver's hooks (shim/getaddrinfo.c, gethostbyname.c,
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

/* The resolver seam (shim/getaddrinfo.c).  The run tree's name map, NULL
 * when no table is active or it cannot be mapped. */
struct names_map *shim_names(void);
struct ps_dest;
/* connect path, no allocation: for a fake address set d->name to its name
 * and clear the address (returns 1; -EHOSTUNREACH when the name is
 * unknown); for a recorded real address set d->name too (returns 0). buf
 * holds the name. */
int shim_names_dest(struct ps_dest *d, char *buf, size_t size);
/* A fake destination that routes direct: resolve d->name for real and
 * connect fd (socket family sockfam) there.  0 or -errno (-EINPROGRESS). */
int shim_names_direct(int fd, int sockfam, const struct ps_dest *d);
/* Record a locally resolved address of name; a fake slot for name. */
void shim_names_record(const char *name, int family, const void *addr);
int shim_fake_slot_for(const char *name, uint32_t *slot);
uint16_t shim_service_port(const char *service);
/* 1 when name must not be looked up at all: the table was asked for but
 * is unusable (SHIM_BROKEN), so which names are dns: remote is unknown;
 * fail closed like connect() does.  localhost and numeric hosts pass. */
int shim_name_refused(const char *name);
/* https:// upstreams (shim/relay.c): connect fd to the table's TLS relay,
 * starting it when needed, and have it dial ups[0..n-1] to dst.  0 or
 * -errno (docs/behaviour.md#errno-mapping). */
struct ps_target;
int relay_tunnel(int fd, int sockfam, const struct ps_table_view *v,
                 const uint32_t *ups, size_t n, const struct ps_target *dst);
/* udp: block (shim/udp.c): 0 when fd may send to sa, else -EPERM. */
int udp_check(int fd, const struct sockaddr *sa, socklen_t len);
/* shim/connect.c: a sockaddr as a routing destination (0, or 1 when it is
 * not AF_INET/AF_INET6), and loopback (127/8, ::1, ::ffff:127/104). */
int shim_dest_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                            struct ps_dest *d);
int shim_dest_is_loopback(const struct ps_dest *d);

#endif
