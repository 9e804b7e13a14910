/* Who owns the other end of a loopback connection (proto/sockdiag.c):
 * the pure request builder and answer parser, then the kernel's answer
 * for our own sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/sockdiag.h"

START_TEST(test_sockdiag_build_asks_for_one_tcp_socket)
{
	uint8_t src[4] = {127, 0, 0, 1}, dst[4] = {127, 0, 0, 2};
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} q;
	int n;

	ck_assert_int_eq(
	        sockdiag_build(&q, sizeof(q) - 1, AF_INET, src, 1, dst, 2, 9),
	        -ENOBUFS);
	n = sockdiag_build(&q, sizeof(q), AF_INET, src, 8080, dst, 40000, 9);
	ck_assert_int_eq(n, (int)sizeof(q));
	ck_assert_uint_eq(q.h.nlmsg_len, sizeof(q));
	ck_assert_uint_eq(q.h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
	ck_assert_uint_eq(q.h.nlmsg_flags, NLM_F_REQUEST); /* no dump */
	ck_assert_uint_eq(q.h.nlmsg_seq, 9);
	ck_assert_uint_eq(q.r.sdiag_family, AF_INET);
	ck_assert_uint_eq(q.r.sdiag_protocol, IPPROTO_TCP);
	ck_assert_uint_eq(ntohs(q.r.id.idiag_sport), 8080);
	ck_assert_uint_eq(ntohs(q.r.id.idiag_dport), 40000);
	ck_assert_mem_eq(q.r.id.idiag_src, src, 4);
	ck_assert_mem_eq(q.r.id.idiag_dst, dst, 4);
	ck_assert_uint_eq(q.r.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
}
END_TEST

START_TEST(test_sockdiag_parse_answer_error_and_junk)
{
	struct {
		struct nlmsghdr h;
		union {
			struct inet_diag_msg m;
			struct nlmsgerr e;
		} u;
	} a;
	struct sockdiag_sock s;

	memset(&a, 0, sizeof(a));
	a.h.nlmsg_len = NLMSG_LENGTH(sizeof(a.u.m));
	a.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	a.h.nlmsg_seq = 5;
	a.u.m.idiag_family = AF_INET;
	a.u.m.idiag_state = TCP_ESTABLISHED;
	a.u.m.id.idiag_sport = htons(1234);
	a.u.m.id.idiag_dport = htons(80);
	a.u.m.idiag_uid = 65534;
	a.u.m.idiag_inode = 77;
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len, 5, &s), 0);
	ck_assert_uint_eq(s.uid, 65534);
	ck_assert_uint_eq(s.inode, 77);
	ck_assert_uint_eq(s.sport, 1234);
	ck_assert_uint_eq(s.dport, 80);
	ck_assert_uint_eq(s.state, TCP_ESTABLISHED);
	/* another request's answer, a short one, a wrong family */
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len, 6, &s), -EBADMSG);
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len - 1, 5, &s),
	                 -EBADMSG);
	a.u.m.idiag_family = AF_UNIX;
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len, 5, &s), -EBADMSG);
	/* the kernel's "no such socket" */
	a.h.nlmsg_type = NLMSG_ERROR;
	a.h.nlmsg_len = NLMSG_LENGTH(sizeof(a.u.e));
	a.u.e.error = -ENOENT;
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len, 5, &s), -ENOENT);
	a.u.e.error = 0; /* an ACK is not an answer */
	ck_assert_int_eq(sockdiag_parse(&a, a.h.nlmsg_len, 5, &s), -EBADMSG);
}
END_TEST

/* A connected pair over 127.0.0.1: *c the client, *a the accepted end
 * (not accepted when a is NULL); returns the listener. */
static int
pair(int family, int *c, int *a)
{
	struct sockaddr_in l = {.sin_family = AF_INET};
	struct sockaddr_in6 l6 = {.sin6_family = AF_INET6};
	socklen_t len = sizeof(l);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	l.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&l, sizeof(l)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&l, &len), 0);
	*c = socket(family, SOCK_STREAM, 0);
	if (family == AF_INET6) {
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &l6.sin6_addr);
		l6.sin6_port = l.sin_port;
		ck_assert_int_eq(
		        connect(*c, (struct sockaddr *)&l6, sizeof(l6)), 0);
	} else {
		ck_assert_int_eq(connect(*c, (struct sockaddr *)&l, sizeof(l)),
		                 0);
	}
	if (a != NULL)
		*a = accept(lfd, NULL, NULL);
	return lfd;
}

START_TEST(test_sockdiag_our_own_sockets_are_ours_both_ways)
{
	uid_t who = 0, other = geteuid() == 0 ? 65534 : 0;
	int c, a, l, nl, fam = _i == 0 ? AF_INET : AF_INET6;

	nl = sockdiag_open();
	ck_assert_msg(nl >= 0, "NETLINK_SOCK_DIAG: %s", strerror(-nl));
	l = pair(fam, &c, &a);
	/* The library's view (the relay's end) and the relay's (the
	 * client's end), through one netlink socket or one per call. */
	ck_assert_int_eq(sockdiag_peer_owned(nl, c, geteuid(), &who), 0);
	ck_assert_int_eq(sockdiag_peer_owned(-1, a, geteuid(), &who), 0);
	ck_assert_int_eq(sockdiag_peer_owned(nl, a, other, &who), -EPERM);
	ck_assert_uint_eq(who, geteuid());
	/* The client gone: its end is nobody's to vouch for. */
	close(c);
	ck_assert_int_eq(sockdiag_peer_owned(nl, a, geteuid(), &who), -ENOENT);
	close(a);
	close(l);
	/* Not accepted yet: the listener vouches. */
	l = pair(fam, &c, NULL);
	ck_assert_int_eq(sockdiag_peer_owned(nl, c, geteuid(), &who), 0);
	ck_assert_int_eq(sockdiag_peer_owned(nl, c, other, &who), -EPERM);
	close(c);
	close(l);
	close(nl);
	/* Not a TCP connection at all. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(sockdiag_peer_owned(-1, c, geteuid(), &who),
	                 -ENOTCONN);
	close(c);
}
END_TEST

Suite *sockdiag_suite(void);

Suite *
sockdiag_suite(void)
{
	Suite *s = suite_create("sockdiag");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sockdiag_build_asks_for_one_tcp_socket);
	tcase_add_test(tc, test_sockdiag_parse_answer_error_and_junk);
	tcase_add_loop_test(
	        tc, test_sockdiag_our_own_sockets_are_ours_both_ways, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
