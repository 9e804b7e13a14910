/*
 * bench/libnullread.so: the least any preload library that reads a
 * published table must do at start: open the object named by
 * PROXYSHIM_TABLE, fstat() it (owner, mode, size), read it, close it.
 * Nothing is checked or used.  Linked as cheaply as libnull.so but with
 * libc.  bench/startup runs it as the variant "null-read": the floor
 * under proxyshim's `table` variant, where libnull.so is the floor under
 * any preload at all.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char table[64 * 1024];
static char path[256] = "/dev/shm";

__attribute__((constructor)) static void
nullread_init(void)
{
	const char *name = getenv("PROXYSHIM_TABLE");
	struct stat st;
	size_t i, n = 8;
	int fd;

	if (name == NULL)
		return;
	for (i = 0; name[i] != '\0' && n + 1 < sizeof(path); i++)
		path[n++] = name[i];
	path[n] = '\0';
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    (size_t)st.st_size <= sizeof(table))
		(void)!pread(fd, table, (size_t)st.st_size, 0);
	close(fd);
}
