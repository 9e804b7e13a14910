/*
 * Helpers shared by the C test clients (built one file each by
 * build_client in lib.sh; this header sits next to them).
 */
#ifndef PROXYSHIM_IT_CLIENTLIB_H
#define PROXYSHIM_IT_CLIENTLIB_H

#include <dirent.h>
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

#endif
