/*
 * The DNS stub's default answer (docs/behaviour.md#names-for-static-and-go-
 * programs): one name, the way the library's getaddrinfo() hook treats it
 * (docs/behaviour.md#name-lookups), through the same code: names_decide()
 * on the table in force, names_fake_lookup() for fake addresses,
 * names_real_record_ai() for real ones.  See dnsstub.h.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/dnsstub.h"
#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/route.h"

/* The addresses of family fam in a getaddrinfo() result, each once. */
static void
answer_pick(const struct addrinfo *ai, int fam, struct dnsmsg_answer *out)
{
	size_t alen = fam == AF_INET ? 4 : 16, i;
	const void *a;

	for (; ai != NULL && out->n < DNSMSG_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_family != fam)
			continue;
		if (fam == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)
			              ai->ai_addr)
			             ->sin_addr;
		else
			a = &((const struct sockaddr_in6 *)(const void *)
			              ai->ai_addr)
			             ->sin6_addr;
		for (i = 0; i < out->n; i++)
			if (memcmp(out->addr[i], a, alen) == 0)
				break;
		if (i == out->n)
			memcpy(out->addr[out->n++], a, alen);
	}
}

/* A real lookup with the system's resolver, both families at once (the
 * map records them all, as the hook does with an AF_UNSPEC lookup); the
 * answer holds the question's family.  m NULL: nothing recorded. */
static int
answer_real(struct names_map *m, const char *name, int qtype,
            struct dnsmsg_answer *out)
{
	struct addrinfo hints, *res = NULL;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(name, NULL, &hints, &res);
	switch (r) {
	case 0:
		break;
	case EAI_NONAME:
		return DNSMSG_RCODE_NXDOMAIN;
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return DNSMSG_RCODE_NOERROR;
	default:
		log_info("dns stub: %s: %s", name, gai_strerror(r));
		return DNSMSG_RCODE_SERVFAIL;
	}
	if (m != NULL)
		names_real_record_ai(m, name, strlen(name), res);
	answer_pick(res, qtype == DNSMSG_TYPE_A ? AF_INET : AF_INET6, out);
	freeaddrinfo(res);
	return DNSMSG_RCODE_NOERROR;
}

static int
answer_fake(struct names_map *m, const char *name, int qtype,
            struct dnsmsg_answer *out)
{
	struct names_fake f;

	if (m == NULL || names_fake_lookup(m, name, strlen(name), &f) < 0)
		return DNSMSG_RCODE_SERVFAIL;
	if (qtype == DNSMSG_TYPE_A && f.has4)
		memcpy(out->addr[out->n++], f.v4, 4);
	else if (qtype == DNSMSG_TYPE_AAAA && f.has6)
		memcpy(out->addr[out->n++], f.v6, 16);
	log_debug("dns stub: %s -> fake slot %u", name, f.slot);
	return DNSMSG_RCODE_NOERROR;
}

int
dnsstub_answer_names(const char *name, int qtype, struct dnsmsg_answer *out,
                     void *arg)
{
	const struct dnsstub_names *dn = arg;
	const struct ps_table_view *v;
	enum names_why why;
	size_t len = strlen(name);
	int local = route_name_is_localhost(name, len);

	if (!local && !names_is_name(name))
		return DNSMSG_RCODE_REFUSED;
	if (qtype != DNSMSG_TYPE_A && qtype != DNSMSG_TYPE_AAAA)
		return DNSMSG_RCODE_NOERROR;
	if (local)
		return answer_real(NULL, name, qtype, out);
	v = dn->policy != NULL ? dn->policy(dn->ctx) : NULL;
	if (v == NULL) {
		log_warn("dns stub: no usable rule table: %s refused (fail "
		         "closed)",
		         name);
		return DNSMSG_RCODE_SERVFAIL;
	}
	if (names_decide(v, name, len, 80, &why) == NAMES_FAKE)
		return answer_fake(dn->map, name, qtype, out);
	log_debug("dns stub: %s resolved locally (%s)", name,
	          names_why_text(why));
	return answer_real(dn->map, name, qtype, out);
}
