/*
 * proxyshim: supervision of programs the library does not reach (static
 * and Go programs) under `proxyshim run`, with a seccomp user-notification
 * filter (docs/behaviour.md#static-and-go-programs).
 *
 * The launcher (cli/supervise.c) starts the supervisor, installs the
 * filter on itself and execs the command; the filter is inherited by every
 * process of the tree.  The supervisor (supervisor/) answers each
 * notification.  The library marks its own connects with PS_SUPERVISE_MAGIC
 * in connect()'s unused fourth argument, which the filter lets through
 * without a notification: dynamic programs keep their fast path
 * (docs/performance.md#supervision).
 */
#ifndef PROXYSHIM_SUPERVISE_H
#define PROXYSHIM_SUPERVISE_H

#include <stdint.h>

/* connect(2)'s fourth argument on the library's own connects. */
#define PS_SUPERVISE_MAGIC 0x7073686d53555056ull /* "pshmSUPV" */

/* Set by run in the command's environment once the filter is in place:
 * the library then issues its connects marked. */
#define PS_ENV_SUPERVISED "PROXYSHIM_SUPERVISED"

/* The supervisor's executable, beside the command or in
 * ../lib/proxyshim/ like the relay's. */
#define PS_SUPERVISOR_EXE "proxyshim-supervisor"

#endif
