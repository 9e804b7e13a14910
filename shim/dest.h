/*
 * proxyshim preload library: destinations of the connect path.
 */
#ifndef PROXYSHIM_SHIM_DEST_H
#define PROXYSHIM_SHIM_DEST_H

#include <sys/socket.h>

struct ps_dest;

/* sa as a routing destination: 0, or 1 for what is never routed (no
 * address, or not AF_INET/AF_INET6). */
int dest_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                       struct ps_dest *d);
/* 127/8, ::1 and ::ffff:127/104. */
int dest_is_loopback(const struct ps_dest *d);

#endif
