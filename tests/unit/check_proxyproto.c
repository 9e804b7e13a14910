/* PROXY protocol v1 and v2 parsers (shim/proxyproto.c). */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "proxyshim/proxyproto.h"
#include "proxyshim/table.h"

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int
parse_str(const char *s, struct ps_pp_info *pi)
{
	size_t need;

	return proxyproto_parse((const uint8_t *)s, strlen(s), &need, pi);
}

/* Every proper prefix is "need more" with a need beyond it. */
static void
assert_prefixes_need_more(const uint8_t *b, size_t total)
{
	struct ps_pp_info pi;
	size_t k, need;
	int r;

	for (k = 0; k < total; k++) {
		r = proxyproto_parse(b, k, &need, &pi);
		ck_assert_msg(r == PS_PROTO_MORE, "prefix %zu: %d", k, r);
		ck_assert_msg(need > k && need <= total, "prefix %zu: need %zu",
		              k, need);
	}
}

/* v2 header: ver/cmd, fam, then the address block and TLVs. */
static size_t
v2(uint8_t *b, uint8_t vc, uint8_t fam, const uint8_t *body, size_t n)
{
	memcpy(b, sig, 12);
	b[12] = vc;
	b[13] = fam;
	b[14] = (uint8_t)(n >> 8);
	b[15] = (uint8_t)n;
	memcpy(b + 16, body, n);
	return 16 + n;
}

static const uint8_t inet_body[12] = {127, 0, 0, 5, 127, 0, 0, 1,
                                      0x30, 0x39, 0x00, 0x50};

/* --- v1 --------------------------------------------------------------- */

START_TEST(test_proxyproto_v1_tcp4_every_field)
{
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 443\r\nGET /";
	struct ps_pp_info pi;
	uint8_t a[4] = {192, 0, 2, 7}, d[4] = {127, 0, 0, 1};

	ck_assert_int_eq(parse_str(h, &pi), (int)strlen(h) - 5);
	ck_assert_int_eq(pi.version, 1);
	ck_assert_int_eq(pi.local, 0);
	ck_assert_int_eq(pi.family, AF_INET);
	ck_assert_mem_eq(pi.src, a, 4);
	ck_assert_mem_eq(pi.dst, d, 4);
	ck_assert_uint_eq(pi.sport, 56324);
	ck_assert_uint_eq(pi.dport, 443);
}
END_TEST

START_TEST(test_proxyproto_v1_tcp6_every_field)
{
	const char *h = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	struct ps_pp_info pi;
	uint8_t a[16], d[16];

	inet_pton(AF_INET6, "2001:db8::1", a);
	inet_pton(AF_INET6, "::1", d);
	ck_assert_int_eq(parse_str(h, &pi), (int)strlen(h));
	ck_assert_int_eq(pi.family, AF_INET6);
	ck_assert_mem_eq(pi.src, a, 16);
	ck_assert_mem_eq(pi.dst, d, 16);
	ck_assert_uint_eq(pi.sport, 65535);
	ck_assert_uint_eq(pi.dport, 0);
}
END_TEST

START_TEST(test_proxyproto_v1_unknown_keeps_peer)
{
	struct ps_pp_info pi;

	ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n", &pi), 15);
	ck_assert_int_eq(pi.local, 1);
	ck_assert_int_eq(parse_str("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", &pi), 31);
	ck_assert_int_eq(pi.local, 1);
}
END_TEST

START_TEST(test_proxyproto_v1_limit_is_107_bytes)
{
	char h[200];
	struct ps_pp_info pi;
	size_t need;

	/* The longest legal line: UNKNOWN with two full IPv6 addresses. */
	strcpy(h, "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
	ck_assert_uint_eq(strlen(h), 107);
	ck_assert_int_eq(parse_str(h, &pi), 107);
	assert_prefixes_need_more((const uint8_t *)h, 107);
	/* One more byte before the CRLF: refused at byte 107. */
	strcpy(h, "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n");
	ck_assert_int_eq(parse_str(h, &pi), PS_PP_E_TOO_BIG);
	ck_assert_int_eq(proxyproto_parse((const uint8_t *)h, 106, &need, &pi),
	                 PS_PROTO_MORE);
	ck_assert_int_eq(proxyproto_parse((const uint8_t *)h, 107, &need, &pi),
	                 PS_PP_E_TOO_BIG);
}
END_TEST

START_TEST(test_proxyproto_v1_truncated_at_every_byte)
{
	const char *h = "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\n";

	assert_prefixes_need_more((const uint8_t *)h, strlen(h));
}
END_TEST

START_TEST(test_proxyproto_v1_strict_syntax)
{
	static const char *bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* LF without CR */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",   /* CR not before LF */
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    /* double space */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    /* trailing space */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* extra field */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* missing port */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /* port range */
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    /* leading zero */
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",    /* sign */
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",       /* short address */
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",         /* family mismatch */
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",         /* family mismatch */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\t\r\n",   /* control char */
		"PROXY \r\n",                             /* no protocol */
	};
	struct ps_pp_info pi;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_str(bad[i], &pi) == PS_PP_E_MALFORMED,
		              "%zu: %s -> %d", i, bad[i], parse_str(bad[i], &pi));
	ck_assert_int_eq(parse_str("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", &pi),
	                 PS_PP_E_FAMILY);
	ck_assert_int_eq(parse_str("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", &pi),
	                 PS_PP_E_FAMILY);
}
END_TEST

START_TEST(test_proxyproto_bad_signature_rejected_at_first_byte)
{
	struct ps_pp_info pi;
	size_t need;

	ck_assert_int_eq(proxyproto_parse((const uint8_t *)"G", 1, &need, &pi),
	                 PS_PP_E_SIGNATURE);
	ck_assert_int_eq(parse_str("PROXX TCP4", &pi), PS_PP_E_SIGNATURE);
	ck_assert_int_eq(parse_str("proxy TCP4", &pi), PS_PP_E_SIGNATURE);
	ck_assert_int_eq(parse_str("PROXY", &pi), PS_PROTO_MORE);
	ck_assert_int_eq(proxyproto_parse((const uint8_t *)"\r\n\r\n\0\r\nQUIX",
	                                  12, &need, &pi),
	                 PS_PP_E_SIGNATURE);
	ck_assert_int_eq(proxyproto_parse(NULL, 0, &need, &pi), PS_PROTO_MORE);
}
END_TEST

/* --- v2 --------------------------------------------------------------- */

START_TEST(test_proxyproto_v2_inet_every_field)
{
	uint8_t b[64], a[4] = {127, 0, 0, 5}, d[4] = {127, 0, 0, 1};
	struct ps_pp_info pi;
	size_t n = v2(b, 0x21, 0x11, inet_body, 12), need;

	b[n] = 'G'; /* the program's first byte: not consumed */
	ck_assert_int_eq(proxyproto_parse(b, n + 1, &need, &pi), 28);
	ck_assert_int_eq(pi.version, 2);
	ck_assert_int_eq(pi.local, 0);
	ck_assert_int_eq(pi.family, AF_INET);
	ck_assert_mem_eq(pi.src, a, 4);
	ck_assert_mem_eq(pi.dst, d, 4);
	ck_assert_uint_eq(pi.sport, 12345);
	ck_assert_uint_eq(pi.dport, 80);
	ck_assert_int_eq(pi.crc_checked, 0);
	assert_prefixes_need_more(b, n);
	/* UDP (0x12) parses the same */
	n = v2(b, 0x21, 0x12, inet_body, 12);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 28);
}
END_TEST

START_TEST(test_proxyproto_v2_inet6_every_field)
{
	uint8_t b[128], body[36] = {0};
	struct ps_pp_info pi;
	size_t n, need;

	inet_pton(AF_INET6, "2001:db8::5", body);
	inet_pton(AF_INET6, "::1", body + 16);
	body[32] = 0xff;
	body[33] = 0xfe;
	body[34] = 0x01;
	body[35] = 0xbb;
	n = v2(b, 0x21, 0x21, body, 36);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 52);
	ck_assert_int_eq(pi.family, AF_INET6);
	ck_assert_mem_eq(pi.src, body, 16);
	ck_assert_mem_eq(pi.dst, body + 16, 16);
	ck_assert_uint_eq(pi.sport, 0xfffe);
	ck_assert_uint_eq(pi.dport, 443);
	assert_prefixes_need_more(b, n);
}
END_TEST

START_TEST(test_proxyproto_v2_local_unspec_unix_keep_peer)
{
	uint8_t b[300], body[216] = {0};
	struct ps_pp_info pi;
	size_t n, need;

	n = v2(b, 0x20, 0x00, inet_body, 0); /* LOCAL, the health check */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 16);
	ck_assert_int_eq(pi.local, 1);
	n = v2(b, 0x20, 0x11, inet_body, 12); /* LOCAL with addresses */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 28);
	ck_assert_int_eq(pi.local, 1);
	n = v2(b, 0x20, 0x99, inet_body, 3); /* LOCAL: family ignored */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 19);
	ck_assert_int_eq(pi.local, 1);
	n = v2(b, 0x21, 0x00, inet_body, 5); /* PROXY UNSPEC */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 21);
	ck_assert_int_eq(pi.local, 1);
	n = v2(b, 0x21, 0x31, body, 216); /* PROXY UNIX stream */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 232);
	ck_assert_int_eq(pi.local, 1);
	ck_assert_int_eq(pi.family, AF_UNIX);
	n = v2(b, 0x21, 0x32, body, 215); /* UNIX, block too short */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_MALFORMED);
}
END_TEST

START_TEST(test_proxyproto_v2_bad_version_command_family)
{
	uint8_t b[64];
	struct ps_pp_info pi;
	size_t n, need;
	static const uint8_t fams[] = {0x01, 0x10, 0x13, 0x23, 0x33, 0x41,
	                               0xff};
	size_t i;

	n = v2(b, 0x11, 0x11, inet_body, 12);
	ck_assert_int_eq(proxyproto_parse(b, 13, &need, &pi), PS_PP_E_VERSION);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_VERSION);
	n = v2(b, 0x31, 0x11, inet_body, 12);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_VERSION);
	n = v2(b, 0x22, 0x11, inet_body, 12);
	ck_assert_int_eq(proxyproto_parse(b, 13, &need, &pi), PS_PP_E_COMMAND);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_COMMAND);
	for (i = 0; i < sizeof(fams); i++) {
		n = v2(b, 0x21, fams[i], inet_body, 12);
		ck_assert_int_eq(proxyproto_parse(b, 14, &need, &pi),
		                 PS_PP_E_FAMILY);
		ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi),
		                 PS_PP_E_FAMILY);
	}
}
END_TEST

START_TEST(test_proxyproto_v2_length_honoured)
{
	uint8_t b[128], body[64];
	struct ps_pp_info pi;
	size_t n, need;

	/* Shorter than the addresses: refused once the length is known. */
	n = v2(b, 0x21, 0x11, inet_body, 11);
	ck_assert_int_eq(proxyproto_parse(b, 16, &need, &pi), PS_PP_E_MALFORMED);
	n = v2(b, 0x21, 0x21, inet_body, 12);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_MALFORMED);
	/* Longer: need says so, and exactly that much is consumed. */
	memcpy(body, inet_body, 12);
	body[12] = 0x04; /* NOOP TLV, 5 bytes of value */
	body[13] = 0;
	body[14] = 5;
	memset(body + 15, 0xaa, 5);
	n = v2(b, 0x21, 0x11, body, 20);
	ck_assert_int_eq(proxyproto_parse(b, 16, &need, &pi), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 36);
	ck_assert_int_eq(proxyproto_parse(b, 35, &need, &pi), PS_PROTO_MORE);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 36);
	ck_assert_uint_eq(pi.tlv_bytes, 8);
	(void)n;
}
END_TEST

START_TEST(test_proxyproto_v2_tlvs_skipped)
{
	uint8_t b[128], body[64];
	struct ps_pp_info pi;
	size_t n, need;

	memcpy(body, inet_body, 12);
	/* ALPN "h2", an empty AUTHORITY, a custom 0xE0 TLV */
	memcpy(body + 12, "\x01\x00\x02h2\x02\x00\x00\xe0\x00\x01z", 12);
	n = v2(b, 0x21, 0x11, body, 24);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), 40);
	ck_assert_uint_eq(pi.tlv_bytes, 12);
	ck_assert_uint_eq(pi.sport, 12345);
	/* A TLV whose length runs past the header */
	body[14] = 3;
	n = v2(b, 0x21, 0x11, body, 24);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_MALFORMED);
	/* Two stray bytes: not a TLV */
	n = v2(b, 0x21, 0x11, body, 14);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_MALFORMED);
}
END_TEST

/* A v2 PROXY header with a CRC32C TLV (and one more TLV), CRC filled in. */
static size_t
v2_with_crc(uint8_t *b)
{
	uint8_t body[64];
	uint32_t crc;
	size_t n;

	memcpy(body, inet_body, 12);
	memcpy(body + 12, "\x03\x00\x04\x00\x00\x00\x00", 7);
	memcpy(body + 19, "\x01\x00\x08http/1.1", 11);
	n = v2(b, 0x21, 0x11, body, 30);
	crc = table_crc32c(0, b, n);
	b[31] = (uint8_t)(crc >> 24);
	b[32] = (uint8_t)(crc >> 16);
	b[33] = (uint8_t)(crc >> 8);
	b[34] = (uint8_t)crc;
	return n;
}

START_TEST(test_proxyproto_v2_crc32c_good_and_bad)
{
	uint8_t b[128];
	struct ps_pp_info pi;
	size_t n, need, i;

	/* table_crc32c() is the Castagnoli CRC the PROXY spec asks for. */
	ck_assert_uint_eq(table_crc32c(0, "123456789", 9), 0xe3069283u);
	n = v2_with_crc(b);
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), (int)n);
	ck_assert_int_eq(pi.crc_checked, 1);
	assert_prefixes_need_more(b, n);
	/* Any bit flipped anywhere (addresses, TLVs, CRC) is caught. */
	for (i = 16; i < n; i++) {
		if (i >= 28 && i <= 30) /* the CRC TLV's type and length */
			continue;
		b[i] ^= 0x01;
		ck_assert_msg(proxyproto_parse(b, n, &need, &pi) == PS_PP_E_CRC,
		              "flip at %zu", i);
		b[i] ^= 0x01;
	}
	b[30] = 3; /* a CRC TLV of 3 bytes */
	ck_assert_int_eq(proxyproto_parse(b, n, &need, &pi), PS_PP_E_MALFORMED);
}
END_TEST

Suite *proxyproto_suite(void);

Suite *
proxyproto_suite(void)
{
	Suite *s = suite_create("proxyproto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_proxyproto_v1_tcp4_every_field);
	tcase_add_test(tc, test_proxyproto_v1_tcp6_every_field);
	tcase_add_test(tc, test_proxyproto_v1_unknown_keeps_peer);
	tcase_add_test(tc, test_proxyproto_v1_limit_is_107_bytes);
	tcase_add_test(tc, test_proxyproto_v1_truncated_at_every_byte);
	tcase_add_test(tc, test_proxyproto_v1_strict_syntax);
	tcase_add_test(tc, test_proxyproto_bad_signature_rejected_at_first_byte);
	tcase_add_test(tc, test_proxyproto_v2_inet_every_field);
	tcase_add_test(tc, test_proxyproto_v2_inet6_every_field);
	tcase_add_test(tc, test_proxyproto_v2_local_unspec_unix_keep_peer);
	tcase_add_test(tc, test_proxyproto_v2_bad_version_command_family);
	tcase_add_test(tc, test_proxyproto_v2_length_honoured);
	tcase_add_test(tc, test_proxyproto_v2_tlvs_skipped);
	tcase_add_test(tc, test_proxyproto_v2_crc32c_good_and_bad);
	suite_add_tcase(s, tc);
	return s;
}
