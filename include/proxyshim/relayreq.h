/*
 * proxyshim: the request the library sends the TLS relay, encoded (the
 * library) and decoded (the relay) here, next to each other, as pure
 * code over buffers (docs/behaviour.md#https-upstreams-the-tls-relay):
 *
 *   CONNECT host:port HTTP/1.1\r\n
 *   Host: host:port\r\n
 *   Proxy-Authorization: Basic base64("u<i>,<j>,...:" secret-hex)\r\n
 *   \r\n
 *
 * <i>,<j>,... are the table's upstream indices in chain order (1 to
 * PS_MAX_HOPS, decimal without leading zeros), the secret is the relay's
 * PS_RELAY_SECRET_HEX lower-case hex digits.  The relay reads the request
 * from any local user who can connect, so the decoder trusts nothing: it
 * is unit-tested and fuzzed (fuzz/fuzz_relayreq.c).
 */
#ifndef PROXYSHIM_RELAYREQ_H
#define PROXYSHIM_RELAYREQ_H

#include <stddef.h>
#include <stdint.h>

#include "proxyshim/proto.h"
#include "proxyshim/relay.h"
#include "proxyshim/table.h"

/* The longest request the relay reads. */
#define PS_RELAYREQ_MAX 4096

struct relayreq {
	char host[PS_MAX_HOST + 1]; /* as asked, without brackets */
	struct ps_target dst;       /* dst.name points into host */
	uint32_t ups[PS_MAX_HOPS];
	size_t n;
	char secret[PS_RELAY_SECRET_HEX + 1]; /* as presented */
};

/* The user part, "u<i>,<j>,...".  Its length, or -EINVAL (n out of 1 to
 * PS_MAX_HOPS) or -ENOBUFS. */
int relayreq_user(char *buf, size_t size, const uint32_t *ups, size_t n);
/* The whole request (httpc_build_request() with that user and the secret
 * as the password).  Its length or -errno. */
int relayreq_encode(char *buf, size_t size, const struct ps_target *dst,
                    const uint32_t *ups, size_t n, const char *secret_hex);
/* The length of the request header in buf[0..len), its blank line
 * included; 0 while it is incomplete; -E2BIG when PS_RELAYREQ_MAX bytes
 * hold no end. */
int relayreq_end(const char *buf, size_t len);
/* Decode the header buf[0..len) (len from relayreq_end()); upstream
 * indices must be below nups.  0; -EACCES when there are no well-formed
 * credentials (the relay answers 407); -EINVAL for anything else that is
 * not exactly the request above (400).  The secret is only decoded, not
 * checked: that is the relay's (with a constant-time compare). */
int relayreq_decode(const char *buf, size_t len, size_t nups,
                    struct relayreq *out);

#endif
