/*
 * proxyshim: the getaddrinfo() result builder of the name hooks
 * (shim/getaddrinfo.c).  Pure apart from getservbyname_r(): linked into
 * the library, the unit tests and fuzz_addrinfo.
 */
#ifndef PROXYSHIM_ADDRINFO_H
#define PROXYSHIM_ADDRINFO_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Build a getaddrinfo() result the way glibc does for these addresses
 * (one entry per address and per socket type glibc would give, service
 * names looked up in /etc/services, ai_flags copied from the hints,
 * canonname on the first entry when AI_CANONNAME).  Addresses are given in
 * the family they are returned in.  0 or an EAI_* code.  Every entry is a
 * separate allocation marked as ours (addrinfo_ours()).
 */
struct addrinfo_addr {
	int family;
	uint8_t addr[16];
};
int addrinfo_build(const char *canon, const struct addrinfo_addr *addrs,
                   size_t naddrs, const char *service,
                   const struct addrinfo *hints, struct addrinfo **res);
/* 1 when ai was made by addrinfo_build(); reads only ai's fields before
 * deciding. */
int addrinfo_ours(const struct addrinfo *ai);
/* Free one entry of ours (not its successors). */
void addrinfo_free_one(struct addrinfo *ai);

#endif
