/*
 * getaddrinfo() and freeaddrinfo(), plus the resolver seam that connect()
 * uses (shim_names_dest(), shim_names_direct()).
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
#include "shim.h"

static struct names_map names_map;
static struct names_map *names_ptr;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
shim_names_once(void)
{
	char name[PS_SHM_NAME_MAX + 8];
	struct names_params p;
	int r;

	if (shim.mode != SHIM_ACTIVE)
		return;
	names_params_from_table(&shim.view, &p);
	names_shm_name(shim.view.hdr->source_hash, name, sizeof(name));
	r = names_open(&names_map, name, &p);
	if (r < 0) {
		/* Forked children still share an anonymous map; exec'ed
		 * ones do not. */
		log_warn("name map %s unavailable (%s): fake addresses are "
		         "shared with forked children only",
		         name, strerror(-r));
		r = names_open(&names_map, NULL, &p);
	}
	if (r < 0) {
		log_err("no name map (%s): names are resolved locally",
		        strerror(-r));
		return;
	}
	names_ptr = &names_map;
}

struct names_map *
shim_names(void)
{
	if (shim.mode != SHIM_ACTIVE)
		return NULL;
	pthread_once(&names_once, shim_names_once);
	return names_ptr;
}

int
shim_names_dest(struct ps_dest *d, char *buf, size_t size)
{
	struct names_map *m;
	uint32_t slot;
	int n;

	if (d->family == 0 || (m = shim_names()) == NULL)
		return 0;
	if (names_fake_slot(m, d->family, d->addr, &slot)) {
		n = names_fake_name(m, slot, buf, size);
		if (n < 0) {
			log_warn("connect to a fake address (slot %u) whose "
			         "name is unknown: EHOSTUNREACH",
			         slot);
			return -EHOSTUNREACH;
		}
		d->name = buf;
		d->name_len = (size_t)n;
		d->family = 0; /* no real address: the proxy resolves */
		memset(d->addr, 0, sizeof(d->addr));
		return 1;
	}
	n = names_real_name(m, d->family, d->addr, buf, size);
	if (n > 0) {
		d->name = buf;
		d->name_len = (size_t)n;
	}
	return 0;
}

/* A fake address whose route is direct (the config changed, or a rule
 * sends it direct by port): resolve now, for real, and connect there. */
int
shim_names_direct(int fd, int sockfam, const struct ps_dest *d)
{
	struct ps_target t = {.port = d->port};
	struct sockaddr_storage ss;
	socklen_t len;
	int r, gai;

	r = io_resolve(d->name, sockfam == AF_INET ? AF_INET : 0, &t, &gai);
	if (r < 0) {
		log_warn("%s: cannot resolve: %s", d->name,
		         gai != 0 ? gai_strerror(gai) : "no usable address");
		return r;
	}
	r = io_sockaddr(sockfam, &t, &ss, &len);
	if (r < 0)
		return -EHOSTUNREACH;
	return real.connect(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

/* The lookups the resolver takes over; all else goes to glibc as is. */
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
uint16_t
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

int
shim_fake_slot_for(const char *name, uint32_t *slot)
{
	struct names_map *m = shim_names();
	int r;

	if (m == NULL)
		return -ENOMEM;
	r = names_fake_get(m, name, strlen(name), slot);
	if (r < 0)
		log_warn("%s: no fake address (%s): name map full of names "
		         "used in the last %u s",
		         name, strerror(-r), m->p.ttl_ms / 1000);
	return r;
}

static int
gai_fake(const char *node, const char *service, const struct addrinfo *hints,
         struct addrinfo **res)
{
	struct names_map *m;
	struct addrinfo_addr a[3];
	uint8_t v4[16];
	size_t n = 0;
	uint32_t slot;
	int fam = hints ? hints->ai_family : AF_UNSPEC;
	int flags = hints ? hints->ai_flags : AI_V4MAPPED | AI_ADDRCONFIG;
	int has4, has6;

	if (shim_fake_slot_for(node, &slot) < 0 || (m = shim_names()) == NULL)
		return EAI_AGAIN;
	has4 = names_fake_addr(m, slot, AF_INET, v4) == 0;
	has6 = names_fake_addr(m, slot, AF_INET6, a[n].addr) == 0;
	if (fam == AF_INET6) {
		if (has6)
			a[n++].family = AF_INET6;
		/* glibc: mapped IPv4 when there is no IPv6, or with AI_ALL */
		if (has4 && (flags & AI_V4MAPPED) &&
		    (n == 0 || (flags & AI_ALL))) {
			memset(a[n].addr, 0, 16);
			a[n].addr[10] = a[n].addr[11] = 0xff;
			memcpy(a[n].addr + 12, v4, 4);
			a[n++].family = AF_INET6;
		}
	} else {
		if (has4) {
			a[0].family = AF_INET;
			memcpy(a[0].addr, v4, 4);
			n = 1;
		}
		/* AF_UNSPEC: the IPv6 fake too, unless AI_ADDRCONFIG asks
		 * for only what is useful: one family reaches every name. */
		if (fam == AF_UNSPEC && has6 &&
		    (n == 0 || !(flags & AI_ADDRCONFIG))) {
			names_fake_addr(m, slot, AF_INET6, a[n].addr);
			a[n++].family = AF_INET6;
		}
	}
	if (n == 0)
		return EAI_NONAME;
	log_debug("%s -> fake slot %u", node, slot);
	return addrinfo_build(node, a, n, service, hints, res);
}

void
shim_names_record(const char *name, int family, const void *addr)
{
	struct names_map *m = shim_names();

	if (m != NULL)
		names_real_record(m, family, addr, name, strlen(name));
}

static void
gai_record(const char *node, const struct addrinfo *ai)
{
	const void *prev = NULL, *a;
	size_t n = 0;

	for (; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)
			              ai->ai_addr)
			             ->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)
			              ai->ai_addr)
			             ->sin6_addr;
		else
			continue;
		/* glibc repeats each address once per socket type. */
		if (prev != NULL &&
		    memcmp(prev, a, ai->ai_family == AF_INET ? 4 : 16) == 0)
			continue;
		shim_names_record(node, ai->ai_family, a);
		prev = a;
		n++;
	}
	log_debug("%s: %zu address(es) recorded", node, n);
}

/* "localhost" and names under it (RFC 6761), with or without the final
 * dot: never a DNS query. */
static int
name_is_localhost(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	return route_name_is_localhost(s, n);
}

int
shim_name_refused(const char *name)
{
	static atomic_int said;

	if (shim.mode != SHIM_BROKEN || !names_is_name(name) ||
	    name_is_localhost(name))
		return 0;
	if (atomic_exchange(&said, 1) == 0)
		log_err("no usable rule table: name lookups are refused too "
		        "(fail closed), starting with %s",
		        name);
	return 1;
}

SHIM_EXPORT int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
	enum names_why why;
	int r;

	shim_init();
	if ((hints == NULL || (hints->ai_flags & AI_NUMERICHOST) == 0) &&
	    shim_name_refused(node))
		return EAI_FAIL;
	if (!gai_ours(node, hints))
		return real.getaddrinfo(node, service, hints, res);
	if (names_decide(&shim.view, node, strlen(node),
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
