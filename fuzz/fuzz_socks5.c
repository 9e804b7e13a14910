/*
 * libFuzzer target: the SOCKS5 parsers (proto/socks5.c) and the request
 * builder round trip.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iinclude fuzz/fuzz_socks5.c proto/socks5.c -o fuzz_socks5
 *   ./fuzz_socks5 fuzz/corpus/socks5
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "fuzz.h"

/* Needs must be honest: a proper prefix of a complete reply asks for
 * more, never for more than the reply. */
static void
check_reply(const uint8_t *data, size_t size)
{
	struct socks5_reply r;
	size_t need = 0, k;
	int rc = socks5_parse_reply(data, size, &need, &r);

	if (rc == PS_PROTO_MORE) {
		CHECK(need > size && need <= PS_SOCKS5_REPLY_MAX);
		return;
	}
	if (rc < 0) {
		CHECK(rc >= PS_PROTO_E_LAST && rc <= PS_PROTO_E_VERSION);
		CHECK(rc != PS_PROTO_E_REJECTED || r.rep != 0);
		return;
	}
	CHECK((size_t)rc <= size && rc >= 7 && rc <= PS_SOCKS5_REPLY_MAX);
	CHECK(r.family != 0 || r.name_off + r.name_len + 2 == (size_t)rc);
	for (k = 0; k < (size_t)rc; k++) {
		CHECK(socks5_parse_reply(data, k, &need, &r) == PS_PROTO_MORE);
		CHECK(need > k && need <= (size_t)rc);
	}
	CHECK(socks5_parse_reply(data, (size_t)rc, &need, &r) == rc);
}

static void
check_small_replies(const uint8_t *data, size_t size)
{
	size_t need = 0;
	uint8_t m = 0;
	int rc;

	rc = socks5_parse_method_reply(data, size, &need, size & 1, &m);
	CHECK(rc == PS_PROTO_MORE ? size < 2 && need == 2
	                          : rc < 0 || (rc == 2 && size >= 2));
	rc = socks5_parse_auth_reply(data, size, &need);
	CHECK(rc == PS_PROTO_MORE ? size < 2 && need == 2
	                          : rc < 0 || (rc == 2 && size >= 2));
}

/* A request is a reply with CMD in place of REP: build one from the
 * input, turn it into a success reply, and parse it back. */
static void
check_round_trip(const uint8_t *data, size_t size)
{
	uint8_t buf[PS_SOCKS5_REQ_MAX];
	struct ps_target t;
	struct socks5_reply r;
	size_t need;
	int n, rc;

	if (size < 3)
		return;
	memset(&t, 0, sizeof(t));
	t.port = (uint16_t)(data[1] << 8 | data[2]);
	switch (data[0] % 3) {
	case 0:
		t.name = (const char *)data + 3;
		t.name_len = size - 3;
		break;
	case 1:
		t.family = AF_INET;
		memcpy(t.addr, data + 3, size - 3 < 4 ? size - 3 : 4);
		break;
	default:
		t.family = AF_INET6;
		memcpy(t.addr, data + 3, size - 3 < 16 ? size - 3 : 16);
		break;
	}
	n = socks5_build_request(buf, sizeof(buf), &t);
	if (n < 0) {
		CHECK(t.name != NULL && !proto_name_ok(t.name, t.name_len));
		return;
	}
	buf[1] = 0;
	rc = socks5_parse_reply(buf, (size_t)n, &need, &r);
	CHECK(rc == n && r.port == t.port);
	if (t.name != NULL)
		CHECK(r.name_len == t.name_len &&
		      memcmp(buf + r.name_off, t.name, t.name_len) == 0);
	else
		CHECK(r.family == t.family &&
		      memcmp(r.addr, t.addr, t.family == AF_INET ? 4 : 16) ==
		              0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_reply(data, size);
	check_small_replies(data, size);
	check_round_trip(data, size);
	return 0;
}
