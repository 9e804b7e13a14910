/*
 * The resolver's name map and decision (resolver/names.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/names.h"
#include "proxyshim/shm.h"
#include "helpers.h"

static void
params_default(struct names_params *p, const char *cidr4, const char *cidr6)
{
	char buf[64], *slash;

	memset(p, 0, sizeof(*p));
	snprintf(buf, sizeof(buf), "%s", cidr4);
	slash = strchr(buf, '/');
	*slash = '\0';
	ck_assert_int_eq(inet_pton(AF_INET, buf, p->fake4), 1);
	p->fake4_prefix = (uint8_t)atoi(slash + 1);
	snprintf(buf, sizeof(buf), "%s", cidr6);
	slash = strchr(buf, '/');
	*slash = '\0';
	ck_assert_int_eq(inet_pton(AF_INET6, buf, p->fake6), 1);
	p->fake6_prefix = (uint8_t)atoi(slash + 1);
}

static void
map_anon(struct names_map *m, const char *cidr4, uint32_t ttl_ms)
{
	struct names_params p;

	params_default(&p, cidr4, "fdfe:dcba:9876::/48");
	p.ttl_ms = ttl_ms;
	ck_assert_int_eq(names_open(m, NULL, &p), 0);
}

static uint32_t
get_slot(struct names_map *m, const char *name)
{
	uint32_t slot = UINT32_MAX;
	int r = names_fake_get(m, name, strlen(name), &slot);

	ck_assert_msg(r == 0, "names_fake_get(%s) = %d", name, r);
	return slot;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ---- fake addresses ----------------------------------------------------- */

START_TEST(test_names_same_name_same_address_any_case_or_dot)
{
	struct names_map m;
	uint32_t a, b;
	char buf[300];

	map_anon(&m, "198.18.0.0/15", 0);
	a = get_slot(&m, "Only.Proxy.Test");
	ck_assert_uint_eq(get_slot(&m, "only.proxy.test"), a);
	ck_assert_uint_eq(get_slot(&m, "only.proxy.test."), a);
	b = get_slot(&m, "other.test");
	ck_assert_uint_ne(a, b);
	ck_assert_int_eq(names_fake_name(&m, a, buf, sizeof(buf)), 15);
	ck_assert_str_eq(buf, "only.proxy.test");
	ck_assert_int_eq(names_fake_name(&m, a, buf, 5), -ERANGE);
	names_close(&m);
}
END_TEST

START_TEST(test_names_fake_address_round_trips_v4_v6_mapped)
{
	struct names_map m;
	uint8_t addr[16], mapped[16] = {[10] = 0xff, [11] = 0xff};
	char text[64];
	uint32_t s, back;

	map_anon(&m, "198.18.0.0/15", 0);
	s = get_slot(&m, "round.trip.test");
	ck_assert_int_eq(names_fake_addr(&m, s, AF_INET, addr), 0);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET, addr, &back), 1);
	ck_assert_uint_eq(back, s);
	inet_ntop(AF_INET, addr, text, sizeof(text));
	ck_assert_msg(strncmp(text, "198.1", 5) == 0, "%s", text);
	memcpy(mapped + 12, addr, 4);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET6, mapped, &back), 1);
	ck_assert_uint_eq(back, s);
	ck_assert_int_eq(names_fake_addr(&m, s, AF_INET6, addr), 0);
	inet_ntop(AF_INET6, addr, text, sizeof(text));
	ck_assert_msg(strncmp(text, "fdfe:dcba:9876::", 16) == 0, "%s", text);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET6, addr, &back), 1);
	ck_assert_uint_eq(back, s);
	/* In the range but never a name: the network address, past the
	 * slots.  Not fakes: outside the range, loopback. */
	inet_pton(AF_INET, "198.18.0.0", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET, addr, &back), 1);
	ck_assert_int_eq(names_fake_name(&m, back, text, sizeof(text)), -ENOENT);
	inet_pton(AF_INET, "198.19.255.200", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET, addr, &back), 1);
	ck_assert_int_eq(names_fake_name(&m, back, text, sizeof(text)), -ENOENT);
	inet_pton(AF_INET, "198.20.0.1", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET, addr, &back), 0);
	inet_pton(AF_INET6, "fdfe:dcba:9876:1::1", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET6, addr, &back), 1);
	ck_assert_int_eq(names_fake_name(&m, back, text, sizeof(text)), -ENOENT);
	inet_pton(AF_INET6, "fdfe:dcba:9877::1", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET6, addr, &back), 0);
	inet_pton(AF_INET, "10.0.0.1", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET, addr, &back), 0);
	inet_pton(AF_INET6, "::1", addr);
	ck_assert_int_eq(names_fake_slot(&m, AF_INET6, addr, &back), 0);
	names_close(&m);
}
END_TEST

START_TEST(test_names_unknown_slot_has_no_name)
{
	struct names_map m;
	char buf[300];

	map_anon(&m, "198.18.0.0/15", 0);
	ck_assert_int_eq(names_fake_name(&m, 7, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(names_fake_name(&m, 1u << 30, buf, sizeof(buf)),
	                 -ENOENT);
	names_close(&m);
}
END_TEST

START_TEST(test_names_capacity_capped_by_small_range)
{
	struct names_map m;

	map_anon(&m, "198.18.0.0/26", 0); /* 64 addresses: 62 slots */
	ck_assert_uint_eq(m.p.nslots, 62);
	names_close(&m);
	map_anon(&m, "198.18.0.0/15", 0);
	ck_assert_uint_eq(m.p.nslots, NAMES_FAKE_SLOTS);
	names_close(&m);
}
END_TEST

START_TEST(test_names_full_map_fails_and_never_shares_an_address)
{
	struct names_map m;
	uint32_t slots[62], s;
	char name[32];
	int i, j;

	map_anon(&m, "198.18.0.0/26", 60000);
	for (i = 0; i < 62; i++) {
		snprintf(name, sizeof(name), "n%d.full.test", i);
		slots[i] = get_slot(&m, name);
		for (j = 0; j < i; j++)
			ck_assert_uint_ne(slots[i], slots[j]);
	}
	ck_assert_int_eq(names_fake_get(&m, "one.too.many", 12, &s), -EAGAIN);
	/* Every live name keeps its address. */
	for (i = 0; i < 62; i++) {
		snprintf(name, sizeof(name), "n%d.full.test", i);
		ck_assert_uint_eq(get_slot(&m, name), slots[i]);
	}
	names_close(&m);
}
END_TEST

static int64_t fake_now;

static int64_t
fake_clock(void)
{
	return fake_now;
}

/* On a clock of the test's own: the map sees exactly the idle times the
 * test sets, however long the machine takes to run it. */
START_TEST(test_names_full_map_recycles_least_recently_used_idle_slot)
{
	struct names_map m;
	uint32_t slots[62], s, fresh;
	char name[32], buf[64];
	int i;

	fake_now = 1000000;
	names_set_clock(fake_clock);
	map_anon(&m, "198.18.0.0/26", 1000);
	for (i = 0; i < 62; i++) {
		snprintf(name, sizeof(name), "n%d.lru.test", i);
		slots[i] = get_slot(&m, name);
		fake_now++; /* distinct last-use times, n0 the oldest */
	}
	/* Full, and nothing idle for the TTL yet. */
	fake_now += 999 - 62;
	ck_assert_int_eq(names_fake_get(&m, "early.lru.test", 14, &s), -EAGAIN);
	fake_now += 1100;
	/* Touch n0 (resolve) and n1 (connect path): now the newest. */
	ck_assert_uint_eq(get_slot(&m, "n0.lru.test"), slots[0]);
	ck_assert_int_gt(names_fake_name(&m, slots[1], buf, sizeof(buf)), 0);
	fresh = get_slot(&m, "late.lru.test");
	ck_assert_uint_eq(fresh, slots[2]); /* the least recently used */
	ck_assert_int_gt(names_fake_name(&m, fresh, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "late.lru.test");
	ck_assert_uint_eq(get_slot(&m, "n0.lru.test"), slots[0]);
	ck_assert_uint_eq(get_slot(&m, "n1.lru.test"), slots[1]);
	ck_assert_uint_eq(get_slot(&m, "late.lru.test"), fresh);
	names_close(&m);
	names_set_clock(NULL);
}
END_TEST

#define T_THREADS 8
#define T_NAMES 400

struct thr_arg {
	struct names_map *m;
	int id;
	uint32_t slots[T_NAMES];
};

static void *
thr_insert(void *p)
{
	struct thr_arg *a = p;
	char name[32];
	int k, i;

	for (k = 0; k < T_NAMES; k++) {
		i = (k * 7 + a->id * 53) % T_NAMES; /* each its own order */
		snprintf(name, sizeof(name), "t%d.conc.test", i);
		if (names_fake_get(a->m, name, strlen(name), &a->slots[i]) != 0)
			a->slots[i] = UINT32_MAX;
	}
	return NULL;
}

static void
check_distinct(const uint32_t *slots, int n)
{
	char *seen = calloc(NAMES_FAKE_SLOTS, 1);
	int i;

	ck_assert_ptr_nonnull(seen);
	for (i = 0; i < n; i++) {
		ck_assert_uint_lt(slots[i], NAMES_FAKE_SLOTS);
		ck_assert_msg(!seen[slots[i]], "slot %u given twice", slots[i]);
		seen[slots[i]] = 1;
	}
	free(seen);
}

START_TEST(test_names_concurrent_threads_agree)
{
	static struct thr_arg args[T_THREADS];
	pthread_t th[T_THREADS];
	struct names_map m;
	int i, k;

	map_anon(&m, "198.18.0.0/15", 0);
	for (i = 0; i < T_THREADS; i++) {
		args[i].m = &m;
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thr_insert,
		                                &args[i]), 0);
	}
	for (i = 0; i < T_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 1; i < T_THREADS; i++)
		for (k = 0; k < T_NAMES; k++)
			ck_assert_uint_eq(args[i].slots[k], args[0].slots[k]);
	check_distinct(args[0].slots, T_NAMES);
	names_close(&m);
}
END_TEST

static char seg_name[PS_SHM_NAME_MAX + 16];

static void
seg_setup(void)
{
	snprintf(seg_name, sizeof(seg_name), "/proxyshim-test-%ld-names",
	         (long)getpid());
	shm_unlink(seg_name);
}

static void
seg_teardown(void)
{
	shm_unlink(seg_name);
}

static void
open_named(struct names_map *m)
{
	struct names_params p;

	params_default(&p, "198.18.0.0/15", "fdfe:dcba:9876::/48");
	ck_assert_int_eq(names_open(m, seg_name, &p), 0);
}

#define P_PROCS 6

/* Processes that each map the segment by name (as an exec'ed child does)
 * and insert the same names in their own order. */
START_TEST(test_names_concurrent_processes_agree)
{
	uint32_t (*res)[T_NAMES];
	pid_t pids[P_PROCS];
	struct names_map m;
	int i, k, st;

	res = mmap(NULL, sizeof(uint32_t) * T_NAMES * P_PROCS,
	           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(res, MAP_FAILED);
	for (i = 0; i < P_PROCS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct thr_arg a;

			memset(&a, 0, sizeof(a));
			open_named(&m);
			a.m = &m;
			a.id = i;
			thr_insert(&a);
			memcpy(res[i], a.slots, sizeof(a.slots));
			_exit(0);
		}
	}
	for (i = 0; i < P_PROCS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (i = 1; i < P_PROCS; i++)
		for (k = 0; k < T_NAMES; k++)
			ck_assert_uint_eq(res[i][k], res[0][k]);
	check_distinct(res[0], T_NAMES);
	/* And the parent, mapping it afterwards, sees the same. */
	open_named(&m);
	ck_assert_uint_eq(get_slot(&m, "t5.conc.test"), res[0][5]);
	names_close(&m);
	munmap(res, sizeof(uint32_t) * T_NAMES * P_PROCS);
}
END_TEST

/* Writers SIGKILLed at random points (maybe holding the robust mutex,
 * maybe mid-entry): the map stays usable and consistent. */
START_TEST(test_names_survives_writers_killed_anywhere)
{
	struct names_map m;
	char name[32], buf[64];
	uint32_t s, s2;
	int round, i, st;
	pid_t pid;

	open_named(&m);
	for (round = 0; round < 20; round++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			for (i = 0;; i++) {
				snprintf(name, sizeof(name), "k%d.r%d.test",
				         i % 500, round);
				names_fake_get(&m, name, strlen(name), &s);
				names_real_record(&m, AF_INET,
				                  (const uint8_t *)&i, name,
				                  strlen(name));
			}
		}
		sleep_ms(2 + round % 5);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	}
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "after%d.kill.test", i);
		s = get_slot(&m, name);
		ck_assert_int_gt(names_fake_name(&m, s, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, name);
		s2 = get_slot(&m, name);
		ck_assert_uint_eq(s, s2);
	}
	names_close(&m);
}
END_TEST

START_TEST(test_names_segment_refused_for_other_ranges)
{
	struct names_params p;
	struct names_map m, m2;

	open_named(&m);
	params_default(&p, "10.99.0.0/16", "fdfe:dcba:9876::/48");
	ck_assert_int_eq(names_open(&m2, seg_name, &p), -EINVAL);
	names_close(&m);
}
END_TEST

/* ---- recorded real addresses --------------------------------------------- */

/* A name recorded by one program must not attach itself to another
 * program's bare-IP connects (docs/behaviour.md#match-entries); a forked
 * child keeps its parent's. */
START_TEST(test_names_real_records_are_private_to_the_process)
{
	static const uint8_t a[4] = {10, 1, 2, 3};
	struct names_map m, other;
	char buf[PS_MAX_HOST + 1];
	pid_t pid;
	int st;

	open_named(&m);
	open_named(&other); /* the same segment, as another process maps it */
	ck_assert_int_eq(names_real_record(&m, AF_INET, a, "seen.test", 9), 0);
	ck_assert_int_eq(names_real_name(&m, AF_INET, a, buf, sizeof(buf)), 9);
	ck_assert_int_eq(names_real_name(&other, AF_INET, a, buf, sizeof(buf)),
	                 -ENOENT);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(names_real_name(&m, AF_INET, a, buf, sizeof(buf)) == 9 &&
		              strcmp(buf, "seen.test") == 0
		              ? 0
		              : 1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	names_close(&other);
	names_close(&m);
}
END_TEST

START_TEST(test_names_real_record_last_writer_wins)
{
	struct names_map m;
	uint8_t a[16], b[16];
	char buf[64];

	map_anon(&m, "198.18.0.0/15", 0);
	inet_pton(AF_INET, "93.184.216.34", a);
	inet_pton(AF_INET6, "2001:db8::34", b);
	ck_assert_int_eq(names_real_name(&m, AF_INET, a, buf, sizeof(buf)),
	                 -ENOENT);
	ck_assert_int_eq(names_real_record(&m, AF_INET, a, "Cdn.Test.", 9), 0);
	ck_assert_int_eq(names_real_name(&m, AF_INET, a, buf, sizeof(buf)), 8);
	ck_assert_str_eq(buf, "cdn.test");
	ck_assert_int_eq(names_real_record(&m, AF_INET, a, "other.test", 10),
	                 0);
	ck_assert_int_eq(names_real_name(&m, AF_INET, a, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "other.test");
	ck_assert_int_eq(names_real_name(&m, AF_INET6, b, buf, sizeof(buf)),
	                 -ENOENT);
	ck_assert_int_eq(names_real_record(&m, AF_INET6, b, "six.test", 8), 0);
	ck_assert_int_eq(names_real_name(&m, AF_INET6, b, buf, sizeof(buf)), 8);
	ck_assert_int_eq(names_real_name(&m, AF_INET6, b, buf, 4), -ERANGE);
	names_close(&m);
}
END_TEST

/* ---- names ----------------------------------------------------------------- */

START_TEST(test_names_is_name_skips_numeric_and_localhost)
{
	ck_assert_int_eq(names_is_name("example.com"), 1);
	ck_assert_int_eq(names_is_name("EXAMPLE.com."), 1);
	ck_assert_int_eq(names_is_name("only_proxy"), 1);
	ck_assert_int_eq(names_is_name("1.2.3.4"), 0);
	ck_assert_int_eq(names_is_name("127.1"), 0);
	ck_assert_int_eq(names_is_name("0x7f.1"), 0);
	ck_assert_int_eq(names_is_name("::1"), 0);
	ck_assert_int_eq(names_is_name("fe80::1%lo"), 0);
	ck_assert_int_eq(names_is_name("localhost"), 0);
	ck_assert_int_eq(names_is_name("LocalHost."), 0);
	ck_assert_int_eq(names_is_name("a.localhost"), 0);
	ck_assert_int_eq(names_is_name("a.LOCALHOST."), 0);
	ck_assert_int_eq(names_is_name("notlocalhost"), 1);
	ck_assert_int_eq(names_is_name("localhost.example"), 1);
	ck_assert_int_eq(names_is_name(""), 0);
	ck_assert_int_eq(names_is_name(NULL), 0);
	ck_assert_int_eq(names_is_name("bad name"), 0);
}
END_TEST

/* ---- the decision ----------------------------------------------------------- */

static uint8_t *dec_tbl;
static struct ps_table_view dec_view;

static void
decide_load(const char *yaml)
{
	const char *why = "";
	size_t len;

	free(dec_tbl);
	unit_compile_yaml(yaml, &dec_tbl, &len);
	ck_assert_int_eq(table_view_open(dec_tbl, len, &dec_view, &why), 0);
}

static enum names_how
decide(const char *name, uint16_t port, enum names_why *why)
{
	return names_decide(&dec_view, name, strlen(name), port, why);
}

START_TEST(test_names_decide_by_route_and_upstream_kind)
{
	enum names_why why;

	decide_load("proxy:\n"
	            "  http: socks5h://127.0.0.1:1080\n"
	            "  exempt: \".corp.test\"\n"
	            "  rules:\n"
	            "    - match: [\"addr.test\"]\n"
	            "      via: socks5://127.0.0.1:1081\n"
	            "    - match: [\"chain.test\"]\n"
	            "      via: [socks5://127.0.0.1:1, http://127.0.0.1:2]\n"
	            "    - match: [\"chain2.test\"]\n"
	            "      via: [http://127.0.0.1:1, socks4://127.0.0.1:2]\n"
	            "    - match: [\"blocked.test\"]\n"
	            "      via: block\n");
	ck_assert_int_eq(decide("only.proxy.test", 80, &why), NAMES_FAKE);
	ck_assert_int_eq(why, NAMES_WHY_PROXY);
	ck_assert_int_eq(decide("www.corp.test", 80, &why), NAMES_REAL);
	ck_assert_int_eq(why, NAMES_WHY_DIRECT);
	ck_assert_int_eq(decide("addr.test", 80, &why), NAMES_REAL);
	ck_assert_int_eq(why, NAMES_WHY_ADDRESS);
	/* strict chains: what counts is the last hop, which gets the name */
	ck_assert_int_eq(decide("chain.test", 80, &why), NAMES_FAKE);
	ck_assert_int_eq(decide("chain2.test", 80, &why), NAMES_REAL);
	ck_assert_int_eq(decide("blocked.test", 80, &why), NAMES_FAKE);
	ck_assert_int_eq(why, NAMES_WHY_BLOCK);
	ck_assert_ptr_nonnull(strstr(names_why_text(NAMES_WHY_PROXY), "remote"));
}
END_TEST

START_TEST(test_names_decide_local_mode_and_failover)
{
	enum names_why why;

	decide_load("proxy:\n"
	            "  http: http://127.0.0.1:3128\n"
	            "  dns: local\n");
	ck_assert_int_eq(decide("x.test", 80, &why), NAMES_REAL);
	ck_assert_int_eq(why, NAMES_WHY_LOCAL);
	decide_load("proxy:\n"
	            "  chain: failover\n"
	            "  rules:\n"
	            "    - match: [\"*\"]\n"
	            "      via: [http://127.0.0.1:1, socks5://127.0.0.1:2]\n");
	/* Either may carry it: the socks5 one needs an address. */
	ck_assert_int_eq(decide("x.test", 80, &why), NAMES_REAL);
	ck_assert_int_eq(why, NAMES_WHY_ADDRESS);
	free(dec_tbl);
	dec_tbl = NULL;
}
END_TEST

Suite *names_suite(void);

Suite *
names_suite(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("map");
	TCase *shm = tcase_create("shared");

	tcase_add_test(tc, test_names_same_name_same_address_any_case_or_dot);
	tcase_add_test(tc, test_names_fake_address_round_trips_v4_v6_mapped);
	tcase_add_test(tc, test_names_unknown_slot_has_no_name);
	tcase_add_test(tc, test_names_capacity_capped_by_small_range);
	tcase_add_test(tc, test_names_full_map_fails_and_never_shares_an_address);
	tcase_add_test(tc, test_names_full_map_recycles_least_recently_used_idle_slot);
	tcase_add_test(tc, test_names_concurrent_threads_agree);
	tcase_add_test(tc, test_names_real_record_last_writer_wins);
	tcase_add_test(tc, test_names_is_name_skips_numeric_and_localhost);
	tcase_add_test(tc, test_names_decide_by_route_and_upstream_kind);
	tcase_add_test(tc, test_names_decide_local_mode_and_failover);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(shm, seg_setup, seg_teardown);
	tcase_set_timeout(shm, 60);
	tcase_add_test(shm, test_names_concurrent_processes_agree);
	tcase_add_test(shm, test_names_real_records_are_private_to_the_process);
	tcase_add_test(shm, test_names_survives_writers_killed_anywhere);
	tcase_add_test(shm, test_names_segment_refused_for_other_ranges);
	suite_add_tcase(s, shm);
	return s;
}
