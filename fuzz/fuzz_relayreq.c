/*
 * libFuzzer target: the TLS relay's request decoder (proto/relayreq.c),
 * which reads whatever any local user sends the relay's port.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iinclude fuzz/fuzz_relayreq.c proto/relayreq.c shim/httpc.c \
 *       -o fuzz_relayreq
 *   ./fuzz_relayreq -max_len=4200 fuzz/corpus/relayreq
 *
 * Input: [nups][request...].  Whatever decodes must be a request the
 * encoder could have written: indices below nups, 1 to PS_MAX_HOPS of
 * them, a 64-digit lower-case hex secret, a usable host and port; and
 * encoding it again must decode to the same.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/relayreq.h"
#include "fuzz.h"

static void
check_decoded(const struct relayreq *q, size_t nups)
{
	char buf[PS_RELAYREQ_MAX];
	struct relayreq q2;
	size_t i;
	int n;

	CHECK(q->n >= 1 && q->n <= PS_MAX_HOPS);
	for (i = 0; i < q->n; i++)
		CHECK(q->ups[i] < nups);
	CHECK(strlen(q->secret) == PS_RELAY_SECRET_HEX);
	CHECK(strspn(q->secret, "0123456789abcdef") == PS_RELAY_SECRET_HEX);
	CHECK(q->dst.port != 0);
	if (q->dst.name != NULL) {
		CHECK(q->dst.name == q->host && q->dst.family == 0);
		CHECK(proto_name_ok(q->host, q->dst.name_len));
		CHECK(strlen(q->host) == q->dst.name_len);
	} else {
		CHECK(q->dst.family == AF_INET || q->dst.family == AF_INET6);
	}
	n = relayreq_encode(buf, sizeof(buf), &q->dst, q->ups, q->n, q->secret);
	CHECK(n > 0);
	CHECK(relayreq_end(buf, (size_t)n) == n);
	CHECK(relayreq_decode(buf, (size_t)n, nups, &q2) == 0);
	CHECK(q2.n == q->n && memcmp(q2.ups, q->ups, q->n * 4) == 0);
	CHECK(strcmp(q2.secret, q->secret) == 0);
	CHECK(q2.dst.port == q->dst.port && q2.dst.family == q->dst.family);
	if (q->dst.name != NULL)
		CHECK(strcmp(q2.host, q->host) == 0);
	else
		CHECK(memcmp(q2.dst.addr, q->dst.addr, 16) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req = (const char *)data + 1;
	struct relayreq q;
	size_t nups, len;
	int end, r;

	if (size < 1)
		return 0;
	nups = data[0];
	len = size - 1;
	end = relayreq_end(req, len);
	CHECK(end == -E2BIG || (end >= 0 && (size_t)end <= len));
	if (end == -E2BIG)
		CHECK(len >= PS_RELAYREQ_MAX);
	/* The whole input too, not only up to the first blank line. */
	r = relayreq_decode(req, len, nups, &q);
	CHECK(r == 0 || r == -EACCES || r == -EINVAL);
	if (r == 0)
		check_decoded(&q, nups);
	if (end > 0) {
		r = relayreq_decode(req, (size_t)end, nups, &q);
		CHECK(r == 0 || r == -EACCES || r == -EINVAL);
		if (r == 0)
			check_decoded(&q, nups);
	}
	return 0;
}
