/* The environment default (resolver/envcfg.c):
 * docs/behaviour.md#environment-default. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/config.h"
#include "proxyshim/log.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *const *env_vars;

static const char *
env_fake(const char *name)
{
	const char *const *p;

	for (p = env_vars; p != NULL && p[0] != NULL; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

static int
env_load(const char *const *vars, struct ps_config *c, char *err,
         size_t errsz)
{
	env_vars = vars;
	return config_load_env(c, env_fake, err, errsz);
}

static void
env_ok(const char *const *vars, struct ps_config *c)
{
	char err[PS_ERR_MAX] = "";

	ck_assert_msg(env_load(vars, c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->source, "<environment>");
}

static void
env_url_is(const struct ps_url *u, const char *masked)
{
	char buf[600];

	ck_assert_ptr_nonnull(u);
	url_format_masked(u, buf, sizeof(buf));
	ck_assert_str_eq(buf, masked);
	ck_assert_uint_eq(u->pos.line, 0);
}

static void
env_error(const char *const *vars, const char *want)
{
	char err[PS_ERR_MAX] = "";
	struct ps_config c;

	ck_assert_int_eq(env_load(vars, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(c.http);
	ck_assert_ptr_null(c.https);
	ck_assert_uint_eq(c.nexempt, 0);
	config_free(&c);
}

START_TEST(test_env_nothing_set_returns_1)
{
	static const char *const none[] = {"PATH", "/bin", "http_proxy", "",
	                                   NULL};
	struct ps_config c;

	ck_assert_int_eq(env_load(none, &c, NULL, 0), 1);
	ck_assert_ptr_null(c.http);
	ck_assert_ptr_null(c.https);
	ck_assert_uint_eq(c.nexempt, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_env_http_proxy_alone_sends_https_ports_direct)
{
	static const char *const v[] = {"http_proxy", "localhost:3128", NULL};
	struct ps_config c;

	env_ok(v, &c);
	env_url_is(c.http, "http://localhost:3128");
	/* No https->http fallback (curl, Go). */
	ck_assert_ptr_null(c.https);
	ck_assert(c.https_direct);
	ck_assert_uint_eq(c.nhttps_ports, 1);
	ck_assert_uint_eq(c.https_ports[0], 443);
	config_free(&c);
}
END_TEST

START_TEST(test_env_https_proxy_serves_https_only)
{
	static const char *const v[] = {"https_proxy",
	                                "socks5h://u:p@[::1]:1080", NULL};
	struct ps_config c;

	env_ok(v, &c);
	ck_assert_ptr_null(c.http);
	env_url_is(c.https, "socks5h://u:***@[::1]:1080");
	ck_assert(!c.https_direct);
	config_free(&c);
}
END_TEST

START_TEST(test_env_lowercase_is_read_before_uppercase)
{
	static const char *const v[] = {
		"HTTP_PROXY",  "http://upper:1", "http_proxy",  "http://lower:1",
		"HTTPS_PROXY", "http://upper:2", "https_proxy", "http://lower:2",
		"NO_PROXY",    "upper.example",  "no_proxy",    "lower.example",
		NULL};
	struct ps_config c;

	env_ok(v, &c);
	env_url_is(c.http, "http://lower:1");
	env_url_is(c.https, "http://lower:2");
	ck_assert_uint_eq(c.nexempt, 1);
	ck_assert_str_eq(c.exempt[0].name, "lower.example");
	config_free(&c);
}
END_TEST

START_TEST(test_env_uppercase_is_read_when_lowercase_is_unset_or_empty)
{
	static const char *const v[] = {
		"HTTP_PROXY", "http://upper:1", "https_proxy", "",
		"HTTPS_PROXY", "http://upper:2", "ALL_PROXY", "socks5://all",
		"NO_PROXY", "upper.example", NULL};
	struct ps_config c;

	env_ok(v, &c);
	env_url_is(c.http, "http://upper:1");
	env_url_is(c.https, "http://upper:2");
	ck_assert_str_eq(c.exempt[0].name, "upper.example");
	config_free(&c);
}
END_TEST

START_TEST(test_env_all_proxy_fills_whichever_is_unset)
{
	static const char *const both[] = {"all_proxy", "socks5h://all:1080",
	                                   NULL};
	static const char *const one[] = {"all_proxy", "socks5h://all:1080",
	                                  "https_proxy", "https://tls:443",
	                                  NULL};
	struct ps_config c;

	env_ok(both, &c);
	env_url_is(c.http, "socks5h://all:1080");
	env_url_is(c.https, "socks5h://all:1080");
	ck_assert(c.http != c.https);
	config_free(&c);

	env_ok(one, &c);
	env_url_is(c.http, "socks5h://all:1080");
	env_url_is(c.https, "https://tls:443");
	config_free(&c);
}
END_TEST

START_TEST(test_env_no_proxy_becomes_the_exempt_list)
{
	/* Go's httpproxy test value, plus blanks it skips. */
	static const char *const v[] = {
		"http_proxy", "proxy:3128", "no_proxy",
		"foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, "
		"192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, "
		"[2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, "
		"2002:db8:a::45/64,, ,",
		NULL};
	static const enum ps_match_kind kinds[] = {
		PS_MATCH_NAME, PS_MATCH_SUFFIX, PS_MATCH_SUFFIX, PS_MATCH_ADDR,
		PS_MATCH_ADDR, PS_MATCH_ADDR,   PS_MATCH_CIDR,   PS_MATCH_ADDR,
		PS_MATCH_ADDR, PS_MATCH_ADDR,   PS_MATCH_CIDR};
	struct ps_config c;
	size_t i;

	env_ok(v, &c);
	ck_assert_uint_eq(c.nexempt, 11);
	for (i = 0; i < 11; i++) {
		ck_assert_int_eq(c.exempt[i].kind, kinds[i]);
		ck_assert_uint_eq(c.exempt[i].pos.line, 0);
	}
	ck_assert_str_eq(c.exempt[1].text, ".barbaz.net");
	ck_assert_uint_eq(c.exempt[4].port_lo, 81);
	ck_assert_uint_eq(c.exempt[8].port_lo, 443);
	config_free(&c);
}
END_TEST

START_TEST(test_env_no_proxy_alone_is_a_config_without_upstreams)
{
	static const char *const v[] = {"NO_PROXY", "*", NULL};
	struct ps_config c;

	env_ok(v, &c);
	ck_assert_ptr_null(c.http);
	ck_assert_uint_eq(c.nexempt, 1);
	ck_assert_int_eq(c.exempt[0].kind, PS_MATCH_ANY);
	config_free(&c);
}
END_TEST

START_TEST(test_env_bad_values_name_the_variable)
{
	static const char *const bad_port[] = {"HTTPS_PROXY",
	                                       "http://p:99999", NULL};
	static const char *const bad_all[] = {"all_proxy", "gopher://p", NULL};
	static const char *const bad_no[] = {"http_proxy", "p", "no_proxy",
	                                     "ok.example,10.0.0.0/33", NULL};

	env_error(bad_port, "<environment>:0:0: HTTPS_PROXY: port out of "
	                    "range (1-65535)");
	env_error(bad_all, "<environment>:0:0: all_proxy: unsupported proxy "
	                   "scheme (want http, https, socks4, socks4a, socks5 "
	                   "or socks5h)");
	env_error(bad_no, "<environment>:0:0: no_proxy: bad CIDR prefix "
	                  "length (0-32) in entry '10.0.0.0/33'");
}
END_TEST

START_TEST(test_env_errors_never_show_the_password)
{
	static const char *const v[] = {
		"http_proxy", "socks5://alice:hunter2@proxy:1080/path", NULL};
	char err[PS_ERR_MAX];
	struct ps_config c;

	ck_assert_int_eq(env_load(v, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "<environment>:0:0: http_proxy: path in proxy "
	                      "URL (only \"/\" is allowed)");
	ck_assert_ptr_null(strstr(err, "hunter2"));
	config_free(&c);
}
END_TEST

/* httpoxy: under CGI, HTTP_PROXY comes from the client's Proxy: header. */
START_TEST(test_env_cgi_ignores_uppercase_http_proxy)
{
	static const char *const cgi[] = {"REQUEST_METHOD", "GET", "HTTP_PROXY",
	                                  "http://evil:8080", NULL};
	static const char *const cgi_lower[] = {
		"REQUEST_METHOD", "GET", "HTTP_PROXY", "http://evil:8080",
		"http_proxy", "http://good:3128", NULL};
	static const char *const cgi_all[] = {
		"REQUEST_METHOD", "POST", "HTTP_PROXY", "http://evil:8080",
		"ALL_PROXY", "socks5://all", NULL};
	static const char *const not_cgi[] = {"HTTP_PROXY", "http://up:8080",
	                                      NULL};
	struct ps_config c;
	int level = ps_log_level;

	log_setup(PS_LOG_ERROR, -1); /* the refusal is logged as a warning */
	ck_assert_int_eq(env_load(cgi, &c, NULL, 0), 1);
	ck_assert_ptr_null(c.http);
	config_free(&c);
	env_ok(cgi_lower, &c);
	env_url_is(c.http, "http://good:3128");
	config_free(&c);
	env_ok(cgi_all, &c);
	env_url_is(c.http, "socks5://all:1080");
	config_free(&c);
	env_ok(not_cgi, &c);
	env_url_is(c.http, "http://up:8080");
	config_free(&c);
	log_setup(level, -1);
}
END_TEST

START_TEST(test_env_real_getenv_is_used_by_default)
{
	struct ps_config c;
	char err[PS_ERR_MAX];

	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("all_proxy");
	unsetenv("no_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("REQUEST_METHOD");
	setenv("NO_PROXY", "a.example", 1);
	setenv("HTTPS_PROXY", "https://secure:8443", 1);
	ck_assert_int_eq(config_load_env(&c, NULL, err, sizeof(err)), 0);
	ck_assert_ptr_null(c.http);
	env_url_is(c.https, "https://secure:8443");
	ck_assert_uint_eq(c.nexempt, 1);
	config_free(&c);
	/* Leave no trace when the runner does not fork (CK_FORK=no). */
	unsetenv("NO_PROXY");
	unsetenv("HTTPS_PROXY");
}
END_TEST

Suite *envcfg_suite(void);

Suite *
envcfg_suite(void)
{
	Suite *s = suite_create("envcfg");
	TCase *tc = tcase_create("environment");

	tcase_add_test(tc, test_env_nothing_set_returns_1);
	tcase_add_test(tc, test_env_http_proxy_alone_sends_https_ports_direct);
	tcase_add_test(tc, test_env_https_proxy_serves_https_only);
	tcase_add_test(tc, test_env_lowercase_is_read_before_uppercase);
	tcase_add_test(tc, test_env_uppercase_is_read_when_lowercase_is_unset_or_empty);
	tcase_add_test(tc, test_env_all_proxy_fills_whichever_is_unset);
	tcase_add_test(tc, test_env_no_proxy_becomes_the_exempt_list);
	tcase_add_test(tc, test_env_no_proxy_alone_is_a_config_without_upstreams);
	tcase_add_test(tc, test_env_bad_values_name_the_variable);
	tcase_add_test(tc, test_env_errors_never_show_the_password);
	tcase_add_test(tc, test_env_cgi_ignores_uppercase_http_proxy);
	tcase_add_test(tc, test_env_real_getenv_is_used_by_default);
	suite_add_tcase(s, tc);
	return s;
}
