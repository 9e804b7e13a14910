/*
 * The DNS stub (dns/answer.c, dns/stub.c): the default answer over a real
 * compiled table and name map, and the server over real loopback sockets
 * with a scripted answer.  Every wait is bounded by poll() and only bounds
 * a hang (10 s); no test judges time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/dnsstub.h"
#include "proxyshim/names.h"
#include "proxyshim/shm.h"
#include "helpers.h"

#define WAIT_MS 10000 /* bounds a hang, never judged */

/* ---- the default answer ------------------------------------------------ */

static uint8_t *tbl;
static struct ps_table_view view;
static struct names_map map;
static int policy_broken;

static const struct ps_table_view *
policy(void *ctx)
{
	(void)ctx;
	return policy_broken ? NULL : &view;
}

static struct dnsstub_names names_arg = {.map = &map, .policy = policy};

static void
answer_setup(void)
{
	static const char yaml[] = "proxy:\n"
	                           "  http: socks5h://127.0.0.1:1080\n"
	                           "  exempt: \"direct.test\"\n"
	                           "  dns: remote\n"
	                           "  rules:\n"
	                           "    - match: [\"blocked.test\"]\n"
	                           "      via: block\n";
	struct names_params p;
	const char *why = "";
	size_t len;

	unit_compile_yaml(yaml, &tbl, &len);
	ck_assert_int_eq(table_view_open(tbl, len, &view, &why), 0);
	names_params_from_table(&view, &p);
	ck_assert_int_eq(names_open(&map, NULL, &p), 0);
	policy_broken = 0;
}

static void
answer_teardown(void)
{
	names_close(&map);
	free(tbl);
	tbl = NULL;
}

static int
ask(const char *name, int qtype, struct dnsmsg_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->ttl = DNSSTUB_TTL;
	return dnsstub_answer_names(name, qtype, a, &names_arg);
}

/* The name the map gives back for a fake address. */
static const char *
fake_name(int family, const uint8_t *addr)
{
	static char buf[PS_MAX_HOST + 1];
	uint32_t slot;

	ck_assert_int_eq(names_fake_slot(&map, family, addr, &slot), 1);
	ck_assert_int_gt(names_fake_name(&map, slot, buf, sizeof(buf)), 0);
	return buf;
}

START_TEST(test_dnsstub_answer_proxied_name_gets_its_fake_addresses)
{
	struct dnsmsg_answer a, b, c;

	ck_assert_int_eq(ask("Proxied.Example", DNSMSG_TYPE_A, &a), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(a.addr[0][0], 198);
	ck_assert_uint_eq(a.addr[0][1] & 0xfe, 18);
	ck_assert_str_eq(fake_name(AF_INET, a.addr[0]), "proxied.example");
	ck_assert_int_eq(ask("proxied.example", DNSMSG_TYPE_A, &b), 0);
	ck_assert_mem_eq(a.addr[0], b.addr[0], 4);
	ck_assert_int_eq(ask("proxied.example", DNSMSG_TYPE_AAAA, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.addr[0][0], 0xfd);
	ck_assert_uint_eq(c.addr[0][1], 0xfe);
	ck_assert_str_eq(fake_name(AF_INET6, c.addr[0]), "proxied.example");
	/* a block rule's name gets one too: no query leaves for it */
	ck_assert_int_eq(ask("blocked.test", DNSMSG_TYPE_A, &a), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(fake_name(AF_INET, a.addr[0]), "blocked.test");
}
END_TEST

START_TEST(test_dnsstub_answer_other_types_get_no_data)
{
	struct dnsmsg_answer a;

	ck_assert_int_eq(ask("mx.example", 15, &a), DNSMSG_RCODE_NOERROR);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_int_eq(ask("direct.test", 16, &a), DNSMSG_RCODE_NOERROR);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(test_dnsstub_answer_refuses_what_is_not_a_name)
{
	struct dnsmsg_answer a;

	ck_assert_int_eq(ask("a\\032b.test", DNSMSG_TYPE_A, &a),
	                 DNSMSG_RCODE_REFUSED);
	ck_assert_int_eq(ask("1.2.3.4", DNSMSG_TYPE_A, &a),
	                 DNSMSG_RCODE_REFUSED);
	ck_assert_int_eq(ask("", DNSMSG_TYPE_A, &a), DNSMSG_RCODE_REFUSED);
	ck_assert_int_eq(ask("a\\046b", 15, &a), DNSMSG_RCODE_REFUSED);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(test_dnsstub_answer_no_table_is_servfail)
{
	struct dnsmsg_answer a;

	policy_broken = 1;
	ck_assert_int_eq(ask("proxied.example", DNSMSG_TYPE_A, &a),
	                 DNSMSG_RCODE_SERVFAIL);
	ck_assert_int_eq(ask("direct.test", DNSMSG_TYPE_AAAA, &a),
	                 DNSMSG_RCODE_SERVFAIL);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(test_dnsstub_answer_localhost_is_loopback_not_recorded)
{
	struct dnsmsg_answer a;
	char buf[PS_MAX_HOST + 1];

	ck_assert_int_eq(ask("localhost", DNSMSG_TYPE_A, &a), 0);
	ck_assert_uint_ge(a.n, 1);
	ck_assert_uint_eq(a.addr[0][0], 127);
	ck_assert_int_eq(
	        names_real_name(&map, AF_INET, a.addr[0], buf, sizeof(buf)),
	        -ENOENT);
}
END_TEST

/* ---- the server ------------------------------------------------------ */

static atomic_int calls;
static atomic_int peer_drops; /* datagrams peer_ok still refuses */

static int
scripted(const char *name, int qtype, struct dnsmsg_answer *out, void *arg)
{
	size_t i;

	(void)arg;
	atomic_fetch_add(&calls, 1);
	if (strcmp(name, "nx.test") == 0)
		return DNSMSG_RCODE_NXDOMAIN;
	if (strcmp(name, "bad.test") == 0) {
		out->n = DNSMSG_MAX_ADDRS + 1; /* the builder refuses it */
		return 0;
	}
	if (qtype == DNSMSG_TYPE_A) {
		memcpy(out->addr[0], (uint8_t[]){10, 0, 0, 1}, 4);
		memcpy(out->addr[1], (uint8_t[]){10, 0, 0, 2}, 4);
		out->n = 2;
	} else if (qtype == DNSMSG_TYPE_AAAA) {
		/* names starting with "many" get every address there is */
		out->n = strncmp(name, "many", 4) == 0 ? DNSMSG_MAX_ADDRS : 1;
		for (i = 0; i < out->n; i++) {
			memset(out->addr[i], 0x20, 16);
			out->addr[i][15] = (uint8_t)i;
		}
	}
	return DNSMSG_RCODE_NOERROR;
}

static int
refuse_some(int fd, int proto, const struct sockaddr *peer, socklen_t len,
            void *arg)
{
	(void)fd;
	(void)proto;
	(void)peer;
	(void)len;
	(void)arg;
	return atomic_fetch_sub(&peer_drops, 1) <= 0;
}

struct srv {
	struct dnsstub s;
	int stop[2];
	uint16_t udp_port, tcp_port;
	pthread_t th[2];
	int rc[2];
	int nth;
};

static struct srv srv;

static void *
serve_thread(void *arg)
{
	int *rc = arg;

	*rc = dnsstub_serve(&srv.s);
	return NULL;
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

/* The stub on one loopback port for UDP and TCP (dnsstub_listen). */
static void
srv_start(int nthreads, int timeout_ms)
{
	int i, port;

	memset(&srv, 0, sizeof(srv));
	atomic_store(&calls, 0);
	atomic_store(&peer_drops, 0);
	port = dnsstub_listen(&srv.s);
	ck_assert_int_gt(port, 0);
	srv.udp_port = bound_port(srv.s.udp_fd);
	srv.tcp_port = bound_port(srv.s.tcp_fd);
	ck_assert_int_eq(srv.udp_port, port);
	ck_assert_int_eq(srv.tcp_port, port);
	ck_assert_int_eq(pipe2(srv.stop, O_CLOEXEC), 0);
	srv.s.stop_fd = srv.stop[0];
	srv.s.answer = scripted;
	srv.s.peer_ok = refuse_some;
	srv.s.tcp_timeout_ms = timeout_ms;
	srv.nth = nthreads;
	for (i = 0; i < nthreads; i++)
		ck_assert_int_eq(pthread_create(&srv.th[i], NULL, serve_thread,
		                                &srv.rc[i]),
		                 0);
}

static void
srv_stop(void)
{
	int i;

	ck_assert_int_eq(write(srv.stop[1], "x", 1), 1);
	for (i = 0; i < srv.nth; i++) {
		pthread_join(srv.th[i], NULL);
		ck_assert_int_eq(srv.rc[i], 0);
	}
	close(srv.stop[0]);
	close(srv.stop[1]);
	close(srv.s.udp_fd);
	close(srv.s.tcp_fd);
}

/* A query by hand: id, RD, name, qtype, class IN; qd is QDCOUNT. */
static size_t
mkq(uint8_t *b, uint16_t id, const char *name, int qtype, int qd)
{
	size_t off = 12;
	const char *p = name, *dot;

	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = 0x01;
	b[5] = (uint8_t)qd;
	while (*p != '\0') {
		dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		b[off] = (uint8_t)n;
		memcpy(b + off + 1, p, n);
		off += 1 + n;
		p += n + (dot ? 1 : 0);
	}
	b[off++] = 0;
	b[off++] = (uint8_t)(qtype >> 8);
	b[off++] = (uint8_t)qtype;
	b[off++] = 0;
	b[off++] = 1;
	return off;
}

/* A socket of type connected to the stub's port of that type. */
static int
loop_client(int type)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(type == SOCK_DGRAM ? srv.udp_port : srv.tcp_port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* One read, waiting at most WAIT_MS: its length (0 at EOF). */
static ssize_t
recv_wait(int fd, uint8_t *buf, size_t size)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
	return recv(fd, buf, size, 0);
}

/* Exactly n bytes from a stream, or fewer at EOF. */
static size_t
recv_all(int fd, uint8_t *buf, size_t n)
{
	size_t have = 0;
	ssize_t r;

	while (have < n) {
		r = recv_wait(fd, buf + have, n - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	return have;
}

/* One framed reply from a TCP stream into buf: its length, 0 at EOF. */
static size_t
tcp_reply(int fd, uint8_t *buf, size_t size)
{
	uint8_t len[2];
	size_t n;

	if (recv_all(fd, len, 2) < 2)
		return 0;
	n = (size_t)(len[0] << 8 | len[1]);
	ck_assert_uint_le(n, size);
	ck_assert_uint_eq(recv_all(fd, buf, n), n);
	return n;
}

static void
send_framed(int fd, const uint8_t *q, size_t n)
{
	uint8_t buf[2 + 600];

	dnsmsg_tcp_put_len(buf, n);
	memcpy(buf + 2, q, n);
	ck_assert_int_eq(send(fd, buf, n + 2, MSG_NOSIGNAL), (ssize_t)n + 2);
}

START_TEST(test_dnsstub_udp_answers_a_and_nxdomain)
{
	uint8_t q[600], r[600];
	size_t n;
	ssize_t got;
	int fd;

	srv_start(1, 0);
	fd = loop_client(SOCK_DGRAM);
	n = mkq(q, 0x4242, "a.test", DNSMSG_TYPE_A, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	got = recv_wait(fd, r, sizeof(r));
	ck_assert_int_eq(got, (ssize_t)(n + 2 * 16));
	ck_assert_uint_eq(r[0], 0x42);
	ck_assert_uint_eq(r[1], 0x42);
	ck_assert_uint_eq(r[2], 0x81);
	ck_assert_uint_eq(r[3], 0x80);
	ck_assert_uint_eq(r[7], 2);
	ck_assert_mem_eq(r + n + 12, ((uint8_t[]){10, 0, 0, 1}), 4);
	ck_assert_mem_eq(r + n + 16 + 12, ((uint8_t[]){10, 0, 0, 2}), 4);
	n = mkq(q, 7, "nx.test", DNSMSG_TYPE_AAAA, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_eq(recv_wait(fd, r, sizeof(r)), (ssize_t)n);
	ck_assert_uint_eq(r[3], 0x83);
	/* an answer the builder cannot write becomes SERVFAIL */
	n = mkq(q, 8, "bad.test", DNSMSG_TYPE_A, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_eq(recv_wait(fd, r, sizeof(r)), (ssize_t)n);
	ck_assert_uint_eq(r[3], 0x82);
	close(fd);
	srv_stop();
	ck_assert_int_eq(atomic_load(&calls), 3);
}
END_TEST

/* 16 AAAA records after a long name pass 512 bytes: TC over UDP, the
 * whole answer over TCP. */
START_TEST(test_dnsstub_udp_truncates_tcp_answers_in_full)
{
	const char *name =
	        "many.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	        "aaaaaa.test";
	uint8_t q[600], r[DNSMSG_REPLY_MAX];
	size_t n;
	int fd;

	srv_start(1, 0);
	fd = loop_client(SOCK_DGRAM);
	n = mkq(q, 1, name, DNSMSG_TYPE_AAAA, 1);
	ck_assert_uint_gt(n + DNSMSG_MAX_ADDRS * 28, DNSMSG_UDP_MAX);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_eq(recv_wait(fd, r, sizeof(r)), (ssize_t)n);
	ck_assert_uint_eq(r[2], 0x83); /* QR TC RD */
	close(fd);
	fd = loop_client(SOCK_STREAM);
	send_framed(fd, q, n);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)),
	                  n + DNSMSG_MAX_ADDRS * 28);
	ck_assert_uint_eq(r[2], 0x81);
	ck_assert_uint_eq(r[7], DNSMSG_MAX_ADDRS);
	close(fd);
	srv_stop();
}
END_TEST

START_TEST(test_dnsstub_udp_malformed_formerr_response_dropped)
{
	uint8_t q[600], r[600];
	size_t n;
	int fd;

	srv_start(1, 0);
	fd = loop_client(SOCK_DGRAM);
	n = mkq(q, 0x0a0b, "a.test", DNSMSG_TYPE_A, 2);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_eq(recv_wait(fd, r, sizeof(r)), 12);
	ck_assert_uint_eq(r[0], 0x0a);
	ck_assert_uint_eq(r[3], 0x81); /* RA, FORMERR */
	/* a response is never answered: the next reply is the next query's */
	n = mkq(q, 1, "a.test", DNSMSG_TYPE_A, 1);
	q[2] |= 0x80;
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_eq(send(fd, q, 5, 0), 5);
	n = mkq(q, 2, "a.test", DNSMSG_TYPE_A, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_gt(recv_wait(fd, r, sizeof(r)), 12);
	ck_assert_uint_eq(r[1], 2);
	close(fd);
	srv_stop();
	ck_assert_int_eq(atomic_load(&calls), 1);
}
END_TEST

START_TEST(test_dnsstub_peer_ok_refused_datagram_is_dropped)
{
	uint8_t q[600], r[600];
	size_t n;
	int fd;

	srv_start(1, 0);
	atomic_store(&peer_drops, 1);
	fd = loop_client(SOCK_DGRAM);
	n = mkq(q, 1, "a.test", DNSMSG_TYPE_A, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	n = mkq(q, 2, "a.test", DNSMSG_TYPE_A, 1);
	ck_assert_int_eq(send(fd, q, n, 0), (ssize_t)n);
	ck_assert_int_gt(recv_wait(fd, r, sizeof(r)), 12);
	ck_assert_uint_eq(r[1], 2);
	close(fd);
	/* a refused TCP connection is closed unanswered */
	atomic_store(&peer_drops, 1);
	fd = loop_client(SOCK_STREAM);
	send_framed(fd, q, n);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), 0);
	close(fd);
	srv_stop();
	ck_assert_int_eq(atomic_load(&calls), 1);
}
END_TEST

START_TEST(test_dnsstub_tcp_pipelined_then_formerr_closes)
{
	uint8_t q[600], r[600], two[1200];
	size_t n, m;
	int fd;

	srv_start(1, 0);
	fd = loop_client(SOCK_STREAM);
	n = mkq(q, 1, "a.test", DNSMSG_TYPE_A, 1);
	dnsmsg_tcp_put_len(two, n);
	memcpy(two + 2, q, n);
	m = mkq(q, 2, "six.test", DNSMSG_TYPE_AAAA, 1);
	dnsmsg_tcp_put_len(two + 2 + n, m);
	memcpy(two + 4 + n, q, m);
	ck_assert_int_eq(send(fd, two, n + m + 4, 0), (ssize_t)(n + m + 4));
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), n + 32);
	ck_assert_uint_eq(r[1], 1);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), m + 28);
	ck_assert_uint_eq(r[1], 2);
	n = mkq(q, 3, "a.test", DNSMSG_TYPE_A, 0);
	send_framed(fd, q, n);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), 12);
	ck_assert_uint_eq(r[3], 0x81);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), 0); /* closed */
	close(fd);
	srv_stop();
}
END_TEST

START_TEST(test_dnsstub_tcp_query_cap_oversize_and_idle_timeout)
{
	uint8_t q[600], r[600], *all;
	size_t n, i, got = 0;
	int fd;

	srv_start(1, 300);
	fd = loop_client(SOCK_STREAM);
	n = mkq(q, 9, "a.test", DNSMSG_TYPE_A, 1);
	all = malloc((DNSSTUB_TCP_QUERIES + 1) * (n + 2));
	for (i = 0; i <= DNSSTUB_TCP_QUERIES; i++) {
		dnsmsg_tcp_put_len(all + i * (n + 2), n);
		memcpy(all + i * (n + 2) + 2, q, n);
	}
	ck_assert_int_eq(send(fd, all, (DNSSTUB_TCP_QUERIES + 1) * (n + 2),
	                      MSG_NOSIGNAL),
	                 (ssize_t)((DNSSTUB_TCP_QUERIES + 1) * (n + 2)));
	free(all);
	while (tcp_reply(fd, r, sizeof(r)) > 0)
		got++;
	ck_assert_uint_eq(got, DNSSTUB_TCP_QUERIES);
	close(fd);
	/* a message over DNSMSG_QUERY_MAX: closed unanswered */
	fd = loop_client(SOCK_STREAM);
	dnsmsg_tcp_put_len(q, DNSMSG_QUERY_MAX + 1);
	ck_assert_int_eq(send(fd, q, 2, 0), 2);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), 0);
	close(fd);
	/* half a query, then nothing: closed at the timeout */
	fd = loop_client(SOCK_STREAM);
	ck_assert_int_eq(send(fd, q, 1, 0), 1);
	ck_assert_uint_eq(tcp_reply(fd, r, sizeof(r)), 0);
	close(fd);
	srv_stop();
	ck_assert_int_eq(atomic_load(&calls), DNSSTUB_TCP_QUERIES);
}
END_TEST

/* Two threads serve one stub; 200 queries over 4 UDP sockets all get
 * their own answer; stop ends both threads. */
START_TEST(test_dnsstub_two_threads_answer_every_query)
{
	uint8_t q[600], r[600];
	int fd[4], i, k;
	size_t n;

	srv_start(2, 0);
	for (k = 0; k < 4; k++)
		fd[k] = loop_client(SOCK_DGRAM);
	for (i = 0; i < 50; i++) {
		for (k = 0; k < 4; k++) {
			n = mkq(q, (uint16_t)(i * 4 + k), "a.test",
			        DNSMSG_TYPE_A, 1);
			ck_assert_int_eq(send(fd[k], q, n, 0), (ssize_t)n);
		}
		for (k = 0; k < 4; k++) {
			ck_assert_int_gt(recv_wait(fd[k], r, sizeof(r)), 12);
			ck_assert_uint_eq(r[0] << 8 | r[1],
			                  (unsigned)(i * 4 + k));
		}
	}
	for (k = 0; k < 4; k++)
		close(fd[k]);
	srv_stop();
	ck_assert_int_eq(atomic_load(&calls), 200);
}
END_TEST

static int
no_localhost(void)
{
	struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;

	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return 1;
	freeaddrinfo(res);
	return 0;
}

Suite *dnsstub_suite(void);

Suite *
dnsstub_suite(void)
{
	Suite *s = suite_create("dnsstub");
	TCase *ta = tcase_create("answer");
	TCase *ts = tcase_create("server");

	tcase_add_checked_fixture(ta, answer_setup, answer_teardown);
	tcase_add_test(
	        ta, test_dnsstub_answer_proxied_name_gets_its_fake_addresses);
	tcase_add_test(ta, test_dnsstub_answer_other_types_get_no_data);
	tcase_add_test(ta, test_dnsstub_answer_refuses_what_is_not_a_name);
	tcase_add_test(ta, test_dnsstub_answer_no_table_is_servfail);
	tcase_add_test_unless(
	        ta, test_dnsstub_answer_localhost_is_loopback_not_recorded,
	        no_localhost(), "localhost does not resolve on this machine");
	suite_add_tcase(s, ta);
	tcase_add_test(ts, test_dnsstub_udp_answers_a_and_nxdomain);
	tcase_add_test(ts, test_dnsstub_udp_truncates_tcp_answers_in_full);
	tcase_add_test(ts, test_dnsstub_udp_malformed_formerr_response_dropped);
	tcase_add_test(ts, test_dnsstub_peer_ok_refused_datagram_is_dropped);
	tcase_add_test(ts, test_dnsstub_tcp_pipelined_then_formerr_closes);
	tcase_add_test(ts,
	               test_dnsstub_tcp_query_cap_oversize_and_idle_timeout);
	tcase_add_test(ts, test_dnsstub_two_threads_answer_every_query);
	suite_add_tcase(s, ts);
	return s;
}
