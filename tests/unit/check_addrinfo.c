/*
 * The getaddrinfo() result builder of the name hooks (shim/addrinfo.c),
 * against glibc's own answers.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addrinfo.h"

static void
cmp_lists(const struct addrinfo *g, const struct addrinfo *o, const char *what)
{
	int n = 0;

	for (; g != NULL && o != NULL; g = g->ai_next, o = o->ai_next, n++) {
		ck_assert_msg(g->ai_flags == o->ai_flags, "%s #%d flags", what, n);
		ck_assert_msg(g->ai_family == o->ai_family, "%s #%d family",
		              what, n);
		ck_assert_msg(g->ai_socktype == o->ai_socktype,
		              "%s #%d socktype %d vs %d", what, n,
		              g->ai_socktype, o->ai_socktype);
		ck_assert_msg(g->ai_protocol == o->ai_protocol,
		              "%s #%d protocol %d vs %d", what, n,
		              g->ai_protocol, o->ai_protocol);
		ck_assert_msg(g->ai_addrlen == o->ai_addrlen, "%s #%d addrlen",
		              what, n);
		ck_assert_msg(memcmp(g->ai_addr, o->ai_addr, g->ai_addrlen) == 0,
		              "%s #%d sockaddr", what, n);
		ck_assert_msg((g->ai_canonname == NULL) ==
		                      (o->ai_canonname == NULL),
		              "%s #%d canonname presence", what, n);
		if (g->ai_canonname != NULL)
			ck_assert_str_eq(g->ai_canonname, o->ai_canonname);
		ck_assert_msg(addrinfo_ours(o) && !addrinfo_ours(g),
		              "%s #%d ownership", what, n);
	}
	ck_assert_msg(g == NULL && o == NULL, "%s: lengths differ at %d", what, n);
}

static void
free_ours(struct addrinfo *ai)
{
	struct addrinfo *next;

	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		addrinfo_free_one(ai);
	}
}

START_TEST(test_addrinfo_build_matches_glibc_for_numeric_hosts)
{
	static const char *const hosts[] = {"192.0.2.7", "2001:db8::7"};
	static const char *const servs[] = {NULL,  "80", "0",      "http",
	                                    "domain", "nosuchservice", "65535",
	                                    "70000", "-1", "", "*", " 80"};
	static const int fams[] = {AF_UNSPEC, AF_INET, AF_INET6};
	static const int types[] = {0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW,
	                            SOCK_SEQPACKET};
	static const int protos[] = {0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP};
	static const int flags[] = {0, AI_CANONNAME, AI_NUMERICSERV,
	                            AI_CANONNAME | AI_NUMERICSERV};
	size_t h, s, f, t, p, fl;
	int compared = 0;

	for (h = 0; h < 2; h++)
	for (s = 0; s < sizeof(servs) / sizeof(servs[0]); s++)
	for (f = 0; f < 3; f++)
	for (t = 0; t < 5; t++)
	for (p = 0; p < 4; p++)
	for (fl = 0; fl < 4; fl++) {
		struct addrinfo hints, *g = NULL, *o = NULL;
		struct addrinfo_addr a;
		char what[160];
		int rg, ro, fam = h == 0 ? AF_INET : AF_INET6;

		if (fams[f] != AF_UNSPEC && fams[f] != fam)
			continue;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = fams[f];
		hints.ai_socktype = types[t];
		hints.ai_protocol = protos[p];
		hints.ai_flags = flags[fl] | AI_NUMERICHOST;
		a.family = fam;
		inet_pton(fam, hosts[h], a.addr);
		snprintf(what, sizeof(what), "%s %s fam %d type %d proto %d "
		         "flags %x", hosts[h], servs[s] ? servs[s] : "NULL",
		         fams[f], types[t], protos[p], hints.ai_flags);
		rg = getaddrinfo(hosts[h], servs[s], &hints, &g);
		ro = addrinfo_build(hosts[h], &a, 1, servs[s], &hints, &o);
		ck_assert_msg(rg == ro, "%s: glibc %d, ours %d", what, rg, ro);
		if (rg == 0) {
			cmp_lists(g, o, what);
			freeaddrinfo(g);
			free_ours(o);
		}
		compared++;
	}
	ck_assert_int_gt(compared, 500);
}
END_TEST

START_TEST(test_addrinfo_build_null_hints_and_many_addresses)
{
	struct addrinfo_addr a[2];
	struct addrinfo *o = NULL, *ai;
	int n = 0;

	a[0].family = AF_INET;
	inet_pton(AF_INET, "198.18.0.9", a[0].addr);
	a[1].family = AF_INET6;
	inet_pton(AF_INET6, "fdfe:dcba:9876::9", a[1].addr);
	ck_assert_int_eq(addrinfo_build("x.test", a, 2, "443", NULL, &o),
	                 0);
	for (ai = o; ai != NULL; ai = ai->ai_next, n++) {
		/* glibc's defaults for NULL hints */
		ck_assert_int_eq(ai->ai_flags, AI_V4MAPPED | AI_ADDRCONFIG);
		ck_assert_int_eq(ai->ai_family, n < 3 ? AF_INET : AF_INET6);
		ck_assert_ptr_null(ai->ai_canonname);
		ck_assert_uint_eq(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port),
		                  443);
	}
	ck_assert_int_eq(n, 6);
	free_ours(o);
}
END_TEST

Suite *addrinfo_suite(void);

Suite *
addrinfo_suite(void)
{
	Suite *s = suite_create("addrinfo");
	TCase *ai = tcase_create("build");

	tcase_add_test(ai, test_addrinfo_build_matches_glibc_for_numeric_hosts);
	tcase_add_test(ai, test_addrinfo_build_null_hints_and_many_addresses);
	suite_add_tcase(s, ai);
	return s;
}
