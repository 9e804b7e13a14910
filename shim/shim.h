/*
 * proxyshim preload library: state shared by the hook files.
 */
#ifndef PROXYSHIM_SHIM_H
#define PROXYSHIM_SHIM_H

#include <netdb.h>
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
	struct ps_table_view view;
	const void *base; /* mapping or private copy */
	size_t len;
	int priv;         /* base is malloc'ed, not mapped */
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
};
extern struct shim_real real;

/* Runs init exactly once; cheap to call from every hook. */
void shim_init(void);

#endif
