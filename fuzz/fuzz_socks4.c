/*
 * libFuzzer target: the SOCKS4 reply parser and the SOCKS4/4a request
 * builder (proto/socks4.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iinclude fuzz/fuzz_socks4.c proto/socks4.c -o fuzz_socks4
 *   ./fuzz_socks4 fuzz/corpus/socks4
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "fuzz.h"

static void
check_reply(const uint8_t *data, size_t size)
{
	size_t need = 0, k;
	uint8_t cd = 0;
	int rc = socks4_parse_reply(data, size, &need, &cd);

	if (rc == PS_PROTO_MORE) {
		CHECK(need == PS_SOCKS4_REPLY_LEN && size < need);
		return;
	}
	if (rc < 0) {
		CHECK(rc >= PS_PROTO_E_LAST && rc <= PS_PROTO_E_VERSION);
		CHECK(rc != PS_PROTO_E_REJECTED || socks4_cd_errno(cd) != 0);
		return;
	}
	CHECK(rc == PS_SOCKS4_REPLY_LEN && size >= 8 && cd == 0x5a);
	for (k = 0; k < 8; k++)
		CHECK(socks4_parse_reply(data, k, &need, &cd) == PS_PROTO_MORE);
}

/* Input: [port hi][port lo][kind][userid ... NUL name/addr ...]. */
static void
check_build(const uint8_t *data, size_t size)
{
	uint8_t buf[PS_SOCKS4_REQ_MAX];
	char user[PS_MAX_CRED + 2];
	const uint8_t *rest, *sep;
	struct ps_target t;
	size_t ulen, rlen;
	int n;

	if (size < 3)
		return;
	memset(&t, 0, sizeof(t));
	t.port = (uint16_t)(data[0] << 8 | data[1]);
	rest = data + 3;
	rlen = size - 3;
	sep = memchr(rest, 0, rlen);
	ulen = sep != NULL ? (size_t)(sep - rest) : 0;
	if (ulen > PS_MAX_CRED + 1)
		ulen = PS_MAX_CRED + 1;
	memcpy(user, rest, ulen);
	user[ulen] = '\0';
	if (sep != NULL) {
		rlen -= (size_t)(sep + 1 - rest);
		rest = sep + 1;
	}
	if (data[2] & 1) {
		t.name = (const char *)rest;
		t.name_len = rlen;
	} else {
		t.family = (data[2] & 2) ? AF_INET6 : AF_INET;
		memcpy(t.addr, rest, rlen < 16 ? rlen : 16);
	}
	n = socks4_build_request(buf, sizeof(buf), &t, user);
	if (n < 0)
		return;
	CHECK(buf[0] == 4 && buf[1] == 1);
	CHECK(buf[2] == (t.port >> 8) && buf[3] == (t.port & 0xff));
	CHECK(memcmp(buf + 8, user, ulen + 1) == 0);
	if (t.name != NULL) {
		CHECK(memcmp(buf + 4, "\0\0\0\1", 4) == 0);
		CHECK((size_t)n == 8 + ulen + 1 + t.name_len + 1);
		CHECK(memcmp(buf + 9 + ulen, t.name, t.name_len) == 0);
		CHECK(buf[n - 1] == 0);
	} else {
		CHECK((size_t)n == 8 + ulen + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_reply(data, size);
	check_build(data, size);
	return 0;
}
