/*
 * proxyshim: route lookup over a mapped, validated table
 * (docs/behaviour.md#routing).
 *
 * Pure and allocation-free: safe on the connect path, in any thread, after
 * fork.  The table is owned by the caller (table_view_open()).
 */
#ifndef PROXYSHIM_ROUTE_H
#define PROXYSHIM_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "proxyshim/table.h"

#define PS_NONE UINT32_MAX

/* A destination: the name the program used (if known) and/or an address. */
struct ps_dest {
	const char *name; /* NULL when the program connected to a bare IP */
	size_t name_len;  /* may include a trailing dot, ignored */
	int family;       /* AF_INET / AF_INET6, 0 when no real address known */
	uint8_t addr[16]; /* network order */
	uint16_t port;    /* host order */
};

enum ps_action { PS_ROUTE_DIRECT = 0, PS_ROUTE_BLOCK, PS_ROUTE_VIA };

enum ps_reason {
	PS_WHY_LOOPBACK = 1, /* localhost / loopback, proxy_loopback false */
	PS_WHY_UPSTREAM,     /* the destination is one of our upstreams */
	PS_WHY_RULE,         /* rules[rule] matched via entry src */
	PS_WHY_EXEMPT,       /* exempt entry src matched */
	PS_WHY_HTTPS,        /* port in https_ports → https upstream */
	PS_WHY_HTTP,         /* default → http upstream */
	PS_WHY_DEFAULT,      /* nothing configured → direct */
};

struct ps_route {
	enum ps_action action;
	enum ps_reason why;
	uint32_t rule;        /* index into the table's rules, or PS_NONE */
	uint32_t src;         /* index of the deciding match entry (table
	                         sources), or PS_NONE */
	uint32_t chain_first; /* VIA: first index into the table's chains */
	uint32_t chain_len;   /* VIA: number of hops (≥ 1) */
};

/* Always succeeds on a validated view; returns 0. */
int route_lookup(const struct ps_table_view *t, const struct ps_dest *d,
                 struct ps_route *out);

/* For a decision's log line (the library's and the supervisor's): *up, the
 * first upstream's display URL ("" unless VIA), and *rule, what decided
 * (a rule's label, "exempt", "loopback", "upstream itself" or "default"). */
void route_describe(const struct ps_table_view *t, const struct ps_route *r,
                    const char **up, const char **rule);

/* 1 when s (n bytes, any case, no final dot) is "localhost" or a name
 * under it (RFC 6761): loopback, never a DNS query. */
int route_name_is_localhost(const char *s, size_t n);

/*
 * 1 when addr (network order, 4 or 16 bytes; IPv4-mapped IPv6 counts as
 * IPv4) is in reverseProxy.trustedOrigins, else 0.  Same guarantees as
 * route_lookup().
 */
int route_trusted(const struct ps_table_view *t, int family,
                  const uint8_t *addr);

#endif
