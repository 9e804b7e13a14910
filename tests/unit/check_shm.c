/* Shared memory publication and config source lookup (resolver/shm.c,
 * resolver/source.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/current.h"
#include "proxyshim/env.h"
#include "proxyshim/shm.h"
#include "helpers.h"

static char test_name[PS_SHM_NAME_MAX];

static void
name_setup(void)
{
	snprintf(test_name, sizeof(test_name), "/proxyshim-test-%ld-%d",
	         (long)getpid(), rand());
	shm_unlink(test_name);
}

static void
name_teardown(void)
{
	shm_unlink(test_name);
}

START_TEST(test_shm_publish_then_map_round_trips)
{
	const char data[] = "table bytes";
	const void *base;
	size_t len;
	int existed = -1;

	ck_assert_int_eq(shm_publish(test_name, data, sizeof(data), &existed),
	                 0);
	ck_assert_int_eq(existed, 0);
	ck_assert_int_eq(shm_map(test_name, &base, &len), 0);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_mem_eq(base, data, sizeof(data));
	shm_unmap(base, len);
}
END_TEST

START_TEST(test_shm_map_into_reads_small_table_into_buffer)
{
	const char data[] = "small table bytes";
	char buf[64], tiny[8];
	const void *base;
	size_t len;
	int existed, fd;

	ck_assert_int_eq(shm_publish(test_name, data, sizeof(data), &existed),
	                 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(shm_map_into(test_name, buf, sizeof(buf), &base, &len),
	                 0);
	ck_assert_ptr_eq(base, buf);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_mem_eq(buf, data, sizeof(data));
	/* Too big for the buffer: a copy of its own, the buffer untouched. */
	memset(tiny, 'z', sizeof(tiny));
	ck_assert_int_eq(
	        shm_map_into(test_name, tiny, sizeof(tiny), &base, &len), 0);
	ck_assert_ptr_ne(base, tiny);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_mem_eq(base, data, sizeof(data));
	ck_assert_int_eq(tiny[0], 'z');
	shm_unmap(base, len);
	/* The owner and mode checks come first either way. */
	fd = shm_open(test_name, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	close(fd);
	ck_assert_int_eq(shm_map_into(test_name, buf, sizeof(buf), &base, &len),
	                 -EPERM);
}
END_TEST

START_TEST(test_shm_published_object_is_private_0600)
{
	char path[128];
	struct stat st;
	int existed;

	umask(0);
	ck_assert_int_eq(shm_publish(test_name, "x", 1, &existed), 0);
	umask(022);
	snprintf(path, sizeof(path), "%s%s", PS_SHM_DIR, test_name);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
}
END_TEST

START_TEST(test_shm_second_publish_reports_existing)
{
	int existed = -1;

	ck_assert_int_eq(shm_publish(test_name, "first", 5, &existed), 0);
	ck_assert_int_eq(shm_publish(test_name, "other", 5, &existed), 0);
	ck_assert_int_eq(existed, 1);
}
END_TEST

START_TEST(test_shm_map_refuses_object_readable_by_others)
{
	const void *base;
	size_t len;
	int fd;

	fd = shm_open(test_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abcd", 4), 4);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	close(fd);
	ck_assert_int_eq(shm_map(test_name, &base, &len), -EPERM);
}
END_TEST

START_TEST(test_shm_name_held_by_other_user_is_refused)
{
	const void *base;
	size_t len;
	int fd, existed;

	fd = shm_open(test_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "evil", 4), 4);
	ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
	close(fd);
	ck_assert_int_eq(shm_map(test_name, &base, &len), -EPERM);
	ck_assert_int_eq(shm_publish(test_name, "good", 4, &existed), -EEXIST);
}
END_TEST

START_TEST(test_shm_map_refuses_empty_and_bad_names)
{
	const void *base;
	size_t len;
	int fd;

	ck_assert_int_eq(shm_map("no-slash", &base, &len), -EINVAL);
	ck_assert_int_eq(shm_map("/a/b", &base, &len), -EINVAL);
	ck_assert_int_eq(shm_map(test_name, &base, &len), -ENOENT);
	fd = shm_open(test_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(shm_map(test_name, &base, &len), -EBADMSG);
}
END_TEST

/* shm_open_name() opens PS_SHM_DIR/NAME as shm_open() would: the same
 * object, close-on-exec, no symbolic link followed, bad names refused. */
START_TEST(test_shm_open_name_is_shm_open_of_dev_shm)
{
	char path[128], link[128];
	struct stat a, b;
	int fd, fd2;

	ck_assert_int_eq(shm_open_name("no-slash", O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(shm_open_name("/a/b", O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(shm_open_name(NULL, O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(shm_open_name(test_name, O_RDONLY, 0), -ENOENT);
	fd = shm_open_name(test_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(
	        shm_open_name(test_name, O_RDWR | O_CREAT | O_EXCL, 0600),
	        -EEXIST);
	fd2 = shm_open(test_name, O_RDONLY, 0);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(fstat(fd2, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fd2);
	close(fd);
	/* A symbolic link in PS_SHM_DIR is not followed. */
	snprintf(path, sizeof(path), "%s%s", PS_SHM_DIR, test_name);
	snprintf(link, sizeof(link), "%s%s-link", PS_SHM_DIR, test_name);
	unlink(link);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(shm_open_name(link + strlen(PS_SHM_DIR), O_RDONLY, 0),
	                 -ELOOP);
	unlink(link);
}
END_TEST

/* env_get() is secure_getenv() (this test is not setuid): exact names
 * only, the first entry wins, an empty value is a value. */
START_TEST(test_env_get_matches_whole_names_only)
{
	ck_assert_int_eq(setenv("PROXYSHIM_TEST_ENV", "one", 1), 0);
	ck_assert_int_eq(setenv("PROXYSHIM_TEST_ENV_LONGER", "two", 1), 0);
	ck_assert_int_eq(setenv("PROXYSHIM_TEST_EMPTY", "", 1), 0);
	ck_assert_str_eq(env_get("PROXYSHIM_TEST_ENV"), "one");
	ck_assert_str_eq(env_get("PROXYSHIM_TEST_ENV_LONGER"), "two");
	ck_assert_str_eq(env_get("PROXYSHIM_TEST_EMPTY"), "");
	ck_assert_ptr_null(env_get("PROXYSHIM_TEST_EN"));
	ck_assert_ptr_null(env_get("PROXYSHIM_TEST_ENV_"));
	ck_assert_ptr_null(env_get("PROXYSHIM_TEST_ABSENT"));
	ck_assert_ptr_null(env_get(NULL));
	ck_assert_str_eq(env_get("PROXYSHIM_TEST_ENV"),
	                 secure_getenv("PROXYSHIM_TEST_ENV"));
	unsetenv("PROXYSHIM_TEST_ENV");
	unsetenv("PROXYSHIM_TEST_ENV_LONGER");
	unsetenv("PROXYSHIM_TEST_EMPTY");
	ck_assert_ptr_null(env_get("PROXYSHIM_TEST_ENV"));
}
END_TEST

/* A mapped table is a private copy: truncating or rewriting the object
 * afterwards neither faults (SIGBUS) nor changes what the reader sees. */
START_TEST(test_shm_map_is_immune_to_truncation_and_rewrites)
{
	char data[3 * 4096 + 7];
	const unsigned char *p;
	const void *base;
	size_t len, i;
	int existed, fd;

	memset(data, 'T', sizeof(data));
	ck_assert_int_eq(shm_publish(test_name, data, sizeof(data), &existed),
	                 0);
	ck_assert_int_eq(shm_map(test_name, &base, &len), 0);
	fd = shm_open(test_name, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "XXXX", 4, 4096), 4);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	close(fd);
	p = base;
	for (i = 0; i < len; i++)
		ck_assert_uint_eq(p[i], 'T');
	shm_unmap(base, len);
	/* Ours but empty now: publishing reports it as existing, so that the
	 * caller validates it (and replaces it). */
	ck_assert_int_eq(shm_map(test_name, &base, &len), -EBADMSG);
	ck_assert_int_eq(shm_publish(test_name, data, sizeof(data), &existed),
	                 0);
	ck_assert_int_eq(existed, 1);
}
END_TEST

/* Eight processes publish different contents under one name at once: all
 * succeed, and what is published is one of them, complete. */
START_TEST(test_shm_racing_publishers_never_expose_partial_table)
{
	enum { NPROC = 8, SIZE = 256 * 1024 };
	pid_t pids[NPROC];
	const unsigned char *p;
	const void *base;
	size_t len, i;
	int k, status;

	for (k = 0; k < NPROC; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0) {
			unsigned char *buf = malloc(SIZE);
			int existed;

			memset(buf, 'A' + k, SIZE);
			_exit(shm_publish(test_name, buf, SIZE, &existed) == 0
			              ? 0
			              : 1);
		}
	}
	for (k = 0; k < NPROC; k++) {
		ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_int_eq(shm_map(test_name, &base, &len), 0);
	ck_assert_uint_eq(len, SIZE);
	p = base;
	for (i = 1; i < len; i++)
		ck_assert_uint_eq(p[i], p[0]);
	shm_unmap(base, len);
}
END_TEST

static const char *fake_env[16][2];

static const char *
fake_getenv(const char *name)
{
	size_t i;

	for (i = 0; i < 16 && fake_env[i][0] != NULL; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

START_TEST(test_source_explicit_missing_file_is_error)
{
	struct ps_source src;

	memset(fake_env, 0, sizeof(fake_env));
	ck_assert_int_eq(
	        source_find("/nonexistent/proxyshim.yml", fake_getenv, &src),
	        -ENOENT);
}
END_TEST

START_TEST(test_source_env_config_wins_over_proxy_variables)
{
	char dir[] = "/tmp/psrcXXXXXX", path[256];
	struct ps_source src;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.yml", dir);
	f = fopen(path, "w");
	fputs("proxy:\n  http: localhost:3128\n", f);
	fclose(f);
	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "PROXYSHIM_CONFIG";
	fake_env[0][1] = path;
	fake_env[1][0] = "http_proxy";
	fake_env[1][1] = "http://other:1";
	ck_assert_int_eq(source_find(NULL, fake_getenv, &src), 0);
	ck_assert_int_eq(src.kind, PS_SOURCE_FILE);
	ck_assert_str_eq(src.path, path);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_source_falls_back_to_environment_then_none)
{
	struct ps_source src;
	uint64_t id1;
	char home[] = "/tmp/pshomeXXXXXX";

	/* A HOME without a config, and no ./proxyshim.yml in the cwd. */
	ck_assert_ptr_nonnull(mkdtemp(home));
	ck_assert_int_eq(access("proxyshim.yml", F_OK), -1);
	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "HOME";
	fake_env[0][1] = home;
	fake_env[1][0] = "HTTPS_PROXY";
	fake_env[1][1] = "http://p:3128";
	ck_assert_int_eq(source_find(NULL, fake_getenv, &src), 0);
	if (access("/etc/proxyshim.yml", F_OK) == 0) {
		ck_assert_int_eq(src.kind, PS_SOURCE_FILE);
		rmdir(home);
		return;
	}
	ck_assert_int_eq(src.kind, PS_SOURCE_ENV);
	id1 = src.identity;
	fake_env[1][1] = "http://p:3129";
	ck_assert_int_eq(source_find(NULL, fake_getenv, &src), 0);
	ck_assert_uint_ne(src.identity, id1);
	fake_env[1][0] = "UNRELATED";
	ck_assert_int_eq(source_find(NULL, fake_getenv, &src), 0);
	ck_assert_int_eq(src.kind, PS_SOURCE_NONE);
	rmdir(home);
}
END_TEST

START_TEST(test_source_identity_changes_when_file_is_rewritten)
{
	char path[] = "/tmp/psidXXXXXX";
	uint64_t a, b, c;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "proxy: {}\n", 10), 10);
	ck_assert_int_eq(source_identity_file(path, &a), 0);
	ck_assert_int_eq(source_identity_file(path, &b), 0);
	ck_assert_uint_eq(a, b);
	/* Same size, new content: the ctime/mtime change must be seen. */
	usleep(20000);
	ck_assert_int_eq(pwrite(fd, "proxy: []\n", 10, 0), 10);
	ck_assert_int_eq(source_identity_file(path, &c), 0);
	ck_assert_uint_ne(a, c);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_shm_table_name_is_per_user_and_identity)
{
	char a[PS_SHM_NAME_MAX], b[PS_SHM_NAME_MAX], want[32];

	shm_table_name(1, a, sizeof(a));
	shm_table_name(2, b, sizeof(b));
	ck_assert_str_ne(a, b);
	snprintf(want, sizeof(want), "/proxyshim-%u-", (unsigned)geteuid());
	ck_assert_int_eq(strncmp(a, want, strlen(want)), 0);
	ck_assert_uint_lt(strlen(a), PS_SHM_NAME_MAX);
}
END_TEST

/* The current segment of live reload (resolver/current.c). */
START_TEST(test_current_key_is_the_files_absolute_path)
{
	char dir[] = "/tmp/pscurXXXXXX", path[64], rel[80], cwd[4096];
	uint64_t a, b, c;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.yml", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(current_key_of(path, &a), 0);
	/* Another spelling of the same file: the same key. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(dir), 0);
	snprintf(rel, sizeof(rel), "./../%s/a.yml", strrchr(dir, '/') + 1);
	ck_assert_int_eq(current_key_of(rel, &b), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_uint_eq(a, b);
	/* Rewritten (a new inode, new contents): still the same key. */
	unlink(path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_eq(write(fd, "proxy: {}\n", 10), 10);
	close(fd);
	ck_assert_int_eq(current_key_of(path, &c), 0);
	ck_assert_uint_eq(a, c);
	ck_assert_int_eq(current_key_of("/nonexistent/x.yml", &c), -ENOENT);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_current_publish_bumps_generation_and_names_table)
{
	struct ps_current_seg *s, *t;
	char name[PS_SHM_NAME_MAX + 16];
	uint64_t key = ((uint64_t)getpid() << 20) ^ (uint64_t)rand();
	uint64_t gen, table;

	current_name(key, name, sizeof(name));
	shm_unlink(name);
	ck_assert_int_eq(current_open(key, 0, &s), -ENOENT);
	ck_assert_int_eq(current_open(key, 1, &s), 0);
	current_read(s, &gen, &table);
	ck_assert_uint_eq(gen, 0);
	/* The first process decides generation 1; a later one does not
	 * replace it. */
	ck_assert_uint_eq(current_init(s, 0x1111), 1);
	ck_assert_uint_eq(current_init(s, 0x2222), 1);
	current_read(s, &gen, &table);
	ck_assert_uint_eq(table, 0x1111);
	/* A second mapping (another process) sees each publication. */
	ck_assert_int_eq(current_open(key, 0, &t), 0);
	ck_assert_uint_eq(current_publish(s, 0x3333), 2);
	current_read(t, &gen, &table);
	ck_assert_uint_eq(gen, 2);
	ck_assert_uint_eq(table, 0x3333);
	/* One look at the file per PS_CURRENT_CHECK_MS, whoever asks. */
	ck_assert_int_eq(current_claim_check(s, 100000), 1);
	ck_assert_int_eq(current_claim_check(t, 100000 + 10), 0);
	ck_assert_int_eq(current_claim_check(t, 100000 + PS_CURRENT_CHECK_MS),
	                 1);
	current_close(s);
	current_close(t);
	shm_unlink(name);
}
END_TEST

Suite *shm_suite(void);

Suite *
shm_suite(void)
{
	Suite *s = suite_create("shm");
	TCase *tc = tcase_create("publish");

	tcase_add_checked_fixture(tc, name_setup, name_teardown);
	tcase_add_test(tc, test_shm_publish_then_map_round_trips);
	tcase_add_test(tc, test_shm_map_into_reads_small_table_into_buffer);
	tcase_add_test(tc, test_shm_published_object_is_private_0600);
	tcase_add_test(tc, test_shm_second_publish_reports_existing);
	tcase_add_test(tc, test_shm_map_refuses_object_readable_by_others);
	/* Only root can make an object owned by someone else. */
	tcase_add_test_unless(tc, test_shm_name_held_by_other_user_is_refused,
	                      geteuid() != 0, "not root, cannot chown");
	tcase_add_test(tc, test_shm_map_refuses_empty_and_bad_names);
	tcase_add_test(tc, test_shm_open_name_is_shm_open_of_dev_shm);
	tcase_add_test(tc, test_shm_map_is_immune_to_truncation_and_rewrites);
	tcase_add_test(tc,
	               test_shm_racing_publishers_never_expose_partial_table);
	tcase_add_test(tc, test_shm_table_name_is_per_user_and_identity);
	tcase_add_test(tc, test_current_key_is_the_files_absolute_path);
	tcase_add_test(tc,
	               test_current_publish_bumps_generation_and_names_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("source");
	tcase_add_test(tc, test_env_get_matches_whole_names_only);
	tcase_add_test(tc, test_source_explicit_missing_file_is_error);
	tcase_add_test(tc, test_source_env_config_wins_over_proxy_variables);
	tcase_add_test(tc, test_source_falls_back_to_environment_then_none);
	tcase_add_test(tc, test_source_identity_changes_when_file_is_rewritten);
	suite_add_tcase(s, tc);
	return s;
}
