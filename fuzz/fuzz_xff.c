/*
 * libFuzzer target: the client address from forwarding headers
 * (shim/xff.c).
 *
 * Input: [trusted-mask][headers byte] then the request bytes.  The header
 * list is 1..4 of X-Forwarded-For, X-Real-IP, True-Client-IP,
 * CF-Connecting-IP (PROXY mixed in, which must be skipped); the trust
 * function trusts addresses whose last byte has a bit of the mask.
 * Checks: xff_header_end() answers within the input; xff_pick() on the
 * whole input and on the header block only never reads past it and
 * answers 0, or 1 with AF_INET/AF_INET6 (never IPv4-mapped IPv6); the
 * answer is deterministic; xff_parse_addr() on each comma token likewise.
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/xff.h"
#include "fuzz.h"

static int
trusted(const void *ctx, int family, const uint8_t *addr)
{
	uint8_t mask = *(const uint8_t *)ctx;
	uint8_t last = addr[family == AF_INET ? 3 : 15];

	return (last & mask) != 0;
}

static void
check_addr(int ok, int family, const uint8_t *addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0,
	                                   0, 0, 0, 0, 0xff, 0xff};

	CHECK(ok == 0 || ok == 1);
	if (!ok)
		return;
	CHECK(family == AF_INET || family == AF_INET6);
	if (family == AF_INET6)
		CHECK(memcmp(addr, mapped, 12) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t all[] = {PS_RP_XFF, PS_RP_X_REAL_IP,
	                              PS_RP_TRUE_CLIENT_IP,
	                              PS_RP_CF_CONNECTING_IP, PS_RP_PROXY};
	uint8_t headers[4], mask, a1[16], a2[16];
	const char *buf, *p, *comma;
	size_t len, n, i;
	int f1 = 0, f2 = 0, r1, r2;
	long end;

	if (size < 2)
		return 0;
	mask = data[0];
	n = (size_t)(data[1] & 3) + 1;
	for (i = 0; i < n; i++)
		headers[i] = all[(data[1] >> (2 + i)) % 5];
	buf = (const char *)data + 2;
	len = size - 2;
	/* A private copy, exactly len bytes, so ASan sees any overread. */
	{
		char *copy = malloc(len ? len : 1);

		CHECK(copy != NULL);
		memcpy(copy, buf, len);
		buf = copy;
	}
	end = xff_header_end(buf, len);
	CHECK(end >= -1 && end <= (long)len);
	r1 = xff_pick(buf, len, headers, n, trusted, &mask, &f1, a1);
	check_addr(r1, f1, a1);
	r2 = xff_pick(buf, len, headers, n, trusted, &mask, &f2, a2);
	CHECK(r1 == r2);
	if (r1)
		CHECK(f1 == f2 &&
		      memcmp(a1, a2, f1 == AF_INET ? 4 : 16) == 0);
	if (end > 0) {
		r2 = xff_pick(buf, (size_t)end, headers, n, trusted, &mask,
		              &f2, a2);
		check_addr(r2, f2, a2);
	}
	for (p = buf; p < buf + len && p < buf + 512; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(buf + len - p));
		if (comma == NULL)
			comma = buf + len;
		r2 = xff_parse_addr(p, (size_t)(comma - p), &f2, a2);
		check_addr(r2, f2, a2);
	}
	free((void *)(uintptr_t)buf);
	return 0;
}
