/*
 * Mutable state shared by every process using one table: dead-upstream
 * marks (chain: failover) and the round-robin cursor.  Kept out of the
 * read-only table so the table itself is never written after publication.
 * Mapped lazily, on the first connect that needs it; when it cannot be
 * mapped the state is per process (logged once), never an error.
 */
#ifndef PROXYSHIM_STATE_H
#define PROXYSHIM_STATE_H

#include <stdint.h>

#include "proxyshim/table.h"

#define PS_STATE_MAX_UPSTREAMS 4096
#define PS_DEAD_MS 30000 /* how long a failed upstream is skipped */

int state_is_dead(const struct ps_table_view *v, uint32_t up);
void state_mark_dead(const struct ps_table_view *v, uint32_t up);
void state_mark_alive(const struct ps_table_view *v, uint32_t up);
uint64_t state_rr_next(const struct ps_table_view *v);
/* Unmap a table's state (shim/reload.c, when its generation's slot is
 * reused). */
void state_release(void *s);

#endif
