/*
 * proxyshim: config source → compiled table → published table.
 *
 * Linked into the command and into libproxyshim-compiler.so, which the
 * preload library dlopen()s only when it has to compile a table itself, so
 * libyaml is never loaded into a wrapped program that finds its table
 * already published.
 */
#ifndef PROXYSHIM_COMPILER_H
#define PROXYSHIM_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#include "proxyshim/config.h"
#include "proxyshim/shm.h"

#define PS_EXPORT __attribute__((visibility("default")))

/* Load the config a source names.  -1 with "FILE:LINE:COL: msg" in err. */
int compiler_load(const struct ps_source *src, struct ps_config *cfg, char *err,
                  size_t errsz);
/* Load and compile into a malloc'ed table. */
int compiler_build(const struct ps_source *src, uint8_t **tbl, size_t *len,
                   char *err, size_t errsz);
/*
 * Load, compile and publish; on success name holds the shm name.  When the
 * name is taken by something that is not ours or not valid and cannot be
 * replaced, the table is still returned privately in *priv (malloc'ed;
 * NULL otherwise) and 0 is returned with name[0] == '\0'.
 */
int compiler_publish(const struct ps_source *src, char *name, size_t namesz,
                     uint8_t **priv, size_t *privlen, char *err, size_t errsz);

/* The symbol the shim looks up with dlsym(). */
#define PS_COMPILER_SYMBOL "proxyshim_compiler_publish"
#define PS_COMPILER_LIB "libproxyshim-compiler.so"
typedef int (*ps_compiler_publish_fn)(const struct ps_source *, char *, size_t,
                                      uint8_t **, size_t *, char *, size_t);
PS_EXPORT int proxyshim_compiler_publish(const struct ps_source *src,
                                         char *name, size_t namesz,
                                         uint8_t **priv, size_t *privlen,
                                         char *err, size_t errsz);

#endif
