/*
 * What every libFuzzer target here shares: the entry point's prototype
 * (-Wmissing-prototypes), CHECK, which aborts so that libFuzzer keeps
 * the input (assert() would vanish under NDEBUG), and the route checks of
 * the targets that look up destinations in a table.
 */
#ifndef PROXYSHIM_FUZZ_H
#define PROXYSHIM_FUZZ_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

/* What any lookup must answer: a known reason and, for a via route, a
 * chain inside the chains section. */
static inline void
fuzz_check_route(const struct ps_table_view *v, const struct ps_route *rt)
{
	CHECK(rt->why >= PS_WHY_LOOPBACK && rt->why <= PS_WHY_DEFAULT);
	if (rt->action != PS_ROUTE_VIA)
		return;
	CHECK(rt->chain_len >= 1 && rt->chain_len <= PS_MAX_HOPS);
	CHECK((size_t)rt->chain_first + rt->chain_len <= v->nchains);
}

/* The route to an address literal (IPv6 when it has a ':') and port, and
 * whether it is a trusted origin (which must not crash either). */
static inline void
fuzz_lookup_addr(const struct ps_table_view *v, const char *text,
                 uint16_t port)
{
	struct ps_route rt;
	struct ps_dest d;

	memset(&d, 0, sizeof(d));
	d.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(d.family, text, d.addr) == 1);
	d.port = port;
	CHECK(route_lookup(v, &d, &rt) == 0);
	fuzz_check_route(v, &rt);
	(void)route_trusted(v, d.family, d.addr);
}

#endif
