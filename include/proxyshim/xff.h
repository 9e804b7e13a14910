/*
 * proxyshim: the client address from a trusted reverse proxy's HTTP
 * headers (docs/behaviour.md#reverse-proxy-side): X-Forwarded-For, X-Real-IP,
 * True-Client-IP, CF-Connecting-IP.  Pure: works on the peeked bytes of the
 * first request's header block; no I/O, no allocation.
 */
#ifndef PROXYSHIM_XFF_H
#define PROXYSHIM_XFF_H

#include <stddef.h>
#include <stdint.h>

/* How much of a request the shim peeks at most. */
#define PS_XFF_PEEK_MAX 8192

/* 1 when (family, addr) is a trusted origin (route_trusted() in the shim). */
typedef int (*ps_xff_trusted_fn)(const void *ctx, int family,
                                 const uint8_t *addr);

/*
 * Where the header block ends: the length through the blank line (CRLF
 * CRLF, LF LF or a mix), 0 when it is not complete in buf[0..len), -1 when
 * the bytes cannot be an HTTP/1.x request (the first line does not start
 * with a method token and a space), so waiting for more is pointless.
 */
long xff_header_end(const char *buf, size_t len);

/*
 * The client, from the complete lines of buf (a partial last line is
 * ignored).  headers[0..nheaders) are enum ps_rp_header values, tried in
 * that order (PS_RP_PROXY entries are skipped).  X-Forwarded-For: every
 * such line, joined in order, read right to left; the client is the first
 * address that is not trusted; a token that is not an address stops the
 * walk (nothing usable from this header); all trusted → the leftmost.  The
 * others: the first value of the first such line.  Ports and brackets are
 * stripped ("1.2.3.4:567", "[::1]:80").  IPv4-mapped IPv6 becomes IPv4.
 * Returns 1 with *family (AF_INET/AF_INET6) and addr, or 0: nothing usable.
 */
int xff_pick(const char *buf, size_t len, const uint8_t *headers,
             size_t nheaders, ps_xff_trusted_fn trusted, const void *ctx,
             int *family, uint8_t addr[16]);

/* One token ("1.2.3.4", " [::1]:80 ", "1.2.3.4:567") → address.  1 / 0. */
int xff_parse_addr(const char *s, size_t len, int *family, uint8_t addr[16]);

#endif
