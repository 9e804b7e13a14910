/*
 * DNS queries in, replies out (docs/behaviour.md#names-for-static-and-go-
 * programs): the stub's wire format, pure code over buffers.  Byte
 * layout from RFC 1035 section 4.1; see dnsmsg.h for what is taken.
 */
#include <string.h>

#include "proxyshim/dnsmsg.h"

/* The header's flags word (RFC 1035 4.1.1; CD from RFC 4035). */
#define F_QR 0x8000u
#define F_OPCODE 0x7800u
#define F_TC 0x0200u
#define F_RD 0x0100u
#define F_RA 0x0080u
#define F_CD 0x0010u

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffffu);
}

/* Letters, digits, '-' and '_' as they are; any other byte as \DDD. */
static size_t
dnsmsg_text_byte(char *out, uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_') {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = (char)('0' + c / 100);
	out[2] = (char)('0' + c / 10 % 10);
	out[3] = (char)('0' + c % 10);
	return 4;
}

/* The question's name at buf[off..len): its wire length, or an error.
 * Text goes to q->name (at most 4 bytes per wire byte: it fits). */
static int
dnsmsg_name(const uint8_t *buf, size_t len, size_t off, struct dnsmsg_query *q)
{
	size_t pos = off, text = 0, i;
	uint8_t n;

	for (;;) {
		if (pos >= len)
			return DNSMSG_E_TRUNC;
		n = buf[pos];
		if ((n & 0xc0) == 0xc0)
			return DNSMSG_E_POINTER;
		if (n > DNSMSG_LABEL_MAX)
			return DNSMSG_E_LABEL; /* 0x40, 0x80: other types */
		if (pos - off + 1 + n > DNSMSG_NAME_WIRE_MAX)
			return DNSMSG_E_NAME;
		if (n == 0)
			break;
		if (pos + 1 + n > len)
			return DNSMSG_E_TRUNC;
		if (text > 0)
			q->name[text++] = '.';
		for (i = 0; i < n; i++)
			text += dnsmsg_text_byte(q->name + text,
			                         buf[pos + 1 + i]);
		pos += 1 + n;
	}
	q->name[text] = '\0';
	q->name_len = text;
	return (int)(pos + 1 - off);
}

int
dnsmsg_parse_query(const uint8_t *buf, size_t len, struct dnsmsg_query *q)
{
	uint16_t flags;
	int n;

	if (len < DNSMSG_HDR_LEN)
		return DNSMSG_E_SHORT;
	flags = get16(buf + 2);
	if (flags & F_QR)
		return DNSMSG_E_RESPONSE;
	if (flags & F_OPCODE)
		return DNSMSG_E_OPCODE;
	if (get16(buf + 4) != 1)
		return DNSMSG_E_QDCOUNT;
	n = dnsmsg_name(buf, len, DNSMSG_HDR_LEN, q);
	if (n < 0)
		return n;
	if (DNSMSG_HDR_LEN + (size_t)n + 4 > len)
		return DNSMSG_E_TRUNC;
	q->id = get16(buf);
	q->flags = flags;
	q->qtype = get16(buf + DNSMSG_HDR_LEN + n);
	q->qclass = get16(buf + DNSMSG_HDR_LEN + n + 2);
	q->qlen = (size_t)n + 4;
	memcpy(q->question, buf + DNSMSG_HDR_LEN, q->qlen);
	return 0;
}

static void
dnsmsg_header(uint8_t *buf, uint16_t id, unsigned flags, unsigned qd,
              unsigned an)
{
	put16(buf, id);
	put16(buf + 2, flags);
	put16(buf + 4, qd);
	put16(buf + 6, an);
	put16(buf + 8, 0);
	put16(buf + 10, 0);
}

/* One answer record: a pointer to the name at offset 12, type, class,
 * TTL, RDLENGTH, the address. */
static size_t
dnsmsg_record(uint8_t *p, const struct dnsmsg_query *q, uint32_t ttl,
              const uint8_t *addr, size_t alen)
{
	put16(p, 0xc000u | DNSMSG_HDR_LEN);
	put16(p + 2, q->qtype);
	put16(p + 4, q->qclass);
	put32(p + 6, ttl);
	put16(p + 10, (unsigned)alen);
	memcpy(p + 12, addr, alen);
	return 12 + alen;
}

int
dnsmsg_build_reply(uint8_t *buf, size_t size, const struct dnsmsg_query *q,
                   const struct dnsmsg_answer *a)
{
	unsigned flags = F_QR | F_RA | (q->flags & (F_RD | F_CD));
	size_t alen = 0, off, i, n = 0;
	uint32_t ttl = a->ttl > 0x7fffffffu ? 0x7fffffffu : a->ttl;

	if (a->rcode < 0 || a->rcode > 15 || a->n > DNSMSG_MAX_ADDRS ||
	    q->qlen < 5 || q->qlen > sizeof(q->question))
		return DNSMSG_E_INVAL;
	if (a->rcode == DNSMSG_RCODE_NOERROR && a->n > 0) {
		if (q->qtype == DNSMSG_TYPE_A)
			alen = 4;
		else if (q->qtype == DNSMSG_TYPE_AAAA)
			alen = 16;
		else
			return DNSMSG_E_INVAL;
		n = a->n;
	}
	off = DNSMSG_HDR_LEN + q->qlen;
	if (off > size)
		return DNSMSG_E_SPACE;
	if (off + n * (12 + alen) > size) {
		flags |= F_TC;
		n = 0;
	}
	dnsmsg_header(buf, q->id, flags | (unsigned)a->rcode, 1, (unsigned)n);
	memcpy(buf + DNSMSG_HDR_LEN, q->question, q->qlen);
	for (i = 0; i < n; i++)
		off += dnsmsg_record(buf + off, q, ttl, a->addr[i], alen);
	return (int)off;
}

int
dnsmsg_build_error(uint8_t *buf, size_t size, const uint8_t *query, size_t len,
                   int err)
{
	unsigned qflags;

	if (len < DNSMSG_HDR_LEN || err == DNSMSG_E_SHORT ||
	    err == DNSMSG_E_RESPONSE)
		return 0;
	qflags = get16(query + 2);
	if (qflags & F_QR)
		return 0;
	if (size < DNSMSG_HDR_LEN)
		return DNSMSG_E_SPACE;
	dnsmsg_header(buf, get16(query),
	              F_QR | F_RA | (qflags & (F_OPCODE | F_RD)) |
	                      (err == DNSMSG_E_OPCODE ? DNSMSG_RCODE_NOTIMP
	                                              : DNSMSG_RCODE_FORMERR),
	              0, 0);
	return DNSMSG_HDR_LEN;
}

int
dnsmsg_tcp_next(const uint8_t *buf, size_t have, size_t max, size_t *need)
{
	size_t n;

	if (have < 2) {
		*need = 2;
		return DNSMSG_MORE;
	}
	n = get16(buf);
	if (n > max)
		return DNSMSG_E_TOO_BIG;
	if (have < 2 + n) {
		*need = 2 + n;
		return DNSMSG_MORE;
	}
	return (int)n;
}

void
dnsmsg_tcp_put_len(uint8_t *buf, size_t len)
{
	put16(buf, (unsigned)(len & 0xffffu));
}
