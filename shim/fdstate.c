/*
 * Per-socket state of the reverse-proxy side, indexed by fd.
 *
 * An array of entries indexed by fd (bounds-checked), sized from
 * RLIMIT_NOFILE at first use (1,024 .. 1,048,576 entries, mapped lazily
 * with MAP_NORESERVE, so untouched pages cost nothing), plus a small ring
 * for fds beyond it (a program that raised its limit later).
 *
 * Each entry carries the identity of the socket it describes: st_dev and
 * st_ino of the fd at accept() time.  A lookup fstat()s the fd and only
 * trusts an entry of the same socket.  So close() and fd reuse need no
 * hook (a new socket on the same fd has another inode: sockfs numbers
 * them from a counter that wraps only after 2^32 sockets), and neither do
 * dup(), dup2(), dup3() and fcntl(F_DUPFD*): a duplicate shares the
 * inode, and a lookup that misses at its own index scans the entries in
 * use for that inode (rare: getpeername() on a duplicate of an accepted
 * socket from a trusted origin).  No close/dup/fcntl interposition means
 * no variadic fcntl() wrapper and nothing on those hot paths.
 *
 * Thread safety: each entry has a tiny spin lock held only for a copy of
 * 64 bytes, never across a system call; lock attempts are bounded, so even
 * a signal handler calling getpeername() cannot deadlock (it would just
 * see the socket's own peer).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fdstate.h"
#include "proxyshim/log.h"

#define FDSTATE_MIN 1024u
#define FDSTATE_MAX (1u << 20)
#define FDSTATE_RING 64u    /* entries for fds >= the array's size */
#define FDSTATE_SPINS 10000 /* bounded lock attempts */

struct fdstate_ent {
	atomic_uint lock;
	uint32_t len; /* 0 = empty */
	uint64_t dev;
	uint64_t ino;
	struct sockaddr_in6 addr; /* holds a sockaddr_in too */
};

static struct fdstate_ent *fds;
static size_t nfds;
static struct fdstate_ent ring[FDSTATE_RING];
static atomic_uint ring_next;
static atomic_int hiwater = -1; /* highest fd index ever set */
static pthread_once_t fdstate_once = PTHREAD_ONCE_INIT;

static void
fdstate_init(void)
{
	struct rlimit rl;
	size_t n = FDSTATE_MIN;
	void *p;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = rl.rlim_cur > FDSTATE_MAX   ? FDSTATE_MAX
		    : rl.rlim_cur < FDSTATE_MIN ? FDSTATE_MIN
		                                : (size_t)rl.rlim_cur;
	p = mmap(NULL, n * sizeof(struct fdstate_ent), PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("no memory for %zu fd entries: only the overflow ring "
		         "of %u is used",
		         n, FDSTATE_RING);
		return;
	}
	fds = p;
	nfds = n;
}

static int
fdstate_lock(struct fdstate_ent *e)
{
	unsigned i;

	for (i = 0; i < FDSTATE_SPINS; i++) {
		unsigned z = 0;

		if (atomic_compare_exchange_weak_explicit(&e->lock, &z, 1,
		                                          memory_order_acquire,
		                                          memory_order_relaxed))
			return 1;
	}
	return 0;
}

static void
fdstate_unlock(struct fdstate_ent *e)
{
	atomic_store_explicit(&e->lock, 0, memory_order_release);
}

static void
fdstate_put(struct fdstate_ent *e, const struct stat *st,
            const struct sockaddr *sa, socklen_t len)
{
	if (!fdstate_lock(e))
		return;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->len = (uint32_t)len;
	memcpy(&e->addr, sa, len);
	fdstate_unlock(e);
}

void
fdstate_set(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct stat st;
	int hw;

	if (fd < 0 || len == 0 || len > sizeof(struct sockaddr_in6) ||
	    fstat(fd, &st) != 0)
		return;
	pthread_once(&fdstate_once, fdstate_init);
	if ((size_t)fd < nfds) {
		fdstate_put(&fds[fd], &st, sa, len);
		hw = atomic_load_explicit(&hiwater, memory_order_relaxed);
		while (fd > hw &&
		       !atomic_compare_exchange_weak(&hiwater, &hw, fd))
			;
		return;
	}
	fdstate_put(&ring[atomic_fetch_add(&ring_next, 1) % FDSTATE_RING], &st,
	            sa, len);
}

/* 1 when e describes the socket st, with its address copied out. */
static int
fdstate_match(struct fdstate_ent *e, const struct stat *st,
              struct sockaddr_storage *out, socklen_t *len)
{
	int hit = 0;

	if (!fdstate_lock(e))
		return 0;
	if (e->len != 0 && e->dev == (uint64_t)st->st_dev &&
	    e->ino == (uint64_t)st->st_ino) {
		memcpy(out, &e->addr, e->len);
		*len = (socklen_t)e->len;
		hit = 1;
	}
	fdstate_unlock(e);
	return hit;
}

int
fdstate_get(int fd, struct sockaddr_storage *out, socklen_t *len)
{
	struct stat st;
	size_t i, hw;

	if (fd < 0 || fstat(fd, &st) != 0)
		return 0;
	pthread_once(&fdstate_once, fdstate_init);
	if ((size_t)fd < nfds && fdstate_match(&fds[fd], &st, out, len))
		return 1;
	/* A duplicate, or an fd beyond the array. */
	for (i = 0; i < FDSTATE_RING; i++)
		if (fdstate_match(&ring[i], &st, out, len))
			return 1;
	hw = (size_t)(atomic_load(&hiwater) + 1);
	for (i = 0; i < hw && i < nfds; i++)
		if (i != (size_t)fd && fdstate_match(&fds[i], &st, out, len))
			return 1;
	return 0;
}
