/*
 * The HAProxy PROXY protocol, v1 (text) and v2 (binary), receiver side:
 * pure parsers, see proxyproto.h for the conventions.  Strict: a header
 * from a trusted origin that is not exactly right is refused, never
 * guessed at (the connection is then closed by shim/accept.c).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "proxyshim/proxyproto.h"
#include "proxyshim/table.h"

#define PP_V1_PREFIX "PROXY "
#define PP_V1_PREFIX_LEN 6
#define PP_CMD_LOCAL 0x0
#define PP_CMD_PROXY 0x1
#define PP_TLV_CRC32C 0x03

static const uint8_t pp_v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static uint16_t
pp_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* --- v1 ------------------------------------------------------------------ */

/* "0".."65535", no sign, no leading zero. */
static int
pp_v1_port(const char *s, size_t n, uint16_t *port)
{
	uint32_t v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int
pp_v1_addr(const char *s, size_t n, int family, uint8_t *addr)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, addr) == 1 ? 0 : -1;
}

/* The next field of a line: up to the next SP (or the end); *p moves past
 * the SP.  Returns the field length; *last says it ended the line. */
static size_t
pp_v1_field(const char **p, const char *end, int *last)
{
	const char *s = *p, *sp = memchr(s, ' ', (size_t)(end - s));

	if (sp == NULL) {
		*last = 1;
		*p = end;
		return (size_t)(end - s);
	}
	*last = 0;
	*p = sp + 1;
	return (size_t)(sp - s);
}

/* The line between "PROXY " and CRLF. */
static int
pp_v1_line(const char *s, const char *end, struct ps_pp_info *out)
{
	const char *f[5];
	size_t n[5];
	int last = 0, i, fam;

	f[0] = s;
	n[0] = pp_v1_field(&s, end, &last);
	if (n[0] == 0)
		return PS_PP_E_MALFORMED;
	if (n[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0) {
		/* The rest of the line is ignored (the spec says so). */
		out->local = 1;
		out->family = AF_UNSPEC;
		return 0;
	}
	if (n[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		fam = AF_INET;
	else if (n[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		fam = AF_INET6;
	else
		return PS_PP_E_FAMILY;
	for (i = 1; i < 5; i++) {
		if (last)
			return PS_PP_E_MALFORMED;
		f[i] = s;
		n[i] = pp_v1_field(&s, end, &last);
	}
	if (!last)
		return PS_PP_E_MALFORMED; /* a sixth field or a trailing SP */
	if (pp_v1_addr(f[1], n[1], fam, out->src) < 0 ||
	    pp_v1_addr(f[2], n[2], fam, out->dst) < 0 ||
	    pp_v1_port(f[3], n[3], &out->sport) < 0 ||
	    pp_v1_port(f[4], n[4], &out->dport) < 0)
		return PS_PP_E_MALFORMED;
	out->family = fam;
	return 0;
}

int
proxyproto_parse_v1(const uint8_t *buf, size_t len, size_t *need,
                    struct ps_pp_info *out)
{
	size_t i, scan = len < PS_PP_V1_MAX ? len : PS_PP_V1_MAX;
	int r;

	*need = PP_V1_PREFIX_LEN;
	if (memcmp(buf, PP_V1_PREFIX, len < 6 ? len : 6) != 0)
		return PS_PP_E_SIGNATURE;
	for (i = 0; i < scan; i++) {
		if (buf[i] == '\n')
			break;
		/* Printable ASCII only; CR only right before LF. */
		if (buf[i] == '\r' && i + 1 < scan && buf[i + 1] != '\n')
			return PS_PP_E_MALFORMED;
		if (buf[i] != '\r' && (buf[i] < 0x20 || buf[i] > 0x7e))
			return PS_PP_E_MALFORMED;
	}
	if (i == scan) {
		if (scan == PS_PP_V1_MAX)
			return PS_PP_E_TOO_BIG;
		*need = len + 1;
		return PS_PROTO_MORE;
	}
	if (i < PP_V1_PREFIX_LEN + 1 || buf[i - 1] != '\r')
		return PS_PP_E_MALFORMED;
	memset(out, 0, sizeof(*out));
	out->version = 1;
	r = pp_v1_line((const char *)buf + PP_V1_PREFIX_LEN,
	               (const char *)buf + i - 1, out);
	if (r < 0)
		return r;
	return (int)(i + 1);
}

/* --- v2 ------------------------------------------------------------------ */

/* Address block size of a v2 family byte, -1 when the byte is unknown. */
static int
pp_v2_addr_len(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;
	case 0x11:
	case 0x12:
		return 12;
	case 0x21:
	case 0x22:
		return 36;
	case 0x31:
	case 0x32:
		return 216;
	default:
		return -1;
	}
}

/* The CRC32C TLV's value at off (4 bytes) against the whole header with
 * that value taken as zeros (HAProxy spec 2.2.5). */
static int
pp_v2_crc_ok(const uint8_t *buf, size_t total, size_t off)
{
	static const uint8_t zero[4];
	uint32_t crc, want;

	want = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
	       (uint32_t)buf[off + 2] << 8 | buf[off + 3];
	crc = table_crc32c(0, buf, off);
	crc = table_crc32c(crc, zero, sizeof(zero));
	crc = table_crc32c(crc, buf + off + 4, total - off - 4);
	return crc == want;
}

/* TLVs from off to total: well-formed, skipped, CRC32C verified. */
static int
pp_v2_tlvs(const uint8_t *buf, size_t off, size_t total, struct ps_pp_info *out)
{
	out->tlv_bytes = total - off;
	while (off < total) {
		size_t tlen;

		if (total - off < 3)
			return PS_PP_E_MALFORMED;
		tlen = pp_be16(buf + off + 1);
		if (tlen > total - off - 3)
			return PS_PP_E_MALFORMED;
		if (buf[off] == PP_TLV_CRC32C) {
			if (tlen != 4)
				return PS_PP_E_MALFORMED;
			if (!pp_v2_crc_ok(buf, total, off + 3))
				return PS_PP_E_CRC;
			out->crc_checked = 1;
		}
		off += 3 + tlen;
	}
	return 0;
}

static void
pp_v2_addrs(const uint8_t *a, uint8_t fam, struct ps_pp_info *out)
{
	size_t w = (fam >> 4) == 1 ? 4 : 16;

	if ((fam >> 4) != 1 && (fam >> 4) != 2) {
		out->local = 1; /* UNSPEC, UNIX: the socket's peer stays */
		out->family = (fam >> 4) == 3 ? AF_UNIX : AF_UNSPEC;
		return;
	}
	out->family = w == 4 ? AF_INET : AF_INET6;
	memcpy(out->src, a, w);
	memcpy(out->dst, a + w, w);
	out->sport = pp_be16(a + 2 * w);
	out->dport = pp_be16(a + 2 * w + 2);
}

int
proxyproto_parse_v2(const uint8_t *buf, size_t len, size_t *need,
                    struct ps_pp_info *out)
{
	size_t total;
	int alen, r;

	*need = PS_PP_V2_HDR;
	if (memcmp(buf, pp_v2_sig, len < 12 ? len : 12) != 0)
		return PS_PP_E_SIGNATURE;
	if (len >= 13 && (buf[12] >> 4) != 2)
		return PS_PP_E_VERSION;
	if (len >= 13 && (buf[12] & 0xf) > PP_CMD_PROXY)
		return PS_PP_E_COMMAND;
	alen = len >= 14 ? pp_v2_addr_len(buf[13]) : 0;
	/* LOCAL: the address block is discarded whatever its family. */
	if (len >= 14 && alen < 0 && (buf[12] & 0xf) == PP_CMD_PROXY)
		return PS_PP_E_FAMILY;
	if (len < PS_PP_V2_HDR)
		return PS_PROTO_MORE;
	total = PS_PP_V2_HDR + (size_t)pp_be16(buf + 14);
	if ((buf[12] & 0xf) == PP_CMD_PROXY &&
	    total < PS_PP_V2_HDR + (size_t)alen)
		return PS_PP_E_MALFORMED;
	if (len < total) {
		*need = total;
		return PS_PROTO_MORE;
	}
	memset(out, 0, sizeof(*out));
	out->version = 2;
	if ((buf[12] & 0xf) == PP_CMD_LOCAL) {
		out->local = 1;
		out->family = AF_UNSPEC;
		return (int)total;
	}
	pp_v2_addrs(buf + PS_PP_V2_HDR, buf[13], out);
	if (out->local)
		return (int)total; /* UNSPEC, UNIX: the block is opaque */
	r = pp_v2_tlvs(buf, PS_PP_V2_HDR + (size_t)alen, total, out);
	return r < 0 ? r : (int)total;
}

int
proxyproto_parse(const uint8_t *buf, size_t len, size_t *need,
                 struct ps_pp_info *out)
{
	*need = 1;
	if (len == 0)
		return PS_PROTO_MORE;
	if (buf[0] == 'P')
		return proxyproto_parse_v1(buf, len, need, out);
	if (buf[0] == pp_v2_sig[0])
		return proxyproto_parse_v2(buf, len, need, out);
	return PS_PP_E_SIGNATURE;
}

const char *
proxyproto_strerror(int err)
{
	switch (err) {
	case PS_PP_E_SIGNATURE:
		return "not a PROXY protocol header";
	case PS_PP_E_VERSION:
		return "PROXY v2: bad version";
	case PS_PP_E_COMMAND:
		return "PROXY v2: bad command";
	case PS_PP_E_FAMILY:
		return "PROXY: unknown address family or protocol";
	case PS_PP_E_MALFORMED:
		return "PROXY: malformed header";
	case PS_PP_E_TOO_BIG:
		return "PROXY v1: no CRLF within 107 bytes";
	case PS_PP_E_CRC:
		return "PROXY v2: CRC32C mismatch";
	default:
		return "PROXY: error";
	}
}
