/* Proxy URLs (resolver/url.c): docs/behaviour.md#proxy-urls. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"

/* Parse s (NUL-terminated); fail the test with the message if it fails. */
static void
url_ok(const char *s, struct ps_url *u)
{
	const char *err = NULL;
	int r = url_parse(s, strlen(s), u, &err);

	ck_assert_msg(r == 0, "url_parse(\"%s\"): %s", s, err ? err : "?");
}

/* Expect a refusal with exactly this message, and nothing left allocated. */
static void
url_bad(const char *s, const char *want)
{
	struct ps_url u;
	const char *err = NULL;

	memset(&u, 0xa5, sizeof(u));
	ck_assert_msg(url_parse(s, strlen(s), &u, &err) == -EINVAL,
	              "url_parse(\"%s\") accepted", s);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(u.host);
	ck_assert_ptr_null(u.user);
	ck_assert_ptr_null(u.pass);
}

START_TEST(test_url_without_scheme_is_http)
{
	struct ps_url u;

	url_ok("localhost:3128", &u);
	ck_assert_int_eq(u.scheme, PS_SCHEME_HTTP);
	ck_assert_str_eq(u.host, "localhost");
	ck_assert_uint_eq(u.port, 3128);
	ck_assert_int_eq(u.family, 0);
	ck_assert_ptr_null(u.user);
	ck_assert_ptr_null(u.pass);
	url_free(&u);

	url_ok("proxy.corp", &u);
	ck_assert_int_eq(u.scheme, PS_SCHEME_HTTP);
	ck_assert_uint_eq(u.port, 80);
	url_free(&u);
}
END_TEST

START_TEST(test_url_default_ports_http_80_https_443_socks_1080)
{
	static const struct {
		const char *s;
		enum ps_scheme scheme;
		uint16_t port;
	} cases[] = {
		{"http://p", PS_SCHEME_HTTP, 80},
		{"https://p", PS_SCHEME_HTTPS, 443},
		{"socks4://p", PS_SCHEME_SOCKS4, 1080},
		{"socks4a://p", PS_SCHEME_SOCKS4A, 1080},
		{"socks5://p", PS_SCHEME_SOCKS5, 1080},
		{"socks5h://p", PS_SCHEME_SOCKS5H, 1080},
	};
	struct ps_url u;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		url_ok(cases[i].s, &u);
		ck_assert_int_eq(u.scheme, cases[i].scheme);
		ck_assert_uint_eq(u.port, cases[i].port);
		url_free(&u);
	}
}
END_TEST

START_TEST(test_url_scheme_and_host_are_case_insensitive)
{
	struct ps_url u;

	url_ok("SOCKS5H://Proxy.CORP.Example:1081", &u);
	ck_assert_int_eq(u.scheme, PS_SCHEME_SOCKS5H);
	ck_assert_str_eq(u.host, "proxy.corp.example");
	ck_assert_uint_eq(u.port, 1081);
	url_free(&u);
}
END_TEST

START_TEST(test_url_unknown_scheme_is_rejected)
{
	const char *msg = "unsupported proxy scheme (want http, https, socks4, "
	                  "socks4a, socks5 or socks5h)";

	url_bad("ftp://proxy:21", msg);
	url_bad("socks://proxy", msg);
	url_bad("://proxy", msg);
}
END_TEST

START_TEST(test_url_percent_decodes_credentials)
{
	struct ps_url u;

	url_ok("socks5://us%65r%20x:p%40ss%3Aw%2Fo%25rd@10.10.10.10:1080", &u);
	ck_assert_str_eq(u.user, "user x");
	ck_assert_str_eq(u.pass, "p@ss:w/o%rd");
	ck_assert_str_eq(u.host, "10.10.10.10");
	ck_assert_int_eq(u.family, AF_INET);
	url_free(&u);
}
END_TEST

START_TEST(test_url_user_without_colon_has_no_password)
{
	struct ps_url u;

	url_ok("http://alice@proxy:3128", &u);
	ck_assert_str_eq(u.user, "alice");
	ck_assert_ptr_null(u.pass);
	url_free(&u);

	url_ok("http://alice:@proxy:3128", &u);
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.pass, "");
	url_free(&u);
}
END_TEST

START_TEST(test_url_last_at_sign_ends_the_credentials)
{
	struct ps_url u;

	url_ok("http://alice:p@ss@proxy", &u);
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.pass, "p@ss");
	ck_assert_str_eq(u.host, "proxy");
	url_free(&u);
}
END_TEST

START_TEST(test_url_rejects_invalid_percent_encoding)
{
	const char *msg = "invalid percent-encoding in credentials";

	url_bad("socks5://u:p%zz@h", msg);
	url_bad("socks5://u:p%4@h", msg);
	url_bad("socks5://u:p%@h", msg);
	url_bad("socks5://%g1:p@h", msg);
	url_bad("socks5://u:p%00@h", "NUL byte (%00) in credentials");
}
END_TEST

START_TEST(test_url_credentials_are_limited_to_255_bytes)
{
	char s[1024], name[300];
	struct ps_url u;
	size_t i;

	memset(name, 'a', 255);
	name[255] = '\0';
	snprintf(s, sizeof(s), "socks5://%s:%s@h", name, name);
	url_ok(s, &u);
	ck_assert_uint_eq(strlen(u.user), 255);
	ck_assert_uint_eq(strlen(u.pass), 255);
	url_free(&u);

	/* The limit applies to the decoded bytes: 255 x "%41" is fine. */
	strcpy(s, "socks5://u:");
	for (i = 0; i < 255; i++)
		strcat(s, "%41");
	strcat(s, "@h");
	url_ok(s, &u);
	ck_assert_uint_eq(strlen(u.pass), 255);
	url_free(&u);

	name[255] = 'a';
	name[256] = '\0';
	snprintf(s, sizeof(s), "socks5://%s:p@h", name);
	url_bad(s, "user name or password longer than 255 bytes");
	snprintf(s, sizeof(s), "socks5://u:%s@h", name);
	url_bad(s, "user name or password longer than 255 bytes");
}
END_TEST

START_TEST(test_url_rejects_empty_user_name)
{
	url_bad("http://:@proxy:3128", "empty user name in proxy URL");
	url_bad("http://:secret@proxy:3128", "empty user name in proxy URL");
	url_bad("http://@proxy:3128", "empty user name in proxy URL");
}
END_TEST

START_TEST(test_url_ipv6_literal_in_brackets)
{
	struct ps_url u;
	uint8_t want[16];

	url_ok("socks5://[::1]:1080", &u);
	ck_assert_int_eq(u.family, AF_INET6);
	ck_assert_str_eq(u.host, "::1");
	inet_pton(AF_INET6, "::1", want);
	ck_assert_mem_eq(u.addr, want, 16);
	ck_assert_uint_eq(u.port, 1080);
	url_free(&u);

	url_ok("http://[2001:DB8::1]", &u);
	ck_assert_str_eq(u.host, "2001:db8::1");
	ck_assert_uint_eq(u.port, 80);
	url_free(&u);
}
END_TEST

START_TEST(test_url_ipv6_needs_brackets)
{
	url_bad("http://::1:3128", "IPv6 address must be written in [brackets]");
	url_bad("http://[::1:3128", "missing ']' after IPv6 address");
	url_bad("http://[::1]3128", "unexpected text after ']'");
	url_bad("http://[::g]:3128", "bad IPv6 address");
	url_bad("http://[10.0.0.1]:3128", "bad IPv6 address");
	url_bad("http://[fe80::1%25eth0]:3128", "bad IPv6 address");
}
END_TEST

START_TEST(test_url_ipv4_literal_fills_family_and_addr)
{
	struct ps_url u;
	const uint8_t want[4] = {10, 10, 10, 10};

	url_ok("socks4://10.10.10.10:1081", &u);
	ck_assert_int_eq(u.family, AF_INET);
	ck_assert_mem_eq(u.addr, want, 4);
	url_free(&u);
}
END_TEST

START_TEST(test_url_mistyped_ipv4_is_not_a_host_name)
{
	url_bad("http://10.1.2.300:3128", "bad IPv4 address");
	url_bad("http://10.1.2:3128", "bad IPv4 address");
}
END_TEST

START_TEST(test_url_host_name_syntax_is_checked)
{
	char s[400], label[70];
	struct ps_url u;

	url_bad("http://bad!host:1", "invalid character in host name");
	url_bad("http://-lead.example", "host name label starts or ends with '-'");
	url_bad("http://trail-.example", "host name label starts or ends with '-'");
	url_bad("http://a..b", "empty label in host name");
	url_bad("http://:3128", "missing host in proxy URL");
	url_bad("http://pr\xc3\xb6xy.example", "non-ASCII host name (use its xn-- form)");

	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(s, sizeof(s), "http://%s.example", label);
	url_bad(s, "host name label longer than 63 bytes");

	/* 3 x 63 + 61 + 3 dots = 253 bytes, the limit of a name written as
	 * text (255 octets on the wire); one more is too many.  A trailing
	 * dot does not count. */
	label[63] = '\0';
	snprintf(s, sizeof(s), "http://%s.%s.%s.%.61s", label, label, label,
	         label);
	url_ok(s, &u);
	ck_assert_uint_eq(strlen(u.host), 253);
	url_free(&u);
	strcat(s, ".");
	url_ok(s, &u);
	url_free(&u);
	s[strlen(s) - 1] = 'a';
	url_bad(s, "host name longer than 253 bytes");

	url_ok("http://my_service.internal.:3128", &u);
	ck_assert_str_eq(u.host, "my_service.internal.");
	url_free(&u);
}
END_TEST

START_TEST(test_url_rejects_paths_queries_and_fragments)
{
	struct ps_url u;

	url_ok("http://proxy:3128/", &u);
	url_free(&u);
	url_ok("http://proxy/", &u);
	ck_assert_uint_eq(u.port, 80);
	url_free(&u);
	url_bad("http://proxy:3128/squid", "path in proxy URL (only \"/\" is allowed)");
	url_bad("http://proxy:3128//", "path in proxy URL (only \"/\" is allowed)");
	url_bad("http://proxy:3128?x=1", "query or fragment in proxy URL");
	url_bad("http://proxy:3128/?x=1", "query or fragment in proxy URL");
	url_bad("http://proxy:3128#top", "query or fragment in proxy URL");
}
END_TEST

START_TEST(test_url_rejects_bad_ports)
{
	struct ps_url u;

	url_bad("http://proxy:0", "port out of range (1-65535)");
	url_bad("http://proxy:65536", "port out of range (1-65535)");
	url_bad("http://proxy:99999999999999999999", "port out of range (1-65535)");
	url_bad("http://proxy:http", "port is not a number");
	url_bad("http://proxy:-1", "port is not a number");
	url_bad("http://proxy:+80", "port is not a number");
	url_bad("http://proxy:", "missing port number after ':'");
	url_bad("http://[::1]:", "missing port number after ':'");
	url_ok("http://proxy:65535", &u);
	ck_assert_uint_eq(u.port, 65535);
	url_free(&u);
	url_ok("http://proxy:00080", &u);
	ck_assert_uint_eq(u.port, 80);
	url_free(&u);
}
END_TEST

START_TEST(test_url_whitespace_is_trimmed_outside_and_rejected_inside)
{
	struct ps_url u;

	url_ok("  http://proxy:3128 \n", &u);
	ck_assert_str_eq(u.host, "proxy");
	url_free(&u);
	url_bad("http://pro xy:3128", "whitespace or control character in proxy URL");
	url_bad("http://proxy:31\t28", "whitespace or control character in proxy URL");
	url_bad("   ", "empty proxy URL");
	url_bad("", "empty proxy URL");
}
END_TEST

START_TEST(test_url_parse_honours_len)
{
	const char *s = "http://proxy:3128/garbage";
	struct ps_url u;
	const char *err;

	ck_assert_int_eq(url_parse(s, 17, &u, &err), 0);
	ck_assert_str_eq(u.host, "proxy");
	ck_assert_uint_eq(u.port, 3128);
	url_free(&u);
}
END_TEST

START_TEST(test_url_error_messages_never_echo_the_url)
{
	static const char *const bad[] = {
		"socks5://alice:hunter2@proxy:0",
		"socks5://alice:hunter2%zz@proxy",
		"socks5://alice:hunter2@proxy/path",
		"socks5://alice:hunter2@[::1",
		"gopher://alice:hunter2@proxy",
		"socks5://alice:hunter2@bad!host",
	};
	struct ps_url u;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_lt(url_parse(bad[i], strlen(bad[i]), &u, &err), 0);
		ck_assert_ptr_null(strstr(err, "hunter2"));
		ck_assert_ptr_null(strstr(err, "alice"));
	}
}
END_TEST

START_TEST(test_url_format_masked_hides_the_password)
{
	struct ps_url u;
	char buf[128];
	size_t n;

	url_ok("socks5://user:pass@10.10.10.10:1080", &u);
	n = url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "socks5://user:***@10.10.10.10:1080");
	ck_assert_uint_eq(n, strlen(buf));
	url_free(&u);

	url_ok("http://alice:@proxy", &u);
	url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://alice:***@proxy:80");
	url_free(&u);
}
END_TEST

START_TEST(test_url_format_masked_without_credentials)
{
	struct ps_url u;
	char buf[128];

	url_ok("localhost:3128", &u);
	url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://localhost:3128");
	url_free(&u);

	url_ok("http://alice@proxy", &u);
	url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://alice@proxy:80");
	url_free(&u);
}
END_TEST

START_TEST(test_url_format_masked_brackets_ipv6)
{
	struct ps_url u;
	char buf[128];

	url_ok("socks5h://u:p@[2001:db8::1]", &u);
	url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "socks5h://u:***@[2001:db8::1]:1080");
	url_free(&u);
}
END_TEST

START_TEST(test_url_format_masked_reencodes_the_user)
{
	struct ps_url u;
	char buf[128];

	url_ok("https://dom%5Cal%40ice%0A:x@proxy", &u);
	ck_assert_str_eq(u.user, "dom\\al@ice\n");
	url_format_masked(&u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "https://dom%5Cal%40ice%0A:***@proxy:443");
	url_free(&u);
}
END_TEST

START_TEST(test_url_format_masked_truncates_like_snprintf)
{
	struct ps_url u;
	char buf[10];
	size_t n;

	url_ok("socks5://user:pass@10.10.10.10:1080", &u);
	n = url_format_masked(&u, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen("socks5://user:***@10.10.10.10:1080"));
	ck_assert_str_eq(buf, "socks5://");
	url_free(&u);
}
END_TEST

START_TEST(test_url_scheme_names)
{
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_HTTP), "http");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_HTTPS), "https");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_SOCKS4), "socks4");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_SOCKS4A), "socks4a");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_SOCKS5), "socks5");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_SOCKS5H), "socks5h");
	ck_assert_str_eq(url_scheme_name(PS_SCHEME_NONE), "none");
}
END_TEST

START_TEST(test_url_free_is_idempotent)
{
	struct ps_url u;

	url_ok("socks5://u:p@h", &u);
	url_free(&u);
	url_free(&u);
	url_free(NULL);
	ck_assert_ptr_null(u.host);
}
END_TEST

Suite *url_suite(void);

Suite *
url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_url_without_scheme_is_http);
	tcase_add_test(tc, test_url_default_ports_http_80_https_443_socks_1080);
	tcase_add_test(tc, test_url_scheme_and_host_are_case_insensitive);
	tcase_add_test(tc, test_url_unknown_scheme_is_rejected);
	tcase_add_test(tc, test_url_percent_decodes_credentials);
	tcase_add_test(tc, test_url_user_without_colon_has_no_password);
	tcase_add_test(tc, test_url_last_at_sign_ends_the_credentials);
	tcase_add_test(tc, test_url_rejects_invalid_percent_encoding);
	tcase_add_test(tc, test_url_credentials_are_limited_to_255_bytes);
	tcase_add_test(tc, test_url_rejects_empty_user_name);
	tcase_add_test(tc, test_url_ipv6_literal_in_brackets);
	tcase_add_test(tc, test_url_ipv6_needs_brackets);
	tcase_add_test(tc, test_url_ipv4_literal_fills_family_and_addr);
	tcase_add_test(tc, test_url_mistyped_ipv4_is_not_a_host_name);
	tcase_add_test(tc, test_url_host_name_syntax_is_checked);
	tcase_add_test(tc, test_url_rejects_paths_queries_and_fragments);
	tcase_add_test(tc, test_url_rejects_bad_ports);
	tcase_add_test(tc, test_url_whitespace_is_trimmed_outside_and_rejected_inside);
	tcase_add_test(tc, test_url_parse_honours_len);
	tcase_add_test(tc, test_url_error_messages_never_echo_the_url);
	tcase_add_test(tc, test_url_free_is_idempotent);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_url_format_masked_hides_the_password);
	tcase_add_test(tc, test_url_format_masked_without_credentials);
	tcase_add_test(tc, test_url_format_masked_brackets_ipv6);
	tcase_add_test(tc, test_url_format_masked_reencodes_the_user);
	tcase_add_test(tc, test_url_format_masked_truncates_like_snprintf);
	tcase_add_test(tc, test_url_scheme_names);
	suite_add_tcase(s, tc);
	return s;
}
