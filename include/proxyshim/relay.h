/*
 * proxyshim: the TLS relay's rendezvous segment and wire conventions,
 * shared by the relay client in the library (shim/relay.c), which starts
 * and uses the relay, and by the TLS relay itself (relay/, `proxyshim
 * relay`), which alone links libssl
 * (docs/behaviour.md#https-upstreams-the-tls-relay).
 *
 * The rendezvous segment "/proxyshim-<uid>-v<ver>-<identity>-relay" (0600,
 * owner-checked like the table) holds the port and pid of the relay that
 * listens now and that relay's secret: every relay draws a new one from
 * getrandom() when it takes over the segment (relayseg_rotate), so a
 * secret is good for one relay's life only.  Every field is an atomic
 * word: a process dying at any point leaves nothing locked; `gen` is odd
 * while a relay rewrites the secret, and readers take the port and the
 * secret as one (relayseg_read).
 *
 * The relay client asks the relay for a tunnel with a plain HTTP CONNECT to the
 * final destination (include/proxyshim/relayreq.h), and sends it only
 * after the kernel has said that the socket it reached is owned by its
 * own uid (include/proxyshim/sockdiag.h); the relay serves only its own
 * uid, asked the same way, and only requests with its secret (407).
 */
#ifndef PROXYSHIM_RELAY_H
#define PROXYSHIM_RELAY_H

#include <stdatomic.h>
#include <stdint.h>

#define PS_RELAY_MAGIC 0x4c525350u /* "PSRL" read little-endian */
#define PS_RELAY_SECRET_LEN 32
#define PS_RELAY_SECRET_HEX (2 * PS_RELAY_SECRET_LEN)
#define PS_RELAY_SUFFIX "-relay"
/* How long a start attempt holds the start lock (another process waits
 * for that relay instead of starting one more). */
#define PS_RELAY_START_MS 3000

struct ps_relay_seg {
	uint32_t magic;
	uint32_t size; /* sizeof(struct ps_relay_seg) */
	_Atomic uint64_t secret[PS_RELAY_SECRET_LEN / 8];
	_Atomic uint32_t port;    /* 0 = no relay listening; host order */
	_Atomic int32_t pid;      /* the relay that owns the record; 0 none */
	_Atomic int64_t spawn_ms; /* CLOCK_MONOTONIC ms of the last start */
	_Atomic uint32_t gen;     /* odd while the secret is rewritten */
	uint32_t pad;
};

/* "/proxyshim-<uid>-v<ver>-<16 hex>-relay" */
void relayseg_name(uint64_t identity, char *buf, size_t size);
/* Map the segment of a table read-write, publishing it (with a fresh
 * secret from getrandom()) when it does not exist yet; one of ours with
 * another layout (an older proxyshim) is replaced.  0 or -errno (-EPERM:
 * held by another user or not private; -EINVAL: not a relay segment). */
int relayseg_open(uint64_t identity, struct ps_relay_seg **out);
/* A new secret (the relay, once it owns the record).  0 or -EIO. */
int relayseg_rotate(struct ps_relay_seg *s);
/* The port and the secret (lower-case hex, NUL-terminated; hex: HEX + 1
 * bytes) of one and the same relay.  0, or -EAGAIN while a relay is
 * rewriting them (try again shortly). */
int relayseg_read(const struct ps_relay_seg *s, uint32_t *port, char *hex);
/* The secret alone, as relayseg_read(). */
int relayseg_hex(const struct ps_relay_seg *s, char *hex);
int64_t relayseg_now_ms(void);

#endif
