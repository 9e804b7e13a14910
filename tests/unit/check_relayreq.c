/* The TLS relay's request (proto/relayreq.c): what the library encodes
 * the relay decodes, and nothing looser gets through. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proxyshim/proto.h"
#include "proxyshim/relayreq.h"

#define SECRET                                                                 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A request by hand: request line, then "Proxy-Authorization: Basic "
 * base64(cred) unless cred is NULL, then extra lines. */
static int
req(char *buf, size_t size, const char *line, const char *cred,
    const char *extra)
{
	char enc[600];
	int n;

	if (cred == NULL)
		return snprintf(buf, size, "%s\r\n%s\r\n", line, extra);
	n = httpc_base64(enc, sizeof(enc), cred, strlen(cred));
	ck_assert_int_gt(n, 0);
	return snprintf(buf, size,
	                "%s\r\nProxy-Authorization: Basic %s\r\n%s\r\n", line,
	                enc, extra);
}

static int
dec(const char *buf, size_t nups, struct relayreq *q)
{
	return relayreq_decode(buf, strlen(buf), nups, q);
}

START_TEST(test_relayreq_roundtrip_name_v4_v6)
{
	static const uint32_t ups[] = {3, 0, 12};
	struct ps_target t[3] = {{0}};
	char buf[PS_RELAYREQ_MAX];
	struct relayreq q;
	int i, n;

	t[0].name = "example.com";
	t[0].name_len = 11;
	t[0].port = 443;
	t[1].family = AF_INET;
	memcpy(t[1].addr, (uint8_t[]){10, 1, 2, 3}, 4);
	t[1].port = 8080;
	t[2].family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", t[2].addr), 1);
	t[2].port = 1;
	for (i = 0; i < 3; i++) {
		n = relayreq_encode(buf, sizeof(buf), &t[i], ups, 3, SECRET);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(relayreq_end(buf, (size_t)n), n);
		ck_assert_int_eq(relayreq_decode(buf, (size_t)n, 13, &q), 0);
		ck_assert_str_eq(q.secret, SECRET);
		ck_assert_uint_eq(q.n, 3);
		ck_assert_uint_eq(q.ups[0], 3);
		ck_assert_uint_eq(q.ups[1], 0);
		ck_assert_uint_eq(q.ups[2], 12);
		ck_assert_uint_eq(q.dst.port, t[i].port);
		ck_assert_int_eq(q.dst.family, t[i].family);
		if (i == 0) {
			ck_assert_str_eq(q.host, "example.com");
			ck_assert_ptr_eq(q.dst.name, q.host);
			ck_assert_uint_eq(q.dst.name_len, 11);
		} else {
			ck_assert_ptr_null(q.dst.name);
			ck_assert_mem_eq(q.dst.addr, t[i].addr, 16);
		}
	}
	ck_assert_str_eq(q.host, "2001:db8::1"); /* brackets gone */
}
END_TEST

START_TEST(test_relayreq_user_list_limits)
{
	uint32_t ups[PS_MAX_HOPS + 1] = {0};
	char buf[200];

	ck_assert_int_eq(relayreq_user(buf, sizeof(buf), ups, 0), -EINVAL);
	ck_assert_int_eq(relayreq_user(buf, sizeof(buf), ups, PS_MAX_HOPS + 1),
	                 -EINVAL);
	ups[0] = 7;
	ups[1] = 4294967295u;
	ck_assert_int_eq(relayreq_user(buf, sizeof(buf), ups, 2), 13);
	ck_assert_str_eq(buf, "u7,4294967295");
	ck_assert_int_eq(relayreq_user(buf, 5, ups, 2), -ENOBUFS);
}
END_TEST

START_TEST(test_relayreq_end_needs_the_blank_line)
{
	char big[PS_RELAYREQ_MAX + 10];

	ck_assert_int_eq(relayreq_end("CONNECT a:1 HTTP/1.1\r\n", 22), 0);
	ck_assert_int_eq(relayreq_end("CONNECT a:1 HTTP/1.1\r\n\r\nxy", 26),
	                 24);
	/* LF LF is not an end here: the encoder writes CRLF only */
	ck_assert_int_eq(relayreq_end("CONNECT a:1 HTTP/1.1\n\n", 22), 0);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(relayreq_end(big, PS_RELAYREQ_MAX - 1), 0);
	ck_assert_int_eq(relayreq_end(big, PS_RELAYREQ_MAX), -E2BIG);
	ck_assert_int_eq(relayreq_end(big, sizeof(big)), -E2BIG);
}
END_TEST

START_TEST(test_relayreq_missing_or_bad_credentials_are_407)
{
	char buf[1024];
	struct relayreq q;

	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", NULL, "");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES);
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", "u1", "");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES); /* no colon */
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", "u1:abc", "");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES); /* short secret */
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1",
	    "u1:"
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    "");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES); /* upper-case hex */
	snprintf(buf, sizeof(buf),
	         "CONNECT a.example:443 HTTP/1.1\r\n"
	         "Proxy-Authorization: Digest abc\r\n\r\n");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES);
	snprintf(buf, sizeof(buf),
	         "CONNECT a.example:443 HTTP/1.1\r\n"
	         "Proxy-Authorization: Basic dTE6YQ\r\n\r\n");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES); /* unpadded */
	snprintf(buf, sizeof(buf),
	         "CONNECT a.example:443 HTTP/1.1\r\n"
	         "Proxy-Authorization: Basic dTE6YR==\r\n\r\n");
	ck_assert_int_eq(dec(buf, 4, &q), -EACCES); /* stray bits */
	ck_assert_str_eq(q.secret, "");
}
END_TEST

START_TEST(test_relayreq_bad_upstream_lists_are_400)
{
	static const char *const bad[] = {"1",
	                                  "u",
	                                  "u,1",
	                                  "u1,",
	                                  "u01",
	                                  "u1,,2",
	                                  "u+1",
	                                  "u-1",
	                                  "u 1",
	                                  "u4",
	                                  "u99999999999",
	                                  "x1",
	                                  "u1;2",
	                                  "u0,0,0,0,0,0,0,0,0" /* nine hops */};
	char buf[1024], cred[300];
	struct relayreq q;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cred, sizeof(cred), "%s:%s", bad[i], SECRET);
		req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred,
		    "");
		ck_assert_msg(dec(buf, 4, &q) == -EINVAL, "%s", bad[i]);
		/* The secret is there for the relay to check first. */
		ck_assert_str_eq(q.secret, SECRET);
	}
	snprintf(cred, sizeof(cred), "u0,0,0,0,0,0,0,3:%s", SECRET);
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred, "");
	ck_assert_int_eq(dec(buf, 4, &q), 0);
	ck_assert_uint_eq(q.n, PS_MAX_HOPS);
}
END_TEST

START_TEST(test_relayreq_bad_targets_are_400)
{
	static const char *const bad[] = {"CONNECT a.example HTTP/1.1",
	                                  "CONNECT a.example:0 HTTP/1.1",
	                                  "CONNECT a.example:65536 HTTP/1.1",
	                                  "CONNECT :443 HTTP/1.1",
	                                  "CONNECT a.example:+443 HTTP/1.1",
	                                  "CONNECT ::1:443 HTTP/1.1",
	                                  "CONNECT [::1]x:443 HTTP/1.1",
	                                  "CONNECT a b:443 HTTP/1.1",
	                                  "GET a.example:443 HTTP/1.1",
	                                  "CONNECT a.example:443 HTTP/2",
	                                  "CONNECT a.example:443",
	                                  "connect a.example:443 HTTP/1.1",
	                                  "CONNECT [a]b]:443 HTTP/1.1",
	                                  "CONNECT []:443 HTTP/1.1"};
	char buf[1024], cred[300];
	struct relayreq q;
	size_t i;

	snprintf(cred, sizeof(cred), "u1:%s", SECRET);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req(buf, sizeof(buf), bad[i], cred, "");
		ck_assert_msg(dec(buf, 4, &q) == -EINVAL, "%s", bad[i]);
	}
	req(buf, sizeof(buf), "CONNECT [::1]:22 HTTP/1.0", cred,
	    "Host: [::1]:22\r\nUser-Agent: x\r\n");
	ck_assert_int_eq(dec(buf, 4, &q), 0);
	ck_assert_int_eq(q.dst.family, AF_INET6);
	ck_assert_uint_eq(q.dst.port, 22);
}
END_TEST

/* A name of PS_MAX_HOST characters fits; one more is refused, though a
 * handshake name may be longer (found by fuzz_relayreq). */
START_TEST(test_relayreq_host_longer_than_max_host_is_400)
{
	char line[PS_MAX_HOST + 64], name[PS_MAX_HOST + 2], buf[1024],
	        cred[300];
	struct relayreq q;
	size_t i;

	snprintf(cred, sizeof(cred), "u1:%s", SECRET);
	for (i = 0; i < sizeof(name) - 1; i++)
		name[i] = (i % 50 == 49) ? '.' : 'a';
	name[PS_MAX_HOST] = '\0';
	snprintf(line, sizeof(line), "CONNECT %s:443 HTTP/1.1", name);
	req(buf, sizeof(buf), line, cred, "");
	ck_assert_int_eq(dec(buf, 4, &q), 0);
	ck_assert_str_eq(q.host, name);
	name[PS_MAX_HOST] = 'a';
	name[PS_MAX_HOST + 1] = '\0';
	snprintf(line, sizeof(line), "CONNECT %s:443 HTTP/1.1", name);
	req(buf, sizeof(buf), line, cred, "");
	ck_assert_int_eq(dec(buf, 4, &q), -EINVAL);
}
END_TEST

START_TEST(test_relayreq_framing_is_strict)
{
	char buf[1024], cred[300], two[1200];
	struct relayreq q;
	int n;

	snprintf(cred, sizeof(cred), "u1:%s", SECRET);
	n = req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred, "");
	ck_assert_int_eq(dec(buf, 4, &q), 0);
	/* a bare LF, a NUL, a control byte, a line without a colon */
	buf[n - 1] = 'x';
	ck_assert_int_eq(relayreq_decode(buf, (size_t)n, 4, &q), -EINVAL);
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred, "X: a\n");
	ck_assert_int_eq(dec(buf, 4, &q), -EINVAL);
	n = req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred,
	        "X: a\001\r\n");
	ck_assert_int_eq(relayreq_decode(buf, (size_t)n, 4, &q), -EINVAL);
	req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred,
	    "garbage\r\n");
	ck_assert_int_eq(dec(buf, 4, &q), -EINVAL);
	n = req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred, "");
	buf[10] = '\0';
	ck_assert_int_eq(relayreq_decode(buf, (size_t)n, 4, &q), -EINVAL);
	/* two Proxy-Authorization lines */
	n = req(buf, sizeof(buf), "CONNECT a.example:443 HTTP/1.1", cred, "");
	snprintf(two, sizeof(two), "%.*s%s", n - 2, buf,
	         strstr(buf, "Proxy-Authorization"));
	ck_assert_int_eq(dec(two, 4, &q), -EINVAL);
	/* an empty line before the end */
	ck_assert_int_eq(dec("CONNECT a:1 HTTP/1.1\r\n\r\nX: y\r\n\r\n", 4, &q),
	                 -EINVAL);
	ck_assert_int_eq(relayreq_decode("", 0, 4, &q), -EINVAL);
}
END_TEST

Suite *relayreq_suite(void);

Suite *
relayreq_suite(void)
{
	Suite *s = suite_create("relayreq");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_relayreq_roundtrip_name_v4_v6);
	tcase_add_test(tc, test_relayreq_user_list_limits);
	tcase_add_test(tc, test_relayreq_end_needs_the_blank_line);
	tcase_add_test(tc, test_relayreq_missing_or_bad_credentials_are_407);
	tcase_add_test(tc, test_relayreq_bad_upstream_lists_are_400);
	tcase_add_test(tc, test_relayreq_bad_targets_are_400);
	tcase_add_test(tc, test_relayreq_host_longer_than_max_host_is_400);
	tcase_add_test(tc, test_relayreq_framing_is_strict);
	suite_add_tcase(s, tc);
	return s;
}
