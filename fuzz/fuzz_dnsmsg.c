/*
 * libFuzzer target: the DNS stub's query parser (proto/dnsmsg.c), the
 * replies built from what it took, and the TCP framing.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iinclude fuzz/fuzz_dnsmsg.c proto/dnsmsg.c -o fuzz_dnsmsg
 *   ./fuzz_dnsmsg fuzz/corpus/dnsmsg
 */
#include <string.h>

#include "proxyshim/dnsmsg.h"
#include "fuzz.h"

/* What a taken query must look like: a name in bounds, the question as
 * it came, and nothing in the name that could be read as two labels. */
static void
check_query(const uint8_t *data, size_t size, const struct dnsmsg_query *q)
{
	size_t i, dots = 0;

	CHECK(q->qlen >= 5 && q->qlen <= DNSMSG_NAME_WIRE_MAX + 4);
	CHECK(DNSMSG_HDR_LEN + q->qlen <= size);
	CHECK(memcmp(q->question, data + DNSMSG_HDR_LEN, q->qlen) == 0);
	CHECK(q->name_len == strlen(q->name));
	CHECK(q->name_len <= DNSMSG_NAME_TEXT_MAX);
	CHECK((data[2] & 0xf8) == 0 && data[4] == 0 && data[5] == 1);
	for (i = 0; i < q->name_len; i++)
		if (q->name[i] == '.')
			dots++;
	/* one dot between labels, one length byte per label */
	CHECK(q->name_len == 0 ? q->qlen == 5 : dots + 1 < q->qlen);
}

/* A reply to it, in a UDP-sized and a full buffer: the question comes
 * back as it was (clear QR and the parser takes it again). */
static void
check_reply(const uint8_t *data, size_t size, const struct dnsmsg_query *q)
{
	uint8_t buf[DNSMSG_REPLY_MAX];
	struct dnsmsg_answer a;
	struct dnsmsg_query back;
	size_t caps[2] = {DNSMSG_UDP_MAX, sizeof(buf)}, k;
	int n;

	memset(&a, 0, sizeof(a));
	a.rcode = data[size - 1] & 0x0f;
	a.ttl = (uint32_t)data[size - 1] << 24;
	a.n = q->qtype == DNSMSG_TYPE_A || q->qtype == DNSMSG_TYPE_AAAA
	              ? data[size - 1] % (DNSMSG_MAX_ADDRS + 1)
	              : 0;
	memset(a.addr, data[0], sizeof(a.addr));
	for (k = 0; k < 2; k++) {
		n = dnsmsg_build_reply(buf, caps[k], q, &a);
		CHECK(n >= (int)(DNSMSG_HDR_LEN + q->qlen) && n <= (int)caps[k]);
		CHECK(buf[0] == data[0] && buf[1] == data[1]);
		CHECK((buf[2] & 0x80) && (buf[3] & 0x0f) == a.rcode);
		buf[2] &= 0x7f;
		CHECK(dnsmsg_parse_query(buf, (size_t)n, &back) == 0);
		CHECK(back.qlen == q->qlen && strcmp(back.name, q->name) == 0);
	}
}

static void
check_tcp(const uint8_t *data, size_t size)
{
	size_t need = 0;
	int n = dnsmsg_tcp_next(data, size, DNSMSG_QUERY_MAX, &need);

	if (n == DNSMSG_MORE)
		CHECK(need > size && need <= 2 + DNSMSG_QUERY_MAX);
	else
		CHECK(n == DNSMSG_E_TOO_BIG ||
		      (n >= 0 && (size_t)n + 2 <= size &&
		       n <= DNSMSG_QUERY_MAX));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsmsg_query q;
	uint8_t err[DNSMSG_HDR_LEN];
	int r = dnsmsg_parse_query(data, size, &q);

	check_tcp(data, size);
	if (r == 0) {
		check_query(data, size, &q);
		check_reply(data, size, &q);
		return 0;
	}
	CHECK(r >= DNSMSG_E_NAME && r <= DNSMSG_E_SHORT);
	r = dnsmsg_build_error(err, sizeof(err), data, size, r);
	CHECK(r == 0 || r == DNSMSG_HDR_LEN);
	if (r > 0)
		CHECK((err[2] & 0x80) && err[0] == data[0] && err[1] == data[1]);
	else
		CHECK(size < DNSMSG_HDR_LEN || (data[2] & 0x80));
	return 0;
}
