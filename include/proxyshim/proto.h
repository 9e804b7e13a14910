/*
 * proxyshim: proxy handshakes (SOCKS5, SOCKS4/4a, HTTP CONNECT).
 *
 * Two layers:
 *
 *  - Pure builders and parsers over caller-supplied buffers (socks5.c,
 *    socks4.c, httpc.c).  No I/O, no allocation, no logging: every one is
 *    unit-testable and fuzzable without a socket.
 *  - One I/O helper (io.c: deadlines, connect, resolve, the plain socket as
 *    a transport) and one handshake driver (dial.c, include/proxyshim/
 *    dial.h) that runs them over a transport with one deadline, EINTR
 *    retry, partial writes and exact-length reads, and reports the step
 *    that failed.  io_handshake() below is its plain-socket entry.
 *
 * Builders return the number of bytes written, or -EINVAL (no name and no
 * address; a name empty, over 255 bytes, or with control characters or
 * spaces; a credential over 255 bytes) / -ENOBUFS (buffer too small).
 * The PS_*_MAX sizes below are always enough.
 *
 * Parsers share one convention:
 *   > 0               the reply is complete and is exactly that many bytes
 *                     (the caller consumes that much and not one byte more);
 *   PS_PROTO_MORE (0) incomplete: *need is the total length the reply is
 *                     known to have so far (always > len).  For SOCKS it is
 *                     a true lower bound of the reply, so reading need - len
 *                     bytes can never read past it; for HTTP the end is not
 *                     known in advance and *need is len + 1;
 *   < 0               one of enum ps_proto_err.  A refusal is reported as
 *                     soon as the code is seen, without waiting for the rest
 *                     of the reply: the connection is dead anyway, and some
 *                     proxies close right after the code.
 */
#ifndef PROXYSHIM_PROTO_H
#define PROXYSHIM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxyshim/config.h"

/* The longest name a handshake field carries: SOCKS5 puts a name behind
 * one length byte, and the builders take the same bound for SOCKS4a and
 * CONNECT.  A wire-format limit, above PS_MAX_HOST (plus a trailing dot),
 * the longest name the rest of proxyshim ever hands a builder. */
#define PS_PROTO_NAME_MAX 255

/* Buffer sizes that always suffice for the builders. */
#define PS_SOCKS5_GREETING_MAX 4 /* VER NMETHODS 00 02 */
#define PS_SOCKS5_AUTH_MAX 513   /* 1 + 1 + 255 + 1 + 255 */
#define PS_SOCKS5_REQ_MAX 262    /* 4 + 1 + 255 + 2 */
#define PS_SOCKS5_REPLY_MAX 262  /* a domain-ATYP reply of 255 bytes */
#define PS_SOCKS4_REQ_MAX 520    /* 8 + userid\0 (256) + name\0 (256) */
#define PS_SOCKS4_REPLY_LEN 8
#define PS_HTTPC_REQ_MAX 2048 /* two host:port, Basic of 511 bytes */
/* HTTP reply header limit, status line and blank line included.  A header
 * of exactly this many bytes is accepted; one byte more is
 * PS_PROTO_E_TOO_BIG (mapped to ECONNREFUSED: a bad proxy reply). */
#define PS_HTTPC_HDR_MAX 16384

#define PS_PROTO_MORE 0

/* Parser failures.  Far from the -errno range so that the two can never be
 * confused; proto_errno() maps each to its errno
 * (docs/behaviour.md#errno-mapping). */
enum ps_proto_err {
	PS_PROTO_E_VERSION = -1000,   /* wrong protocol version byte */
	PS_PROTO_E_MALFORMED = -1001, /* bad ATYP, status line, unknown code,
	                                 a method we did not offer */
	PS_PROTO_E_NO_METHOD = -1002, /* SOCKS5 0xFF: no acceptable method */
	PS_PROTO_E_AUTH = -1003,      /* RFC 1929 status != 0 */
	PS_PROTO_E_REJECTED = -1004,  /* the proxy refused the request; the
	                                 code (REP, CD, HTTP status) is in the
	                                 out parameter: map it with *_errno() */
	PS_PROTO_E_TOO_BIG = -1005,   /* HTTP header over PS_HTTPC_HDR_MAX */
};
/* Every enum ps_proto_err lies in [PS_PROTO_E_LAST, PS_PROTO_E_VERSION]. */
#define PS_PROTO_E_LAST PS_PROTO_E_TOO_BIG

/*
 * A destination as sent to a proxy: a name, an address, or both.
 * Which one goes on the wire depends on the scheme (see io_handshake()).
 * The builders themselves send the name when there is one, else the
 * address.
 */
struct ps_target {
	const char *name; /* not necessarily NUL-terminated; NULL = none */
	size_t name_len;  /* 1..255 when name is set */
	int family;       /* AF_INET / AF_INET6, 0 = no address */
	uint8_t addr[16]; /* network order, 4 bytes used for AF_INET */
	uint16_t port;    /* host order */
};

/*
 * One upstream proxy, as the shim fills it from the table's upstream
 * record.  `at` is where the proxy listens: the caller connects hop 0 to
 * it, and passes hop i+1's `at` as the target of hop i's handshake.
 */
struct ps_hop {
	enum ps_scheme scheme;
	const char *user; /* NUL-terminated, ≤ 255 bytes; NULL = no creds */
	const char *pass; /* NULL with user set = empty password */
	struct ps_target at;
};

/* --- SOCKS5: RFC 1928, RFC 1929 ---------------------------------------- */

#define PS_SOCKS5_M_NONE 0x00
#define PS_SOCKS5_M_USERPASS 0x02
#define PS_SOCKS5_M_NOACCEPT 0xFF

/* What a CONNECT reply said.  Filled as far as it was parsed: rep as soon
 * as byte 1 is there, the rest on success. */
struct socks5_reply {
	uint8_t rep;      /* 0 = succeeded */
	uint8_t atyp;     /* 1, 3 or 4 */
	int family;       /* AF_INET / AF_INET6; 0 for a domain */
	uint8_t addr[16]; /* bound address (AF_INET / AF_INET6) */
	size_t name_off;  /* domain: offset of the name in the buffer */
	size_t name_len;  /* domain: 0..255 */
	uint16_t port;    /* bound port, host order */
};

/* Offers no-auth, plus user/pass when with_auth. */
int socks5_build_greeting(uint8_t *buf, size_t size, bool with_auth);
/* Needs 2 bytes; *method = the chosen method on success.  A method we did
 * not offer is PS_PROTO_E_MALFORMED, 0xFF is PS_PROTO_E_NO_METHOD. */
int socks5_parse_method_reply(const uint8_t *buf, size_t len, size_t *need,
                              bool offered_auth, uint8_t *method);
/* RFC 1929; user and pass ≤ 255 bytes each, pass NULL = "". */
int socks5_build_auth(uint8_t *buf, size_t size, const char *user,
                      const char *pass);
/* Needs 2 bytes.  VER 0x01 per RFC 1929; 0x05 is accepted too, as some
 * servers send it.  Status != 0 is PS_PROTO_E_AUTH. */
int socks5_parse_auth_reply(const uint8_t *buf, size_t len, size_t *need);
/* CONNECT: ATYP 3 with the name when dst has one, else ATYP 1 or 4. */
int socks5_build_request(uint8_t *buf, size_t size,
                         const struct ps_target *dst);
/* Parsed by the reply's own ATYP, whatever the request's was.  RSV is not
 * checked (being strict there only breaks sloppy servers). */
int socks5_parse_reply(const uint8_t *buf, size_t len, size_t *need,
                       struct socks5_reply *out);
/* REP → errno: 01,02,05,07,08 (and unassigned codes) ECONNREFUSED,
 * 03 ENETUNREACH, 04 EHOSTUNREACH, 06 ETIMEDOUT, 00 → 0. */
int socks5_rep_errno(unsigned rep);
const char *socks5_rep_str(unsigned rep);

/* --- SOCKS4 / SOCKS4a ---------------------------------------------------- */

#define PS_SOCKS4_GRANTED 0x5A
#define PS_SOCKS4_REJECTED 0x5B
#define PS_SOCKS4_NO_IDENTD 0x5C
#define PS_SOCKS4_BAD_IDENT 0x5D

/* With a name: SOCKS4a (DSTIP 0.0.0.1, the name after the userid).
 * Without: SOCKS4 with an IPv4 address (an IPv4-mapped IPv6 address is
 * unwrapped); another IPv6 address is -EAFNOSUPPORT.  userid NULL = "". */
int socks4_build_request(uint8_t *buf, size_t size, const struct ps_target *dst,
                         const char *userid);
/* Needs 8 bytes; VN must be 0.  *cd = the code as soon as it is known. */
int socks4_parse_reply(const uint8_t *buf, size_t len, size_t *need,
                       uint8_t *cd);
/* CD → errno: 5A → 0; 5B and 5C (the proxy could not reach our identd:
 * nothing the user can fix with credentials) → ECONNREFUSED; 5D (identd
 * reported a different user id: an authentication denial) → EACCES;
 * anything else → ECONNREFUSED. */
int socks4_cd_errno(unsigned cd);

/* --- HTTP CONNECT ------------------------------------------------------ */

/* "CONNECT host:port HTTP/1.1\r\nHost: host:port\r\n"
 * ["Proxy-Authorization: Basic base64(user:pass)\r\n"] "\r\n".
 * host is the name when dst has one, else the address; IPv6 (and a name
 * containing ':') in brackets.  user NULL = no credentials. */
int httpc_build_request(char *buf, size_t size, const struct ps_target *dst,
                        const char *user, const char *pass);
/* Finds the end of the header (an empty line: CRLF CRLF, LF LF or a mix)
 * and parses the status line (HTTP/1.x SP 3DIGIT).  *status is set as soon
 * as the status line is complete.  2xx: returns the header length, blank
 * line included.  Other statuses: PS_PROTO_E_REJECTED once the status line
 * is in.  No end within PS_HTTPC_HDR_MAX bytes: PS_PROTO_E_TOO_BIG. */
int httpc_parse_reply(const char *buf, size_t len, size_t *need, int *status);
/* 2xx → 0, 407 and 401 → EACCES, anything else → ECONNREFUSED. */
int httpc_status_errno(int status);
/* RFC 4648 base64 with padding, NUL-terminated.  Returns the length, or
 * -ENOBUFS when out cannot hold 4 * ceil(len / 3) + 1 bytes. */
int httpc_base64(char *out, size_t outsz, const void *in, size_t len);

/* --- common ------------------------------------------------------------ */

/* enum ps_proto_err → errno: NO_METHOD, AUTH → EACCES; everything else
 * (version, malformed, too big, a generic rejection) → ECONNREFUSED. */
int proto_errno(int err);
const char *proto_strerror(int err);

/* A name that may go on the wire: 1..PS_PROTO_NAME_MAX bytes, no NUL, no
 * control characters, no space (it ends up in an HTTP request line). */
static inline bool
proto_name_ok(const char *name, size_t len)
{
	size_t i;

	if (name == NULL || len == 0 || len > PS_PROTO_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* --- I/O --------------------------------------------------------------- */

/* The connect() that io_connect() calls: libc's in the programs that link
 * proto/io_libc.c; the preloaded shim defines it and sets it to
 * dlsym(RTLD_NEXT, "connect") before use (shim/init.c). */
extern int (*io_real_connect)(int, const struct sockaddr *, socklen_t);
/* connect() with the mark that run's seccomp filter lets through without
 * asking the supervisor (include/proxyshim/supervise.h): what our own
 * processes under run use (the library, the TLS relay). */
int io_marked_connect(int fd, const struct sockaddr *sa, socklen_t len);
/* The resolver io_resolve() calls, likewise: libc's by default, the real
 * (next) ones in the shim. */
struct addrinfo;
extern int (*io_real_getaddrinfo)(const char *, const char *,
                                  const struct addrinfo *, struct addrinfo **);
extern void (*io_real_freeaddrinfo)(struct addrinfo *);

/*
 * The first address of name (NUL-terminated) into t->family and t->addr;
 * family AF_INET or AF_INET6 asks for that family only, 0 for either.
 * 0, or -EHOSTUNREACH with *gai = getaddrinfo()'s code (0 when the name
 * resolved but to no IPv4 or IPv6 address) for the caller's message.
 */
int io_resolve(const char *name, int family, struct ps_target *t, int *gai);

/*
 * A sockaddr for t's address and port, for a socket of family sockfam
 * (0: t's own).  An AF_INET6 socket reaches an IPv4 address mapped
 * (::ffff:a.b.c.d); an AF_INET socket cannot reach an IPv6 one:
 * -EAFNOSUPPORT.  0, or -EINVAL when t has no address.
 */
int io_sockaddr(int sockfam, const struct ps_target *t,
                struct sockaddr_storage *ss, socklen_t *len);

/*
 * Connect fd to sa within timeout_ms (≤ 0: no limit): a non-blocking
 * connect, poll, SO_ERROR.  The file status flags are restored exactly.
 * Returns 0 or -errno (ECONNREFUSED, ETIMEDOUT, ENETUNREACH, ...).  When
 * an attempt that went in progress fails or times out it is dropped
 * (connect AF_UNSPEC), so the same fd can be connected again, e.g. to the
 * next upstream.
 */
int io_connect(int fd, const struct sockaddr *sa, socklen_t len,
               int timeout_ms);

/* Drop fd's connection (connect AF_UNSPEC) so it can connect afresh; its
 * options and an explicit bind survive.  0 or -errno. */
int io_disconnect(int fd);

/* Send the SOCKS5 greeting and request in one write when only no-auth is
 * offered (saves a round trip; some servers mishandle it, so off by
 * default).  Ignored for other schemes and when credentials are set. */
#define PS_IO_PIPELINE 0x1u

/*
 * Run hop's handshake on fd, already connected to hop->at, asking for a
 * tunnel to dst.  For a chain: io_connect(fd, hop[0].at), then
 * io_handshake(fd, &hop[i], i + 1 < n ? &hop[i + 1].at : dst, ...).
 *
 * What goes on the wire for dst:
 *   socks4, socks5   the address; a name-only target is -EINVAL (the
 *                    caller resolves first, docs/behaviour.md#proxy-urls);
 *                    a name is ignored
 *                    when an address is present;
 *   socks4a, socks5h,
 *   http             the name when present, else the address.
 *   https            -EPROTONOSUPPORT: TLS to the proxy is the caller's job
 *                    (the httpc_* builders can be reused over TLS).
 *
 * One overall deadline of timeout_ms (≤ 0: none).  Works on blocking and
 * non-blocking fds alike without touching their flags (MSG_DONTWAIT +
 * poll); MSG_NOSIGNAL, so a closing proxy never raises SIGPIPE.  Reads
 * exactly the reply and nothing after it: whatever the server sends next
 * stays in the socket for the program.
 *
 * Returns 0 or -errno (docs/behaviour.md#errno-mapping): refusals →
 * ECONNREFUSED, REP 03 / 04 → ENETUNREACH / EHOSTUNREACH, timeouts → ETIMEDOUT,
 * auth and "no acceptable method" → EACCES, bad replies and a proxy that closes
 * early → ECONNREFUSED.  Each of those logs one warning (never credentials).
 * Caller errors are found before anything is sent and are not logged:
 * -EINVAL (no usable target, a bad name, a credential over 255 bytes),
 * -EAFNOSUPPORT (socks4/4a to a real IPv6 address).
 *
 * Stack: about 19 KiB for http (the 16 KiB reply header), 1.5 KiB else.
 */
int io_handshake(int fd, const struct ps_hop *hop, const struct ps_target *dst,
                 int timeout_ms, unsigned flags);

#endif
