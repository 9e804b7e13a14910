/* Match entries, CIDRs, port ranges, durations (resolver/match.c):
 * docs/behaviour.md#match-entries, Go's NO_PROXY syntax.  What the
 * entries match is tested
 * by the table/route suites; here, what they parse to. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"

static void
match_ok(const char *s, struct ps_match *m)
{
	const char *err = NULL;
	int r = match_parse(s, strlen(s), m, &err);

	ck_assert_msg(r == 0, "match_parse(\"%s\"): %s", s, err ? err : "?");
}

static void
match_bad(const char *s, const char *want)
{
	struct ps_match m;
	const char *err = NULL;

	ck_assert_msg(match_parse(s, strlen(s), &m, &err) == -EINVAL,
	              "match_parse(\"%s\") accepted", s);
	ck_assert_msg(strcmp(err, want) == 0, "match_parse(\"%s\"): \"%s\", "
	              "want \"%s\"", s, err, want);
	ck_assert_ptr_null(m.name);
	ck_assert_ptr_null(m.text);
}

static void
addr_is(const struct ps_match *m, int family, const char *addr)
{
	uint8_t want[16] = {0};

	ck_assert_int_eq(m->family, family);
	ck_assert_int_eq(inet_pton(family, addr, want), 1);
	ck_assert_mem_eq(m->addr, want, family == AF_INET ? 4 : 16);
}

/* One expected parse result. */
struct match_case {
	const char *entry;
	enum ps_match_kind kind;
	const char *name; /* NAME/SUFFIX */
	const char *addr; /* ADDR/CIDR */
	int prefix;
	uint16_t lo, hi;
};

static void
match_check_case(const struct match_case *c)
{
	struct ps_match m;

	match_ok(c->entry, &m);
	ck_assert_msg(m.kind == c->kind, "%s: kind %d, want %d", c->entry,
	              m.kind, c->kind);
	ck_assert_str_eq(m.text, c->entry);
	if (c->name != NULL)
		ck_assert_str_eq(m.name, c->name);
	else
		ck_assert_ptr_null(m.name);
	if (c->addr != NULL) {
		addr_is(&m, strchr(c->addr, ':') ? AF_INET6 : AF_INET, c->addr);
		ck_assert_int_eq(m.prefix, c->prefix);
	} else {
		ck_assert_int_eq(m.family, 0);
	}
	ck_assert_msg(m.port_lo == c->lo && m.port_hi == c->hi,
	              "%s: ports %u-%u, want %u-%u", c->entry, m.port_lo,
	              m.port_hi, c->lo, c->hi);
	match_free(&m);
}

/*
 * golang.org/x/net/http/httpproxy's own NO_PROXY test value, entry by
 * entry, and what Go makes of each: a domain matcher (matchHost true for
 * "foobar.com", false for ".barbaz.net" / "*.wildcard.io"), an IP matcher
 * with or without port, or a CIDR matcher ("2002:db8:a::45/64" is masked
 * by net.ParseCIDR; so is it here).
 */
START_TEST(test_match_go_httpproxy_no_proxy_entries)
{
	static const struct match_case go[] = {
		{"foobar.com", PS_MATCH_NAME, "foobar.com", NULL, 0, 0, 65535},
		{".barbaz.net", PS_MATCH_SUFFIX, "barbaz.net", NULL, 0, 0, 65535},
		{"*.wildcard.io", PS_MATCH_SUFFIX, "wildcard.io", NULL, 0, 0, 65535},
		{"192.168.1.1", PS_MATCH_ADDR, NULL, "192.168.1.1", 32, 0, 65535},
		{"192.168.1.2:81", PS_MATCH_ADDR, NULL, "192.168.1.2", 32, 81, 81},
		{"192.168.1.3:80", PS_MATCH_ADDR, NULL, "192.168.1.3", 32, 80, 80},
		{"10.0.0.0/30", PS_MATCH_CIDR, NULL, "10.0.0.0", 30, 0, 65535},
		{"2001:db8::52:0:1", PS_MATCH_ADDR, NULL, "2001:db8::52:0:1", 128, 0, 65535},
		{"[2001:db8::52:0:2]:443", PS_MATCH_ADDR, NULL, "2001:db8::52:0:2", 128, 443, 443},
		{"[2001:db8::52:0:3]:80", PS_MATCH_ADDR, NULL, "2001:db8::52:0:3", 128, 80, 80},
		{"2002:db8:a::45/64", PS_MATCH_CIDR, NULL, "2002:db8:a::", 64, 0, 65535},
		/* From Go's proxyForURL cases. */
		{"example.com", PS_MATCH_NAME, "example.com", NULL, 0, 0, 65535},
		{"example.com:80", PS_MATCH_NAME, "example.com", NULL, 0, 80, 80},
		{".example.com:443", PS_MATCH_SUFFIX, "example.com", NULL, 0, 443, 443},
		{"*.example.com:8080", PS_MATCH_SUFFIX, "example.com", NULL, 0, 8080, 8080},
		{"localhost", PS_MATCH_NAME, "localhost", NULL, 0, 0, 65535},
		{"127.0.0.1", PS_MATCH_ADDR, NULL, "127.0.0.1", 32, 0, 65535},
		{"::1", PS_MATCH_ADDR, NULL, "::1", 128, 0, 65535},
		{"[::1]:443", PS_MATCH_ADDR, NULL, "::1", 128, 443, 443},
		{"*", PS_MATCH_ANY, NULL, NULL, 0, 0, 65535},
	};
	size_t i;

	for (i = 0; i < sizeof(go) / sizeof(go[0]); i++)
		match_check_case(&go[i]);
}
END_TEST

START_TEST(test_noproxy_star_alone_is_any)
{
	struct ps_match m;

	match_ok(" * ", &m);
	ck_assert_int_eq(m.kind, PS_MATCH_ANY);
	ck_assert_str_eq(m.text, "*");
	match_free(&m);
	match_bad("*:80", "\"*\" cannot carry a port");
}
END_TEST

START_TEST(test_noproxy_plain_name_matches_itself_and_subdomains)
{
	struct ps_match m;

	match_ok("cluster.local", &m);
	ck_assert_int_eq(m.kind, PS_MATCH_NAME);
	ck_assert_str_eq(m.name, "cluster.local");
	ck_assert_uint_eq(m.port_lo, 0);
	ck_assert_uint_eq(m.port_hi, 65535);
	match_free(&m);
}
END_TEST

START_TEST(test_noproxy_leading_dot_matches_subdomains_only)
{
	struct ps_match m;

	match_ok(".svc", &m);
	ck_assert_int_eq(m.kind, PS_MATCH_SUFFIX);
	ck_assert_str_eq(m.name, "svc");
	match_free(&m);
	match_ok("*.svc", &m);
	ck_assert_int_eq(m.kind, PS_MATCH_SUFFIX);
	ck_assert_str_eq(m.name, "svc");
	match_free(&m);
}
END_TEST

START_TEST(test_noproxy_names_are_lowercased_without_trailing_dot)
{
	struct ps_match m;

	match_ok("\t*.Internal.EXAMPLE.:8443  ", &m);
	ck_assert_int_eq(m.kind, PS_MATCH_SUFFIX);
	ck_assert_str_eq(m.name, "internal.example");
	ck_assert_str_eq(m.text, "*.Internal.EXAMPLE.:8443");
	ck_assert_uint_eq(m.port_lo, 8443);
	match_free(&m);
	match_ok("API.Kestra.IO.", &m);
	ck_assert_str_eq(m.name, "api.kestra.io");
	ck_assert_str_eq(m.text, "API.Kestra.IO.");
	match_free(&m);
}
END_TEST

START_TEST(test_noproxy_port_ranges_on_names_and_addresses)
{
	static const struct match_case c[] = {
		{"b.example:1000-2000", PS_MATCH_NAME, "b.example", NULL, 0, 1000, 2000},
		{"10.1.2.3:1-65535", PS_MATCH_ADDR, NULL, "10.1.2.3", 32, 1, 65535},
		{"[fd00::1]:8000-8000", PS_MATCH_ADDR, NULL, "fd00::1", 128, 8000, 8000},
		{"[fd00::1]", PS_MATCH_ADDR, NULL, "fd00::1", 128, 0, 65535},
		{"::ffff:10.0.0.1", PS_MATCH_ADDR, NULL, "::ffff:10.0.0.1", 128, 0, 65535},
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		match_check_case(&c[i]);
}
END_TEST

START_TEST(test_noproxy_cidr_host_bits_are_cleared)
{
	static const struct match_case c[] = {
		{"127.0.0.1/8", PS_MATCH_CIDR, NULL, "127.0.0.0", 8, 0, 65535},
		{"192.168.255.255/17", PS_MATCH_CIDR, NULL, "192.168.128.0", 17, 0, 65535},
		{"10.1.2.3/32", PS_MATCH_CIDR, NULL, "10.1.2.3", 32, 0, 65535},
		{"0.0.0.0/0", PS_MATCH_CIDR, NULL, "0.0.0.0", 0, 0, 65535},
		{"FD00::FFFF/8", PS_MATCH_CIDR, NULL, "fd00::", 8, 0, 65535},
		{"::/0", PS_MATCH_CIDR, NULL, "::", 0, 0, 65535},
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		match_check_case(&c[i]);
}
END_TEST

START_TEST(test_noproxy_cidr_cannot_carry_a_port)
{
	match_bad("10.0.0.0/8:80", "a CIDR cannot carry a port");
	match_bad("[fd00::]/8", "bad IPv6 address");
	match_bad("fd00::/8:80", "a CIDR cannot carry a port");
}
END_TEST

START_TEST(test_noproxy_malformed_entries_are_errors)
{
	match_bad("", "empty entry");
	match_bad("  ", "empty entry");
	match_bad(".", "empty name");
	match_bad("*.", "empty name");
	match_bad(":1", "empty name"); /* Go: "no host part", skipped */
	match_bad("*bad.example", "'*' is allowed only alone or as a leading \"*.\"");
	match_bad("a.*.example", "'*' is allowed only alone or as a leading \"*.\"");
	match_bad("a..example", "empty label in host name");
	match_bad("example.com..", "empty label in host name");
	match_bad("bad host", "invalid character in host name");
	match_bad("10.1.2.300", "bad IPv4 address");
	match_bad("10.1.2.300:80", "bad IPv4 address");
	match_bad("::g", "bad IPv6 address (write [addr]:port for a port)");
	match_bad("example.com:80:90", "bad IPv6 address (write [addr]:port for a port)");
	match_bad("[::1", "missing ']' after IPv6 address");
	match_bad("[::1]x", "unexpected text after ']'");
	match_bad("[example.com]:80", "bad IPv6 address (write [addr]:port for a port)");
	match_bad("example.com:", "empty port");
	match_bad("example.com:0", "port out of range (1-65535)");
	match_bad("example.com:65536", "port out of range (1-65535)");
	match_bad("example.com:http", "port is not a number");
	match_bad("example.com:2000-1000", "port range is reversed (lo > hi)");
	match_bad("10.0.0.0/33", "bad CIDR prefix length (0-32)");
	match_bad("::/129", "bad CIDR prefix length (0-128)");
	match_bad("10.0.0.0/", "bad CIDR prefix length (0-32)");
	match_bad("b\xc3\xbc" "cher.example", "non-ASCII host name (use its xn-- form)");
}
END_TEST

START_TEST(test_noproxy_nul_bytes_are_refused)
{
	struct ps_match m;
	uint8_t addr[16];
	int fam, prefix;
	const char *err;

	ck_assert_int_eq(match_parse("a.example\0b", 11, &m, &err), -EINVAL);
	ck_assert_str_eq(err, "NUL byte in entry");
	ck_assert_int_eq(cidr_parse("10.0.0.1\0/8", 11, &fam, addr, &prefix,
	                            &err),
	                 -EINVAL);
	ck_assert_str_eq(err, "not an IP address or CIDR");
}
END_TEST

START_TEST(test_noproxy_entry_length_is_bounded)
{
	char s[400], label[64];
	struct ps_match m;

	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(s, sizeof(s), "*.%s.%s.%s.%.61s.:1000-2000", label, label,
	         label, label);
	match_ok(s, &m);
	ck_assert_int_eq(m.kind, PS_MATCH_SUFFIX);
	ck_assert_uint_eq(strlen(m.name), 253);
	match_free(&m);
	snprintf(s, sizeof(s), "%s.%s.%s.%.62s", label, label, label, label);
	match_bad(s, "host name longer than 253 bytes");
	snprintf(s, sizeof(s), "%s.%s.%s.%s.%s", label, label, label, label,
	         label);
	match_bad(s, "entry too long");
}
END_TEST

START_TEST(test_noproxy_parse_honours_len)
{
	const char *s = "example.com,other.example";
	struct ps_match m;
	const char *err;

	ck_assert_int_eq(match_parse(s, 11, &m, &err), 0);
	ck_assert_str_eq(m.name, "example.com");
	ck_assert_str_eq(m.text, "example.com");
	match_free(&m);
	match_free(&m);
}
END_TEST

START_TEST(test_cidr_bare_address_is_full_length)
{
	uint8_t addr[16];
	int fam, prefix;
	const char *err;

	ck_assert_int_eq(cidr_parse("192.168.1.1", 11, &fam, addr, &prefix, &err), 0);
	ck_assert_int_eq(fam, AF_INET);
	ck_assert_int_eq(prefix, 32);
	ck_assert_int_eq(cidr_parse("::1", 3, &fam, addr, &prefix, &err), 0);
	ck_assert_int_eq(fam, AF_INET6);
	ck_assert_int_eq(prefix, 128);
	ck_assert_uint_eq(addr[15], 1);
}
END_TEST

START_TEST(test_cidr_rejects_bad_prefixes_and_names)
{
	static const struct {
		const char *s;
		const char *err;
	} bad[] = {
		{"10.0.0.0/33", "bad CIDR prefix length (0-32)"},
		{"10.0.0.0/-1", "bad CIDR prefix length (0-32)"},
		{"10.0.0.0/8/8", "bad CIDR prefix length (0-32)"},
		{"fd00::/129", "bad CIDR prefix length (0-128)"},
		{"fd00::/", "bad CIDR prefix length (0-128)"},
		{"10.0.0/8", "bad IPv4 address"},
		{"fd00:::1/8", "bad IPv6 address"},
		{"coder.example.com", "not an IP address or CIDR"},
		{"", "not an IP address or CIDR"},
	};
	uint8_t addr[16];
	int fam, prefix;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(cidr_parse(bad[i].s, strlen(bad[i].s), &fam,
		                            addr, &prefix, &err),
		                 -EINVAL);
		ck_assert_str_eq(err, bad[i].err);
	}
}
END_TEST

START_TEST(test_port_range_parse_single_and_range)
{
	uint16_t lo, hi;
	const char *err;

	ck_assert_int_eq(port_range_parse("443", 3, &lo, &hi, &err), 0);
	ck_assert_uint_eq(lo, 443);
	ck_assert_uint_eq(hi, 443);
	ck_assert_int_eq(port_range_parse("1000-2000", 9, &lo, &hi, &err), 0);
	ck_assert_uint_eq(lo, 1000);
	ck_assert_uint_eq(hi, 2000);
	ck_assert_int_eq(port_range_parse("1-65535", 7, &lo, &hi, &err), 0);
	ck_assert_uint_eq(lo, 1);
	ck_assert_uint_eq(hi, 65535);
}
END_TEST

START_TEST(test_port_range_parse_rejects)
{
	static const struct {
		const char *s;
		const char *err;
	} bad[] = {
		{"", "empty port"},
		{"0", "port out of range (1-65535)"},
		{"65536", "port out of range (1-65535)"},
		{"1-0", "port out of range (1-65535)"},
		{"100000000000000000000", "port out of range (1-65535)"},
		{"2-1", "port range is reversed (lo > hi)"},
		{"-5", "port is not a number"},
		{"5-", "port is not a number"},
		{"1-2-3", "port is not a number"},
		{" 80", "port is not a number"},
		{"8o", "port is not a number"},
	};
	uint16_t lo, hi;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(port_range_parse(bad[i].s, strlen(bad[i].s),
		                                  &lo, &hi, &err),
		                 -EINVAL);
		ck_assert_str_eq(err, bad[i].err);
	}
}
END_TEST

START_TEST(test_duration_units_and_bare_seconds)
{
	static const struct {
		const char *s;
		uint32_t ms;
	} ok[] = {
		{"250ms", 250},    {"5s", 5000},          {"1m", 60000},
		{"1h", 3600000},   {"10", 10000},         {"0", 0},
		{"1h30m", 5400000}, {"1m30s500ms", 90500}, {" 5s ", 5000},
		{"596h", 2145600000u},
	};
	const char *err;
	uint32_t ms;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(duration_parse(ok[i].s, strlen(ok[i].s), &ms,
		                             &err) == 0,
		              "%s: %s", ok[i].s, err);
		ck_assert_uint_eq(ms, ok[i].ms);
	}
}
END_TEST

START_TEST(test_duration_rejects_negative_empty_and_overflow)
{
	static const struct {
		const char *s;
		const char *err;
	} bad[] = {
		{"", "empty duration"},
		{"  ", "empty duration"},
		{"-5s", "negative duration"},
		{"+5s", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"5x", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"5S", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"1.5s", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"s", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"5s10", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"5 s", "bad duration (use e.g. 250ms, 5s, 1m, 1h)"},
		{"600h", "duration too long (at most 24 days)"},
		{"2147484s", "duration too long (at most 24 days)"},
		{"99999999999999999999999ms", "duration too long (at most 24 days)"},
	};
	const char *err;
	uint32_t ms;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(duration_parse(bad[i].s, strlen(bad[i].s), &ms,
		                             &err) == -EINVAL,
		              "%s accepted", bad[i].s);
		ck_assert_str_eq(err, bad[i].err);
	}
}
END_TEST

Suite *match_suite(void);

Suite *
match_suite(void)
{
	Suite *s = suite_create("match");
	TCase *tc = tcase_create("entries");

	tcase_add_test(tc, test_match_go_httpproxy_no_proxy_entries);
	tcase_add_test(tc, test_noproxy_star_alone_is_any);
	tcase_add_test(tc, test_noproxy_plain_name_matches_itself_and_subdomains);
	tcase_add_test(tc, test_noproxy_leading_dot_matches_subdomains_only);
	tcase_add_test(tc, test_noproxy_names_are_lowercased_without_trailing_dot);
	tcase_add_test(tc, test_noproxy_port_ranges_on_names_and_addresses);
	tcase_add_test(tc, test_noproxy_cidr_host_bits_are_cleared);
	tcase_add_test(tc, test_noproxy_cidr_cannot_carry_a_port);
	tcase_add_test(tc, test_noproxy_malformed_entries_are_errors);
	tcase_add_test(tc, test_noproxy_nul_bytes_are_refused);
	tcase_add_test(tc, test_noproxy_entry_length_is_bounded);
	tcase_add_test(tc, test_noproxy_parse_honours_len);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_cidr_bare_address_is_full_length);
	tcase_add_test(tc, test_cidr_rejects_bad_prefixes_and_names);
	tcase_add_test(tc, test_port_range_parse_single_and_range);
	tcase_add_test(tc, test_port_range_parse_rejects);
	tcase_add_test(tc, test_duration_units_and_bare_seconds);
	tcase_add_test(tc, test_duration_rejects_negative_empty_and_overflow);
	suite_add_tcase(s, tc);
	return s;
}
