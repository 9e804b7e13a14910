/*
 * proxyshim: the HAProxy PROXY protocol, versions 1 and 2 (receiver side).
 *
 * Pure parsers over caller-supplied bytes, in the convention of proto.h:
 *   > 0               a complete, valid header of exactly that many bytes
 *                     (consume that much and not one byte more);
 *   PS_PROTO_MORE (0) everything so far is a valid prefix of a header;
 *                     *need is a lower bound of the header's length
 *                     (> len): v2 knows it once 16 bytes are in, v1 is
 *                     len + 1 until its CRLF;
 *   < 0               one of enum ps_pp_err.  Bytes that cannot start a
 *                     header are rejected as soon as they are seen.
 * No I/O, no allocation, no logging.
 */
#ifndef PROXYSHIM_PROXYPROTO_H
#define PROXYSHIM_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

#define PS_PP_V1_MAX 107 /* "PROXY TCP6 <39> <39> 65535 65535\r\n" */
#define PS_PP_V2_HDR 16  /* signature, ver/cmd, fam, len */
#define PS_PP_V2_MAX (PS_PP_V2_HDR + 65535)

enum ps_pp_err {
	PS_PP_E_SIGNATURE = -1100, /* neither "PROXY " nor the v2 signature */
	PS_PP_E_VERSION = -1101,   /* v2 version nibble != 2 */
	PS_PP_E_COMMAND = -1102,   /* v2 command not LOCAL/PROXY */
	PS_PP_E_FAMILY = -1103,    /* v2 family/transport byte unknown; v1
	                              protocol not TCP4/TCP6/UNKNOWN */
	PS_PP_E_MALFORMED = -1104, /* v1 field syntax; v2 length shorter
	                              than the addresses, or a TLV overrun */
	PS_PP_E_TOO_BIG = -1105,   /* v1 over 107 bytes without CRLF */
	PS_PP_E_CRC = -1106,       /* v2 CRC32C TLV does not match */
};

/* What a header says about the connection. */
struct ps_pp_info {
	int version; /* 1 or 2 */
	int local;   /* 1: keep the socket's own peer (v2 LOCAL, v1
	                UNKNOWN, v2 UNSPEC or UNIX addresses) */
	int family;  /* AF_INET / AF_INET6 when !local; else what the
	                header said (AF_UNIX, AF_UNSPEC) */
	uint8_t src[16], dst[16]; /* network order; 4 bytes used for v4 */
	uint16_t sport, dport;    /* host order */
	size_t tlv_bytes;         /* v2: bytes of TLVs skipped */
	int crc_checked;          /* v2: a CRC32C TLV was present and good */
};

/* Either version, chosen by the first byte. */
int proxyproto_parse(const uint8_t *buf, size_t len, size_t *need,
                     struct ps_pp_info *out);
int proxyproto_parse_v1(const uint8_t *buf, size_t len, size_t *need,
                        struct ps_pp_info *out);
int proxyproto_parse_v2(const uint8_t *buf, size_t len, size_t *need,
                        struct ps_pp_info *out);
const char *proxyproto_strerror(int err);

#endif
