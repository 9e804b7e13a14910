/* Dialling upstreams on the program's socket (shim/tunnel.c). */
#ifndef PROXYSHIM_TUNNEL_H
#define PROXYSHIM_TUNNEL_H

#include <stdint.h>

#include "proxyshim/proto.h"
#include "proxyshim/table.h"

/* Connect fd (of address family sockfam) through the route's upstream
 * list to dst, by the table's chain mode.  0 or -errno
 * (docs/behaviour.md#errno-mapping). */
int tunnel_open(int fd, int sockfam, const struct ps_table_view *v,
                uint32_t chain_first, uint32_t chain_len,
                const struct ps_target *dst);

#endif
