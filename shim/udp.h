/*
 * proxyshim preload library: udp: block (shim/udp.c).
 */
#ifndef PROXYSHIM_SHIM_UDP_H
#define PROXYSHIM_SHIM_UDP_H

#include <sys/socket.h>

/* 0 when fd may send to sa, else -EPERM. */
int udp_check(int fd, const struct sockaddr *sa, socklen_t len);

#endif
