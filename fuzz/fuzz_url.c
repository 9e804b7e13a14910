/*
 * libFuzzer target: proxy URLs (resolver/url.c).
 *
 * Checks: url_parse() never crashes or leaks; on success the fields hold
 * what the contract says (a known scheme, a non-empty lower-case host, a
 * port that is never 0, a literal's family set), and url_format_masked()
 * never shows the password: the masked text shows ":***@" and is byte for
 * byte the same whatever the password is.  A parse of the masked text
 * (with *** in place of the password) must succeed and give the same
 * scheme, host and port back (it is a URL again).
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "fuzz.h"

/* The masked text must not depend on the password at all: format it
 * again with another password and compare.  (A substring search would
 * trip on passwords that happen to occur in the host or user.) */
static void
check_masked(struct ps_url *u, const char *out, size_t n)
{
	char other[2048], *saved = u->pass;
	char alt[] = "0ther-pa55";
	size_t n2;

	CHECK(strlen(out) == n);
	if (saved == NULL)
		return;
	CHECK(strstr(out, ":***@") != NULL);
	u->pass = alt;
	n2 = url_format_masked(u, other, sizeof(other));
	u->pass = saved;
	CHECK(n2 == n && memcmp(out, other, n) == 0);
}

static void
check_reparse(const struct ps_url *u, const char *out, size_t n)
{
	struct ps_url u2;
	const char *err = NULL;

	if (url_parse(out, n, &u2, &err) != 0) {
		/* The display must be a URL again. */
		abort();
	}
	CHECK(u2.scheme == u->scheme && u2.port == u->port);
	CHECK(strcmp(u2.host, u->host) == 0);
	CHECK((u2.user == NULL) == (u->user == NULL));
	if (u->user != NULL)
		CHECK(strcmp(u2.user, u->user) == 0);
	CHECK((u2.pass == NULL) == (u->pass == NULL));
	if (u2.pass != NULL)
		CHECK(strcmp(u2.pass, "***") == 0);
	url_free(&u2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_url u;
	const char *err = NULL;
	char out[2048];
	size_t n, i;

	if (url_parse((const char *)data, size, &u, &err) != 0) {
		CHECK(err != NULL && u.host == NULL && u.user == NULL &&
		      u.pass == NULL);
		return 0;
	}
	CHECK(u.scheme >= PS_SCHEME_HTTP && u.scheme <= PS_SCHEME_SOCKS5H);
	CHECK(u.host != NULL && u.host[0] != '\0' && u.port != 0);
	CHECK(u.family == 0 || u.family == AF_INET || u.family == AF_INET6);
	for (i = 0; u.host[i] != '\0'; i++)
		CHECK(!(u.host[i] >= 'A' && u.host[i] <= 'Z'));
	CHECK(u.user == NULL || strlen(u.user) <= PS_MAX_CRED);
	CHECK(u.pass == NULL || strlen(u.pass) <= PS_MAX_CRED);
	n = url_format_masked(&u, out, sizeof(out));
	CHECK(n < sizeof(out));
	check_masked(&u, out, n);
	check_reparse(&u, out, n);
	/* A short buffer truncates, never overruns. */
	(void)url_format_masked(&u, out, 8);
	CHECK(strlen(out) < 8);
	url_free(&u);
	return 0;
}
