/* Proxy handshakes: the pure builders/parsers (shim/socks5.c, socks4.c,
 * httpc.c) and the I/O helper (shim/io.c) against scripted proxies. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/dial.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__})
#define BLEN(...) sizeof((const uint8_t[]){__VA_ARGS__})
#define TUNNEL "SSH-2.0-banner\r\n"

/* --- helpers ------------------------------------------------------------ */

static struct ps_target
tgt_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct ps_target t = {0};

	t.family = AF_INET;
	t.addr[0] = a;
	t.addr[1] = b;
	t.addr[2] = c;
	t.addr[3] = d;
	t.port = port;
	return t;
}

static struct ps_target
tgt_v6(const char *text, uint16_t port)
{
	struct ps_target t = {0};

	t.family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, text, t.addr), 1);
	t.port = port;
	return t;
}

static struct ps_target
tgt_name(const char *name, uint16_t port)
{
	struct ps_target t = {0};

	t.name = name;
	t.name_len = strlen(name);
	t.port = port;
	return t;
}

/* Uniform parser signature for the split checks. */
typedef int (*parse_fn)(const uint8_t *buf, size_t len, size_t *need);

static int
p_method(const uint8_t *b, size_t l, size_t *need)
{
	uint8_t m;

	return socks5_parse_method_reply(b, l, need, true, &m);
}

static int
p_auth(const uint8_t *b, size_t l, size_t *need)
{
	return socks5_parse_auth_reply(b, l, need);
}

static int
p_s5(const uint8_t *b, size_t l, size_t *need)
{
	struct socks5_reply r;

	return socks5_parse_reply(b, l, need, &r);
}

static int
p_s4(const uint8_t *b, size_t l, size_t *need)
{
	uint8_t cd;

	return socks4_parse_reply(b, l, need, &cd);
}

static int
p_http(const uint8_t *b, size_t l, size_t *need)
{
	int st;

	return httpc_parse_reply((const char *)b, l, need, &st);
}

/*
 * A complete reply of len bytes: every proper prefix must ask for more,
 * with a need that never runs past the reply; the whole must be consumed
 * exactly, also with tunnel bytes behind it.
 */
static void
check_splits(parse_fn f, const void *reply, size_t len)
{
	uint8_t *buf = malloc(len + sizeof(TUNNEL));
	size_t k, need;
	int rc;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, reply, len);
	memcpy(buf + len, TUNNEL, sizeof(TUNNEL));
	for (k = 0; k < len; k++) {
		need = 0;
		rc = f(buf, k, &need);
		ck_assert_msg(rc == PS_PROTO_MORE, "prefix %zu: rc %d", k, rc);
		ck_assert_msg(need > k && need <= len, "prefix %zu: need %zu",
		              k, need);
	}
	ck_assert_int_eq(f(buf, len, &need), (int)len);
	ck_assert_int_eq(f(buf, len + sizeof(TUNNEL), &need), (int)len);
	free(buf);
}

/* Log lines go to a memfd so tests can read them (and stay quiet). */
static int log_fd = -1;

static void
log_capture_setup(void)
{
	log_fd = memfd_create("proto-log", 0);
	ck_assert_int_ge(log_fd, 0);
	log_setup(PS_LOG_WARN, log_fd);
}

static void
log_capture_teardown(void)
{
	log_setup(PS_LOG_WARN, 2);
	close(log_fd);
	log_fd = -1;
}

static void
log_read(char *buf, size_t size)
{
	ssize_t n = pread(log_fd, buf, size - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

/* --- SOCKS5 builders ---------------------------------------------------- */

START_TEST(test_socks5_build_greeting_no_auth)
{
	uint8_t b[8];

	ck_assert_int_eq(socks5_build_greeting(b, sizeof(b), false), 3);
	ck_assert_mem_eq(b, B(5, 1, 0), 3);
}
END_TEST

START_TEST(test_socks5_build_greeting_offers_userpass_with_credentials)
{
	uint8_t b[8];

	ck_assert_int_eq(socks5_build_greeting(b, sizeof(b), true), 4);
	ck_assert_mem_eq(b, B(5, 2, 0, 2), 4);
	ck_assert_int_eq(socks5_build_greeting(b, 3, true), -ENOBUFS);
}
END_TEST

START_TEST(test_socks5_build_auth_exact_bytes)
{
	uint8_t b[PS_SOCKS5_AUTH_MAX];
	const uint8_t want[] = {1, 5,   'a', 'l', 'i', 'c', 'e',
	                        6, 's', '3', 'c', 'r', 'e', 't'};

	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), "alice", "s3cret"),
	                 (int)sizeof(want));
	ck_assert_mem_eq(b, want, sizeof(want));
	/* No password: an empty one. */
	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), "bob", NULL), 6);
	ck_assert_mem_eq(b, B(1, 3, 'b', 'o', 'b', 0), 6);
}
END_TEST

START_TEST(test_socks5_build_auth_lengths_up_to_255)
{
	uint8_t b[PS_SOCKS5_AUTH_MAX];
	char u[257], p[257];

	memset(u, 'u', 255);
	u[255] = '\0';
	memset(p, 'p', 255);
	p[255] = '\0';
	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), u, p), 513);
	ck_assert_uint_eq(b[1], 255);
	ck_assert_uint_eq(b[257], 255);
	ck_assert_uint_eq(b[512], 'p');
	ck_assert_int_eq(socks5_build_auth(b, 512, u, p), -ENOBUFS);
	u[255] = 'u';
	u[256] = '\0';
	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), u, p), -EINVAL);
	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), "x", u), -EINVAL);
	ck_assert_int_eq(socks5_build_auth(b, sizeof(b), NULL, "x"), -EINVAL);
}
END_TEST

START_TEST(test_socks5_build_request_ipv4)
{
	struct ps_target t = tgt_v4(10, 1, 2, 3, 443);
	uint8_t b[PS_SOCKS5_REQ_MAX];

	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), 10);
	ck_assert_mem_eq(b, B(5, 1, 0, 1, 10, 1, 2, 3, 0x01, 0xbb), 10);
	ck_assert_int_eq(socks5_build_request(b, 9, &t), -ENOBUFS);
}
END_TEST

START_TEST(test_socks5_build_request_ipv6)
{
	struct ps_target t = tgt_v6("2001:db8::1", 8080);
	uint8_t b[PS_SOCKS5_REQ_MAX];

	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), 22);
	ck_assert_mem_eq(b,
	                 B(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
	                   0, 0, 0, 0, 0, 1, 0x1f, 0x90),
	                 22);
}
END_TEST

START_TEST(test_socks5_build_request_domain)
{
	struct ps_target t = tgt_name("example.com", 80);
	uint8_t b[PS_SOCKS5_REQ_MAX];

	/* A name wins over an address in the builder. */
	t.family = AF_INET;
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), 18);
	ck_assert_mem_eq(b,
	                 B(5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	                   '.', 'c', 'o', 'm', 0, 80),
	                 18);
}
END_TEST

START_TEST(test_socks5_build_request_domain_limits)
{
	char name[300];
	struct ps_target t;
	uint8_t b[PS_SOCKS5_REQ_MAX + 8];

	memset(name, 'a', sizeof(name));
	name[255] = '\0';
	t = tgt_name(name, 1);
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), 262);
	ck_assert_uint_eq(b[4], 255);
	ck_assert_uint_eq(b[261], 1);
	t.name_len = 256;
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), -EINVAL);
	t.name_len = 0;
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), -EINVAL);
	t = tgt_name("evil\r\nhost", 1);
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), -EINVAL);
	t = tgt_name("a b", 1);
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), -EINVAL);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(socks5_build_request(b, sizeof(b), &t), -EINVAL);
}
END_TEST

/* --- SOCKS5 parsers ----------------------------------------------------- */

START_TEST(test_socks5_parse_method_reply)
{
	uint8_t m = 0x77;
	size_t need;

	ck_assert_int_eq(
	        socks5_parse_method_reply(B(5, 0), 2, &need, false, &m), 2);
	ck_assert_uint_eq(m, 0);
	ck_assert_int_eq(socks5_parse_method_reply(B(5, 2), 2, &need, true, &m),
	                 2);
	ck_assert_uint_eq(m, 2);
	/* A method we did not offer. */
	ck_assert_int_eq(
	        socks5_parse_method_reply(B(5, 2), 2, &need, false, &m),
	        PS_PROTO_E_MALFORMED);
	ck_assert_int_eq(socks5_parse_method_reply(B(5, 1), 2, &need, true, &m),
	                 PS_PROTO_E_MALFORMED);
	ck_assert_int_eq(
	        socks5_parse_method_reply(B(5, 0xff), 2, &need, true, &m),
	        PS_PROTO_E_NO_METHOD);
	ck_assert_int_eq(proto_errno(PS_PROTO_E_NO_METHOD), EACCES);
	/* Wrong version: known from the first byte. */
	ck_assert_int_eq(socks5_parse_method_reply(B(4), 1, &need, true, &m),
	                 PS_PROTO_E_VERSION);
	check_splits(p_method, B(5, 0), 2);
	check_splits(p_method, B(5, 2), 2);
}
END_TEST

START_TEST(test_socks5_parse_auth_reply)
{
	size_t need;

	ck_assert_int_eq(socks5_parse_auth_reply(B(1, 0), 2, &need), 2);
	ck_assert_int_eq(socks5_parse_auth_reply(B(5, 0), 2, &need), 2);
	ck_assert_int_eq(socks5_parse_auth_reply(B(1, 1), 2, &need),
	                 PS_PROTO_E_AUTH);
	ck_assert_int_eq(socks5_parse_auth_reply(B(1, 0xff), 2, &need),
	                 PS_PROTO_E_AUTH);
	ck_assert_int_eq(proto_errno(PS_PROTO_E_AUTH), EACCES);
	ck_assert_int_eq(socks5_parse_auth_reply(B(2, 0), 2, &need),
	                 PS_PROTO_E_VERSION);
	ck_assert_int_eq(socks5_parse_auth_reply(B(0), 1, &need),
	                 PS_PROTO_E_VERSION);
	check_splits(p_auth, B(1, 0), 2);
}
END_TEST

START_TEST(test_socks5_parse_reply_ipv4_atyp)
{
	const uint8_t r[] = {5, 0, 0, 1, 192, 0, 2, 7, 0x04, 0x38};
	struct socks5_reply out;
	size_t need;

	ck_assert_int_eq(socks5_parse_reply(r, sizeof(r), &need, &out), 10);
	ck_assert_uint_eq(out.rep, 0);
	ck_assert_int_eq(out.family, AF_INET);
	ck_assert_mem_eq(out.addr, B(192, 0, 2, 7), 4);
	ck_assert_uint_eq(out.port, 1080);
	check_splits(p_s5, r, sizeof(r));
}
END_TEST

START_TEST(test_socks5_parse_reply_ipv6_atyp)
{
	uint8_t r[22] = {5, 0, 0, 4};
	struct socks5_reply out;
	size_t need;

	ck_assert_int_eq(inet_pton(AF_INET6, "fd00::42", r + 4), 1);
	r[20] = 0xff;
	r[21] = 0xfe;
	ck_assert_int_eq(socks5_parse_reply(r, sizeof(r), &need, &out), 22);
	ck_assert_int_eq(out.family, AF_INET6);
	ck_assert_mem_eq(out.addr, r + 4, 16);
	ck_assert_uint_eq(out.port, 0xfffe);
	check_splits(p_s5, r, sizeof(r));
}
END_TEST

START_TEST(test_socks5_parse_reply_domain_atyp)
{
	static const size_t lens[] = {0, 1, 2, 3, 17, 254, 255};
	uint8_t r[PS_SOCKS5_REPLY_MAX];
	struct socks5_reply out;
	size_t i, n, need;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = lens[i];
		r[0] = 5;
		r[1] = 0;
		r[2] = 0;
		r[3] = 3;
		r[4] = (uint8_t)n;
		memset(r + 5, 'x', n);
		r[5 + n] = 0x12;
		r[6 + n] = 0x34;
		ck_assert_int_eq(socks5_parse_reply(r, n + 7, &need, &out),
		                 (int)(n + 7));
		ck_assert_uint_eq(out.atyp, 3);
		ck_assert_int_eq(out.family, 0);
		ck_assert_uint_eq(out.name_off, 5);
		ck_assert_uint_eq(out.name_len, n);
		ck_assert_uint_eq(out.port, 0x1234);
		check_splits(p_s5, r, n + 7);
	}
}
END_TEST

START_TEST(test_socks5_parse_reply_need_is_exact_once_atyp_known)
{
	size_t need;

	ck_assert_int_eq(p_s5(B(5, 0, 0), 3, &need), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 7); /* the shortest reply there is */
	ck_assert_int_eq(p_s5(B(5, 0, 0, 1), 4, &need), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 10);
	ck_assert_int_eq(p_s5(B(5, 0, 0, 4), 4, &need), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 22);
	ck_assert_int_eq(p_s5(B(5, 0, 0, 3), 4, &need), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 7);
	ck_assert_int_eq(p_s5(B(5, 0, 0, 3, 200), 5, &need), PS_PROTO_MORE);
	ck_assert_uint_eq(need, 207);
}
END_TEST

START_TEST(test_socks5_parse_reply_rep_codes)
{
	uint8_t r[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	struct socks5_reply out;
	size_t need;
	unsigned rep;

	for (rep = 1; rep <= 255; rep++) {
		r[1] = (uint8_t)rep;
		/* Known from byte 1 on: no need to wait for the rest. */
		ck_assert_int_eq(socks5_parse_reply(r, 2, &need, &out),
		                 PS_PROTO_E_REJECTED);
		ck_assert_uint_eq(out.rep, rep);
		ck_assert_int_eq(socks5_parse_reply(r, 10, &need, &out),
		                 PS_PROTO_E_REJECTED);
	}
}
END_TEST

START_TEST(test_socks5_rep_errno_mapping)
{
	ck_assert_int_eq(socks5_rep_errno(0), 0);
	ck_assert_int_eq(socks5_rep_errno(1), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(2), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(3), ENETUNREACH);
	ck_assert_int_eq(socks5_rep_errno(4), EHOSTUNREACH);
	ck_assert_int_eq(socks5_rep_errno(5), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(6), ETIMEDOUT);
	ck_assert_int_eq(socks5_rep_errno(7), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(8), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(9), ECONNREFUSED);
	ck_assert_int_eq(socks5_rep_errno(255), ECONNREFUSED);
	ck_assert_str_eq(socks5_rep_str(5), "connection refused");
	ck_assert_str_eq(socks5_rep_str(200), "unassigned reply code");
}
END_TEST

START_TEST(test_socks5_parse_reply_bad_version_and_atyp)
{
	struct socks5_reply out;
	size_t need;
	uint8_t r[10] = {5, 0, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t bad_atyp[] = {0, 2, 5, 0xff};
	size_t i;

	ck_assert_int_eq(socks5_parse_reply(B(4), 1, &need, &out),
	                 PS_PROTO_E_VERSION);
	ck_assert_int_eq(socks5_parse_reply(B(0, 0x5a), 2, &need, &out),
	                 PS_PROTO_E_VERSION);
	for (i = 0; i < sizeof(bad_atyp); i++) {
		r[3] = bad_atyp[i];
		ck_assert_int_eq(socks5_parse_reply(r, 4, &need, &out),
		                 PS_PROTO_E_MALFORMED);
		ck_assert_int_eq(socks5_parse_reply(r, 10, &need, &out),
		                 PS_PROTO_E_MALFORMED);
	}
	ck_assert_int_eq(proto_errno(PS_PROTO_E_VERSION), ECONNREFUSED);
	ck_assert_int_eq(proto_errno(PS_PROTO_E_MALFORMED), ECONNREFUSED);
	/* RSV is not checked. */
	r[2] = 0x99;
	r[3] = 1;
	ck_assert_int_eq(socks5_parse_reply(r, 10, &need, &out), 10);
}
END_TEST

/* --- SOCKS4 ------------------------------------------------------------- */

START_TEST(test_socks4_build_request_ipv4)
{
	struct ps_target t = tgt_v4(192, 0, 2, 1, 80);
	uint8_t b[PS_SOCKS4_REQ_MAX];

	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, NULL), 9);
	ck_assert_mem_eq(b, B(4, 1, 0, 80, 192, 0, 2, 1, 0), 9);
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, "bob"), 12);
	ck_assert_mem_eq(b, B(4, 1, 0, 80, 192, 0, 2, 1, 'b', 'o', 'b', 0), 12);
	ck_assert_int_eq(socks4_build_request(b, 11, &t, "bob"), -ENOBUFS);
}
END_TEST

START_TEST(test_socks4a_build_request_name)
{
	struct ps_target t = tgt_name("ex.org", 0x1bb);
	uint8_t b[PS_SOCKS4_REQ_MAX];
	const uint8_t want[] = {4, 1,   0x01, 0xbb, 0,   0,   0,   1, 'u',
	                        0, 'e', 'x',  '.',  'o', 'r', 'g', 0};

	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, "u"),
	                 (int)sizeof(want));
	ck_assert_mem_eq(b, want, sizeof(want));
}
END_TEST

START_TEST(test_socks4_build_request_limits)
{
	struct ps_target t = tgt_v6("::ffff:10.9.8.7", 22);
	uint8_t b[PS_SOCKS4_REQ_MAX];
	char u[300], name[300];

	/* IPv4-mapped IPv6 is unwrapped; real IPv6 cannot be carried. */
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, ""), 9);
	ck_assert_mem_eq(b, B(4, 1, 0, 22, 10, 9, 8, 7, 0), 9);
	t = tgt_v6("2001:db8::1", 22);
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, ""),
	                 -EAFNOSUPPORT);
	/* The largest request fits PS_SOCKS4_REQ_MAX. */
	memset(u, 'u', sizeof(u));
	u[255] = '\0';
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	t = tgt_name(name, 1);
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, u),
	                 PS_SOCKS4_REQ_MAX);
	ck_assert_uint_eq(b[PS_SOCKS4_REQ_MAX - 1], 0);
	u[255] = 'u';
	u[256] = '\0';
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, u), -EINVAL);
	t = tgt_name("bad\nname", 1);
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, ""), -EINVAL);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(socks4_build_request(b, sizeof(b), &t, ""), -EINVAL);
}
END_TEST

START_TEST(test_socks4_parse_reply_granted)
{
	const uint8_t r[] = {0, 0x5a, 0x12, 0x34, 1, 2, 3, 4};
	uint8_t cd = 0;
	size_t need;

	ck_assert_int_eq(socks4_parse_reply(r, 8, &need, &cd), 8);
	ck_assert_uint_eq(cd, 0x5a);
	ck_assert_int_eq(socks4_cd_errno(cd), 0);
	check_splits(p_s4, r, sizeof(r));
}
END_TEST

START_TEST(test_socks4_parse_reply_codes)
{
	uint8_t r[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t cd;
	size_t need;
	unsigned c;

	for (c = 0x5b; c <= 0x5d; c++) {
		r[1] = (uint8_t)c;
		cd = 0;
		ck_assert_int_eq(socks4_parse_reply(r, 2, &need, &cd),
		                 PS_PROTO_E_REJECTED);
		ck_assert_uint_eq(cd, c);
	}
	ck_assert_int_eq(socks4_cd_errno(0x5b), ECONNREFUSED);
	ck_assert_int_eq(socks4_cd_errno(0x5c), ECONNREFUSED);
	ck_assert_int_eq(socks4_cd_errno(0x5d), EACCES);
	ck_assert_int_eq(socks4_cd_errno(0x00), ECONNREFUSED);
	/* Unknown codes are malformed; VN must be 0. */
	r[1] = 0x00;
	ck_assert_int_eq(socks4_parse_reply(r, 8, &need, &cd),
	                 PS_PROTO_E_MALFORMED);
	r[1] = 0x5e;
	ck_assert_int_eq(socks4_parse_reply(r, 8, &need, &cd),
	                 PS_PROTO_E_MALFORMED);
	ck_assert_int_eq(socks4_parse_reply(B(4, 0x5a), 2, &need, &cd),
	                 PS_PROTO_E_VERSION);
	ck_assert_int_eq(socks4_parse_reply(B(5), 1, &need, &cd),
	                 PS_PROTO_E_VERSION);
}
END_TEST

/* --- HTTP CONNECT: builder ------------------------------------------- */

START_TEST(test_httpc_build_request_name)
{
	struct ps_target t = tgt_name("example.com", 443);
	const char *want = "CONNECT example.com:443 HTTP/1.1\r\n"
	                   "Host: example.com:443\r\n\r\n";
	char b[PS_HTTPC_REQ_MAX];

	t.family = AF_INET; /* the name wins */
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, NULL, NULL),
	                 (int)strlen(want));
	ck_assert_mem_eq(b, want, strlen(want));
	ck_assert_int_eq(
	        httpc_build_request(b, strlen(want) - 1, &t, NULL, NULL),
	        -ENOBUFS);
}
END_TEST

START_TEST(test_httpc_build_request_ipv4_and_ipv6)
{
	struct ps_target t = tgt_v4(10, 0, 0, 1, 8080);
	const char *w4 = "CONNECT 10.0.0.1:8080 HTTP/1.1\r\n"
	                 "Host: 10.0.0.1:8080\r\n\r\n";
	const char *w6 = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
	                 "Host: [2001:db8::1]:443\r\n\r\n";
	const char *wn = "CONNECT [::1]:1 HTTP/1.1\r\nHost: [::1]:1\r\n\r\n";
	char b[PS_HTTPC_REQ_MAX];

	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, NULL, NULL),
	                 (int)strlen(w4));
	ck_assert_mem_eq(b, w4, strlen(w4));
	t = tgt_v6("2001:db8::1", 443);
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, NULL, NULL),
	                 (int)strlen(w6));
	ck_assert_mem_eq(b, w6, strlen(w6));
	/* An IPv6 literal handed over as a name is bracketed too. */
	t = tgt_name("::1", 1);
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, NULL, NULL),
	                 (int)strlen(wn));
	ck_assert_mem_eq(b, wn, strlen(wn));
}
END_TEST

START_TEST(test_httpc_build_request_basic_auth)
{
	struct ps_target t = tgt_name("h", 65535);
	/* RFC 7617's example credentials. */
	const char *want = "CONNECT h:65535 HTTP/1.1\r\nHost: h:65535\r\n"
	                   "Proxy-Authorization: Basic "
	                   "QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n";
	const char *nopass = "CONNECT h:0 HTTP/1.1\r\nHost: h:0\r\n"
	                     "Proxy-Authorization: Basic dTo=\r\n\r\n";
	char b[PS_HTTPC_REQ_MAX];

	ck_assert_int_eq(
	        httpc_build_request(b, sizeof(b), &t, "Aladdin", "open sesame"),
	        (int)strlen(want));
	ck_assert_mem_eq(b, want, strlen(want));
	t.port = 0;
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, "u", NULL),
	                 (int)strlen(nopass));
	ck_assert_mem_eq(b, nopass, strlen(nopass));
}
END_TEST

START_TEST(test_httpc_build_request_limits)
{
	char name[256], u[300], b[PS_HTTPC_REQ_MAX];
	struct ps_target t;
	int n;

	memset(name, 'n', 255);
	name[255] = '\0';
	memset(u, 'u', sizeof(u));
	u[255] = '\0';
	t = tgt_name(name, 65535);
	n = httpc_build_request(b, sizeof(b), &t, u, u);
	ck_assert_int_gt(n, 1200);
	ck_assert_int_le(n, PS_HTTPC_REQ_MAX);
	ck_assert_mem_eq(b + n - 6, "==\r\n\r\n", 6);
	u[255] = 'u';
	u[256] = '\0';
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, u, "p"),
	                 -EINVAL);
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, "p", u),
	                 -EINVAL);
	/* Header injection through the name is refused. */
	t = tgt_name("a.com:1 HTTP/1.1\r\nX: y", 1);
	ck_assert_int_eq(httpc_build_request(b, sizeof(b), &t, NULL, NULL),
	                 -EINVAL);
	/* A buffer too small for the credentials leaves none of them. */
	t = tgt_name("h", 1);
	memset(b, 0x55, sizeof(b));
	ck_assert_int_eq(httpc_build_request(b, 60, &t, "user", "password"),
	                 -ENOBUFS);
	ck_assert_ptr_null(memmem(b, sizeof(b), "dXNlcjpwYXNzd29yZA", 18));
}
END_TEST

START_TEST(test_httpc_base64_vectors)
{
	/* RFC 4648 §10. */
	static const char *const in[] = {"",     "f",     "fo",    "foo",
	                                 "foob", "fooba", "foobar"};
	static const char *const out[] = {
	        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char b[16];
	size_t i;

	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(
		        httpc_base64(b, sizeof(b), in[i], strlen(in[i])),
		        (int)strlen(out[i]));
		ck_assert_str_eq(b, out[i]);
	}
	ck_assert_int_eq(httpc_base64(b, sizeof(b), "\xff\xfe\x00", 3), 4);
	ck_assert_str_eq(b, "//4A");
	ck_assert_int_eq(httpc_base64(b, 8, "foobar", 6), -ENOBUFS);
	ck_assert_int_eq(httpc_base64(b, 9, "foobar", 6), 8);
}
END_TEST

/* --- HTTP CONNECT: parser --------------------------------------------- */

static int
http_parse(const char *s, size_t len, int *status)
{
	size_t need;

	return httpc_parse_reply(s, len, &need, status);
}

START_TEST(test_httpc_parse_reply_200)
{
	const char *r = "HTTP/1.1 200 Connection established\r\n\r\n";
	int st = 0;

	ck_assert_int_eq(http_parse(r, strlen(r), &st), (int)strlen(r));
	ck_assert_int_eq(st, 200);
	check_splits(p_http, r, strlen(r));
}
END_TEST

START_TEST(test_httpc_parse_reply_2xx_variants)
{
	static const char *const ok[] = {
	        "HTTP/1.0 200 OK\r\nProxy-Agent: tinyproxy/1.11\r\n\r\n",
	        "HTTP/1.1 201 Created\r\n\r\n",
	        "HTTP/1.1 204 No Content\r\nVia: 1.1 squid\r\nX: y\r\n\r\n",
	        "HTTP/1.1 299 Whatever\r\n\r\n",
	        "HTTP/1.1 200\r\n\r\n",
	        "HTTP/1.1 200 \r\n\r\n",
	        "HTTP/1.1 200 OK\n\n",
	        "HTTP/1.1 200 OK\nServer: x\n\n",
	        "HTTP/1.1 200 OK\r\nA: b\n\r\n",
	        "HTTP/1.1 200 OK\nA: b\r\n\n",
	};
	size_t i;
	int st;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		st = 0;
		ck_assert_msg(http_parse(ok[i], strlen(ok[i]), &st) ==
		                      (int)strlen(ok[i]),
		              "case %zu", i);
		ck_assert_int_ge(st, 200);
		ck_assert_int_le(st, 299);
		ck_assert_int_eq(httpc_status_errno(st), 0);
		check_splits(p_http, ok[i], strlen(ok[i]));
	}
}
END_TEST

START_TEST(test_httpc_parse_reply_tunnel_bytes_not_consumed)
{
	const char *r = "HTTP/1.1 200 OK\r\nVia: p\r\n\r\n"
	                "SSH-2.0-x\r\n\r\nmore\n\n";
	size_t hdr = strlen("HTTP/1.1 200 OK\r\nVia: p\r\n\r\n");
	int st;

	ck_assert_int_eq(http_parse(r, strlen(r), &st), (int)hdr);
	/* Bare LF too: the first empty line ends it, nothing after. */
	ck_assert_int_eq(http_parse("HTTP/1.0 200 x\n\n\n\nab", 20, &st), 16);
}
END_TEST

START_TEST(test_httpc_parse_reply_407_is_eacces)
{
	const char *r = "HTTP/1.1 407 Proxy Authentication Required\r\n"
	                "Proxy-Authenticate: Basic realm=\"p\"\r\n\r\n";
	size_t line = strlen("HTTP/1.1 407 Proxy Authentication Required\r\n");
	size_t k, need;
	int st;

	for (k = 0; k < line; k++)
		ck_assert_int_eq(httpc_parse_reply(r, k, &need, &st),
		                 PS_PROTO_MORE);
	/* Known as soon as the status line is in. */
	ck_assert_int_eq(httpc_parse_reply(r, line, &need, &st),
	                 PS_PROTO_E_REJECTED);
	ck_assert_int_eq(st, 407);
	ck_assert_int_eq(httpc_parse_reply(r, strlen(r), &need, &st),
	                 PS_PROTO_E_REJECTED);
	ck_assert_int_eq(httpc_status_errno(st), EACCES);
	/* tinyproxy's answer to a wrong password */
	ck_assert_int_eq(httpc_status_errno(401), EACCES);
}
END_TEST

START_TEST(test_httpc_parse_reply_other_statuses_refused)
{
	static const char *const bad[] = {
	        "HTTP/1.1 403 Forbidden\r\n\r\n",
	        "HTTP/1.1 502 Bad Gateway\r\n\r\n",
	        "HTTP/1.0 503 Service Unavailable\n\n",
	        "HTTP/1.1 100 Continue\r\n\r\n",
	        "HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n",
	        "HTTP/1.1 199 x\r\n\r\n",
	        "HTTP/1.1 300\r\n\r\n",
	};
	static const int codes[] = {403, 502, 503, 100, 301, 199, 300};
	size_t i;
	int st;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = 0;
		ck_assert_int_eq(http_parse(bad[i], strlen(bad[i]), &st),
		                 PS_PROTO_E_REJECTED);
		ck_assert_int_eq(st, codes[i]);
		ck_assert_int_eq(httpc_status_errno(st), ECONNREFUSED);
	}
}
END_TEST

START_TEST(test_httpc_parse_reply_garbage)
{
	static const char *const bad[] = {
	        "SSH-2.0-OpenSSH_9.2\r\n",
	        "\x05\x00",
	        "\x00\x5a\x00\x00\x00\x00\x00\x00",
	        "HTTP/2 200\r\n\r\n",
	        "HTTP/1.1 20 OK\r\n\r\n",
	        "HTTP/1.1 2000 OK\r\n\r\n",
	        "HTTP/1.1  200 OK\r\n\r\n",
	        "HTTP/1.x 200 OK\r\n\r\n",
	        "HTTP/1.1 2x0 OK\r\n\r\n",
	        "HTTP/1.1 200OK\r\n\r\n",
	        "http/1.1 200 OK\r\n\r\n",
	        "HTTP/1.1\r\n\r\n",
	        "\r\n\r\n",
	        "\n\n",
	};
	size_t i;
	int st;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = i == 1 ? 2 : i == 2 ? 8 : strlen(bad[i]);

		ck_assert_msg(http_parse(bad[i], len, &st) ==
		                      PS_PROTO_E_MALFORMED,
		              "case %zu", i);
		ck_assert_int_eq(st, 0);
	}
	/* A non-HTTP first byte is refused without waiting for more. */
	ck_assert_int_eq(http_parse("S", 1, &st), PS_PROTO_E_MALFORMED);
	ck_assert_int_eq(http_parse("HTTP/1.", 7, &st), PS_PROTO_MORE);
	ck_assert_int_eq(http_parse("HTTP/2", 6, &st), PS_PROTO_E_MALFORMED);
}
END_TEST

/* A 2xx header of exactly total bytes (blank line included), followed by
 * extra tunnel bytes. */
static char *
make_header(size_t total, size_t extra)
{
	const char *head = "HTTP/1.1 200 OK\r\nX-Pad: ";
	char *b = malloc(total + extra + 1);
	size_t h = strlen(head);

	ck_assert_ptr_nonnull(b);
	memcpy(b, head, h);
	memset(b + h, 'a', total - h - 4);
	memcpy(b + total - 4, "\r\n\r\n", 4);
	memset(b + total, 'T', extra);
	b[total + extra] = '\0';
	return b;
}

START_TEST(test_httpc_parse_reply_header_limit)
{
	size_t need;
	char *b;
	int st;

	b = make_header(PS_HTTPC_HDR_MAX, 100);
	ck_assert_int_eq(
	        httpc_parse_reply(b, PS_HTTPC_HDR_MAX + 100, &need, &st),
	        PS_HTTPC_HDR_MAX);
	ck_assert_int_eq(httpc_parse_reply(b, PS_HTTPC_HDR_MAX - 1, &need, &st),
	                 PS_PROTO_MORE);
	free(b);
	b = make_header(PS_HTTPC_HDR_MAX + 1, 100);
	ck_assert_int_eq(httpc_parse_reply(b, PS_HTTPC_HDR_MAX - 1, &need, &st),
	                 PS_PROTO_MORE);
	ck_assert_int_eq(httpc_parse_reply(b, PS_HTTPC_HDR_MAX, &need, &st),
	                 PS_PROTO_E_TOO_BIG);
	ck_assert_int_eq(httpc_parse_reply(b, PS_HTTPC_HDR_MAX + 1, &need, &st),
	                 PS_PROTO_E_TOO_BIG);
	ck_assert_int_eq(proto_errno(PS_PROTO_E_TOO_BIG), ECONNREFUSED);
	free(b);
	/* A status line alone that never ends. */
	b = malloc(PS_HTTPC_HDR_MAX);
	memcpy(b, "HTTP/1.1 200 ", 13);
	memset(b + 13, 'r', PS_HTTPC_HDR_MAX - 13);
	ck_assert_int_eq(httpc_parse_reply(b, PS_HTTPC_HDR_MAX, &need, &st),
	                 PS_PROTO_E_TOO_BIG);
	free(b);
}
END_TEST

START_TEST(test_proto_errno_and_strerror)
{
	ck_assert_int_eq(proto_errno(PS_PROTO_E_REJECTED), ECONNREFUSED);
	ck_assert_str_eq(proto_strerror(PS_PROTO_E_AUTH),
	                 "authentication rejected");
	ck_assert_str_eq(proto_strerror(-1), "unknown error");
}
END_TEST

/* --- scripted proxies --------------------------------------------------- */

enum op {
	OP_END = 0,
	OP_EXPECT,
	OP_SEND,
	OP_DRIBBLE,
	OP_DRAIN,
	OP_SLEEP,
	OP_CLOSE
};

struct step {
	enum op op;
	const void *p;
	size_t n;
	int ms; /* DRIBBLE: pause between bytes; SLEEP: duration */
};

struct proxy {
	int fd;
	struct step steps[12];
	pthread_t th;
	int bad_step; /* -1 = every step went as scripted */
	char got[PS_HTTPC_REQ_MAX];
	size_t got_len;
	atomic_size_t dribbled; /* bytes DRIBBLE steps have sent so far */
};

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = recv(fd, (char *)buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int
run_step(struct proxy *px, const struct step *s)
{
	char chunk[64];
	size_t i, n;

	switch (s->op) {
	case OP_EXPECT:
		if (s->n > sizeof(px->got) || read_full(px->fd, px->got, s->n))
			return -1;
		px->got_len = s->n;
		return memcmp(px->got, s->p, s->n) == 0 ? 0 : -1;
	case OP_SEND:
		return write_full(px->fd, s->p, s->n);
	case OP_DRIBBLE:
		for (i = 0; i < s->n; i++) {
			if (write_full(px->fd, (const char *)s->p + i, 1))
				return -1;
			atomic_fetch_add(&px->dribbled, 1);
			sleep_ms(s->ms);
		}
		return 0;
	case OP_DRAIN: /* s->n junk bytes, slowly, in small reads */
		for (i = 0; i < s->n; i += n) {
			n = s->n - i < sizeof(chunk) ? s->n - i : sizeof(chunk);
			if (read_full(px->fd, chunk, n))
				return -1;
			if (i % 4096 == 0)
				sleep_ms(1);
		}
		return 0;
	case OP_SLEEP:
		sleep_ms(s->ms);
		return 0;
	case OP_CLOSE:
		shutdown(px->fd, SHUT_RDWR);
		return 0;
	default:
		return -1;
	}
}

static void *
proxy_main(void *arg)
{
	struct proxy *px = arg;
	struct timeval tv = {5, 0};
	size_t i;

	setsockopt(px->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	px->bad_step = -1;
	for (i = 0; i < sizeof(px->steps) / sizeof(px->steps[0]); i++) {
		if (px->steps[i].op == OP_END)
			break;
		if (run_step(px, &px->steps[i]) != 0) {
			px->bad_step = (int)i;
			break;
		}
	}
	return NULL;
}

static void
proxy_start(struct proxy *px, int fd)
{
	px->fd = fd;
	ck_assert_int_eq(pthread_create(&px->th, NULL, proxy_main, px), 0);
}

/* Joins the proxy and checks it saw exactly what it expected. */
static void
proxy_finish(struct proxy *px)
{
	ck_assert_int_eq(pthread_join(px->th, NULL), 0);
	ck_assert_msg(px->bad_step == -1, "proxy script failed at step %d",
	              px->bad_step);
}

#define EXPECT(buf, len) ((struct step){OP_EXPECT, (buf), (len), 0})
#define SEND(buf, len) ((struct step){OP_SEND, (buf), (len), 0})
#define SENDS(str) ((struct step){OP_SEND, (str), sizeof(str) - 1, 0})
#define DRIBBLE(buf, len, ms) ((struct step){OP_DRIBBLE, (buf), (len), (ms)})

static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* A connected TCP pair over loopback; mss > 0 forces small segments. */
static void
tcp_pair_mss(int *client, int *server, int mss)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(l, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*client, 0);
	if (mss > 0)
		ck_assert_int_eq(setsockopt(*client, IPPROTO_TCP, TCP_MAXSEG,
		                            &mss, sizeof(mss)),
		                 0);
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept(l, NULL, NULL);
	ck_assert_int_ge(*server, 0);
	close(l);
}

static void
tcp_pair(int *client, int *server)
{
	tcp_pair_mss(client, server, 0);
}

/* What the program reads after the handshake: must be the banner. */
static void
assert_banner_next(int fd, const char *banner)
{
	char b[256];
	size_t n = strlen(banner);

	ck_assert_int_eq(read_full(fd, b, n), 0);
	ck_assert_mem_eq(b, banner, n);
}

static struct ps_hop
hop_of(enum ps_scheme s, const char *user, const char *pass)
{
	struct ps_hop h;

	memset(&h, 0, sizeof(h));
	h.scheme = s;
	h.user = user;
	h.pass = pass;
	h.at = tgt_v4(127, 0, 0, 1, 1080);
	return h;
}

/* The standard SOCKS5 no-auth exchange for dst, then rest. */
static const uint8_t S5_GREET[] = {5, 1, 0};
static const uint8_t S5_GREET_AUTH[] = {5, 2, 0, 2};
static const uint8_t S5_NOAUTH[] = {5, 0};
static const uint8_t S5_OK_V4[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38};

/* --- io_handshake: SOCKS5 ----------------------------------------------- */

START_TEST(test_io_socks5_no_auth_reply_and_banner_in_one_segment)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(192, 0, 2, 10, 22);
	uint8_t req[PS_SOCKS5_REQ_MAX], rb[64];
	struct proxy px = {0};
	int sv[2], r;

	pair(sv);
	r = socks5_build_request(req, sizeof(req), &dst);
	memcpy(rb, S5_OK_V4, sizeof(S5_OK_V4));
	memcpy(rb + sizeof(S5_OK_V4), TUNNEL, strlen(TUNNEL));
	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SEND(rb, sizeof(S5_OK_V4) + strlen(TUNNEL));
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_socks5_ipv6_and_domain_replies_to_ipv4_request)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(192, 0, 2, 10, 22);
	uint8_t req[PS_SOCKS5_REQ_MAX], r6[22 + 32] = {5, 0, 0, 4};
	uint8_t rd[7 + 255 + 32] = {5, 0, 0, 3, 255};
	struct proxy px = {0};
	int sv[2], r;

	r = socks5_build_request(req, sizeof(req), &dst);
	memcpy(r6 + 22, TUNNEL, strlen(TUNNEL));
	memset(rd + 5, 'd', 255);
	memcpy(rd + 262, TUNNEL, strlen(TUNNEL));

	pair(sv);
	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SEND(r6, 22 + strlen(TUNNEL));
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);

	pair(sv);
	px.steps[3] = SEND(rd, 262 + strlen(TUNNEL));
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_socks5_userpass)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5H, "alice", "s3cret");
	struct ps_target dst = tgt_name("db.internal", 5432);
	uint8_t req[PS_SOCKS5_REQ_MAX], auth[PS_SOCKS5_AUTH_MAX];
	struct proxy px = {0};
	int sv[2], r, a;

	pair(sv);
	r = socks5_build_request(req, sizeof(req), &dst);
	a = socks5_build_auth(auth, sizeof(auth), "alice", "s3cret");
	px.steps[0] = EXPECT(S5_GREET_AUTH, 4);
	px.steps[1] = SEND(B(5, 2), 2);
	px.steps[2] = EXPECT(auth, (size_t)a);
	px.steps[3] = SEND(B(1, 0), 2);
	px.steps[4] = EXPECT(req, (size_t)r);
	px.steps[5] = SEND(S5_OK_V4, sizeof(S5_OK_V4));
	px.steps[6] = SENDS(TUNNEL);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	ck_assert_uint_eq(req[3], 3); /* socks5h sent the name */
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_socks5_server_may_skip_auth_offered)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, "alice", "pw");
	struct ps_target dst = tgt_v6("2001:db8::5", 443);
	uint8_t req[PS_SOCKS5_REQ_MAX];
	struct proxy px = {0};
	int sv[2], r;

	pair(sv);
	r = socks5_build_request(req, sizeof(req), &dst);
	px.steps[0] = EXPECT(S5_GREET_AUTH, 4);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SEND(S5_OK_V4, sizeof(S5_OK_V4));
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A proxy that answers only once it has the greeting AND the request:
 * works with pipelining, times out without. */
START_TEST(test_io_socks5_pipeline_sends_greeting_and_request_together)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t both[3 + PS_SOCKS5_REQ_MAX], rb[12];
	struct proxy px = {0};
	int sv[2], r;

	memcpy(both, S5_GREET, 3);
	r = socks5_build_request(both + 3, sizeof(both) - 3, &dst);
	memcpy(rb, S5_NOAUTH, 2);
	memcpy(rb + 2, S5_OK_V4, 10);
	px.steps[0] = EXPECT(both, 3 + (size_t)r);
	px.steps[1] = SEND(rb, sizeof(rb));
	px.steps[2] = SENDS(TUNNEL);

	pair(sv);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, PS_IO_PIPELINE),
	                 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);

	/* Off by default: the request waits for the method reply. */
	pair(sv);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 150, 0), -ETIMEDOUT);
	{
		uint8_t got[16];
		ssize_t n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);

		ck_assert_int_eq(n, 3);
		ck_assert_mem_eq(got, S5_GREET, 3);
	}
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* One proxy reply per REP code, checked against the mapping. */
START_TEST(test_io_socks5_rep_codes_to_errno)
{
	static const struct {
		uint8_t rep;
		int err;
	} cases[] = {
	        {1, ECONNREFUSED}, {2, ECONNREFUSED}, {3, ENETUNREACH},
	        {4, EHOSTUNREACH}, {5, ECONNREFUSED}, {6, ETIMEDOUT},
	        {7, ECONNREFUSED}, {8, ECONNREFUSED}, {0x42, ECONNREFUSED}};
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t req[PS_SOCKS5_REQ_MAX], rep[10];
	struct proxy px = {0};
	char log[4096];
	size_t i;
	int sv[2], r;

	r = socks5_build_request(req, sizeof(req), &dst);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(rep, S5_OK_V4, 10);
		rep[1] = cases[i].rep;
		pair(sv);
		px.steps[0] = EXPECT(S5_GREET, 3);
		px.steps[1] = SEND(S5_NOAUTH, 2);
		px.steps[2] = EXPECT(req, (size_t)r);
		/* Some servers send only VER REP and close: enough. */
		px.steps[3] = SEND(rep, i % 2 ? 2 : 10);
		px.steps[4] = (struct step){OP_CLOSE, NULL, 0, 0};
		proxy_start(&px, sv[1]);
		ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0),
		                 -cases[i].err);
		proxy_finish(&px);
		close(sv[0]);
		close(sv[1]);
	}
	log_read(log, sizeof(log));
	ck_assert_ptr_nonnull(strstr(log, "reply 5 (connection refused)"));
	ck_assert_ptr_nonnull(strstr(log, "refused 10.0.0.1:80"));
}
END_TEST

static int
run_socks5_failure(const struct ps_hop *hop, const uint8_t *greet, size_t glen,
                   const uint8_t *answer, size_t alen, bool close_after)
{
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	struct proxy px = {0};
	int sv[2], rc;

	pair(sv);
	px.steps[0] = EXPECT(greet, glen);
	px.steps[1] = SEND(answer, alen);
	if (close_after)
		px.steps[2] = (struct step){OP_CLOSE, NULL, 0, 0};
	proxy_start(&px, sv[1]);
	rc = io_handshake(sv[0], hop, &dst, 2000, 0);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

START_TEST(test_io_socks5_no_acceptable_method_is_eacces)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);

	ck_assert_int_eq(
	        run_socks5_failure(&hop, S5_GREET, 3, B(5, 0xff), 2, false),
	        -EACCES);
}
END_TEST

START_TEST(test_io_socks5_auth_rejected_is_eacces_and_logs_no_credentials)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, "alice", "hunter2");
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t auth[PS_SOCKS5_AUTH_MAX];
	struct proxy px = {0};
	char log[4096];
	int sv[2], a;

	a = socks5_build_auth(auth, sizeof(auth), "alice", "hunter2");
	pair(sv);
	px.steps[0] = EXPECT(S5_GREET_AUTH, 4);
	px.steps[1] = SEND(B(5, 2), 2);
	px.steps[2] = EXPECT(auth, (size_t)a);
	px.steps[3] = SEND(B(1, 1), 2);
	px.steps[4] = (struct step){OP_CLOSE, NULL, 0, 0};
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), -EACCES);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
	log_read(log, sizeof(log));
	ck_assert_ptr_nonnull(strstr(log, "authentication rejected"));
	ck_assert_ptr_null(strstr(log, "hunter2"));
	ck_assert_ptr_null(strstr(log, "alice"));
}
END_TEST

START_TEST(test_io_socks5_garbage_and_early_close_are_econnrefused)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	char log[4096];

	/* An HTTP proxy answering a SOCKS greeting. */
	ck_assert_int_eq(run_socks5_failure(&hop, S5_GREET, 3,
	                                    (const uint8_t *)"HTTP/1.1 400", 12,
	                                    false),
	                 -ECONNREFUSED);
	/* Half a method reply, then EOF. */
	ck_assert_int_eq(run_socks5_failure(&hop, S5_GREET, 3, B(5), 1, true),
	                 -ECONNREFUSED);
	/* A method we never offered. */
	ck_assert_int_eq(
	        run_socks5_failure(&hop, S5_GREET, 3, B(5, 2), 2, false),
	        -ECONNREFUSED);
	log_read(log, sizeof(log));
	ck_assert_ptr_nonnull(strstr(log, "wrong version"));
	ck_assert_ptr_nonnull(strstr(log, "closed the connection"));
	ck_assert_ptr_nonnull(strstr(log, "malformed"));
}
END_TEST

START_TEST(test_io_name_only_target_needs_resolving_for_socks4_and_socks5)
{
	struct ps_hop h5 = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_hop h4 = hop_of(PS_SCHEME_SOCKS4, NULL, NULL);
	struct ps_hop hs = hop_of(PS_SCHEME_HTTPS, NULL, NULL);
	struct ps_target dst = tgt_name("example.com", 80);
	uint8_t junk[8];
	int sv[2];

	pair(sv);
	ck_assert_int_eq(io_handshake(sv[0], &h5, &dst, 500, 0), -EINVAL);
	ck_assert_int_eq(io_handshake(sv[0], &h4, &dst, 500, 0), -EINVAL);
	ck_assert_int_eq(io_handshake(sv[0], &hs, &dst, 500, 0),
	                 -EPROTONOSUPPORT);
	memset(&dst, 0, sizeof(dst));
	h5.scheme = PS_SCHEME_SOCKS5H;
	ck_assert_int_eq(io_handshake(sv[0], &h5, &dst, 500, 0), -EINVAL);
	/* Nothing was sent. */
	ck_assert_int_eq(recv(sv[1], junk, sizeof(junk), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_socks5_sends_address_when_both_known)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_name("example.com", 80);
	uint8_t req[PS_SOCKS5_REQ_MAX];
	struct ps_target addr_only;
	struct proxy px = {0};
	int sv[2], r;

	dst.family = AF_INET;
	memcpy(dst.addr, B(93, 184, 215, 14), 4);
	addr_only = dst;
	addr_only.name = NULL;
	r = socks5_build_request(req, sizeof(req), &addr_only);
	pair(sv);
	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SEND(S5_OK_V4, 10);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* --- io_handshake: SOCKS4 ----------------------------------------------- */

START_TEST(test_io_socks4a_and_socks4)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS4A, "bob", "ignored");
	struct ps_target dst = tgt_name("ex.org", 80);
	uint8_t req[PS_SOCKS4_REQ_MAX], rb[8 + 32] = {0, 0x5a};
	struct proxy px = {0};
	int sv[2], r;

	memcpy(rb + 8, TUNNEL, strlen(TUNNEL));
	r = socks4_build_request(req, sizeof(req), &dst, "bob");
	pair(sv);
	px.steps[0] = EXPECT(req, (size_t)r);
	px.steps[1] = SEND(rb, 8 + strlen(TUNNEL));
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);

	/* Plain socks4 sends the address even when a name is known. */
	hop.scheme = PS_SCHEME_SOCKS4;
	hop.user = NULL;
	dst.family = AF_INET;
	memcpy(dst.addr, B(1, 2, 3, 4), 4);
	ck_assert_int_eq(
	        socks4_build_request(req, sizeof(req),
	                             &(struct ps_target){.family = AF_INET,
	                                                 .addr = {1, 2, 3, 4},
	                                                 .port = 80},
	                             NULL),
	        9);
	pair(sv);
	px.steps[0] = EXPECT(req, 9);
	px.steps[1] = SEND(B(0, 0x5d, 0, 0, 0, 0, 0, 0), 8);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), -EACCES);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_socks4_rejected_is_econnrefused)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS4, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t req[PS_SOCKS4_REQ_MAX];
	struct proxy px = {0};
	int sv[2], r;

	r = socks4_build_request(req, sizeof(req), &dst, NULL);
	pair(sv);
	px.steps[0] = EXPECT(req, (size_t)r);
	px.steps[1] = SEND(B(0, 0x5b, 0, 0, 0, 0, 0, 0), 8);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0),
	                 -ECONNREFUSED);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* --- io_handshake: HTTP CONNECT -------------------------------------- */

static int
run_http(const char *user, const char *pass, const struct step *answer,
         int fd_client, int fd_server, int timeout_ms)
{
	struct ps_hop hop = hop_of(PS_SCHEME_HTTP, user, pass);
	struct ps_target dst = tgt_name("origin.test", 8443);
	static char req[PS_HTTPC_REQ_MAX];
	struct proxy px = {0};
	int r, rc;

	r = httpc_build_request(req, sizeof(req), &dst, user, pass);
	ck_assert_int_gt(r, 0);
	px.steps[0] = EXPECT(req, (size_t)r);
	px.steps[1] = *answer;
	proxy_start(&px, fd_server);
	rc = io_handshake(fd_client, &hop, &dst, timeout_ms, 0);
	proxy_finish(&px);
	return rc;
}

START_TEST(test_io_http_reply_and_banner_in_one_segment)
{
	static const char r[] = "HTTP/1.1 200 Connection established\r\n"
	                        "Proxy-Agent: x\r\n\r\n" TUNNEL;
	int sv[2];

	pair(sv);
	ck_assert_int_eq(run_http(NULL, NULL, &SENDS(r), sv[0], sv[1], 2000),
	                 0);
	assert_banner_next(sv[0], TUNNEL);
	close(sv[0]);
	close(sv[1]);
	/* Same over TCP, where MSG_PEEK sees one segment. */
	tcp_pair(&sv[0], &sv[1]);
	ck_assert_int_eq(run_http("u", "p", &SENDS(r), sv[0], sv[1], 2000), 0);
	assert_banner_next(sv[0], TUNNEL);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_http_reply_dribbled_byte_by_byte)
{
	static const char r[] = "HTTP/1.0 200 OK\nVia: 1.1 p\n\n" TUNNEL;
	int sv[2];

	tcp_pair(&sv[0], &sv[1]);
	ck_assert_int_eq(run_http(NULL, NULL, &DRIBBLE(r, sizeof(r) - 1, 1),
	                          sv[0], sv[1], 5000),
	                 0);
	assert_banner_next(sv[0], TUNNEL);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_io_http_statuses_to_errno)
{
	static const char r407[] = "HTTP/1.1 407 Proxy Authentication "
	                           "Required\r\n\r\n";
	static const char r403[] = "HTTP/1.1 403 Forbidden\r\n\r\n";
	static const char r502[] = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
	static const char junk[] = "\x05\x00\x00\x01garbage\r\n\r\n";
	char log[4096];
	int sv[2];

	pair(sv);
	ck_assert_int_eq(
	        run_http("u", "wrongpass", &SENDS(r407), sv[0], sv[1], 2000),
	        -EACCES);
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	ck_assert_int_eq(run_http(NULL, NULL, &SENDS(r403), sv[0], sv[1], 2000),
	                 -ECONNREFUSED);
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	ck_assert_int_eq(run_http(NULL, NULL, &SENDS(r502), sv[0], sv[1], 2000),
	                 -ECONNREFUSED);
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	ck_assert_int_eq(run_http(NULL, NULL, &SENDS(junk), sv[0], sv[1], 2000),
	                 -ECONNREFUSED);
	close(sv[0]);
	close(sv[1]);
	log_read(log, sizeof(log));
	ck_assert_ptr_nonnull(strstr(log, "status 407"));
	ck_assert_ptr_nonnull(strstr(log, "status 502"));
	ck_assert_ptr_nonnull(strstr(log, "refused origin.test:8443"));
	ck_assert_ptr_null(strstr(log, "wrongpass"));
}
END_TEST

START_TEST(test_io_http_header_over_limit_is_refused)
{
	char *ok = make_header(PS_HTTPC_HDR_MAX, 0);
	char *big = make_header(PS_HTTPC_HDR_MAX + 1, 0);
	int sv[2];

	tcp_pair(&sv[0], &sv[1]);
	ck_assert_int_eq(run_http(NULL, NULL, &SEND(ok, PS_HTTPC_HDR_MAX),
	                          sv[0], sv[1], 2000),
	                 0);
	close(sv[0]);
	close(sv[1]);
	tcp_pair(&sv[0], &sv[1]);
	ck_assert_int_eq(run_http(NULL, NULL, &SEND(big, PS_HTTPC_HDR_MAX + 1),
	                          sv[0], sv[1], 2000),
	                 -ECONNREFUSED);
	close(sv[0]);
	close(sv[1]);
	free(ok);
	free(big);
}
END_TEST

/* --- io_handshake: I/O behaviour -------------------------------------- */

START_TEST(test_io_socks5_reply_dribbled_byte_by_byte)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, "u", "p");
	struct ps_target dst = tgt_v6("::1", 7);
	uint8_t req[PS_SOCKS5_REQ_MAX], auth[16];
	uint8_t rd[7 + 20 + 32] = {5, 0, 0, 3, 20};
	struct proxy px = {0};
	int sv[2], r, a;

	memset(rd + 5, 'n', 20);
	memcpy(rd + 27, TUNNEL, strlen(TUNNEL));
	r = socks5_build_request(req, sizeof(req), &dst);
	a = socks5_build_auth(auth, sizeof(auth), "u", "p");
	tcp_pair(&sv[0], &sv[1]);
	px.steps[0] = EXPECT(S5_GREET_AUTH, 4);
	px.steps[1] = DRIBBLE(B(5, 2), 2, 2);
	px.steps[2] = EXPECT(auth, (size_t)a);
	px.steps[3] = DRIBBLE(B(1, 0), 2, 2);
	px.steps[4] = EXPECT(req, (size_t)r);
	px.steps[5] = DRIBBLE(rd, 27 + strlen(TUNNEL), 1);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 5000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A proxy that never answers: every protocol's handshake ends with
 * ETIMEDOUT (the test's own time limit only bounds a hang). */
START_TEST(test_io_silent_peer_times_out)
{
	static const enum ps_scheme schemes[] = {
	        PS_SCHEME_SOCKS5, PS_SCHEME_SOCKS4A, PS_SCHEME_HTTP};
	struct ps_target dst = tgt_name("x.test", 1);
	struct ps_hop hop;
	size_t i;
	int sv[2];

	dst.family = AF_INET;
	for (i = 0; i < 3; i++) {
		hop = hop_of(schemes[i], NULL, NULL);
		pair(sv);
		ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 200, 0),
		                 -ETIMEDOUT);
		close(sv[0]);
		close(sv[1]);
	}
}
END_TEST

/* The deadline covers the whole handshake, not each read: a proxy that
 * keeps dribbling a header that never ends still hits it.  The proxy sends
 * one byte every 20 ms, 200 bytes in all (at least 4 s); a 300 ms deadline
 * per read would take every byte and only then time out, an overall one
 * returns while most are still unsent.  Counted in bytes, not timed. */
START_TEST(test_io_deadline_is_overall_not_per_read)
{
	static char slow[26 + 200];
	struct ps_hop hop = hop_of(PS_SCHEME_HTTP, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	char req[PS_HTTPC_REQ_MAX];
	struct proxy px = {0};
	size_t sent;
	int sv[2], r;

	memcpy(slow, "HTTP/1.1 200 OK\r\nX-Slow: ", 26);
	memset(slow + 26, 'a', sizeof(slow) - 26);
	r = httpc_build_request(req, sizeof(req), &dst, NULL, NULL);
	pair(sv);
	px.steps[0] = EXPECT(req, (size_t)r);
	px.steps[1] = DRIBBLE(slow, sizeof(slow), 20);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 300, 0), -ETIMEDOUT);
	sent = atomic_load(&px.dribbled);
	ck_assert_msg(sent < sizeof(slow), "the proxy sent all %zu bytes first",
	              sent);
	/* The dribbler's next write fails: the script ends there. */
	shutdown(sv[0], SHUT_RDWR);
	ck_assert_int_eq(pthread_join(px.th, NULL), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static atomic_int sig_count;
static atomic_int stop_pinging;

static void
on_sig(int sig)
{
	(void)sig;
	atomic_fetch_add(&sig_count, 1);
}

static void *
pinger(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (!atomic_load(&stop_pinging)) {
		pthread_kill(target, SIGUSR1);
		sleep_ms(1);
	}
	return NULL;
}

/* SIGUSR1 with or without SA_RESTART; the rule:
 * docs/behaviour.md#signals-during-a-proxied-connect */
static void
install_usr1(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* A SOCKS5 handshake with a dribbling proxy while SIGUSR1 lands on the
 * handshaking thread every millisecond; its result. */
static int
handshake_under_signals(int nonblock)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t req[PS_SOCKS5_REQ_MAX], rb[10 + 32];
	struct proxy px = {0};
	pthread_t self = pthread_self(), pt;
	int sv[2], r, rc;

	r = socks5_build_request(req, sizeof(req), &dst);
	memcpy(rb, S5_OK_V4, 10);
	memcpy(rb + 10, TUNNEL, strlen(TUNNEL));
	pair(sv);
	if (nonblock)
		ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = (struct step){OP_SLEEP, NULL, 0, 30};
	px.steps[2] = DRIBBLE(S5_NOAUTH, 2, 10);
	px.steps[3] = EXPECT(req, (size_t)r);
	px.steps[4] = DRIBBLE(rb, 10 + strlen(TUNNEL), 3);
	atomic_store(&stop_pinging, 0);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(pthread_create(&pt, NULL, pinger, &self), 0);
	rc = io_handshake(sv[0], &hop, &dst, 5000, 0);
	atomic_store(&stop_pinging, 1);
	pthread_join(pt, NULL);
	if (rc == 0) {
		proxy_finish(&px);
		ck_assert_int_gt(atomic_load(&sig_count), 5);
		ck_assert_int_eq(fcntl(sv[0], F_SETFL, 0), 0);
		assert_banner_next(sv[0], TUNNEL);
	} else {
		shutdown(sv[1], SHUT_RDWR);
		pthread_join(px.th, NULL);
	}
	close(sv[0]);
	close(sv[1]);
	return rc;
}

/* SA_RESTART: the handler runs, the handshake goes on.  The harness's own
 * handlers (check's SIGALRM) get SA_RESTART too: any caught signal without
 * it would count as the one that arrived. */
START_TEST(test_io_signal_with_sa_restart_goes_on)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sigaction(sig, NULL, &sa) != 0 ||
		    sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		sa.sa_flags |= SA_RESTART;
		sigaction(sig, &sa, NULL);
	}
	install_usr1(SA_RESTART);
	ck_assert_int_eq(handshake_under_signals(0), 0);
}
END_TEST

/* Without SA_RESTART a blocking socket's handshake ends with EINTR, as
 * the kernel's blocking connect() does. */
START_TEST(test_io_signal_without_sa_restart_interrupts_blocking_socket)
{
	install_usr1(0);
	ck_assert_int_eq(handshake_under_signals(0), -EINTR);
	ck_assert_int_ge(atomic_load(&sig_count), 1);
}
END_TEST

/* A non-blocking socket never blocks in the kernel's connect(): never
 * interrupted. */
START_TEST(test_io_signal_without_sa_restart_nonblocking_socket_goes_on)
{
	install_usr1(0);
	ck_assert_int_eq(handshake_under_signals(1), 0);
}
END_TEST

START_TEST(test_io_handshake_leaves_nonblocking_flags_alone)
{
	struct ps_hop hop = hop_of(PS_SCHEME_HTTP, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	char req[PS_HTTPC_REQ_MAX];
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n";
	struct proxy px = {0};
	int sv[2], r, fl;

	tcp_pair(&sv[0], &sv[1]);
	fl = fcntl(sv[0], F_GETFL);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), 0);
	fl = fcntl(sv[0], F_GETFL);
	r = httpc_build_request(req, sizeof(req), &dst, NULL, NULL);
	px.steps[0] = EXPECT(req, (size_t)r);
	px.steps[1] = (struct step){OP_SLEEP, NULL, 0, 50};
	px.steps[2] = SENDS(ok);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 2000, 0), 0);
	proxy_finish(&px);
	ck_assert_int_eq(fcntl(sv[0], F_GETFL), fl);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/*
 * A request sent into a full socket buffer: the send gets EAGAIN, waits
 * in poll while the proxy drains slowly, and resumes.  The biggest
 * request there is: 255-byte name and creds, small segments.
 */
START_TEST(test_io_request_into_full_send_buffer)
{
	static char name[256], cred[256];
	static char req[PS_HTTPC_REQ_MAX];
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n" TUNNEL;
	struct ps_hop hop;
	struct ps_target dst;
	struct proxy px = {0};
	int sv[2], r, one = 1, small = 4096;
	size_t junk = 0;
	char fill[1024];
	ssize_t n;

	memset(name, 'n', 255);
	memset(cred, 'c', 255);
	hop = hop_of(PS_SCHEME_HTTP, cred, cred);
	dst = tgt_name(name, 443);
	r = httpc_build_request(req, sizeof(req), &dst, cred, cred);
	ck_assert_int_gt(r, 1200);

	tcp_pair_mss(&sv[0], &sv[1], 256);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(fill, 'j', sizeof(fill));
	for (;;) {
		n = send(sv[0], fill, sizeof(fill), MSG_DONTWAIT);
		if (n < 0) {
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		junk += (size_t)n;
	}
	/* Let the first send find the buffer full, then drain slowly. */
	px.steps[0] = (struct step){OP_SLEEP, NULL, 0, 50};
	px.steps[1] = (struct step){OP_DRAIN, NULL, junk, 0};
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SENDS(ok);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hop, &dst, 10000, 0), 0);
	proxy_finish(&px);
	assert_banner_next(sv[0], TUNNEL);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A chain is hop after hop on the same fd: SOCKS5 to an HTTP proxy, which
 * CONNECTs to the destination. */
START_TEST(test_io_chain_socks5_then_http)
{
	struct ps_hop hops[2];
	struct ps_target dst = tgt_name("final.test", 443);
	uint8_t req0[PS_SOCKS5_REQ_MAX];
	char req1[PS_HTTPC_REQ_MAX];
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n" TUNNEL;
	struct proxy px = {0};
	int sv[2], r0, r1;

	hops[0] = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	hops[1] = hop_of(PS_SCHEME_HTTP, NULL, NULL);
	hops[1].at = tgt_v4(10, 9, 9, 9, 3128);
	r0 = socks5_build_request(req0, sizeof(req0), &hops[1].at);
	r1 = httpc_build_request(req1, sizeof(req1), &dst, NULL, NULL);
	pair(sv);
	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req0, (size_t)r0);
	px.steps[3] = SEND(S5_OK_V4, 10);
	px.steps[4] = EXPECT(req1, (size_t)r1);
	px.steps[5] = SENDS(ok);
	proxy_start(&px, sv[1]);
	ck_assert_int_eq(io_handshake(sv[0], &hops[0], &hops[1].at, 2000, 0),
	                 0);
	ck_assert_int_eq(io_handshake(sv[0], &hops[1], &dst, 2000, 0), 0);
	assert_banner_next(sv[0], TUNNEL);
	proxy_finish(&px);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* --- io_connect ---------------------------------------------------------- */

static int
listener(struct sockaddr_in *a, int backlog)
{
	socklen_t alen = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(l, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)a, sizeof(*a)), 0);
	ck_assert_int_eq(listen(l, backlog), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)a, &alen), 0);
	return l;
}

static atomic_int connect_calls;

static int
counting_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	atomic_fetch_add(&connect_calls, 1);
	return connect(fd, sa, len);
}

START_TEST(test_io_connect_success_restores_flags)
{
	struct sockaddr_in a, peer;
	socklen_t plen = sizeof(peer);
	int l = listener(&a, 4), fd, fl;

	io_real_connect = counting_connect;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(fl & O_NONBLOCK, 0);
	ck_assert_int_eq(io_connect(fd, (struct sockaddr *)&a, sizeof(a), 1000),
	                 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
	ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&peer, &plen), 0);
	ck_assert_uint_eq(peer.sin_port, a.sin_port);
	ck_assert_int_ge(atomic_load(&connect_calls), 1);
	close(fd);

	/* A non-blocking fd stays non-blocking. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(io_connect(fd, (struct sockaddr *)&a, sizeof(a), 1000),
	                 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
	close(fd);
	close(l);
	io_real_connect = connect;
}
END_TEST

START_TEST(test_io_connect_refused_then_same_fd_reconnects)
{
	struct sockaddr_in dead, live;
	int l, fd, fl;

	l = listener(&dead, 1);
	close(l); /* nothing listens on dead any more */
	l = listener(&live, 4);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(
	        io_connect(fd, (struct sockaddr *)&dead, sizeof(dead), 1000),
	        -ECONNREFUSED);
	ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
	/* Failover on the program's own fd. */
	ck_assert_int_eq(
	        io_connect(fd, (struct sockaddr *)&live, sizeof(live), 1000),
	        0);
	close(fd);
	close(l);
}
END_TEST

/* A listener whose accept queue is full drops SYNs: the connect hangs. */
START_TEST(test_io_connect_timeout_then_same_fd_reconnects)
{
	struct sockaddr_in full, live;
	int l = listener(&full, 0), l2 = listener(&live, 4);
	int fillers[4], fd, i, fl;

	for (i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fillers[i], (struct sockaddr *)&full, sizeof(full));
	}
	sleep_ms(50);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(
	        io_connect(fd, (struct sockaddr *)&full, sizeof(full), 300),
	        -ETIMEDOUT);
	ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
	ck_assert_int_eq(
	        io_connect(fd, (struct sockaddr *)&live, sizeof(live), 1000),
	        0);
	close(fd);
	for (i = 0; i < 4; i++)
		close(fillers[i]);
	close(l);
	close(l2);
}
END_TEST

START_TEST(test_io_connect_bad_fd)
{
	struct sockaddr_in a = {0};

	a.sin_family = AF_INET;
	ck_assert_int_eq(io_connect(-1, (struct sockaddr *)&a, sizeof(a), 100),
	                 -EBADF);
}
END_TEST

/* --- the hop dialler: reports, transports, chains ------------------------ */

/* dial_handshake() on a plain socket with a scripted proxy; *rep out. */
static int
dial_scripted(struct proxy *px, const struct ps_hop *hop,
              const struct ps_target *dst, int timeout_ms,
              struct dial_report *rep)
{
	struct ps_deadline dl;
	struct dial_io io;
	int sv[2], rc;

	pair(sv);
	proxy_start(px, sv[1]);
	io_fd_transport(&io, sv[0]);
	io_deadline(&dl, timeout_ms);
	memset(rep, 0, sizeof(*rep));
	rc = dial_handshake(&io, hop, dst, &dl, DIAL_QUIET, rep);
	shutdown(sv[0], SHUT_RDWR);
	proxy_finish(px);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

START_TEST(test_dial_report_socks5_bad_password_is_the_auth_step)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, "alice", "wrong");
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t auth[PS_SOCKS5_AUTH_MAX];
	struct dial_report rep;
	struct proxy px = {0};
	int a = socks5_build_auth(auth, sizeof(auth), "alice", "wrong");

	px.steps[0] = EXPECT(S5_GREET_AUTH, 4);
	px.steps[1] = SEND(B(5, 2), 2);
	px.steps[2] = EXPECT(auth, (size_t)a);
	px.steps[3] = SEND(B(1, 1), 2);
	ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 2000, &rep), -EACCES);
	ck_assert_int_eq(rep.step, DIAL_AUTH);
	ck_assert_int_eq(rep.proto, PS_PROTO_E_AUTH);
	ck_assert_int_eq(rep.err, EACCES);
	ck_assert(rep.auth_used);
	ck_assert_str_eq(dial_step_str(rep.step), "auth");
}
END_TEST

START_TEST(test_dial_report_socks5_refusal_is_the_tunnel_step_with_rep)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct ps_target dst = tgt_v4(10, 0, 0, 1, 80);
	uint8_t req[PS_SOCKS5_REQ_MAX];
	struct dial_report rep;
	struct proxy px = {0};
	int r = socks5_build_request(req, sizeof(req), &dst);

	px.steps[0] = EXPECT(S5_GREET, 3);
	px.steps[1] = SEND(S5_NOAUTH, 2);
	px.steps[2] = EXPECT(req, (size_t)r);
	px.steps[3] = SEND(B(5, 4, 0, 1, 0, 0, 0, 0, 0, 0), 10);
	ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 2000, &rep),
	                 -EHOSTUNREACH);
	ck_assert_int_eq(rep.step, DIAL_TUNNEL);
	ck_assert_uint_eq(rep.code, 4);
	ck_assert_int_eq(rep.proto, 0);
	ck_assert(!rep.auth_used);
}
END_TEST

/* HTTP has one exchange: its status decides auth (401, 407) or tunnel. */
START_TEST(test_dial_report_http_status_decides_auth_or_tunnel)
{
	static const char *const replies[] = {
	        "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
	        "HTTP/1.1 401 Unauthorized\r\n\r\n",
	        "HTTP/1.1 403 Forbidden\r\n\r\n",
	};
	static const unsigned codes[] = {407, 401, 403};
	static const enum dial_step steps[] = {DIAL_AUTH, DIAL_AUTH,
	                                       DIAL_TUNNEL};
	struct ps_hop hop = hop_of(PS_SCHEME_HTTP, "bob", "nope");
	struct ps_target dst = tgt_name("example.test", 443);
	char req[PS_HTTPC_REQ_MAX];
	struct dial_report rep;
	int n = httpc_build_request(req, sizeof(req), &dst, "bob", "nope");
	size_t i;

	for (i = 0; i < 3; i++) {
		struct proxy px = {0};

		px.steps[0] = EXPECT(req, (size_t)n);
		px.steps[1] = SEND(replies[i], strlen(replies[i]));
		ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 2000, &rep),
		                 i < 2 ? -EACCES : -ECONNREFUSED);
		ck_assert_int_eq(rep.step, steps[i]);
		ck_assert_uint_eq(rep.code, codes[i]);
		ck_assert(rep.auth_used);
	}
}
END_TEST

/* No answer, a bad answer, a close: the greeting's, each told apart. */
START_TEST(test_dial_report_greeting_silence_garbage_and_close)
{
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS4A, NULL, NULL);
	struct ps_target dst = tgt_name("example.test", 80);
	uint8_t req[PS_SOCKS4_REQ_MAX];
	struct dial_report rep;
	int n = socks4_build_request(req, sizeof(req), &dst, NULL);
	struct proxy px = {0};

	px.steps[0] = EXPECT(req, (size_t)n);
	ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 150, &rep), -ETIMEDOUT);
	ck_assert_int_eq(rep.step, DIAL_GREETING);
	ck_assert_int_eq(rep.err, ETIMEDOUT);

	memset(&px, 0, sizeof(px));
	px.steps[0] = EXPECT(req, (size_t)n);
	px.steps[1] = SENDS("HTTP/1.0 200 OK\r\n");
	ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 2000, &rep),
	                 -ECONNREFUSED);
	ck_assert_int_eq(rep.step, DIAL_GREETING);
	ck_assert_int_eq(rep.proto, PS_PROTO_E_VERSION);

	memset(&px, 0, sizeof(px));
	px.steps[0] = EXPECT(req, (size_t)n);
	px.steps[1] = (struct step){OP_CLOSE, NULL, 0, 0};
	ck_assert_int_eq(dial_scripted(&px, &hop, &dst, 2000, &rep),
	                 -ECONNREFUSED);
	ck_assert_int_eq(rep.step, DIAL_GREETING);
	ck_assert(rep.closed);
}
END_TEST

/*
 * A transport like a TLS stream: bytes change on the way (XOR here), it
 * moves one byte per call, and poll cannot see what it holds.  The chain
 * switches to it at the https:// hop (start() of a fake struct dial_tls)
 * and must run that hop's CONNECT and the next hop's SOCKS5 over it.
 */
#define XOR_KEY 0x5a

static ssize_t
xor_send(struct dial_io *io, const void *buf, size_t len, short *ev)
{
	uint8_t b = *(const uint8_t *)buf ^ XOR_KEY;
	ssize_t n;

	(void)len;
	n = send(io->fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno == EAGAIN) {
		*ev = POLLOUT;
		return 0;
	}
	return n < 0 ? -errno : n;
}

static ssize_t
xor_recv(struct dial_io *io, void *buf, size_t len, bool peek, short *ev)
{
	ssize_t n;

	(void)len;
	n = recv(io->fd, buf, 1, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
	if (n < 0 && errno == EAGAIN) {
		*ev = POLLIN;
		return 0;
	}
	if (n == 0)
		return PS_IO_EOF;
	if (n > 0)
		*(uint8_t *)buf ^= XOR_KEY;
	return n < 0 ? -errno : n;
}

static int xor_starts;

static int
xor_start(struct dial_tls *t, size_t i, const struct ps_hop *hop,
          struct dial_io *io, const struct ps_deadline *dl,
          struct dial_report *rep)
{
	(void)t, (void)hop, (void)dl, (void)rep;
	ck_assert_uint_eq(i, 0);
	xor_starts++;
	io->poll_first = false;
	io->send = xor_send;
	io->recv = xor_recv;
	return 0;
}

static void
xor_buf(uint8_t *dst, const void *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = ((const uint8_t *)src)[i] ^ XOR_KEY;
}

struct accept_proxy {
	struct proxy px;
	int l;
	pthread_t th;
};

static void *
accept_then_script(void *arg)
{
	struct accept_proxy *ap = arg;

	ap->px.fd = accept(ap->l, NULL, NULL);
	if (ap->px.fd < 0) {
		ap->px.bad_step = 0;
		return NULL;
	}
	proxy_main(&ap->px);
	close(ap->px.fd);
	return NULL;
}

/* Read n bytes from a transport (2 s at most). */
static int
recv_all_io(struct dial_io *io, void *buf, size_t n)
{
	struct ps_deadline dl;
	size_t got = 0;
	ssize_t r;
	short ev = POLLIN;

	io_deadline(&dl, 2000);
	while (got < n) {
		r = io->recv(io, (char *)buf + got, n - got, false, &ev);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r < 0 || io_wait(io->fd, ev, &dl) < 0)
			return -1;
	}
	return 0;
}

START_TEST(test_dial_chain_runs_hops_after_tls_over_its_transport)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	static uint8_t x0[PS_HTTPC_REQ_MAX], x1[64], x2[4],
	        x3[PS_SOCKS5_REQ_MAX], x4[16], x5[sizeof(ok)],
	        xb[sizeof(TUNNEL)];
	struct dial_tls tls = {xor_start, NULL};
	struct ps_target dst = tgt_v4(192, 0, 2, 7, 22);
	struct accept_proxy ap = {0};
	struct dial_report rep;
	struct dial_route rt;
	struct ps_hop hops[2];
	struct sockaddr_in a;
	char req0[PS_HTTPC_REQ_MAX], got[sizeof(TUNNEL)];
	uint8_t req1[PS_SOCKS5_REQ_MAX];
	struct dial_io io;
	int fd = -1, n0, n1;

	ap.l = listener(&a, 1);
	hops[0] = hop_of(PS_SCHEME_HTTPS, NULL, NULL);
	hops[0].at.port = ntohs(a.sin_port);
	hops[1] = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	hops[1].at = tgt_v4(10, 0, 0, 2, 1080);
	n0 = httpc_build_request(req0, sizeof(req0), &hops[1].at, NULL, NULL);
	n1 = socks5_build_request(req1, sizeof(req1), &dst);
	xor_buf(x0, req0, (size_t)n0);
	xor_buf(x1, ok, sizeof(ok) - 1);
	xor_buf(x2, S5_GREET, 3);
	xor_buf(x4, S5_NOAUTH, 2);
	xor_buf(x3, req1, (size_t)n1);
	xor_buf(x5, S5_OK_V4, sizeof(S5_OK_V4));
	xor_buf(xb, TUNNEL, strlen(TUNNEL));
	ap.px.steps[0] = EXPECT(x0, (size_t)n0);
	ap.px.steps[1] = SEND(x1, sizeof(ok) - 1);
	ap.px.steps[2] = EXPECT(x2, 3);
	ap.px.steps[3] = SEND(x4, 2);
	ap.px.steps[4] = EXPECT(x3, (size_t)n1);
	ap.px.steps[5] = SEND(x5, sizeof(S5_OK_V4));
	ap.px.steps[6] = SEND(xb, strlen(TUNNEL));
	ck_assert_int_eq(pthread_create(&ap.th, NULL, accept_then_script, &ap),
	                 0);
	memset(&rt, 0, sizeof(rt));
	rt.hops = hops;
	rt.n = 2;
	rt.connect_ms = 2000;
	rt.handshake_ms = 2000;
	rt.overall.none = true;
	rt.flags = DIAL_QUIET;
	rt.tls = &tls;
	xor_starts = 0;
	ck_assert_int_eq(dial_chain(&fd, &rt, &dst, &io, &rep), 0);
	ck_assert_int_eq(rep.step, DIAL_OK);
	ck_assert_int_eq(xor_starts, 1);
	ck_assert(rep.connected_ns != 0);
	/* The tunnel's first bytes come out of the returned transport. */
	ck_assert_int_eq(recv_all_io(&io, got, strlen(TUNNEL)), 0);
	ck_assert_mem_eq(got, TUNNEL, strlen(TUNNEL));
	ck_assert_int_eq(pthread_join(ap.th, NULL), 0);
	ck_assert_int_eq(ap.px.bad_step, -1);
	close(fd);
	close(ap.l);
}
END_TEST

/* A second https:// hop is refused before anything is sent to it; without
 * a TLS seam an https:// hop is the caller's mistake. */
START_TEST(test_dial_chain_refuses_tls_inside_tls_and_tls_without_seam)
{
	struct dial_tls tls = {xor_start, NULL};
	struct ps_target dst = tgt_v4(192, 0, 2, 7, 22);
	struct accept_proxy ap = {0};
	struct dial_report rep;
	struct dial_route rt;
	struct ps_hop hops[2];
	struct sockaddr_in a;
	int fd = -1;

	ap.l = listener(&a, 2);
	hops[0] = hop_of(PS_SCHEME_HTTPS, NULL, NULL);
	hops[0].at.port = ntohs(a.sin_port);
	hops[1] = hop_of(PS_SCHEME_HTTPS, NULL, NULL);
	memset(&rt, 0, sizeof(rt));
	rt.hops = hops;
	rt.n = 2;
	rt.connect_ms = 2000;
	rt.handshake_ms = 2000;
	rt.overall.none = true;
	rt.flags = DIAL_QUIET;
	/* hop 0's CONNECT succeeds; hop 1 would need TLS inside TLS. */
	{
		static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n";
		static uint8_t x0[PS_HTTPC_REQ_MAX], x1[sizeof(ok)];
		char req0[PS_HTTPC_REQ_MAX];
		int n0 = httpc_build_request(req0, sizeof(req0), &hops[1].at,
		                             NULL, NULL);

		xor_buf(x0, req0, (size_t)n0);
		xor_buf(x1, ok, sizeof(ok) - 1);
		ap.px.steps[0] = EXPECT(x0, (size_t)n0);
		ap.px.steps[1] = SEND(x1, sizeof(ok) - 1);
	}
	ck_assert_int_eq(pthread_create(&ap.th, NULL, accept_then_script, &ap),
	                 0);
	rt.tls = &tls;
	ck_assert_int_eq(dial_chain(&fd, &rt, &dst, NULL, &rep), -ECONNREFUSED);
	ck_assert_int_eq(rep.step, DIAL_TLS);
	ck_assert_uint_eq(rep.hop, 1);
	ck_assert_ptr_nonnull(strstr(rep.why, "TLS inside TLS"));
	ck_assert_int_eq(pthread_join(ap.th, NULL), 0);
	ck_assert_int_eq(ap.px.bad_step, -1);
	close(fd);

	/* No seam: hop 0 is connected, then refused locally. */
	memset(&ap.px, 0, sizeof(ap.px));
	ck_assert_int_eq(pthread_create(&ap.th, NULL, accept_then_script, &ap),
	                 0);
	rt.tls = NULL;
	fd = -1;
	ck_assert_int_eq(dial_chain(&fd, &rt, &dst, NULL, &rep),
	                 -EPROTONOSUPPORT);
	ck_assert_int_eq(rep.step, DIAL_LOCAL);
	ck_assert_uint_eq(rep.hop, 0);
	close(fd);
	ck_assert_int_eq(pthread_join(ap.th, NULL), 0);
	close(ap.l);
}
END_TEST

/* The first hop cannot be reached: the connect step, nothing connected. */
START_TEST(test_dial_chain_dead_first_hop_is_the_connect_step)
{
	struct ps_target dst = tgt_v4(192, 0, 2, 7, 22);
	struct dial_report rep;
	struct dial_route rt;
	struct ps_hop hop = hop_of(PS_SCHEME_SOCKS5, NULL, NULL);
	struct sockaddr_in a;
	int l = listener(&a, 1), fd = -1;

	hop.at.port = ntohs(a.sin_port);
	close(l); /* nothing listens there now */
	memset(&rt, 0, sizeof(rt));
	rt.hops = &hop;
	rt.n = 1;
	rt.connect_ms = 2000;
	rt.handshake_ms = 2000;
	rt.overall.none = true;
	rt.flags = DIAL_QUIET;
	ck_assert_int_eq(dial_chain(&fd, &rt, &dst, NULL, &rep), -ECONNREFUSED);
	ck_assert_int_eq(rep.step, DIAL_CONNECT);
	ck_assert_int_eq(rep.err, ECONNREFUSED);
	ck_assert(rep.connected_ns == 0);
	ck_assert_int_ge(fd, 0); /* made by dial_chain, closed by us */
	close(fd);
}
END_TEST

Suite *proto_suite(void);

Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *b = tcase_create("builders_parsers");
	TCase *io = tcase_create("io");
	TCase *dial;

	tcase_add_test(b, test_socks5_build_greeting_no_auth);
	tcase_add_test(
	        b, test_socks5_build_greeting_offers_userpass_with_credentials);
	tcase_add_test(b, test_socks5_build_auth_exact_bytes);
	tcase_add_test(b, test_socks5_build_auth_lengths_up_to_255);
	tcase_add_test(b, test_socks5_build_request_ipv4);
	tcase_add_test(b, test_socks5_build_request_ipv6);
	tcase_add_test(b, test_socks5_build_request_domain);
	tcase_add_test(b, test_socks5_build_request_domain_limits);
	tcase_add_test(b, test_socks5_parse_method_reply);
	tcase_add_test(b, test_socks5_parse_auth_reply);
	tcase_add_test(b, test_socks5_parse_reply_ipv4_atyp);
	tcase_add_test(b, test_socks5_parse_reply_ipv6_atyp);
	tcase_add_test(b, test_socks5_parse_reply_domain_atyp);
	tcase_add_test(b,
	               test_socks5_parse_reply_need_is_exact_once_atyp_known);
	tcase_add_test(b, test_socks5_parse_reply_rep_codes);
	tcase_add_test(b, test_socks5_rep_errno_mapping);
	tcase_add_test(b, test_socks5_parse_reply_bad_version_and_atyp);
	tcase_add_test(b, test_socks4_build_request_ipv4);
	tcase_add_test(b, test_socks4a_build_request_name);
	tcase_add_test(b, test_socks4_build_request_limits);
	tcase_add_test(b, test_socks4_parse_reply_granted);
	tcase_add_test(b, test_socks4_parse_reply_codes);
	tcase_add_test(b, test_httpc_build_request_name);
	tcase_add_test(b, test_httpc_build_request_ipv4_and_ipv6);
	tcase_add_test(b, test_httpc_build_request_basic_auth);
	tcase_add_test(b, test_httpc_build_request_limits);
	tcase_add_test(b, test_httpc_base64_vectors);
	tcase_add_test(b, test_httpc_parse_reply_200);
	tcase_add_test(b, test_httpc_parse_reply_2xx_variants);
	tcase_add_test(b, test_httpc_parse_reply_tunnel_bytes_not_consumed);
	tcase_add_test(b, test_httpc_parse_reply_407_is_eacces);
	tcase_add_test(b, test_httpc_parse_reply_other_statuses_refused);
	tcase_add_test(b, test_httpc_parse_reply_garbage);
	tcase_add_test(b, test_httpc_parse_reply_header_limit);
	tcase_add_test(b, test_proto_errno_and_strerror);
	suite_add_tcase(s, b);

	tcase_add_checked_fixture(io, log_capture_setup, log_capture_teardown);
	tcase_set_timeout(io, 30);
	tcase_add_test(io,
	               test_io_socks5_no_auth_reply_and_banner_in_one_segment);
	tcase_add_test(io,
	               test_io_socks5_ipv6_and_domain_replies_to_ipv4_request);
	tcase_add_test(io, test_io_socks5_userpass);
	tcase_add_test(io, test_io_socks5_server_may_skip_auth_offered);
	tcase_add_test(
	        io,
	        test_io_socks5_pipeline_sends_greeting_and_request_together);
	tcase_add_test(io, test_io_socks5_rep_codes_to_errno);
	tcase_add_test(io, test_io_socks5_no_acceptable_method_is_eacces);
	tcase_add_test(
	        io,
	        test_io_socks5_auth_rejected_is_eacces_and_logs_no_credentials);
	tcase_add_test(io,
	               test_io_socks5_garbage_and_early_close_are_econnrefused);
	tcase_add_test(
	        io,
	        test_io_name_only_target_needs_resolving_for_socks4_and_socks5);
	tcase_add_test(io, test_io_socks5_sends_address_when_both_known);
	tcase_add_test(io, test_io_socks4a_and_socks4);
	tcase_add_test(io, test_io_socks4_rejected_is_econnrefused);
	tcase_add_test(io, test_io_http_reply_and_banner_in_one_segment);
	tcase_add_test(io, test_io_http_reply_dribbled_byte_by_byte);
	tcase_add_test(io, test_io_http_statuses_to_errno);
	tcase_add_test(io, test_io_http_header_over_limit_is_refused);
	tcase_add_test(io, test_io_socks5_reply_dribbled_byte_by_byte);
	tcase_add_test(io, test_io_silent_peer_times_out);
	tcase_add_test(io, test_io_deadline_is_overall_not_per_read);
	tcase_add_test(io, test_io_signal_with_sa_restart_goes_on);
	tcase_add_test(
	        io,
	        test_io_signal_without_sa_restart_interrupts_blocking_socket);
	tcase_add_test(
	        io,
	        test_io_signal_without_sa_restart_nonblocking_socket_goes_on);
	tcase_add_test(io, test_io_handshake_leaves_nonblocking_flags_alone);
	tcase_add_test(io, test_io_request_into_full_send_buffer);
	tcase_add_test(io, test_io_chain_socks5_then_http);
	tcase_add_test(io, test_io_connect_success_restores_flags);
	tcase_add_test(io, test_io_connect_refused_then_same_fd_reconnects);
	tcase_add_test(io, test_io_connect_timeout_then_same_fd_reconnects);
	tcase_add_test(io, test_io_connect_bad_fd);
	suite_add_tcase(s, io);
	dial = tcase_create("dial");
	tcase_add_checked_fixture(dial, log_capture_setup,
	                          log_capture_teardown);
	tcase_add_test(dial,
	               test_dial_report_socks5_bad_password_is_the_auth_step);
	tcase_add_test(
	        dial,
	        test_dial_report_socks5_refusal_is_the_tunnel_step_with_rep);
	tcase_add_test(dial,
	               test_dial_report_http_status_decides_auth_or_tunnel);
	tcase_add_test(dial,
	               test_dial_report_greeting_silence_garbage_and_close);
	tcase_add_test(dial,
	               test_dial_chain_runs_hops_after_tls_over_its_transport);
	tcase_add_test(
	        dial,
	        test_dial_chain_refuses_tls_inside_tls_and_tls_without_seam);
	tcase_add_test(dial,
	               test_dial_chain_dead_first_hop_is_the_connect_step);
	suite_add_tcase(s, dial);
	return s;
}
