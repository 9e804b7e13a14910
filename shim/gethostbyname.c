/*
 * gethostbyname(), gethostbyname2(), their _r forms, gethostbyaddr() and
 * gethostbyaddr_r().
 *
 * Same decision as getaddrinfo() (shim/getaddrinfo.c): a name the proxy
 * resolves gets its fake address without a DNS query, others are resolved
 * by glibc and recorded.  Fake answers of the non-_r forms live in a
 * thread-local hostent (glibc's is per process: ours is at least as
 * safe); the _r forms use the caller's buffer and return ERANGE when it is
 * too small, as glibc does.  gethostbyaddr*() of a fake address answers its
 * name.  errno contract: h_errno / *h_errnop as glibc sets them
 * (TRY_AGAIN when the name map is full, HOST_NOT_FOUND for an unknown fake
 * address).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proxyshim/names.h"
#include "namemap.h"
#include "shim.h"

/* hostent + aliases[1] + addr_list[2] + address + name, in buf. */
static int
hb_fill(struct hostent *he, char *buf, size_t size, const char *name, int af,
        const uint8_t *addr)
{
	size_t alen = af == AF_INET ? 4 : 16, nlen = strlen(name) + 1;
	uintptr_t p = (uintptr_t)buf, end = (uintptr_t)buf + size;
	char **aliases, **list;
	char *a, *n;

	p = (p + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	if (p > end || end - p < 3 * sizeof(char *) + alen + nlen)
		return ERANGE;
	aliases = (char **)p;
	list = aliases + 1;
	a = (char *)(list + 2);
	n = a + alen;
	aliases[0] = NULL;
	memcpy(a, addr, alen);
	list[0] = a;
	list[1] = NULL;
	memcpy(n, name, nlen);
	he->h_name = n;
	he->h_aliases = aliases;
	he->h_addrtype = af;
	he->h_length = (int)alen;
	he->h_addr_list = list;
	return 0;
}

/* 1 when name gets a fake address of family af in *addr; 0 when glibc
 * should answer; -1 when the map is full. */
static int
hb_fake(const char *name, int af, uint8_t addr[16])
{
	enum names_why why;
	struct names_fake f;

	if (shim.mode != SHIM_ACTIVE || !names_is_name(name) ||
	    (af != AF_INET && af != AF_INET6))
		return 0;
	if (names_decide(shim_policy(), name, strlen(name), 80, &why) !=
	    NAMES_FAKE)
		return 0;
	if (namemap_fake(name, &f) < 0)
		return -1;
	if (af == AF_INET ? !f.has4 : !f.has6)
		return 0;
	memcpy(addr, af == AF_INET ? f.v4 : f.v6, af == AF_INET ? 4 : 16);
	return 1;
}

static void
hb_record(const char *name, const struct hostent *he)
{
	char **p;

	if (he == NULL || shim.mode != SHIM_ACTIVE || !names_is_name(name) ||
	    (he->h_addrtype != AF_INET && he->h_addrtype != AF_INET6))
		return;
	for (p = he->h_addr_list; p != NULL && *p != NULL; p++)
		namemap_record(name, he->h_addrtype, *p);
}

struct hb_tls {
	struct hostent he;
	char buf[PS_MAX_HOST + 64];
};
static _Thread_local struct hb_tls hb_tls;

static struct hostent *
hb_byname(const char *name, int af, int use2)
{
	struct hostent *he;
	uint8_t addr[16];
	int r;

	shim_init();
	if (namemap_refused(name)) {
		h_errno = NO_RECOVERY;
		return NULL;
	}
	r = hb_fake(name, af, addr);
	if (r < 0) {
		h_errno = TRY_AGAIN;
		return NULL;
	}
	if (r > 0) {
		hb_fill(&hb_tls.he, hb_tls.buf, sizeof(hb_tls.buf), name, af,
		        addr);
		h_errno = NETDB_SUCCESS;
		return &hb_tls.he;
	}
	he = use2 ? real.gethostbyname2(name, af) : real.gethostbyname(name);
	hb_record(name, he);
	return he;
}

SHIM_EXPORT struct hostent *
gethostbyname(const char *name)
{
	return hb_byname(name, AF_INET, 0);
}

SHIM_EXPORT struct hostent *
gethostbyname2(const char *name, int af)
{
	return hb_byname(name, af, 1);
}

static int
hb_byname_r(const char *name, int af, int use2, struct hostent *ret, char *buf,
            size_t buflen, struct hostent **result, int *h_errnop)
{
	uint8_t addr[16];
	int r;

	shim_init();
	if (namemap_refused(name)) {
		*result = NULL;
		*h_errnop = NO_RECOVERY;
		return ENOENT;
	}
	r = hb_fake(name, af, addr);
	if (r < 0) {
		*result = NULL;
		*h_errnop = TRY_AGAIN;
		return EAGAIN;
	}
	if (r > 0) {
		*result = NULL;
		r = hb_fill(ret, buf, buflen, name, af, addr);
		if (r != 0) {
			*h_errnop = NETDB_INTERNAL;
			return r;
		}
		*h_errnop = NETDB_SUCCESS;
		*result = ret;
		return 0;
	}
	r = use2 ? real.gethostbyname2_r(name, af, ret, buf, buflen, result,
	                                 h_errnop)
	         : real.gethostbyname_r(name, ret, buf, buflen, result,
	                                h_errnop);
	if (r == 0)
		hb_record(name, *result);
	return r;
}

SHIM_EXPORT int
gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                struct hostent **result, int *h_errnop)
{
	return hb_byname_r(name, AF_INET, 0, ret, buf, buflen, result,
	                   h_errnop);
}

SHIM_EXPORT int
gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
                 size_t buflen, struct hostent **result, int *h_errnop)
{
	return hb_byname_r(name, af, 1, ret, buf, buflen, result, h_errnop);
}

/* 1 and the name when addr is a fake address, 0 when it is not, -1 when
 * it is one whose name is unknown. */
static int
hb_fake_name(const void *addr, socklen_t len, int type, char *name, size_t size)
{
	struct names_map *m;
	uint32_t slot;

	if (addr == NULL || (type == AF_INET && len != 4) ||
	    (type == AF_INET6 && len != 16) ||
	    (type != AF_INET && type != AF_INET6) ||
	    (m = namemap_get()) == NULL)
		return 0;
	if (!names_fake_slot(m, type, addr, &slot))
		return 0;
	return names_fake_name(m, slot, name, size) > 0 ? 1 : -1;
}

SHIM_EXPORT struct hostent *
gethostbyaddr(const void *addr, socklen_t len, int type)
{
	char name[PS_MAX_HOST + 1];
	int r;

	shim_init();
	r = hb_fake_name(addr, len, type, name, sizeof(name));
	if (r == 0)
		return real.gethostbyaddr(addr, len, type);
	if (r < 0) {
		h_errno = HOST_NOT_FOUND; /* and no PTR query for it */
		return NULL;
	}
	hb_fill(&hb_tls.he, hb_tls.buf, sizeof(hb_tls.buf), name, type, addr);
	h_errno = NETDB_SUCCESS;
	return &hb_tls.he;
}

SHIM_EXPORT int
gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
                char *buf, size_t buflen, struct hostent **result,
                int *h_errnop)
{
	char name[PS_MAX_HOST + 1];
	int r;

	shim_init();
	r = hb_fake_name(addr, len, type, name, sizeof(name));
	if (r == 0)
		return real.gethostbyaddr_r(addr, len, type, ret, buf, buflen,
		                            result, h_errnop);
	*result = NULL;
	if (r < 0) {
		*h_errnop = HOST_NOT_FOUND;
		return ENOENT;
	}
	r = hb_fill(ret, buf, buflen, name, type, addr);
	if (r != 0) {
		*h_errnop = NETDB_INTERNAL;
		return r;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}
