/*
 * The name hooks from C, for test_resolver.sh: what python cannot
 * reach (freeing mixed lists, ERANGE of the _r forms, canonname,
 * EAI_OVERFLOW).  Run under the shim with a config where NAME is proxied
 * (dns: remote, socks5h).  Prints one "ok ..." or "FAIL ..." line per
 * check; exits 1 when any failed.
 *
 *   resolver_client NAME
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int failed;

static void
check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		failed = 1;
}

static int
in_fake4(const struct addrinfo *ai)
{
	const struct sockaddr_in *s = (const void *)ai->ai_addr;
	uint32_t a = ntohl(s->sin_addr.s_addr);

	return ai->ai_family == AF_INET && (a >> 17) == (0xc6120000u >> 17);
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *fake = NULL, *num = NULL, *ai;
	struct hostent he, *res = NULL;
	char buf[1024], host[NI_MAXHOST], tiny[4];
	const char *name = argc > 1 ? argv[1] : "only.proxy.test";
	int n, r, herr = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_flags = AI_CANONNAME;
	r = getaddrinfo(name, "80", &hints, &fake);
	check(r == 0 && fake != NULL && in_fake4(fake), "getaddrinfo: fake IPv4");
	if (r != 0)
		return 1;
	check(fake->ai_canonname != NULL &&
	              strcmp(fake->ai_canonname, name) == 0,
	      "AI_CANONNAME: canonname is the name");
	for (n = 0, ai = fake; ai != NULL; ai = ai->ai_next)
		n++;
	check(n == 3, "socktype 0: stream, dgram and raw entries (as glibc)");
	check(ntohs(((struct sockaddr_in *)(void *)fake->ai_addr)->sin_port) == 80,
	      "numeric service: port 80");

	/* getnameinfo: the name; too small a buffer: EAI_OVERFLOW. */
	r = getnameinfo(fake->ai_addr, fake->ai_addrlen, host, sizeof(host),
	                NULL, 0, NI_NAMEREQD);
	check(r == 0 && strcmp(host, name) == 0, "getnameinfo: the name");
	r = getnameinfo(fake->ai_addr, fake->ai_addrlen, tiny, sizeof(tiny),
	                NULL, 0, 0);
	check(r == EAI_OVERFLOW, "getnameinfo: EAI_OVERFLOW when too small");
	r = getnameinfo(fake->ai_addr, fake->ai_addrlen, host, sizeof(host),
	                buf, sizeof(buf), NI_NUMERICSERV);
	check(r == 0 && strcmp(buf, "80") == 0, "getnameinfo: service too");

	/* A list of ours with glibc's spliced after it, freed at once. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo("127.0.0.1", "80", &hints, &num);
	check(r == 0 && num != NULL, "numeric getaddrinfo (glibc's list)");
	for (ai = fake; ai->ai_next != NULL; ai = ai->ai_next)
		;
	ai->ai_next = num;
	freeaddrinfo(fake);
	check(1, "freeaddrinfo of a mixed list (ours then glibc's)");
	r = getaddrinfo("127.0.0.1", "80", &hints, &num);
	freeaddrinfo(num);
	check(r == 0, "freeaddrinfo of glibc's own list");

	/* _r forms: ERANGE with a small buffer, then success. */
	r = gethostbyname_r(name, &he, buf, 8, &res, &herr);
	check(r == ERANGE && res == NULL, "gethostbyname_r: ERANGE when small");
	r = gethostbyname_r(name, &he, buf, sizeof(buf), &res, &herr);
	check(r == 0 && res == &he && he.h_addrtype == AF_INET &&
	              he.h_length == 4 && strcmp(he.h_name, name) == 0 &&
	              he.h_addr_list[0] != NULL && he.h_addr_list[1] == NULL &&
	              ((uint8_t)he.h_addr_list[0][0] == 198),
	      "gethostbyname_r: fake address in the caller's buffer");
	r = gethostbyname2_r(name, AF_INET6, &he, buf, sizeof(buf), &res,
	                     &herr);
	check(r == 0 && res != NULL && he.h_addrtype == AF_INET6 &&
	              he.h_length == 16 &&
	              (uint8_t)he.h_addr_list[0][0] == 0xfd,
	      "gethostbyname2_r(AF_INET6): fake IPv6");
	res = gethostbyname2(name, AF_INET6);
	check(res != NULL && res->h_length == 16, "gethostbyname2(AF_INET6)");
	if (res != NULL) {
		struct hostent *back =
		        gethostbyaddr(res->h_addr_list[0], 16, AF_INET6);

		check(back != NULL && strcmp(back->h_name, name) == 0,
		      "gethostbyaddr(fake IPv6): the name");
	}
	r = gethostbyaddr_r("\xc6\x13\xff\xf0", 4, AF_INET, &he, buf,
	                    sizeof(buf), &res, &herr);
	check(res == NULL && herr == HOST_NOT_FOUND,
	      "gethostbyaddr_r of an unused fake address: HOST_NOT_FOUND, no query");

	/* AI_V4MAPPED | AI_ALL with AF_INET6: the IPv6 fake and the mapped
	 * IPv4 fake. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_V4MAPPED | AI_ALL;
	r = getaddrinfo(name, "443", &hints, &fake);
	n = 0;
	if (r == 0) {
		for (ai = fake; ai != NULL; ai = ai->ai_next)
			n++;
		freeaddrinfo(fake);
	}
	check(r == 0 && n == 2, "AF_INET6 + AI_V4MAPPED|AI_ALL: two entries");
	/* AF_UNSPEC: the IPv4 fake then the IPv6 one; with AI_ADDRCONFIG
	 * only the IPv4 one (one family reaches every name). */
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = 0;
	r = getaddrinfo(name, "80", &hints, &fake);
	check(r == 0 && fake->ai_family == AF_INET && fake->ai_next != NULL &&
	              fake->ai_next->ai_family == AF_INET6 &&
	              fake->ai_next->ai_next == NULL,
	      "AF_UNSPEC: IPv4 fake, then IPv6 fake");
	if (r == 0)
		freeaddrinfo(fake);
	hints.ai_flags = AI_ADDRCONFIG;
	r = getaddrinfo(name, "80", &hints, &fake);
	check(r == 0 && fake->ai_family == AF_INET && fake->ai_next == NULL,
	      "AF_UNSPEC + AI_ADDRCONFIG: the IPv4 fake only");
	if (r == 0)
		freeaddrinfo(fake);
	r = getaddrinfo(name, "80", NULL, &fake);
	check(r == 0 && fake->ai_family == AF_INET &&
	              fake->ai_flags == (AI_V4MAPPED | AI_ADDRCONFIG),
	      "NULL hints: glibc's defaults (AI_V4MAPPED|AI_ADDRCONFIG)");
	if (r == 0)
		freeaddrinfo(fake);
	/* A service the socket type has not: glibc's EAI_SERVICE. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	r = getaddrinfo(name, "http", &hints, &fake);
	check(r == EAI_SERVICE, "\"http\" over SOCK_DGRAM: EAI_SERVICE");
	return failed;
}
