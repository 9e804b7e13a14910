/*
 * libFuzzer target: the PROXY protocol v1/v2 parsers (shim/proxyproto.c).
 *
 * Checks the contract of include/proxyshim/proxyproto.h: a positive
 * answer is a length within the input and the version's limit, and the
 * same header parsed alone gives the same answer; MORE means *need > len
 * and the input is a prefix (the parse of the first byte fewer is MORE
 * too); errors are the enum's; a non-local v1/v2 result has family
 * AF_INET or AF_INET6.  Every prefix of the input is parsed as well, as
 * the shim does while bytes trickle in.
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "proxyshim/proxyproto.h"
#include "fuzz.h"

static int
parse(const uint8_t *data, size_t size)
{
	struct ps_pp_info info;
	size_t need = 0;
	int r;

	memset(&info, 0xa5, sizeof(info));
	r = proxyproto_parse(data, size, &need, &info);
	if (r == PS_PROTO_MORE) {
		CHECK(need > size);
		return r;
	}
	if (r < 0) {
		CHECK(r <= PS_PP_E_SIGNATURE && r >= PS_PP_E_CRC);
		CHECK(proxyproto_strerror(r) != NULL);
		return r;
	}
	CHECK((size_t)r <= size);
	CHECK(info.version == 1 || info.version == 2);
	CHECK(info.version != 1 || r <= PS_PP_V1_MAX);
	CHECK(info.version != 2 || (size_t)r <= PS_PP_V2_MAX);
	CHECK(info.local == 0 || info.local == 1);
	if (!info.local)
		CHECK(info.family == AF_INET || info.family == AF_INET6);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int r = parse(data, size), r2;
	size_t i;

	if (r > 0) {
		/* The header alone is the same header; one byte less is
		 * still a valid prefix. */
		CHECK(parse(data, (size_t)r) == r);
		CHECK(parse(data, (size_t)r - 1) == PS_PROTO_MORE);
	}
	/* Byte by byte: once an answer is final, longer inputs keep it. */
	for (i = 0; i <= size && i <= 128; i++) {
		r2 = parse(data, i);
		if (r2 > 0)
			CHECK(r2 == r);
		if (r2 < 0)
			CHECK(r2 == r);
	}
	return 0;
}
