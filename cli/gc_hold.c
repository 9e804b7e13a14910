/*
 * The two parts of gc that run needs on every start, in the launcher: the
 * lock on the table it hands its command, and whether a collection is due.
 * The collection itself (cli/cmd_gc.c) lives in the tools library, loaded
 * when one is due (docs/behaviour.md#garbage-collection-proxyshim-gc,
 * docs/performance.md#what-run-does).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/shm.h"
#include "proxyshim/table.h"
#include "cli.h"

bool
gc_due(void)
{
	char path[sizeof(PS_SHM_DIR) + 32], uid[16];
	struct stat st;

	/* The uid in decimal, without printf (cli_cat says why). */
	*shm_put_uint(uid, (unsigned)geteuid()) = '\0';
	cli_cat(path, sizeof(path), PS_SHM_DIR "/proxyshim-", uid, GC_STAMP);
	return stat(path, &st) != 0 || time(NULL) - st.st_mtime >= GC_MIN_AGE_S;
}

int
gc_hold(const char *name)
{
	/* A table of the usual size is read here, not into pages of its
	 * own (the library does the same); untouched pages cost nothing. */
	static uint64_t buf[64 * 1024 / sizeof(uint64_t)];
	char path[sizeof(PS_SHM_DIR) + PS_SHM_NAME_MAX];
	struct ps_table_view v;
	const void *base;
	const char *why;
	struct stat a, b;
	size_t len;
	int fd, r;

	if (strlen(name) >= PS_SHM_NAME_MAX || name[0] != '/')
		return -EINVAL;
	cli_cat(path, sizeof(path), PS_SHM_DIR, name, "");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EINVAL;
	/* Kept until exec (O_CLOEXEC): from there on the command's
	 * environment names the table.  gc removes a name only under
	 * LOCK_EX, so once the name still leads to what we locked, it
	 * stays. */
	if (flock(fd, LOCK_SH) != 0 || fstat(fd, &a) != 0 ||
	    stat(path, &b) != 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		r = -ENOENT;
		goto fail;
	}
	r = shm_map_fd(fd, &a, buf, sizeof(buf), &base, &len);
	if (r < 0) {
		r = -EINVAL;
		goto fail;
	}
	r = table_view_open(base, len, &v, &why);
	if (base != (const void *)buf)
		shm_unmap(base, len);
	if (r < 0) {
		r = -EINVAL;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}
