/*
 * Per-socket state of the reverse-proxy side: the real client of an
 * accepted connection, for getpeername().  See shim/fdstate.c.
 */
#ifndef PROXYSHIM_FDSTATE_H
#define PROXYSHIM_FDSTATE_H

#include <sys/socket.h>

/* Remember that the socket open as fd reports sa as its peer.  Silently
 * does nothing when the state cannot be kept (logged once). */
void fdstate_set(int fd, const struct sockaddr *sa, socklen_t len);

/* The address recorded for the socket open as fd (or for a duplicate of
 * it: dup, dup2, dup3, F_DUPFD).  1 with out and len set, or 0. */
int fdstate_get(int fd, struct sockaddr_storage *out, socklen_t *len);

#endif
