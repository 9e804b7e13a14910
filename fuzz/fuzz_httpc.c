/*
 * libFuzzer target: the HTTP CONNECT reply parser and request builder
 * (proto/httpc.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iinclude fuzz/fuzz_httpc.c proto/httpc.c -o fuzz_httpc
 *   ./fuzz_httpc -max_len=20000 fuzz/corpus/httpc
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/proto.h"
#include "fuzz.h"

static void
check_reply(const char *data, size_t size)
{
	size_t need = 0;
	int status = -1, rc, st2;

	rc = httpc_parse_reply(data, size, &need, &status);
	if (rc == PS_PROTO_MORE) {
		CHECK(need == size + 1 && size < PS_HTTPC_HDR_MAX);
		return;
	}
	if (rc < 0) {
		CHECK(rc >= PS_PROTO_E_LAST && rc <= PS_PROTO_E_VERSION);
		if (rc == PS_PROTO_E_REJECTED)
			CHECK(status >= 0 && status <= 999 &&
			      httpc_status_errno(status) != 0);
		return;
	}
	/* Complete: ends in LF, 2xx, within the limit, and it is the first
	 * end: the reply without its last byte is still incomplete. */
	CHECK((size_t)rc <= size && rc <= PS_HTTPC_HDR_MAX);
	CHECK(data[rc - 1] == '\n' && status >= 200 && status <= 299);
	CHECK(httpc_parse_reply(data, (size_t)rc, &need, &st2) == rc);
	CHECK(httpc_parse_reply(data, (size_t)rc - 1, &need, &st2) ==
	      PS_PROTO_MORE);
}

static int
b64val(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                "0123456789+/";
	const char *p = c != '\0' ? strchr(a, c) : NULL;

	return p != NULL ? (int)(p - a) : -1;
}

/* A plain decoder, to check the encoder against. */
static size_t
b64dec(const char *in, size_t len, uint8_t *out)
{
	size_t i, o = 0;
	int v[4];
	size_t k;

	CHECK(len % 4 == 0);
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++)
			v[k] = in[i + k] == '=' ? 0 : b64val(in[i + k]);
		CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0);
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (in[i + 2] != '=')
			out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (in[i + 3] != '=')
			out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	return o;
}

/* Input: [port][port][flags][name \0 user \0 pass]: build a request,
 * then check it has the shape it must have (no header injection) and
 * that the credentials decode back. */
static void
check_build(const uint8_t *data, size_t size)
{
	char buf[PS_HTTPC_REQ_MAX], user[300], pass[300];
	uint8_t dec[700];
	const char *p, *auth, *end;
	struct ps_target t;
	size_t nlen, ulen = 0, plen = 0, lines = 0, i, dlen;
	int n;

	if (size < 3)
		return;
	user[0] = pass[0] = '\0';
	memset(&t, 0, sizeof(t));
	t.port = (uint16_t)(data[0] << 8 | data[1]);
	p = (const char *)data + 3;
	size -= 3;
	nlen = strnlen(p, size);
	if (data[2] & 4) {
		t.family = (data[2] & 8) ? AF_INET6 : AF_INET;
		memcpy(t.addr, p, nlen < 16 ? nlen : 16);
	} else {
		t.name = p;
		t.name_len = nlen;
	}
	if (nlen < size) {
		p += nlen + 1;
		size -= nlen + 1;
		ulen = strnlen(p, size);
		if (ulen > 299)
			ulen = 299;
		memcpy(user, p, ulen);
		user[ulen] = '\0';
		if (ulen < size) {
			plen = strnlen(p + ulen + 1, size - ulen - 1);
			if (plen > 299)
				plen = 299;
			memcpy(pass, p + ulen + 1, plen);
		}
		pass[plen] = '\0';
	}
	n = httpc_build_request(buf, sizeof(buf), &t,
	                        (data[2] & 1) ? user : NULL,
	                        (data[2] & 2) ? pass : NULL);
	if (n < 0)
		return;
	CHECK(memcmp(buf, "CONNECT ", 8) == 0);
	for (i = 0; i < (size_t)n; i++) {
		CHECK(buf[i] != '\0');
		if (buf[i] == '\n') {
			CHECK(i > 0 && buf[i - 1] == '\r');
			lines++;
		}
	}
	CHECK(lines == ((data[2] & 1) ? 4u : 3u));
	CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	if (!(data[2] & 1))
		return;
	auth = memmem(buf, (size_t)n, "Proxy-Authorization: Basic ", 27);
	CHECK(auth != NULL);
	auth += 27;
	end = memchr(auth, '\r', (size_t)(buf + n - auth));
	CHECK(end != NULL);
	dlen = b64dec(auth, (size_t)(end - auth), dec);
	if (!(data[2] & 2))
		plen = 0;
	CHECK(dlen == ulen + 1 + plen && memcmp(dec, user, ulen) == 0 &&
	      dec[ulen] == ':' && memcmp(dec + ulen + 1, pass, plen) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_reply((const char *)data, size);
	check_build(data, size);
	return 0;
}
