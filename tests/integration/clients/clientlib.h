/*
 * Helpers shared by the C test clients (built one file each by
 * build_client in lib.sh; this header sits next to them).
 */
#ifndef PROXYSHIM_IT_CLIENTLIB_H
#define PROXYSHIM_IT_CLIENTLIB_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
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

/* *ss for host, an IPv6 literal when it has a ':' (else IPv4), and port;
 * returns its length. */
static inline socklen_t
sockaddr_of(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((unsigned short)port);
		inet_pton(AF_INET6, host, &s->sin6_addr);
		return sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, host, &s->sin_addr);
		return sizeof(*s);
	}
}

/* Send tok[0..len) in one send() (retried on EINTR) and read len bytes
 * back into got: 0 when they are tok, 1 when they differ, -1 with errno
 * and *step the part that failed ("send" or "echo"). */
static inline int
echo_token(int fd, const char *tok, size_t len, char *got, const char **step)
{
	ssize_t w;

	*step = "send";
	do
		w = send(fd, tok, len, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)len) {
		if (w >= 0)
			errno = EIO; /* short send of a few dozen bytes */
		return -1;
	}
	*step = "echo";
	if (read_n(fd, got, len) != 0)
		return -1;
	return memcmp(got, tok, len) != 0;
}

#endif
