/*
 * getaddrinfo() and freeaddrinfo(); the name map they share with the other
 * hooks is namemap.c's.
 *
 * Contract (docs/behaviour.md#name-lookups): numeric hosts, "localhost", a NULL
 * node, AI_NUMERICHOST and AI_PASSIVE lookups, and everything when no
 * table is active, go to the real getaddrinfo() untouched.  A name whose
 * route takes names under `dns: remote` gets fake addresses without any
 * DNS query; every other name is resolved for real and its addresses are
 * recorded against it.  The return value is an EAI_* code, as glibc's;
 * a full name map is EAI_AGAIN (logged).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "proxyshim/addrinfo.h"
#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/proto.h"
#include "proxyshim/shm.h"
#include "namemap.h"
#include "shim.h"

/* The lookups the name hooks take over; all else goes to glibc as is. */
static int
gai_ours(const char *node, const struct addrinfo *hints)
{
	if (shim.mode != SHIM_ACTIVE || !names_is_name(node))
		return 0;
	if (hints == NULL)
		return 1;
	if (hints->ai_flags & (AI_NUMERICHOST | AI_PASSIVE))
		return 0;
	if (hints->ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG | AI_V4MAPPED |
	                        AI_ALL | AI_NUMERICSERV | AI_IDN | AI_CANONIDN))
		return 0; /* glibc says EAI_BADFLAGS */
	return hints->ai_family == AF_UNSPEC || hints->ai_family == AF_INET ||
	       hints->ai_family == AF_INET6;
}

/* The port a lookup is for, for the route decision: numeric service, a
 * tcp service name, else 80 (as explain assumes). */
static uint16_t
shim_service_port(const char *service)
{
	struct servent se, *res = NULL;
	unsigned long n;
	char buf[1024], *end;

	if (service == NULL || *service == '\0')
		return 80;
	n = strtoul(service, &end, 10);
	if (*end == '\0' && n > 0 && n < 65536)
		return (uint16_t)n;
	if (getservbyname_r(service, "tcp", &se, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		return ntohs((uint16_t)res->s_port);
	return 80;
}

static int
gai_fake(const char *node, const char *service, const struct addrinfo *hints,
         struct addrinfo **res)
{
	struct addrinfo_addr a[3];
	struct names_fake f;
	size_t n = 0;
	int fam = hints ? hints->ai_family : AF_UNSPEC;
	int flags = hints ? hints->ai_flags : AI_V4MAPPED | AI_ADDRCONFIG;

	if (namemap_fake(node, &f) < 0)
		return EAI_AGAIN;
	if (fam == AF_INET6) {
		if (f.has6) {
			memcpy(a[n].addr, f.v6, 16);
			a[n++].family = AF_INET6;
		}
		/* glibc: mapped IPv4 when there is no IPv6, or with AI_ALL */
		if (f.has4 && (flags & AI_V4MAPPED) &&
		    (n == 0 || (flags & AI_ALL))) {
			memset(a[n].addr, 0, 16);
			a[n].addr[10] = a[n].addr[11] = 0xff;
			memcpy(a[n].addr + 12, f.v4, 4);
			a[n++].family = AF_INET6;
		}
	} else {
		if (f.has4) {
			a[0].family = AF_INET;
			memcpy(a[0].addr, f.v4, 4);
			n = 1;
		}
		/* AF_UNSPEC: the IPv6 fake too, unless AI_ADDRCONFIG asks
		 * for only what is useful: one family reaches every name. */
		if (fam == AF_UNSPEC && f.has6 &&
		    (n == 0 || !(flags & AI_ADDRCONFIG))) {
			memcpy(a[n].addr, f.v6, 16);
			a[n++].family = AF_INET6;
		}
	}
	if (n == 0)
		return EAI_NONAME;
	log_debug("%s -> fake slot %u", node, f.slot);
	return addrinfo_build(node, a, n, service, hints, res);
}

static void
gai_record(const char *node, const struct addrinfo *ai)
{
	struct names_map *m = namemap_get();
	size_t n;

	if (m == NULL)
		return;
	n = names_real_record_ai(m, node, strlen(node), ai);
	log_debug("%s: %zu address(es) recorded", node, n);
}

SHIM_EXPORT int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
	enum names_why why;
	int r;

	shim_init();
	if ((hints == NULL || (hints->ai_flags & AI_NUMERICHOST) == 0) &&
	    namemap_refused(node))
		return EAI_FAIL;
	if (!gai_ours(node, hints))
		return real.getaddrinfo(node, service, hints, res);
	if (names_decide(shim_policy(), node, strlen(node),
	                 shim_service_port(service), &why) == NAMES_FAKE)
		return gai_fake(node, service, hints, res);
	r = real.getaddrinfo(node, service, hints, res);
	if (r == 0)
		gai_record(node, *res);
	return r;
}

/* Our entries and glibc's may even be mixed in one list (a program that
 * splices lists): each goes back to whoever allocated it. */
SHIM_EXPORT void
freeaddrinfo(struct addrinfo *ai)
{
	struct addrinfo *p, *next;

	shim_init();
	for (p = ai; p != NULL && !addrinfo_ours(p); p = p->ai_next)
		;
	if (p == NULL) {
		real.freeaddrinfo(ai);
		return;
	}
	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		if (addrinfo_ours(ai)) {
			addrinfo_free_one(ai);
		} else {
			ai->ai_next = NULL;
			real.freeaddrinfo(ai);
		}
	}
}
