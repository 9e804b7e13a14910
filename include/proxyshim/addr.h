/*
 * proxyshim: IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), which every
 * part of the project treats as the IPv4 address they carry.
 */
#ifndef PROXYSHIM_ADDR_H
#define PROXYSHIM_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* a (16 bytes, network order) is ::ffff:a.b.c.d. */
static inline bool
ps_addr_is_v4mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = {[10] = 0xff, [11] = 0xff};

	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

/* An AF_INET6 address that is IPv4-mapped as the AF_INET one it carries:
 * *family becomes AF_INET and the IPv4 bytes are returned; anything else
 * is returned as it is. */
static inline const uint8_t *
ps_addr_unmap(int *family, const uint8_t *a)
{
	if (*family == AF_INET6 && ps_addr_is_v4mapped(a)) {
		*family = AF_INET;
		return a + 12;
	}
	return a;
}

/* out = ::ffff:v4 (v4: 4 bytes, network order). */
static inline void
ps_addr_map(uint8_t out[16], const uint8_t *v4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

#endif
