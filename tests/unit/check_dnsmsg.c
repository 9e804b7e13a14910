/* DNS messages (proto/dnsmsg.c): the queries the stub takes, the ones it
 * refuses, and every reply compared byte for byte with one written out by
 * hand from RFC 1035. */
#include <check.h>
#include <string.h>

#include "proxyshim/dnsmsg.h"

/* ID 0x1234, RD, one question: example.com A IN, then an EDNS OPT record
 * (ARCOUNT 1) as Go and dig send it. */
static const uint8_t q_a[] = {
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01,
        0x00, 0x01,
        /* OPT: root name, type 41, UDP size 1232, TTL 0, RDLEN 0 */
        0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* ID 0xbeef, RD and CD, Example.COM AAAA IN. */
static const uint8_t q_aaaa[] = {0xbe, 0xef, 0x01, 0x10, 0x00, 0x01, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 7,    'E',  'x',  'a',
                                 'm',  'p',  'l',  'e',  3,    'C',  'O',  'M',
                                 0,    0x00, 0x1c, 0x00, 0x01};

static struct dnsmsg_query
parse_ok(const uint8_t *buf, size_t len)
{
	struct dnsmsg_query q;

	memset(&q, 0xaa, sizeof(q));
	ck_assert_int_eq(dnsmsg_parse_query(buf, len, &q), 0);
	return q;
}

START_TEST(test_dnsmsg_parse_a_query_with_edns)
{
	struct dnsmsg_query q = parse_ok(q_a, sizeof(q_a));

	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert_uint_eq(q.flags, 0x0100);
	ck_assert_uint_eq(q.qtype, DNSMSG_TYPE_A);
	ck_assert_uint_eq(q.qclass, DNSMSG_CLASS_IN);
	ck_assert_str_eq(q.name, "example.com");
	ck_assert_uint_eq(q.name_len, 11);
	ck_assert_uint_eq(q.qlen, 17);
	ck_assert_mem_eq(q.question, q_a + 12, 17);
}
END_TEST

START_TEST(test_dnsmsg_parse_aaaa_query_keeps_case)
{
	struct dnsmsg_query q = parse_ok(q_aaaa, sizeof(q_aaaa));

	ck_assert_uint_eq(q.qtype, DNSMSG_TYPE_AAAA);
	ck_assert_str_eq(q.name, "Example.COM");
	ck_assert_uint_eq(q.flags, 0x0110);
}
END_TEST

START_TEST(test_dnsmsg_parse_root_and_escaped_bytes)
{
	/* the root, type NS */
	static const uint8_t root[] = {0, 1, 0, 0, 0, 1, 0, 0, 0,
	                               0, 0, 0, 0, 0, 2, 0, 1};
	/* a label holding "a.b", a space and a byte 200 */
	static const uint8_t odd[] = {0,   1, 0,   0, 0,   1,   0,   0,   0,
	                              0,   0, 0,   6, 'a', '.', 'b', ' ', 200,
	                              '_', 1, 'x', 0, 0,   1,   0,   1};
	struct dnsmsg_query q = parse_ok(root, sizeof(root));

	ck_assert_str_eq(q.name, "");
	ck_assert_uint_eq(q.qlen, 5);
	q = parse_ok(odd, sizeof(odd));
	ck_assert_str_eq(q.name, "a\\046b\\032\\200_.x");
}
END_TEST

/* A name of exactly PS_MAX_HOST characters (wire 255) is taken, one more
 * is not. */
static size_t
long_query(uint8_t *buf, size_t text_len)
{
	size_t off = 12, left = text_len;

	memset(buf, 0, 12);
	buf[5] = 1;
	while (left > 0) {
		size_t n = left > 63 ? 63 : left;

		if (left > 63 && left - 63 < 2)
			n = left - 2; /* keep the last label non-empty */
		buf[off] = (uint8_t)n;
		memset(buf + off + 1, 'a', n);
		off += 1 + n;
		left -= n;
		if (left > 0)
			left--; /* the dot */
	}
	buf[off++] = 0;
	buf[off++] = 0;
	buf[off++] = 1;
	buf[off++] = 0;
	buf[off++] = 1;
	return off;
}

START_TEST(test_dnsmsg_parse_name_at_the_limit)
{
	uint8_t buf[600];
	struct dnsmsg_query q;
	size_t len = long_query(buf, PS_MAX_HOST);

	ck_assert_uint_eq(len, 12 + DNSMSG_NAME_WIRE_MAX + 4);
	q = parse_ok(buf, len);
	ck_assert_uint_eq(q.name_len, PS_MAX_HOST);
	len = long_query(buf, PS_MAX_HOST + 1);
	ck_assert_int_eq(dnsmsg_parse_query(buf, len, &q), DNSMSG_E_NAME);
}
END_TEST

START_TEST(test_dnsmsg_parse_refuses_malformed)
{
	uint8_t buf[600];
	struct dnsmsg_query q;
	size_t k;

	/* every proper prefix */
	for (k = 0; k < 12; k++)
		ck_assert_int_eq(dnsmsg_parse_query(q_aaaa, k, &q),
		                 DNSMSG_E_SHORT);
	for (k = 12; k < sizeof(q_aaaa); k++)
		ck_assert_int_eq(dnsmsg_parse_query(q_aaaa, k, &q),
		                 DNSMSG_E_TRUNC);
	/* QR set */
	memcpy(buf, q_aaaa, sizeof(q_aaaa));
	buf[2] |= 0x80;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_RESPONSE);
	/* opcode 2 (STATUS) */
	memcpy(buf, q_aaaa, sizeof(q_aaaa));
	buf[2] |= 0x10;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_OPCODE);
	/* QDCOUNT 0 and 2 */
	memcpy(buf, q_aaaa, sizeof(q_aaaa));
	buf[5] = 0;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_QDCOUNT);
	buf[5] = 2;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_QDCOUNT);
	buf[4] = 1;
	buf[5] = 1;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_QDCOUNT);
}
END_TEST

START_TEST(test_dnsmsg_parse_refuses_bad_labels)
{
	uint8_t buf[600];
	struct dnsmsg_query q;

	/* a compression pointer after the first label */
	memcpy(buf, q_aaaa, sizeof(q_aaaa));
	buf[20] = 0xc0;
	buf[21] = 12;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_POINTER);
	/* a pointer to itself as the whole name */
	buf[12] = 0xc0;
	buf[13] = 12;
	ck_assert_int_eq(dnsmsg_parse_query(buf, sizeof(q_aaaa), &q),
	                 DNSMSG_E_POINTER);
	/* label length 64, and the reserved types 0x40 and 0x80 */
	memset(buf + 12, 'a', 100);
	buf[12] = 64;
	buf[77] = 0;
	ck_assert_int_eq(dnsmsg_parse_query(buf, 82, &q), DNSMSG_E_LABEL);
	buf[12] = 0x41;
	ck_assert_int_eq(dnsmsg_parse_query(buf, 82, &q), DNSMSG_E_LABEL);
	buf[12] = 0x80;
	ck_assert_int_eq(dnsmsg_parse_query(buf, 82, &q), DNSMSG_E_LABEL);
	/* 63 is fine */
	buf[12] = 63;
	buf[76] = 0;
	buf[77] = 0;
	buf[78] = 1;
	buf[79] = 0;
	buf[80] = 1;
	ck_assert_int_eq(dnsmsg_parse_query(buf, 81, &q), 0);
	ck_assert_uint_eq(q.name_len, 63);
	/* a label that runs past the end */
	buf[12] = 63;
	ck_assert_int_eq(dnsmsg_parse_query(buf, 60, &q), DNSMSG_E_TRUNC);
}
END_TEST

START_TEST(test_dnsmsg_reply_a_two_addresses)
{
	static const uint8_t want[] = {
	        0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00,
	        0x00, 0x00, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
	        'm', 0, 0x00, 0x01, 0x00, 0x01,
	        /* answer 1: ptr, A, IN, TTL 60, RDLEN 4, 198.18.0.5 */
	        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c,
	        0x00, 0x04, 198, 18, 0, 5,
	        /* answer 2: TTL 60, 10.1.2.3 */
	        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c,
	        0x00, 0x04, 10, 1, 2, 3};
	struct dnsmsg_query q = parse_ok(q_a, sizeof(q_a));
	struct dnsmsg_answer a = {.rcode = DNSMSG_RCODE_NOERROR, .ttl = 60};
	uint8_t buf[DNSMSG_REPLY_MAX];

	a.n = 2;
	memcpy(a.addr[0], (uint8_t[]){198, 18, 0, 5}, 4);
	memcpy(a.addr[1], (uint8_t[]){10, 1, 2, 3}, 4);
	ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a),
	                 sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

START_TEST(test_dnsmsg_reply_aaaa_echoes_case_rd_cd)
{
	static const uint8_t want[] = {
	        0xbe, 0xef, 0x81, 0x90, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
	        0x00, 0x00, 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O',
	        'M', 0, 0x00, 0x1c, 0x00, 0x01,
	        /* ptr, AAAA, IN, TTL 0x7fffffff (capped), RDLEN 16 */
	        0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff,
	        0x00, 0x10, 0xfd, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0, 0, 0, 0, 0,
	        0, 0, 0, 0, 0x07};
	struct dnsmsg_query q = parse_ok(q_aaaa, sizeof(q_aaaa));
	struct dnsmsg_answer a = {.rcode = 0, .ttl = 0xffffffffu, .n = 1};
	uint8_t buf[DNSMSG_REPLY_MAX];

	memcpy(a.addr[0], want + sizeof(want) - 16, 16);
	ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a),
	                 sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

/* NODATA, NXDOMAIN, SERVFAIL, REFUSED: the header and the question. */
START_TEST(test_dnsmsg_reply_rcodes_without_answers)
{
	static const uint8_t hdr[][12] = {
	        {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0},
	        {0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0},
	        {0x12, 0x34, 0x81, 0x82, 0, 1, 0, 0, 0, 0, 0, 0},
	        {0x12, 0x34, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0},
	};
	static const int rc[] = {DNSMSG_RCODE_NOERROR, DNSMSG_RCODE_NXDOMAIN,
	                         DNSMSG_RCODE_SERVFAIL, DNSMSG_RCODE_REFUSED};
	struct dnsmsg_query q = parse_ok(q_a, sizeof(q_a));
	struct dnsmsg_answer a = {.ttl = 60};
	uint8_t buf[DNSMSG_REPLY_MAX];
	size_t i;

	for (i = 0; i < 4; i++) {
		a.rcode = rc[i];
		/* addresses count only with NOERROR; NOERROR with none is
		 * NODATA */
		a.n = i == 0 ? 0 : 3;
		ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a),
		                 12 + 17);
		ck_assert_mem_eq(buf, hdr[i], 12);
		ck_assert_mem_eq(buf + 12, q_a + 12, 17);
	}
}
END_TEST

START_TEST(test_dnsmsg_reply_truncates_to_the_buffer)
{
	struct dnsmsg_query q = parse_ok(q_aaaa, sizeof(q_aaaa));
	struct dnsmsg_answer a = {.rcode = 0, .ttl = 5};
	uint8_t buf[DNSMSG_REPLY_MAX];

	/* 16 AAAA records: 29 + 16 * 28 = 477 bytes fit in 512 */
	a.n = DNSMSG_MAX_ADDRS;
	memset(a.addr, 0x20, sizeof(a.addr));
	ck_assert_int_eq(dnsmsg_build_reply(buf, DNSMSG_UDP_MAX, &q, &a), 477);
	/* in 476 only the header and the question, with TC */
	ck_assert_int_eq(dnsmsg_build_reply(buf, 476, &q, &a), 29);
	ck_assert_uint_eq(buf[2], 0x83); /* QR TC RD */
	ck_assert_uint_eq(buf[3], 0x90); /* RA CD, NOERROR */
	ck_assert_uint_eq(buf[7], 0);    /* ANCOUNT */
	ck_assert_int_eq(dnsmsg_build_reply(buf, 28, &q, &a), DNSMSG_E_SPACE);
	/* too many addresses, or addresses for another type */
	a.n = DNSMSG_MAX_ADDRS + 1;
	ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a),
	                 DNSMSG_E_INVAL);
	q.qtype = 15; /* MX */
	a.n = 1;
	ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a),
	                 DNSMSG_E_INVAL);
	a.n = 0;
	ck_assert_int_eq(dnsmsg_build_reply(buf, sizeof(buf), &q, &a), 29);
}
END_TEST

START_TEST(test_dnsmsg_error_replies)
{
	static const uint8_t formerr[] = {0xbe, 0xef, 0x81, 0x81, 0, 0,
	                                  0,    0,    0,    0,    0, 0};
	static const uint8_t notimp[] = {0xbe, 0xef, 0x91, 0x84, 0, 0,
	                                 0,    0,    0,    0,    0, 0};
	uint8_t in[sizeof(q_aaaa)], buf[64];

	memcpy(in, q_aaaa, sizeof(in));
	in[5] = 2;
	ck_assert_int_eq(dnsmsg_build_error(buf, sizeof(buf), in, sizeof(in),
	                                    DNSMSG_E_QDCOUNT),
	                 12);
	ck_assert_mem_eq(buf, formerr, 12);
	in[5] = 1;
	in[2] |= 0x10; /* opcode 2 */
	ck_assert_int_eq(dnsmsg_build_error(buf, sizeof(buf), in, sizeof(in),
	                                    DNSMSG_E_OPCODE),
	                 12);
	ck_assert_mem_eq(buf, notimp, 12);
	/* never a reply to a response or to less than a header */
	in[2] |= 0x80;
	ck_assert_int_eq(dnsmsg_build_error(buf, sizeof(buf), in, sizeof(in),
	                                    DNSMSG_E_RESPONSE),
	                 0);
	ck_assert_int_eq(dnsmsg_build_error(buf, sizeof(buf), in, sizeof(in),
	                                    DNSMSG_E_LABEL),
	                 0);
	ck_assert_int_eq(dnsmsg_build_error(buf, sizeof(buf), q_aaaa, 11,
	                                    DNSMSG_E_SHORT),
	                 0);
	ck_assert_int_eq(
	        dnsmsg_build_error(buf, 11, q_aaaa, 20, DNSMSG_E_TRUNC),
	        DNSMSG_E_SPACE);
}
END_TEST

START_TEST(test_dnsmsg_tcp_framing)
{
	uint8_t buf[8] = {0};
	size_t need = 0;

	ck_assert_int_eq(dnsmsg_tcp_next(buf, 0, 100, &need), DNSMSG_MORE);
	ck_assert_uint_eq(need, 2);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 1, 100, &need), DNSMSG_MORE);
	ck_assert_uint_eq(need, 2);
	dnsmsg_tcp_put_len(buf, 5);
	ck_assert_uint_eq(buf[0], 0);
	ck_assert_uint_eq(buf[1], 5);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 6, 100, &need), DNSMSG_MORE);
	ck_assert_uint_eq(need, 7);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 7, 100, &need), 5);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 8, 100, &need), 5);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 8, 4, &need), DNSMSG_E_TOO_BIG);
	dnsmsg_tcp_put_len(buf, 0x1234);
	ck_assert_uint_eq(buf[0], 0x12);
	ck_assert_uint_eq(buf[1], 0x34);
	ck_assert_int_eq(dnsmsg_tcp_next(buf, 2, 0xffff, &need), DNSMSG_MORE);
	ck_assert_uint_eq(need, 2 + 0x1234);
}
END_TEST

Suite *dnsmsg_suite(void);

Suite *
dnsmsg_suite(void)
{
	Suite *s = suite_create("dnsmsg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_dnsmsg_parse_a_query_with_edns);
	tcase_add_test(tc, test_dnsmsg_parse_aaaa_query_keeps_case);
	tcase_add_test(tc, test_dnsmsg_parse_root_and_escaped_bytes);
	tcase_add_test(tc, test_dnsmsg_parse_name_at_the_limit);
	tcase_add_test(tc, test_dnsmsg_parse_refuses_malformed);
	tcase_add_test(tc, test_dnsmsg_parse_refuses_bad_labels);
	tcase_add_test(tc, test_dnsmsg_reply_a_two_addresses);
	tcase_add_test(tc, test_dnsmsg_reply_aaaa_echoes_case_rd_cd);
	tcase_add_test(tc, test_dnsmsg_reply_rcodes_without_answers);
	tcase_add_test(tc, test_dnsmsg_reply_truncates_to_the_buffer);
	tcase_add_test(tc, test_dnsmsg_error_replies);
	tcase_add_test(tc, test_dnsmsg_tcp_framing);
	suite_add_tcase(s, tc);
	return s;
}
