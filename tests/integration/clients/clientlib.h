/*
 * Helpers shared by the C test clients (built one file each by
 * build_client in lib.sh; this header sits next to them).
 */
#ifndef PROXYSHIM_IT_CLIENTLIB_H
#define PROXYSHIM_IT_CLIENTLIB_H

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* Open descriptors of this process (/proc/self/fd), not counting the
 * directory's own; -1 when /proc is not there. */
static inline int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes: 0, or -1 with errno (ECONNRESET for an early
 * EOF). */
static inline int
read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = recv(fd, buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

#endif
