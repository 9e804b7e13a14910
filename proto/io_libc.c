/*
 * The libc functions proto/io.c calls, for every program but the preloaded
 * library, which defines these three itself (shim/init.c): in the library
 * `connect` names its own hook, and a reference to it here would also cost
 * every wrapped program a symbol lookup at load
 * (docs/performance.md#what-a-preloaded-start-costs).
 */
#include <netdb.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"

int (*io_real_connect)(int, const struct sockaddr *, socklen_t) = connect;
int (*io_real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                           struct addrinfo **) = getaddrinfo;
void (*io_real_freeaddrinfo)(struct addrinfo *) = freeaddrinfo;
