/*
 * getaddrinfo() results for the addresses the name hooks hand out (fake
 * addresses, docs/behaviour.md#name-lookups): built the way glibc builds
 * its own, so a program cannot tell them apart, and each entry marked so
 * that freeaddrinfo() knows ours from glibc's.  See addrinfo.h.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/addrinfo.h"

#define ADDRINFO_MAGIC 0x41494e50u /* "PNIA" */

/* One entry: the sockaddr first, the addrinfo after it, so ours is the
 * only kind of entry whose ai_addr points below the entry (glibc puts it
 * right after). */
struct addrinfo_ent {
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} sa;
	uint32_t magic;
	struct addrinfo ai;
	char canon[];
};

/* glibc's gaih_inet_typeproto, in its order. */
struct addrinfo_tp {
	int socktype;
	int protocol;
	int protoany;  /* any protocol goes with this type */
	int noservice; /* no service may be given */
	int dflt;      /* returned when neither type nor protocol is asked */
	const char *name;
};

static const struct addrinfo_tp addrinfo_tps[] = {
        {SOCK_STREAM, IPPROTO_TCP, 0, 0, 1, "tcp"},
        {SOCK_DGRAM, IPPROTO_UDP, 0, 0, 1, "udp"},
        {SOCK_DCCP, IPPROTO_DCCP, 0, 0, 0, "dccp"},
        {SOCK_DGRAM, IPPROTO_UDPLITE, 0, 0, 0, "udplite"},
        {SOCK_STREAM, IPPROTO_SCTP, 0, 0, 0, "sctp"},
        {SOCK_SEQPACKET, IPPROTO_SCTP, 0, 0, 0, "sctp"},
        {SOCK_RAW, 0, 1, 1, 1, "raw"},
};
#define ADDRINFO_NTP (sizeof(addrinfo_tps) / sizeof(addrinfo_tps[0]))

struct addrinfo_tuple {
	int socktype;
	int protocol;
	uint16_t port; /* network order */
};

static int
addrinfo_tp_fits(const struct addrinfo_tp *tp, const struct addrinfo *h)
{
	return (h->ai_socktype == 0 || h->ai_socktype == tp->socktype) &&
	       (h->ai_protocol == 0 || tp->protoany ||
	        h->ai_protocol == tp->protocol);
}

static int
addrinfo_serv(const char *service, const struct addrinfo_tp *tp,
              const struct addrinfo *h, struct addrinfo_tuple *t)
{
	struct servent se, *res = NULL;
	char buf[1024];

	if (getservbyname_r(service, tp->name, &se, buf, sizeof(buf), &res) !=
	            0 ||
	    res == NULL)
		return EAI_SERVICE;
	t->socktype = tp->socktype;
	t->protocol = tp->protoany ? h->ai_protocol : tp->protocol;
	t->port = (uint16_t)res->s_port;
	return 0;
}

/* The (socktype, protocol, port) tuples glibc would return. */
static int
addrinfo_tuples(const char *service, const struct addrinfo *h,
                struct addrinfo_tuple *t, size_t *nt)
{
	const struct addrinfo_tp *tp = NULL;
	unsigned long num = 0;
	int numeric = 1;
	size_t i;
	char *end;

	*nt = 0;
	/* glibc takes "" and "*" as no service at all. */
	if (service != NULL &&
	    (service[0] == '\0' || strcmp(service, "*") == 0))
		service = NULL;
	if (service != NULL) {
		num = strtoul(service, &end, 10);
		if (*end != '\0') {
			if (h->ai_flags & AI_NUMERICSERV)
				return EAI_NONAME;
			numeric = 0;
		} else if ((int)num < 0) {
			numeric = 0; /* glibc keeps it in an int: -1 = named */
		}
	}
	if (h->ai_socktype != 0 || h->ai_protocol != 0) {
		for (i = 0; i < ADDRINFO_NTP && tp == NULL; i++)
			if (addrinfo_tp_fits(&addrinfo_tps[i], h))
				tp = &addrinfo_tps[i];
		if (tp == NULL)
			return h->ai_socktype ? EAI_SOCKTYPE : EAI_SERVICE;
	}
	if (service != NULL) {
		if (tp != NULL && tp->noservice)
			return EAI_SERVICE;
		if (!numeric && tp != NULL) {
			*nt = 1;
			return addrinfo_serv(service, tp, h, t);
		}
		if (!numeric) {
			for (i = 0; i < ADDRINFO_NTP; i++) {
				if (addrinfo_tps[i].noservice ||
				    !addrinfo_tp_fits(&addrinfo_tps[i], h))
					continue;
				if (addrinfo_serv(service, &addrinfo_tps[i], h,
				                  &t[*nt]) == 0)
					(*nt)++;
			}
			return *nt > 0 ? 0 : EAI_SERVICE;
		}
	}
	if (tp != NULL) {
		t[0].socktype = tp->socktype;
		t[0].protocol = tp->protoany ? h->ai_protocol : tp->protocol;
		t[0].port = htons((uint16_t)num);
		*nt = 1;
		return 0;
	}
	for (i = 0; i < ADDRINFO_NTP; i++) {
		if (!addrinfo_tps[i].dflt)
			continue;
		t[*nt].socktype = addrinfo_tps[i].socktype;
		t[*nt].protocol = addrinfo_tps[i].protocol;
		t[*nt].port = htons((uint16_t)num);
		(*nt)++;
	}
	return 0;
}

static struct addrinfo *
addrinfo_new(const struct addrinfo_addr *a, const struct addrinfo_tuple *t,
             int flags, const char *canon)
{
	size_t clen = canon != NULL ? strlen(canon) + 1 : 0;
	struct addrinfo_ent *e = calloc(1, sizeof(*e) + clen);

	if (e == NULL)
		return NULL;
	e->magic = ADDRINFO_MAGIC;
	e->ai.ai_flags = flags;
	e->ai.ai_family = a->family;
	e->ai.ai_socktype = t->socktype;
	e->ai.ai_protocol = t->protocol;
	e->ai.ai_addr = (struct sockaddr *)&e->sa;
	if (a->family == AF_INET) {
		e->sa.sin.sin_family = AF_INET;
		e->sa.sin.sin_port = t->port;
		memcpy(&e->sa.sin.sin_addr, a->addr, 4);
		e->ai.ai_addrlen = sizeof(struct sockaddr_in);
	} else {
		e->sa.sin6.sin6_family = AF_INET6;
		e->sa.sin6.sin6_port = t->port;
		memcpy(&e->sa.sin6.sin6_addr, a->addr, 16);
		e->ai.ai_addrlen = sizeof(struct sockaddr_in6);
	}
	if (canon != NULL) {
		memcpy(e->canon, canon, clen);
		e->ai.ai_canonname = e->canon;
	}
	return &e->ai;
}

int
addrinfo_ours(const struct addrinfo *ai)
{
	const struct addrinfo_ent *e;

	if ((const char *)ai->ai_addr !=
	    (const char *)ai - offsetof(struct addrinfo_ent, ai))
		return 0;
	e = (const void *)((const char *)ai -
	                   offsetof(struct addrinfo_ent, ai));
	return e->magic == ADDRINFO_MAGIC;
}

void
addrinfo_free_one(struct addrinfo *ai)
{
	free((char *)ai - offsetof(struct addrinfo_ent, ai));
}

int
addrinfo_build(const char *canon, const struct addrinfo_addr *addrs,
               size_t naddrs, const char *service, const struct addrinfo *hints,
               struct addrinfo **res)
{
	struct addrinfo dflt, *head = NULL, **tail = &head, *ai;
	struct addrinfo_tuple t[ADDRINFO_NTP];
	size_t nt, i, j;
	int r;

	if (hints == NULL) {
		memset(&dflt, 0, sizeof(dflt));
		dflt.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;
		hints = &dflt;
	}
	r = addrinfo_tuples(service, hints, t, &nt);
	if (r != 0)
		return r;
	if (naddrs == 0 || nt == 0)
		return EAI_NONAME;
	for (i = 0; i < naddrs; i++) {
		for (j = 0; j < nt; j++) {
			ai = addrinfo_new(
			        &addrs[i], &t[j], hints->ai_flags,
			        head == NULL && (hints->ai_flags & AI_CANONNAME)
			                ? canon
			                : NULL);
			if (ai == NULL) {
				while (head != NULL) {
					ai = head->ai_next;
					addrinfo_free_one(head);
					head = ai;
				}
				return EAI_MEMORY;
			}
			*tail = ai;
			tail = &ai->ai_next;
		}
	}
	*res = head;
	return 0;
}
