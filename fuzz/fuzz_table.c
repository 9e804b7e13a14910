/*
 * libFuzzer target: table validation on mapped bytes (resolver/table.c),
 * then the readers of a validated view (route.c, dump.c).
 *
 * The first input byte picks a mode:
 *   0  raw bytes, as they are (the checksum is verified)
 *   1  raw bytes, PS_VIEW_SKIP_CRC (structure only)
 *   2  a valid compiled table (byte 1 picks which), edited by the rest of
 *      the input as 5-byte records [off:3][op][val], checksum recomputed
 *      (or skipped, for the large indexed table):
 *      a hostile writer, so the structural checks are what stands between
 *      the bytes and the readers
 *   3  a valid table truncated or extended to a length from bytes 2..4,
 *      total_size patched and the checksum recomputed
 * Whatever table_view_open() accepts, route_lookup() on a spread of
 * destinations, route_trusted() and table_dump() must walk in bounds, and
 * every VIA route must point inside the chain array.
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"
#include "fuzz.h"

#define MAX_TABLE (4u << 20)
#define NBASE 3

static FILE *devnull;
static uint8_t *base_tbl[NBASE];
static size_t base_len[NBASE];
static uint64_t *work; /* 8-aligned scratch */

static const char small_yml[] =
        "proxy:\n"
        "  http: http://u:secret@10.0.0.9:3128\n"
        "  https: https://proxy.corp:3129\n"
        "  exempt: \"cluster.local,example.com,.svc,10.0.0.0/8,[::1]:443,"
        "fd00::/8,1.2.3.4:80-90,*.wild.org\"\n"
        "  https_ports: [443, 8443]\n"
        "  rules:\n"
        "    - match: [\"api.kestra.io\", \"*.internal.example\", "
        "\"172.16.0.0/12\"]\n"
        "      via: [socks5://a:b@10.10.10.10:1080, http://p2:8080]\n"
        "    - match: 192.168.0.0/16\n"
        "      via: direct\n"
        "    - match: [\"bad.example:22\", \"2001:db8::/32\"]\n"
        "      via: block\n"
        "    - match: \"*.tls.example\"\n"
        "      via: {url: \"https://t.example:3129\", tls: {ca_file: "
        "/etc/ca.pem, server_name: t.internal, insecure_skip_verify: "
        "true}}\n"
        "  tls: {ca_file: /etc/corp.pem}\n"
        "  chain: failover\n"
        "  dns: remote\n"
        "reverseProxy:\n"
        "  trustedOrigins: [127.0.0.1/8, 10.0.0.0/8, \"fd00::/16\"]\n"
        "  headers: [PROXY, X-Forwarded-For]\n";

static const char star_yml[] =
        "proxy:\n"
        "  http: socks5h://[::1]:1080\n"
        "  exempt: [\"*\"]\n"
        "  proxy_loopback: true\n";

/* Enough entries for range indexes and a name filter. */
static char *
big_yml(void)
{
	size_t cap = 600000, n = 0, i;
	char *s = malloc(cap);

	CHECK(s != NULL);
	n += (size_t)snprintf(s + n, cap - n,
	                      "proxy:\n  http: 10.0.0.1:3128\n  exempt:\n");
	for (i = 0; i < 4200 && n + 200 < cap; i++) {
		n += (size_t)snprintf(s + n, cap - n,
		                      "    - \"10.%zu.%zu.0/24\"\n"
		                      "    - \"fd00:%zx::/32\"\n"
		                      "    - \"h%zu.example\"\n",
		                      i >> 8, i & 255, i, i);
	}
	return s;
}

static void
compile_base(int i, const char *yml)
{
	struct ps_config c;
	char err[PS_ERR_MAX];

	if (config_load_buffer("base.yml", yml, strlen(yml), &c, err,
	                       sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_table: base config %d: %s\n", i, err);
		abort();
	}
	if (compile_table(&c, 7, &base_tbl[i], &base_len[i], err,
	                  sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_table: base compile %d: %s\n", i, err);
		abort();
	}
	config_free(&c);
}

static void
setup(void)
{
	char *big;

	devnull = fopen("/dev/null", "w");
	work = malloc(MAX_TABLE + 8);
	CHECK(devnull != NULL && work != NULL);
	compile_base(0, small_yml);
	compile_base(1, star_yml);
	big = big_yml();
	compile_base(2, big);
	free(big);
}

static void
reseal(uint8_t *t, size_t len)
{
	struct ps_t_header *h = (struct ps_t_header *)(void *)t;

	h->checksum = 0;
	h->checksum = table_crc32c(0, t, len);
}

static void
exercise(const struct ps_table_view *v)
{
	static const char *const names[] = {
	        "example.com", "x.cluster.local", "a.svc", "api.kestra.io",
	        "q.internal.example", "h17.example", "sub.h4000.example",
	        "bad.example", "localhost", "nothing.test."};
	static const char *const addrs[] = {
	        "10.1.2.3", "192.168.1.1", "1.2.3.4",   "172.20.0.1",
	        "8.8.8.8",  "::1",         "fd00::5",   "2001:db8::1",
	        "0.0.0.0",  "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	        "::ffff:10.0.0.1", "fd00:1068::1"};
	static const uint16_t ports[] = {80, 443, 22, 85};
	struct ps_route rt;
	struct ps_dest d;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(&d, 0, sizeof(d));
		d.name = names[i];
		d.name_len = strlen(names[i]);
		d.port = ports[i % 4];
		if (i & 1) {
			d.family = AF_INET;
			memcpy(d.addr, "\x0a\x00\x00\x09", 4);
		}
		CHECK(route_lookup(v, &d, &rt) == 0);
		fuzz_check_route(v, &rt);
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		fuzz_lookup_addr(v, addrs[i], ports[i % 4]);
	/* The dump of the indexed table is thousands of lines: it is
	 * walked for the small tables only, to keep the exec rate up. */
	if (v->size <= 65536)
		table_dump(v, devnull);
}

static uint32_t
interesting(uint8_t op, uint8_t val, size_t len)
{
	switch (op % 8) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uint32_t)len;
	case 3: return (uint32_t)len - val;
	case 4: return UINT32_MAX - val;
	case 5: return 0x00ffffffu;
	case 6: return (uint32_t)val << 24;
	default: return val;
	}
}

/* Mode 2: edit records [off:3][op][val]. */
static size_t
mutate(const uint8_t *data, size_t size, uint8_t *t)
{
	int which = data[0] % NBASE;
	size_t len = base_len[which], i, off;
	uint32_t w;

	memcpy(t, base_tbl[which], len);
	for (i = 1; i + 5 <= size; i += 5) {
		off = ((size_t)data[i] | (size_t)data[i + 1] << 8 |
		       (size_t)data[i + 2] << 16) % len;
		if (data[i + 3] < 128) {
			t[off] ^= data[i + 4];
		} else {
			off &= ~(size_t)3;
			if (off + 4 > len)
				continue;
			w = interesting(data[i + 3], data[i + 4], len);
			memcpy(t + off, &w, 4);
		}
	}
	return len;
}

/* Mode 3: another length, total_size and checksum patched to match. */
static size_t
resize(const uint8_t *data, size_t size, uint8_t *t)
{
	int which = size > 0 ? data[0] % NBASE : 0;
	size_t len = base_len[which], nlen;
	uint32_t n32;

	nlen = size >= 4 ? ((size_t)data[1] | (size_t)data[2] << 8 |
	                    (size_t)data[3] << 16)
	                 : len - 8;
	nlen %= len + 64;
	if (nlen < sizeof(struct ps_t_header))
		nlen = sizeof(struct ps_t_header);
	memset(t, 0, nlen);
	memcpy(t, base_tbl[which], nlen < len ? nlen : len);
	if (size > 4 && nlen > len)
		memcpy(t + len, data + 4, size - 4 < nlen - len ? size - 4
		                                                : nlen - len);
	n32 = (uint32_t)nlen;
	memcpy(t + offsetof(struct ps_t_header, total_size), &n32, 4);
	return nlen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_table_view v;
	uint8_t *t;
	const char *why = NULL;
	unsigned flags = 0;
	size_t len;

	if (work == NULL)
		setup();
	if (size < 1)
		return 0;
	t = (uint8_t *)work;
	switch (data[0] & 3) {
	case 0:
	case 1:
		if (size - 1 > MAX_TABLE)
			return 0;
		len = size - 1;
		memcpy(t, data + 1, len);
		flags = (data[0] & 3) == 1 ? PS_VIEW_SKIP_CRC : 0;
		break;
	case 2:
		if (size < 2)
			return 0;
		len = mutate(data + 1, size - 1, t);
		break;
	default:
		len = resize(data + 1, size - 1, t);
		break;
	}
	/* Edited tables get a valid checksum: recomputed for small ones (the
	 * whole path), skipped for the large indexed one (two CRCs of a
	 * megabyte per run would cost most of the exec rate; the structure
	 * checks are the same either way). */
	if ((data[0] & 3) >= 2) {
		if (len <= 65536)
			reseal(t, len);
		else
			flags = PS_VIEW_SKIP_CRC;
	}
	if (table_view_open_flags(t, len, &v, &why, flags) == 0)
		exercise(&v);
	else
		CHECK(why != NULL);
	return 0;
}
