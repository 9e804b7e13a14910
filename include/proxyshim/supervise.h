/*
 * proxyshim: supervision of programs the library does not reach (static
 * and Go programs) under `proxyshim run`, with a seccomp user-notification
 * filter (docs/behaviour.md#static-and-go-programs).
 *
 * The launcher (cli/supervise.c) installs the filter on itself, hands its
 * listener to the supervisor of its user (started when there is none) and
 * execs the command; the filter is inherited by every process of the
 * tree.  The supervisor (supervisor/) answers each
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

/*
 * One supervisor serves every run of a user in a mount namespace, for one
 * build of it (docs/performance.md#supervision).  It listens on an
 * abstract unix socket (SOCK_SEQPACKET) named
 * PS_SUP_SOCK_PREFIX + 16 hex digits of a hash of the euid, the mount
 * namespace and the executable's identity, which run computes and passes
 * to a supervisor it starts as its second argument.  Both ends check the
 * other's uid (SO_PEERCRED).
 *
 * run sends one message per tree: struct ps_sup_hello, then the table
 * name, the config path and the log level as three NUL-terminated strings
 * (empty: unset), and as SCM_RIGHTS the listener, then in this order those
 * of run's standard error, a pidfd of the command and the log file that
 * the flags announce.
 */
#define PS_SUP_SOCK_PREFIX "proxyshim-supervisor-"
#define PS_SUP_PROTO 1
#define PS_SUP_HAS_STDERR 0x1u
#define PS_SUP_HAS_PIDFD 0x2u
#define PS_SUP_HAS_LOGFD 0x4u
#define PS_SUP_MAX_FDS 4
#define PS_SUP_MSG_MAX 4400 /* hello + a table name + a path + a level */
struct ps_sup_hello {
	char magic[4]; /* "PSUP" */
	uint8_t proto; /* PS_SUP_PROTO */
	uint8_t flags; /* PS_SUP_HAS_* */
	uint8_t pad[2];
};

/* How long the supervisor stays once it serves no tree, seconds (default
 * 60; 0: leave with the last tree). */
#define PS_ENV_SUPERVISOR_IDLE "PROXYSHIM_SUPERVISOR_IDLE"

#endif
