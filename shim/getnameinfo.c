/*
 * getnameinfo(): a fake address answers the name it stands for, with no
 * reverse (PTR) query; everything else is glibc's.  Returns an EAI_* code
 * as glibc does: EAI_OVERFLOW when host is too small, EAI_NONAME for a fake
 * address whose name is unknown under NI_NAMEREQD (without it, the numeric
 * form, still without a query).  NI_NOFQDN is not applied to names of fake
 * addresses: they are not in a local domain.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyshim/names.h"
#include "namemap.h"
#include "shim.h"

static int
gni_fake(const struct sockaddr *sa, socklen_t salen, char *name, size_t size)
{
	struct names_map *m;
	const uint8_t *addr;
	uint32_t slot;
	int fam;

	if (sa == NULL || shim.mode != SHIM_ACTIVE)
		return 0;
	if (sa->sa_family == AF_INET &&
	    salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		fam = AF_INET;
		addr = (const uint8_t *)&(
		               (const struct sockaddr_in *)(const void *)sa)
		               ->sin_addr;
	} else if (sa->sa_family == AF_INET6 &&
	           salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		fam = AF_INET6;
		addr = (const uint8_t *)&(
		               (const struct sockaddr_in6 *)(const void *)sa)
		               ->sin6_addr;
	} else {
		return 0;
	}
	if ((m = namemap_get()) == NULL ||
	    !names_fake_slot(m, fam, addr, &slot))
		return 0;
	return names_fake_name(m, slot, name, size) > 0 ? 1 : -1;
}

SHIM_EXPORT int
getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
            socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	char name[PS_MAX_HOST + 1];
	size_t n;
	int r;

	shim_init();
	if (host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST))
		return real.getnameinfo(sa, salen, host, hostlen, serv, servlen,
		                        flags);
	r = gni_fake(sa, salen, name, sizeof(name));
	if (r == 0)
		return real.getnameinfo(sa, salen, host, hostlen, serv, servlen,
		                        flags);
	if (r < 0) {
		if (flags & NI_NAMEREQD)
			return EAI_NONAME;
		return real.getnameinfo(sa, salen, host, hostlen, serv, servlen,
		                        flags | NI_NUMERICHOST);
	}
	if (serv != NULL && servlen > 0) {
		r = real.getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
		if (r != 0)
			return r;
	}
	n = strlen(name);
	if (n + 1 > hostlen)
		return EAI_OVERFLOW;
	memcpy(host, name, n + 1);
	return 0;
}
