/*
 * libFuzzer target: the addrinfo builder (shim/addrinfo.c,
 * addrinfo_build()), which makes the getaddrinfo() answers for fake
 * and recorded addresses and must look exactly like glibc's.
 *
 * Input: [flags][socktype][protocol][naddrs] then the service string (up
 * to the first NUL; an input of exactly 4 bytes means service NULL).
 * Checks:
 *  - the list is well formed: naddrs x tuples entries, each ours
 *    (addrinfo_ours()), the address family and bytes as given, the port
 *    the same in every entry of one tuple, canonname only on the first
 *    entry and only with AI_CANONNAME, all freed with addrinfo_free_one();
 *  - differential: for one IPv4 address, glibc's own getaddrinfo() on the
 *    numeric host (AI_NUMERICHOST) gives the same EAI_* code and the same
 *    (socktype, protocol, port) sequence.  Only flags that do not change
 *    the address list are fuzzed (AI_PASSIVE, AI_CANONNAME,
 *    AI_NUMERICSERV).
 *
 * Built and run by fuzz/run.sh (sources listed there).  Service names are
 * looked up in /etc/services by both sides.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addrinfo.h"
#include "fuzz.h"

static const int socktypes[] = {0,          SOCK_STREAM, SOCK_DGRAM,
                                SOCK_RAW,   SOCK_SEQPACKET, SOCK_DCCP,
                                SOCK_RDM,   99};
static const int protocols[] = {0,           IPPROTO_TCP,  IPPROTO_UDP,
                                IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_DCCP,
                                IPPROTO_ICMP, 1234};

static const struct addrinfo_addr addrs[] = {
        {AF_INET, {198, 18, 0, 7}},
        {AF_INET6, {0xfd, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0, 0, 0, 0, 0, 0, 0,
                    0, 0, 9}},
        {AF_INET, {10, 1, 2, 3}},
};

static int
count(const struct addrinfo *ai)
{
	int n = 0;

	for (; ai != NULL; ai = ai->ai_next)
		n++;
	return n;
}

static uint16_t
port_of(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)ai->ai_addr)
		        ->sin_port;
	return ((const struct sockaddr_in6 *)(const void *)ai->ai_addr)
	        ->sin6_port;
}

static void
check_shape(const struct addrinfo *res, size_t naddrs, int flags)
{
	const struct addrinfo *ai = res;
	int n = count(res), nt, i;
	size_t a;

	CHECK(n > 0 && (size_t)n % naddrs == 0);
	nt = n / (int)naddrs;
	for (a = 0; a < naddrs; a++) {
		for (i = 0; i < nt; i++, ai = ai->ai_next) {
			const uint8_t *p;

			CHECK(addrinfo_ours(ai));
			CHECK(ai->ai_family == addrs[a].family);
			CHECK(ai->ai_flags == flags);
			CHECK(ai->ai_addr->sa_family == addrs[a].family);
			if (ai->ai_family == AF_INET) {
				CHECK(ai->ai_addrlen ==
				      sizeof(struct sockaddr_in));
				p = (const uint8_t *)&((const struct sockaddr_in
				                                *)(const void *)
				                               ai->ai_addr)
				            ->sin_addr;
				CHECK(memcmp(p, addrs[a].addr, 4) == 0);
			} else {
				CHECK(ai->ai_addrlen ==
				      sizeof(struct sockaddr_in6));
				p = (const uint8_t *)&((const struct sockaddr_in6
				                                *)(const void *)
				                               ai->ai_addr)
				            ->sin6_addr;
				CHECK(memcmp(p, addrs[a].addr, 16) == 0);
			}
			if (ai == res && (flags & AI_CANONNAME))
				CHECK(ai->ai_canonname != NULL &&
				      strcmp(ai->ai_canonname,
				             "fake.example") == 0);
			else
				CHECK(ai->ai_canonname == NULL);
		}
	}
	CHECK(ai == NULL);
}

/* glibc on the numeric host gives the same tuples and the same codes. */
static void
check_glibc(const char *service, const struct addrinfo *hints, int r,
            const struct addrinfo *res)
{
	struct addrinfo h = *hints, *g = NULL;
	const struct addrinfo *a, *b;
	int rg;

	h.ai_flags |= AI_NUMERICHOST;
	rg = getaddrinfo("198.18.0.7", service, &h, &g);
	if (rg != r) {
		fprintf(stderr,
		        "service \"%s\" flags %#x type %d proto %d: "
		        "glibc %d, ours %d\n",
		        service ? service : "(null)", (unsigned)hints->ai_flags,
		        hints->ai_socktype, hints->ai_protocol, rg, r);
		abort();
	}
	if (r != 0)
		return;
	for (a = res, b = g; a != NULL && b != NULL;
	     a = a->ai_next, b = b->ai_next) {
		if (a->ai_socktype != b->ai_socktype ||
		    a->ai_protocol != b->ai_protocol ||
		    port_of(a) != port_of(b)) {
			fprintf(stderr,
			        "service \"%s\": glibc (%d,%d,%u) ours "
			        "(%d,%d,%u)\n",
			        service ? service : "(null)", b->ai_socktype,
			        b->ai_protocol, ntohs(port_of(b)),
			        a->ai_socktype, a->ai_protocol,
			        ntohs(port_of(a)));
			abort();
		}
	}
	CHECK(a == NULL && b == NULL);
	freeaddrinfo(g);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addrinfo hints, *res = NULL, *next;
	char service[256];
	const char *svc = NULL;
	size_t naddrs, n;
	int r;

	if (size < 4)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = (data[0] & 1 ? AI_PASSIVE : 0) |
	                 (data[0] & 2 ? AI_CANONNAME : 0) |
	                 (data[0] & 4 ? AI_NUMERICSERV : 0);
	hints.ai_socktype = socktypes[data[1] % 8];
	hints.ai_protocol = protocols[data[2] % 8];
	naddrs = (size_t)data[3] % 4;
	if (size > 4) {
		n = strnlen((const char *)data + 4, size - 4);
		if (n >= sizeof(service))
			n = sizeof(service) - 1;
		memcpy(service, data + 4, n);
		service[n] = '\0';
		svc = service;
	}
	r = addrinfo_build("fake.example", addrs, naddrs, svc, &hints,
	                         &res);
	if (r == 0) {
		CHECK(naddrs > 0);
		check_shape(res, naddrs, hints.ai_flags);
	} else {
		CHECK(r < 0 && res == NULL);
	}
	if (naddrs == 1)
		check_glibc(svc, &hints, r, res);
	/* The null-hints form (glibc's defaults) must work too. */
	if (data[0] & 8) {
		struct addrinfo *r2 = NULL;

		if (addrinfo_build(NULL, addrs, 2, svc, NULL, &r2) == 0)
			CHECK(count(r2) % 2 == 0);
		while (r2 != NULL) {
			next = r2->ai_next;
			addrinfo_free_one(r2);
			r2 = next;
		}
	}
	while (res != NULL) {
		next = res->ai_next;
		addrinfo_free_one(res);
		res = next;
	}
	return 0;
}
