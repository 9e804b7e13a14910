/*
 * proxyshim: the TLS relay's rendezvous segment and wire conventions,
 * shared by the relay client in the library (shim/relay.c), which starts
 * and uses the relay, and by the TLS relay itself (relay/, `proxyshim
 * relay`), which alone links libssl
 * (docs/behaviour.md#https-upstreams-the-tls-relay).
 *
 * The rendezvous segment "/proxyshim-<uid>-v<ver>-<identity>-relay" (0600,
 * owner-checked like the table) holds a random per-table secret, written
 * once when the segment is published and never changed, and the port and
 * pid of the relay that listens now.  Every field after the secret is an
 * atomic word: a process dying at any point leaves nothing locked.
 *
 * The relay client asks the relay for a tunnel with a plain HTTP CONNECT to the
 * final destination, with "Proxy-Authorization: Basic base64(U:S)" where
 * U = "u<i>,<j>,..." lists the table's upstream indices in chain order and
 * S is the secret in lower-case hex.  Anything else is refused (407).
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
	uint8_t secret[PS_RELAY_SECRET_LEN];
	_Atomic uint32_t port;    /* 0 = no relay listening; host order */
	_Atomic int32_t pid;      /* the relay listening on port */
	_Atomic int64_t spawn_ms; /* CLOCK_MONOTONIC ms of the last start */
};

/* "/proxyshim-<uid>-v<ver>-<16 hex>-relay" */
void relayseg_name(uint64_t identity, char *buf, size_t size);
/* Map the segment of a table read-write, publishing it (with a fresh
 * secret from getrandom()) when it does not exist yet.  0 or -errno
 * (-EPERM: held by another user or not private; -EINVAL: not a relay
 * segment). */
int relayseg_open(uint64_t identity, struct ps_relay_seg **out);
/* The secret as lower-case hex, NUL-terminated (out: HEX + 1 bytes). */
void relayseg_hex(const struct ps_relay_seg *s, char *out);
int64_t relayseg_now_ms(void);

#endif
