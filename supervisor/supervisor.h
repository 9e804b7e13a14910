/*
 * proxyshim-supervisor: answers the seccomp notifications of a run tree
 * (docs/behaviour.md#static-and-go-programs).  main.c starts it (the
 * listener from run, the table, the name map, a watcher that reports its
 * death); serve.c answers each call.
 */
#ifndef PROXYSHIM_SUPERVISOR_H
#define PROXYSHIM_SUPERVISOR_H

#include <stdatomic.h>
#include <stdbool.h>

#include "proxyshim/names.h"
#include "proxyshim/table.h"

/* Workers: each answers one call at a time, dial included.  Calls served
 * at once at most; past that, a call waits for a free worker (each call is
 * bounded by the table's timeouts). */
#define SUP_MAX_THREADS 256
#define SUP_START_WORKERS 2 /* started with the supervisor */
#define SUP_KEEP_IDLE 4     /* idle workers kept; more leave */
#define SUP_STACK (256 * 1024)

struct sup {
	int listener;    /* the filter's notification fd */
	bool have_table; /* false: fail closed (non-loopback refused) */
	struct ps_table_view view; /* the table run started with */
	struct names_map names;    /* fake addresses -> names */
	bool have_names;
	atomic_uint rr;     /* chain: round_robin, this tree's counter */
	atomic_int threads; /* workers alive */
	atomic_int idle;    /* workers waiting for a call */
};

/* Serve notifications until no process uses the filter any more.  0, or
 * -errno when the listener fails. */
int sup_serve(struct sup *s);

#endif
