/*
 * proxyshim: where the compiled table comes from and how it is shared.
 *
 * A table is published as a POSIX shared memory object named
 * "/proxyshim-<uid>-<16 hex>" where the hex is the identity of its source:
 * for a file its device, inode, size, mtime and ctime (so an edited file
 * gets a new table without anyone reading YAML to find out); for the
 * environment default the values of the proxy variables.  Objects are
 * created 0600 under a temporary name and linked into place, so a reader
 * never sees a half-written table; a reader refuses objects that are not
 * owned by its own uid or are accessible to others.
 */
#ifndef PROXYSHIM_SHM_H
#define PROXYSHIM_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PS_SHM_NAME_MAX 64
#define PS_SHM_DIR "/dev/shm" /* where glibc keeps POSIX shm objects */

/* Where a config comes from. */
struct ps_source {
	int kind;          /* PS_SOURCE_FILE / PS_SOURCE_ENV / _NONE */
	char path[4096];   /* FILE: the path as found */
	uint64_t identity; /* see above */
};
#define PS_SOURCE_NONE 0
#define PS_SOURCE_FILE 1
#define PS_SOURCE_ENV 2

typedef const char *(*ps_getenv_fn)(const char *);

/*
 * The config lookup (docs/behaviour.md#config-lookup): explicit path (may be
 * NULL), $PROXYSHIM_CONFIG,
 * ./proxyshim.yml, $XDG_CONFIG_HOME/proxyshim/config.yml (default
 * ~/.config/proxyshim/config.yml), /etc/proxyshim.yml, then the proxy
 * environment variables.  An explicit path or $PROXYSHIM_CONFIG that does
 * not exist is an error (-ENOENT), not a fall-through.  Returns 0 with
 * src->kind set (NONE when nothing at all is configured) or -errno.
 */
int source_find(const char *explicit_path, ps_getenv_fn env,
                struct ps_source *src);
/* The identity of a file (stat) or of the environment. */
int source_identity_file(const char *path, uint64_t *id);
uint64_t source_identity_env(ps_getenv_fn env);
/* "/proxyshim-<uid>-<16 hex>" */
void shm_table_name(uint64_t identity, char *buf, size_t bufsz);
/* Decimal digits of v at p, without printf and without a '\0'; returns
 * the end.  Room for 10 digits is the caller's. */
char *shm_put_uint(char *p, unsigned v);
/* A companion segment's name: the table name of identity with suffix
 * ("-relay", "-current") after it; nothing when bufsz cannot hold the
 * suffix. */
void shm_companion_name(uint64_t identity, const char *suffix, char *buf,
                        size_t bufsz);

/*
 * Publish len bytes under name, atomically.  When an object of that name
 * already exists and is ours, that is success (*existed = 1): the name says
 * what is in it.  Returns 0 or -errno (-EEXIST when the name is held by
 * another user or is not private).
 */
int shm_publish(const char *name, const void *buf, size_t len, int *existed);
/* Tables up to this size are copied by shm_map(); larger ones shared. */
#define PS_SHM_COPY_MAX (1024u * 1024u)
/* Map a private, read-only copy of name after checking owner, mode and
 * size (later changes to the object do not reach it; over
 * PS_SHM_COPY_MAX, a shared read-only mapping instead).  0 or -errno:
 * -EPERM not ours or not private, -EBADMSG empty or over
 * PS_TABLE_MAX_SIZE (or shorter than it said while being read). */
int shm_map(const char *name, const void **base, size_t *len);
/* open(2) of the shared-memory object name ("/NAME", no other slash) in
 * PS_SHM_DIR, O_NOFOLLOW | O_CLOEXEC added, as glibc's shm_open() does:
 * the fd, or -errno (-EINVAL for a bad name). */
int shm_open_name(const char *name, int flags, mode_t mode);
/* Same, but a table of at most cap bytes is read into buf (*base = buf;
 * not to be shm_unmap()ed); a larger one is mapped as by shm_map(). */
int shm_map_into(const char *name, void *buf, size_t cap, const void **base,
                 size_t *len);
/* Same, of an object already open (fd stays open and is not moved); st:
 * its fstat() if the caller has it, else NULL. */
struct stat;
int shm_map_fd(int fd, const struct stat *st, void *buf, size_t cap,
               const void **base, size_t *len);
void shm_unmap(const void *base, size_t len);
/*
 * Map read-write one of the small mutable segments beside a table (state,
 * names, relay): ours, 0600, exactly size bytes.  With create, a missing
 * object is created and a short one extended (racing creators extend to the
 * same size: harmless); without, a missing one is -ENOENT.  Any other size
 * is -EINVAL (made by another build), a foreign or open object -EPERM.
 */
int shm_map_rw(const char *name, size_t size, int create, void **out);
int shm_remove(const char *name);

uint64_t ps_fnv1a64(uint64_t h, const void *buf, size_t len);
#define PS_FNV64_INIT 0xcbf29ce484222325ull

#endif
