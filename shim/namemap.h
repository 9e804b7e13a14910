/*
 * proxyshim preload library: the name map as the hooks use it
 * (shim/namemap.c).
 */
#ifndef PROXYSHIM_SHIM_NAMEMAP_H
#define PROXYSHIM_SHIM_NAMEMAP_H

#include <stddef.h>
#include <stdint.h>

struct names_fake;
struct names_map;
struct ps_dest;

/* The run tree's name map, NULL when no table is active or it cannot be
 * mapped. */
struct names_map *namemap_get(void);
/* connect path, no allocation: for a fake address set d->name to its name
 * and clear the address (returns 1; -EHOSTUNREACH when the name is
 * unknown); for a recorded real address set d->name too (returns 0). buf
 * holds the name. */
int namemap_dest(struct ps_dest *d, char *buf, size_t size);
/* A fake destination that routes direct: resolve d->name for real and
 * connect fd (socket family sockfam) there.  0 or -errno (-EINPROGRESS). */
int namemap_connect_direct(int fd, int sockfam, const struct ps_dest *d);
/* Record a locally resolved address of name. */
void namemap_record(const char *name, int family, const void *addr);
/* name's fake slot and addresses (names_fake_lookup()): 0, or -errno
 * (logged when the map is full). */
int namemap_fake(const char *name, struct names_fake *f);
/* 1 when name must not be looked up at all: the table was asked for but
 * is unusable (SHIM_BROKEN), so which names are dns: remote is unknown;
 * fail closed like connect() does.  localhost and numeric hosts pass. */
int namemap_refused(const char *name);

#endif
