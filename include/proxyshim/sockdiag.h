/*
 * proxyshim: who owns the socket at the other end of a loopback TCP
 * connection, as the kernel reports it (NETLINK_SOCK_DIAG, the interface
 * ss(8) reads).  The library asks it of the TLS relay before it sends the
 * relay's secret, and the relay asks it of every connection it accepts
 * (docs/behaviour.md#https-upstreams-the-tls-relay): another local user can
 * bind a port we recorded, or connect to ours, but cannot make the kernel
 * say that its socket is ours.
 */
#ifndef PROXYSHIM_SOCKDIAG_H
#define PROXYSHIM_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One TCP socket as the kernel describes it. */
struct sockdiag_sock {
	int family;     /* AF_INET or AF_INET6 */
	uint8_t state;  /* TCP_ESTABLISHED, TCP_LISTEN, ... */
	uint16_t sport; /* its local port, host order */
	uint16_t dport; /* its remote port, host order */
	uint32_t uid;   /* its owner (the creator's fsuid) */
	uint32_t inode; /* 0 = no process holds it (queued, or orphaned) */
};

/* Pure halves, over buffers (unit tests; no socket needed). */

/* The request for the one TCP socket whose local end is src:sport and
 * whose remote end is dst:dport (addresses in network order, 4 or 16
 * bytes by family; dst 0 and dport 0 ask for the listener of src:sport).
 * Returns its length, or -ENOBUFS. */
int sockdiag_build(void *buf, size_t size, int family, const void *src,
                   uint16_t sport, const void *dst, uint16_t dport,
                   uint32_t seq);
/* The kernel's answer to request seq: 0 with *out filled, -errno from an
 * error message (-ENOENT: no such socket), -EBADMSG when it is neither. */
int sockdiag_parse(const void *buf, size_t len, uint32_t seq,
                   struct sockdiag_sock *out);

/* A NETLINK_SOCK_DIAG socket (close-on-exec), or -errno. */
int sockdiag_open(void);

/*
 * Is the socket at the other end of fd (a TCP socket connected over
 * loopback) owned by uid?  The peer socket is looked up by the exact
 * connection (its local end is fd's remote end and the other way round).
 * A socket that no process holds yet (still in its listener's accept
 * queue) is vouched for by that listener, which must be owned by uid
 * too; kernels before 6.x report such a socket as root's.
 * nl: a socket from sockdiag_open(), or -1 for one just for this call.
 * 0 yes; -EPERM owned by another uid (*who set when not NULL); -ENOENT no
 * such socket any more; other -errno when the kernel cannot be asked
 * (no sock_diag support): callers treat every non-zero answer as "no".
 */
int sockdiag_peer_owned(int nl, int fd, uid_t uid, uid_t *who);

#endif
