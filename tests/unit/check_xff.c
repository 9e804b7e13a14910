/* X-Forwarded-For and friends (shim/xff.c). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/xff.h"

/* Trusted: 127.0.0.0/8, 10.0.0.0/8 and ::1 (as a trustedOrigins list). */
static int
trusted(const void *ctx, int family, const uint8_t *a)
{
	static const uint8_t lo6[16] = {[15] = 1};

	(void)ctx;
	if (family == AF_INET)
		return a[0] == 127 || a[0] == 10;
	return memcmp(a, lo6, 16) == 0;
}

static const uint8_t xff_only[] = {PS_RP_XFF};

/* The client picked from req with the given header list, as text; "" for
 * nothing usable. */
static const char *
pick(const char *req, const uint8_t *h, size_t nh)
{
	static char out[INET6_ADDRSTRLEN];
	uint8_t a[16];
	int fam = 0;

	if (!xff_pick(req, strlen(req), h, nh, trusted, NULL, &fam, a))
		return "";
	inet_ntop(fam, a, out, sizeof(out));
	return out;
}

#define PICK_XFF(req) pick((req), xff_only, 1)

START_TEST(test_xff_rightmost_untrusted_is_the_client)
{
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\nHost: x\r\n"
	                          "X-Forwarded-For: 203.0.113.9\r\n\r\n"),
	                 "203.0.113.9");
	/* multi-hop: our own proxies (10/8) on the right are skipped */
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 198.51.100.1, 203.0.113.9, "
	                          "10.0.0.2,10.0.0.3\r\n\r\n"),
	                 "203.0.113.9");
}
END_TEST

START_TEST(test_xff_spoofed_leftmost_entries_ignored)
{
	/* The client sent "X-Forwarded-For: 1.1.1.1, 127.0.0.1" itself;
	 * the proxy appended the real address. */
	ck_assert_str_eq(PICK_XFF("POST /login HTTP/1.1\r\n"
	                          "X-Forwarded-For: 1.1.1.1, 127.0.0.1, "
	                          "203.0.113.77\r\n\r\n"),
	                 "203.0.113.77");
}
END_TEST

START_TEST(test_xff_multiple_lines_joined_in_order)
{
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "x-forwarded-for: 192.0.2.1, 192.0.2.2\r\n"
	                          "Host: a\r\n"
	                          "X-FORWARDED-FOR: 10.0.0.7\r\n\r\n"),
	                 "192.0.2.2");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 192.0.2.1\r\n"
	                          "X-Forwarded-For: 192.0.2.3\r\n\r\n"),
	                 "192.0.2.3");
}
END_TEST

START_TEST(test_xff_all_trusted_gives_leftmost)
{
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 127.0.0.5, 10.9.9.9\r\n\r\n"),
	                 "127.0.0.5");
}
END_TEST

START_TEST(test_xff_ipv6_and_ports_stripped)
{
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 2001:db8::7\r\n\r\n"),
	                 "2001:db8::7");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: [2001:db8::8]:443 , "
	                          "[::1]:80\r\n\r\n"),
	                 "2001:db8::8");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 1.2.3.4:567\r\n\r\n"),
	                 "1.2.3.4");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: ::ffff:192.0.2.4\r\n\r\n"),
	                 "192.0.2.4");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\n"
	                          "X-Forwarded-For:\t[2001:db8::9]\n\n"),
	                 "2001:db8::9");
}
END_TEST

START_TEST(test_xff_garbage_tokens_give_nothing)
{
	static const char *bad[] = {
		"X-Forwarded-For: unknown",
		"X-Forwarded-For: 192.0.2.1, garbage",
		"X-Forwarded-For: 192.0.2.1, , 10.0.0.1",
		"X-Forwarded-For: 1.2.3.4:99999",
		"X-Forwarded-For: 1.2.3.4:",
		"X-Forwarded-For: [::1",
		"X-Forwarded-For: [::1]x",
		"X-Forwarded-For: 01.2.3.4",
		"X-Forwarded-For: 1.2.3.4.5",
		"X-Forwarded-For: fe80::1%eth0",
		"X-Forwarded-For: ",
		"X-Forwarded-For : 192.0.2.1",
	};
	char req[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n%s\r\n\r\n", bad[i]);
		ck_assert_msg(strcmp(PICK_XFF(req), "") == 0, "%s -> %s", bad[i],
		              PICK_XFF(req));
	}
	/* garbage left of the client does not matter */
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: evil, 192.0.2.1\r\n\r\n"),
	                 "192.0.2.1");
}
END_TEST

START_TEST(test_xff_other_headers_take_first_value_in_order)
{
	static const uint8_t real_first[] = {PS_RP_X_REAL_IP, PS_RP_XFF};
	static const uint8_t xff_first[] = {PS_RP_XFF, PS_RP_X_REAL_IP};
	static const uint8_t cf[] = {PS_RP_PROXY, PS_RP_CF_CONNECTING_IP,
	                             PS_RP_TRUE_CLIENT_IP};
	const char *req = "GET / HTTP/1.1\r\n"
	                  "X-Forwarded-For: 192.0.2.1\r\n"
	                  "X-Real-IP: 192.0.2.2, 192.0.2.9\r\n"
	                  "X-Real-IP: 192.0.2.3\r\n"
	                  "True-Client-IP: [2001:db8::1]:5\r\n"
	                  "CF-Connecting-IP: 192.0.2.4\r\n\r\n";

	ck_assert_str_eq(pick(req, real_first, 2), "192.0.2.2");
	ck_assert_str_eq(pick(req, xff_first, 2), "192.0.2.1");
	ck_assert_str_eq(pick(req, cf, 3), "192.0.2.4");
	ck_assert_str_eq(pick(req, cf + 2, 1), "2001:db8::1");
	/* an unusable first header falls through to the next one */
	ck_assert_str_eq(pick("GET / HTTP/1.1\r\nX-Real-IP: nope\r\n"
	                      "X-Forwarded-For: 192.0.2.5\r\n\r\n",
	                      real_first, 2),
	                 "192.0.2.5");
	/* a header that is absent: nothing */
	ck_assert_str_eq(pick("GET / HTTP/1.1\r\nHost: a\r\n\r\n", real_first,
	                      2),
	                 "");
}
END_TEST

START_TEST(test_xff_only_complete_header_lines_count)
{
	/* The body and a partial last line are never read. */
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	                          "X-Forwarded-For: 192.0.2.1\r\n"),
	                 "");
	ck_assert_str_eq(PICK_XFF("GET / HTTP/1.1\r\n"
	                          "X-Forwarded-For: 192.0.2.1\r\n"
	                          "X-Forwarded-For: 192.0.2.2"),
	                 "192.0.2.1");
	/* The request line is not a header. */
	ck_assert_str_eq(PICK_XFF("X-Forwarded-For: 192.0.2.1\r\n\r\n"), "");
}
END_TEST

START_TEST(test_xff_header_end)
{
	ck_assert_int_eq(xff_header_end("GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 28),
	                 24);
	ck_assert_int_eq(xff_header_end("GET / HTTP/1.1\nA: b\n\n", 21), 21);
	ck_assert_int_eq(xff_header_end("GET / HTTP/1.1\r\nA: b\r\n", 22), 0);
	ck_assert_int_eq(xff_header_end("GET", 3), 0);
	ck_assert_int_eq(xff_header_end("", 0), 0);
	/* TLS, SSH, a PROXY v2 header: not HTTP, stop waiting at once */
	ck_assert_int_eq(xff_header_end("\x16\x03\x01", 3), -1);
	ck_assert_int_eq(xff_header_end(" GET", 4), -1);
	ck_assert_int_eq(xff_header_end("SSH-2.0-x\r\n", 11), -1);
	ck_assert_int_eq(xff_header_end("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 36),
	                 -1);
}
END_TEST

Suite *xff_suite(void);

Suite *
xff_suite(void)
{
	Suite *s = suite_create("xff");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_xff_rightmost_untrusted_is_the_client);
	tcase_add_test(tc, test_xff_spoofed_leftmost_entries_ignored);
	tcase_add_test(tc, test_xff_multiple_lines_joined_in_order);
	tcase_add_test(tc, test_xff_all_trusted_gives_leftmost);
	tcase_add_test(tc, test_xff_ipv6_and_ports_stripped);
	tcase_add_test(tc, test_xff_garbage_tokens_give_nothing);
	tcase_add_test(tc, test_xff_other_headers_take_first_value_in_order);
	tcase_add_test(tc, test_xff_only_complete_header_lines_count);
	tcase_add_test(tc, test_xff_header_end);
	suite_add_tcase(s, tc);
	return s;
}
