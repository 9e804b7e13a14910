/*
 * The system calls that every preloaded start makes to open, check and
 * read its table, made by number on x86-64 instead of through libc's
 * wrappers.  A short program's start touches none of those wrappers'
 * pages of libc otherwise, and under a hypervisor each page touched can
 * be a page fault costing more than the call itself
 * (docs/performance.md#what-a-preloaded-start-costs).  Each returns its
 * result or -errno and leaves errno alone.  Elsewhere, and in sanitizer
 * builds (whose interceptors check the buffers), libc's wrappers.
 */
#ifndef PROXYSHIM_SYS_H
#define PROXYSHIM_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define PS_SYS_RAW 1

static inline long
sys_call4(long nr, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long r;

	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
	                 : "rcx", "r11", "memory");
	return r;
}
#endif

static inline int
sys_open(const char *path, int flags, mode_t mode)
{
#ifdef PS_SYS_RAW
	return (int)sys_call4(SYS_openat, AT_FDCWD, (long)path, flags,
	                      (long)mode);
#else
	int fd = open(path, flags, mode);

	return fd < 0 ? -errno : fd;
#endif
}

/* The kernel's struct stat is glibc's and musl's on x86-64. */
static inline int
sys_fstat(int fd, struct stat *st)
{
#ifdef PS_SYS_RAW
	return (int)sys_call4(SYS_fstat, fd, (long)st, 0, 0);
#else
	return fstat(fd, st) == 0 ? 0 : -errno;
#endif
}

static inline ssize_t
sys_pread(int fd, void *buf, size_t n, off_t off)
{
#ifdef PS_SYS_RAW
	return (ssize_t)sys_call4(SYS_pread64, fd, (long)buf, (long)n,
	                          (long)off);
#else
	ssize_t r = pread(fd, buf, n, off);

	return r < 0 ? -errno : r;
#endif
}

static inline int
sys_close(int fd)
{
#ifdef PS_SYS_RAW
	return (int)sys_call4(SYS_close, fd, 0, 0, 0);
#else
	return close(fd) == 0 ? 0 : -errno;
#endif
}

static inline uid_t
sys_geteuid(void)
{
#ifdef PS_SYS_RAW
	return (uid_t)sys_call4(SYS_geteuid, 0, 0, 0, 0);
#else
	return geteuid();
#endif
}

#endif
