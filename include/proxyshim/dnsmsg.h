/*
 * proxyshim: DNS messages, as the DNS stub reads and writes them
 * (docs/behaviour.md#names-for-static-and-go-programs).  Pure code over
 * buffers: no allocation, no I/O.  RFC 1035 section 4: a 12-byte header
 * (ID, flags, four counts), then the question: QNAME as length-prefixed
 * labels ending in a zero byte, QTYPE, QCLASS.
 *
 * A query is taken only when it is a standard query (QR clear, OPCODE 0)
 * with exactly one question whose name is plain labels: each at most 63
 * bytes, no compression pointer (0xC0) and no other label type, and the
 * whole name at most PS_MAX_HOST characters written out (255 bytes on the
 * wire).  What follows the question (answer, authority, additional
 * records: an EDNS OPT record, say) is not read and never answered.
 *
 * API (stable):
 *
 *   int dnsmsg_parse_query(const uint8_t *buf, size_t len,
 *                          struct dnsmsg_query *q);
 *   int dnsmsg_build_reply(uint8_t *buf, size_t size,
 *                          const struct dnsmsg_query *q,
 *                          const struct dnsmsg_answer *a);
 *   int dnsmsg_build_error(uint8_t *buf, size_t size, const uint8_t *query,
 *                          size_t len, int err);
 *   int dnsmsg_tcp_next(const uint8_t *buf, size_t have, size_t max,
 *                       size_t *need);
 *   void dnsmsg_tcp_put_len(uint8_t *buf, size_t len);
 */
#ifndef PROXYSHIM_DNSMSG_H
#define PROXYSHIM_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#include "proxyshim/config.h" /* PS_MAX_HOST */

#define DNSMSG_HDR_LEN 12
#define DNSMSG_UDP_MAX 512 /* a UDP reply without EDNS, RFC 1035 4.2.1 */
#define DNSMSG_LABEL_MAX 63
/* A name on the wire: PS_MAX_HOST characters are PS_MAX_HOST + 2 bytes
 * (a length byte before the first label, the root's zero byte after). */
#define DNSMSG_NAME_WIRE_MAX (PS_MAX_HOST + 2)
/* A name as text, in the presentation form of RFC 1035 5.1: a byte other
 * than a letter, digit, '-' or '_' is written \DDD (a '.' inside a label
 * too), so the text is unambiguous and at most four times the bytes. */
#define DNSMSG_NAME_TEXT_MAX (4 * PS_MAX_HOST)
/* The longest query the stub reads (a question and an EDNS record fit
 * many times over); a longer TCP message closes its connection. */
#define DNSMSG_QUERY_MAX 1232
#define DNSMSG_MAX_ADDRS 16 /* addresses in one answer */
/* The longest reply dnsmsg_build_reply() writes: every answer record
 * points back at the question's name (2 + 10 bytes) and carries an
 * IPv6 address. */
#define DNSMSG_REPLY_MAX                                                       \
	(DNSMSG_HDR_LEN + DNSMSG_NAME_WIRE_MAX + 4 +                           \
	 DNSMSG_MAX_ADDRS * (12 + 16))

#define DNSMSG_TYPE_A 1
#define DNSMSG_TYPE_AAAA 28
#define DNSMSG_CLASS_IN 1

#define DNSMSG_RCODE_NOERROR 0
#define DNSMSG_RCODE_FORMERR 1
#define DNSMSG_RCODE_SERVFAIL 2
#define DNSMSG_RCODE_NXDOMAIN 3
#define DNSMSG_RCODE_NOTIMP 4
#define DNSMSG_RCODE_REFUSED 5

/* Why a query is not taken (negative returns). */
enum dnsmsg_err {
	DNSMSG_E_SHORT = -1,    /* under 12 bytes: not even a header */
	DNSMSG_E_RESPONSE = -2, /* QR set: a response, never answered */
	DNSMSG_E_OPCODE = -3,   /* not a standard query (NOTIMP) */
	DNSMSG_E_QDCOUNT = -4,  /* not exactly one question */
	DNSMSG_E_TRUNC = -5,    /* the question runs past the message */
	DNSMSG_E_LABEL = -6,    /* label over 63 bytes or of another type */
	DNSMSG_E_POINTER = -7,  /* compression pointer in the question */
	DNSMSG_E_NAME = -8,     /* name over PS_MAX_HOST characters */
	DNSMSG_E_SPACE = -9,    /* the buffer cannot hold the reply */
	DNSMSG_E_INVAL = -10,   /* an answer the builder cannot write */
	DNSMSG_E_TOO_BIG = -11, /* a TCP message over the caller's maximum */
	DNSMSG_MORE = -12,      /* TCP: more bytes needed (see need) */
};

/* One parsed query. */
struct dnsmsg_query {
	uint16_t id;
	uint16_t flags; /* the query's flags word; RD and CD are echoed */
	uint16_t qtype;
	uint16_t qclass;
	size_t qlen; /* bytes of the question on the wire (name + 4) */
	uint8_t question[DNSMSG_NAME_WIRE_MAX + 4]; /* echoed as it came */
	size_t name_len;                            /* strlen(name) */
	/* Presentation form without the final dot; "" is the root. */
	char name[DNSMSG_NAME_TEXT_MAX + 1];
};

/* What to answer: rcode, and with NOERROR the addresses of the question's
 * type (4 bytes of each addr used for A, 16 for AAAA), each with ttl.
 * NOERROR with n == 0 is "no data" (the name exists, not this type). */
struct dnsmsg_answer {
	int rcode;    /* DNSMSG_RCODE_* */
	uint32_t ttl; /* seconds; capped at 2^31 - 1 (RFC 2181) */
	size_t n;     /* at most DNSMSG_MAX_ADDRS; only for A and AAAA */
	uint8_t addr[DNSMSG_MAX_ADDRS][16];
};

/* Parse a query.  0 with q filled, or a DNSMSG_E_* (see above). */
int dnsmsg_parse_query(const uint8_t *buf, size_t len, struct dnsmsg_query *q);

/* The reply to q: ID, question and RD (and CD) echoed, QR and RA set, the
 * rcode, then one A or AAAA record per address (its name a pointer to the
 * question's).  When the records do not fit in size (a UDP reply is
 * limited to DNSMSG_UDP_MAX), the reply is the header and the question
 * with TC set, so the client asks again over TCP.  Its length, or
 * DNSMSG_E_SPACE / DNSMSG_E_INVAL. */
int dnsmsg_build_reply(uint8_t *buf, size_t size, const struct dnsmsg_query *q,
                       const struct dnsmsg_answer *a);

/* The reply to a query that dnsmsg_parse_query() refused with err: the
 * header alone, ID, OPCODE and RD echoed, FORMERR (NOTIMP for
 * DNSMSG_E_OPCODE).  0 when nothing must be sent (DNSMSG_E_SHORT,
 * DNSMSG_E_RESPONSE: answering a response could start a loop), else its
 * length, or DNSMSG_E_SPACE. */
int dnsmsg_build_error(uint8_t *buf, size_t size, const uint8_t *query,
                       size_t len, int err);

/* TCP framing (RFC 1035 4.2.2): each message behind a 2-byte length in
 * network order.  For the have bytes at buf: the length of the message
 * that starts at buf + 2 when all of it is there, DNSMSG_MORE with *need
 * the bytes buf must hold for it, or DNSMSG_E_TOO_BIG when it is longer
 * than max. */
int dnsmsg_tcp_next(const uint8_t *buf, size_t have, size_t max, size_t *need);
/* Write len (at most 65535) as the 2-byte prefix at buf. */
void dnsmsg_tcp_put_len(uint8_t *buf, size_t len);

#endif
