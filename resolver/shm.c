/*
 * Publishing and mapping tables in POSIX shared memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/shm.h"
#include "proxyshim/sys.h"
#include "proxyshim/table.h"

/* Room for PS_SHM_DIR and a name, publishers' temporary ones included. */
#define SHM_PATH_MAX (sizeof(PS_SHM_DIR) + PS_SHM_NAME_MAX + 32)

/* PS_SHM_DIR followed by name ("/NAME", no other slash) into path: 0, or
 * -EINVAL.  By hand, not with strlen() and memcpy(): libc's pages that a
 * preloaded start would touch for this alone (include/proxyshim/sys.h). */
static int
shm_path(const char *name, char path[SHM_PATH_MAX])
{
	size_t d = sizeof(PS_SHM_DIR) - 1, n;

	if (name == NULL || name[0] != '/')
		return -EINVAL;
	for (n = 0; n < d; n++)
		path[n] = PS_SHM_DIR[n];
	for (n = 0; name[n] != '\0'; n++) {
		if ((n > 0 && name[n] == '/') || d + n + 1 >= SHM_PATH_MAX)
			return -EINVAL;
		path[d + n] = name[n];
	}
	path[d + n] = '\0';
	return 0;
}

int
shm_open_name(const char *name, int flags, mode_t mode)
{
	char path[SHM_PATH_MAX];
	int r = shm_path(name, path);

	return r < 0 ? r : sys_open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

char *
shm_put_uint(char *p, unsigned v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

void
shm_companion_name(uint64_t identity, const char *suffix, char *buf,
                   size_t bufsz)
{
	size_t n, slen = strlen(suffix);

	if (bufsz < slen + 1)
		return;
	shm_table_name(identity, buf, bufsz - slen);
	n = strlen(buf);
	memcpy(buf + n, suffix, slen + 1);
}

void
shm_table_name(uint64_t identity, char *buf, size_t bufsz)
{
	static const char hex[] = "0123456789abcdef";
	char name[PS_SHM_NAME_MAX], *p = name;
	size_t n;
	int i;

	if (bufsz == 0)
		return;
	/* "/proxyshim-<uid>-v<format>-<16 hex>", as snprintf() would write it
	 * but by hand: this runs at the start of every program handed only
	 * PROXYSHIM_CONFIG, and printf's first call faults in code those
	 * programs never touch otherwise (bench/startup).  The format version
	 * is part of the name: a newer proxyshim never trips over a table an
	 * older one published for the same file. */
	memcpy(p, "/proxyshim-", 11);
	p = shm_put_uint(p + 11, (unsigned)sys_geteuid());
	*p++ = '-';
	*p++ = 'v';
	p = shm_put_uint(p, (unsigned)PS_TABLE_VERSION);
	*p++ = '-';
	for (i = 15; i >= 0; i--)
		*p++ = hex[(identity >> (4 * i)) & 0xf];
	n = (size_t)(p - name);
	if (n > bufsz - 1)
		n = bufsz - 1;
	memcpy(buf, name, n);
	buf[n] = '\0';
}

static int
shm_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* size bytes from offset 0; -EBADMSG when the object is shorter now. */
static int
shm_read_all(int fd, void *buf, size_t size)
{
	char *p = buf;
	size_t got = 0;

	while (got < size) {
		ssize_t n = sys_pread(fd, p + got, size - got, (off_t)got);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		if (n == 0)
			return -EBADMSG;
		got += (size_t)n;
	}
	return 0;
}

/* Ours, private, a regular object (-EPERM), of a sane size (-EBADMSG:
 * empty or too big, e.g. truncated after it was published). */
static int
shm_check_stat(const struct stat *stp, size_t *size)
{
	if (!S_ISREG(stp->st_mode) || stp->st_uid != sys_geteuid() ||
	    (stp->st_mode & 077) != 0)
		return -EPERM;
	if (stp->st_size <= 0 || (uint64_t)stp->st_size > PS_TABLE_MAX_SIZE)
		return -EBADMSG;
	*size = (size_t)stp->st_size;
	return 0;
}

static int
shm_check_owner(int fd, size_t *size)
{
	struct stat st;
	int r = sys_fstat(fd, &st);

	return r < 0 ? r : shm_check_stat(&st, size);
}

int
shm_publish(const char *name, const void *buf, size_t len, int *existed)
{
	char tmp[PS_SHM_NAME_MAX + 32], from[SHM_PATH_MAX], to[SHM_PATH_MAX];
	struct timespec ts;
	size_t size;
	int fd, r, tries;

	*existed = 0;
	if (strlen(name) >= PS_SHM_NAME_MAX || name[0] != '/')
		return -EINVAL;
	for (tries = 0;; tries++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(tmp, sizeof(tmp), "%s.%ld.%ld", name, (long)getpid(),
		         (long)ts.tv_nsec + tries);
		fd = shm_open_name(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0)
			break;
		if (fd != -EEXIST || tries >= 16)
			return fd;
	}
	/* The umask cannot widen 0600, but be explicit about it. */
	if (fchmod(fd, 0600) != 0) {
		r = -errno;
		goto out;
	}
	r = shm_write_all(fd, buf, len);
	if (r < 0)
		goto out;
	if (shm_path(tmp, from) < 0 || shm_path(name, to) < 0) {
		r = -EINVAL;
		goto out;
	}
	/* link() never replaces: the first complete table wins, and nobody
	 * ever sees one that is still being written. */
	if (link(from, to) != 0) {
		r = -errno;
		if (r == -EEXIST) {
			int efd = shm_open_name(name, O_RDONLY, 0);

			if (efd < 0) {
				r = efd;
				goto out;
			}
			r = shm_check_owner(efd, &size);
			close(efd);
			/* Ours but truncated: the caller validates what
			 * exists and replaces it. */
			if (r == 0 || r == -EBADMSG) {
				*existed = 1;
				r = 0;
			} else {
				r = -EEXIST;
			}
		}
	} else {
		r = 0;
	}
out:
	close(fd);
	shm_unlink(tmp);
	return r;
}

int
shm_map(const char *name, const void **base, size_t *len)
{
	return shm_map_into(name, NULL, 0, base, len);
}

int
shm_map_into(const char *name, void *buf, size_t cap, const void **base,
             size_t *len)
{
	size_t n = 0;
	int fd, r;

	while (name != NULL && n < PS_SHM_NAME_MAX && name[n] != '\0')
		n++;
	if (n >= PS_SHM_NAME_MAX)
		return -EINVAL; /* shm_open_name() checks the rest */
	fd = shm_open_name(name, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	r = shm_map_fd(fd, NULL, buf, cap, base, len);
	sys_close(fd);
	return r;
}

int
shm_map_fd(int fd, const struct stat *st, void *buf, size_t cap,
           const void **base, size_t *len)
{
	size_t size = 0;
	void *p;
	int r;

	r = st != NULL ? shm_check_stat(st, &size) : shm_check_owner(fd, &size);
	if (r < 0)
		goto out;
	/* A private copy, not a shared mapping: the object can be truncated
	 * or rewritten by anyone with our uid while we run, and a shared
	 * mapping would then SIGBUS the host program, or show it offsets
	 * that were validated before they changed.  read() of a shrunken
	 * object just comes up short.  Tables are about a KiB, where a copy
	 * costs nothing; a table over PS_SHM_COPY_MAX (hundreds of thousands
	 * of entries) is shared instead, so that every wrapped process does
	 * not hold its own tens of MiB: for those, truncating the object
	 * under a running program (only our own uid can) remains fatal to
	 * it, as docs/robustness.md says.
	 *
	 * A copy that fits the caller's buffer goes there: no mmap() and
	 * mprotect() of its own, two system calls fewer in every wrapped
	 * program's start (the shim passes a static one; bench/startup). */
	if (buf != NULL && size <= cap) {
		r = shm_read_all(fd, buf, size);
		if (r == 0) {
			*base = buf;
			*len = size;
		}
		goto out;
	}
	if (size > PS_SHM_COPY_MAX) {
		p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			goto out;
		}
		*base = p;
		*len = size;
		goto out;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	r = shm_read_all(fd, p, size);
	if (r == 0 && mprotect(p, size, PROT_READ) != 0)
		r = -errno;
	if (r < 0) {
		munmap(p, size);
		goto out;
	}
	*base = p;
	*len = size;
out:
	return r;
}

int
shm_map_rw(const char *name, size_t size, int create, void **out)
{
	struct stat st;
	void *p;
	int fd, r = 0;

	fd = shm_open_name(name, O_RDWR | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return fd;
	r = sys_fstat(fd, &st);
	if (r < 0)
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_uid != sys_geteuid() ||
	    (st.st_mode & 077) != 0) {
		r = -EPERM;
		goto out;
	}
	if (create && (size_t)st.st_size < size &&
	    ftruncate(fd, (off_t)size) != 0) {
		r = -errno;
		goto out;
	}
	if (create ? (size_t)st.st_size > size : (size_t)st.st_size != size) {
		r = -EINVAL;
		goto out;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	*out = p;
out:
	sys_close(fd);
	return r;
}

void
shm_unmap(const void *base, size_t len)
{
	if (base != NULL)
		munmap((void *)(uintptr_t)base, len);
}

int
shm_remove(const char *name)
{
	return shm_unlink(name) == 0 ? 0 : -errno;
}
