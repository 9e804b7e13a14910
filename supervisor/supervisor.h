/*
 * proxyshim-supervisor: answers the seccomp notifications of run trees
 * (docs/behaviour.md#static-and-go-programs).  main.c takes each tree from
 * its run and forks a server for it (the tree's listener, table and name
 * map), reporting the server's death; serve.c answers each call.
 */
#ifndef PROXYSHIM_SUPERVISOR_H
#define PROXYSHIM_SUPERVISOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxyshim/current.h"
#include "proxyshim/dnsstub.h"
#include "proxyshim/names.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"

/* Workers: each answers one call at a time, dial included.  Calls served
 * at once at most; past that, a call waits for a free worker (each call is
 * bounded by the table's timeouts). */
#define SUP_MAX_THREADS 256
#define SUP_START_WORKERS 2 /* started with the supervisor */
#define SUP_KEEP_IDLE 4     /* idle workers kept; more leave */
#define SUP_STACK (256 * 1024)

/* The DNS stub for the supervised programs' own resolvers (dns.c). */
#define SUP_DNS_THREADS 2
#define SUP_NS_MAX 8 /* nameservers of resolv.conf kept */
struct sup_ns {
	int family;
	uint8_t addr[16];
};
struct sup_dns {
	struct dnsstub stub;
	struct dnsstub_names names;
	int stop[2];
	pthread_t th[SUP_DNS_THREADS];
	int nth;         /* serving threads started */
	atomic_int port; /* the stub's port; 0: no stub */
	struct sup_ns ns[SUP_NS_MAX];
	int nns;
};

struct sup {
	int listener; /* the filter's notification fd */
	int ep;       /* epoll of the listener: the idle workers wait here */
	int command;  /* a pidfd of the command run started, or -1 */
	/* The table in force (policy.c); NULL: fail closed (non-loopback
	 * refused). */
	struct sup_gen *gen;
	pthread_mutex_t lock;       /* gen and its references */
	struct ps_current_seg *cur; /* live reload; NULL: none */
	_Atomic uint64_t seen;      /* the generation last followed */
	struct names_map names;     /* fake addresses -> names */
	bool have_names;
	atomic_uint rr;     /* chain: round_robin, this tree's counter */
	atomic_int threads; /* workers alive */
	atomic_int idle;    /* workers waiting for a call */
	struct sup_dns dns;
};

/* The table (policy.c): map run's table name and follow the config
 * file's live reloads.  0 or -EINVAL (logged). */
int sup_policy_init(struct sup *s, const char *name);
/* The table in force, held until sup_policy_put(); NULL when there is
 * none. */
const struct ps_table_view *sup_policy_get(struct sup *s);
void sup_policy_put(struct sup *s, const struct ps_table_view *v);

/* Wait until the command run started has exited (cmd: its pidfd; -1:
 * return at once), then let go of run's stderr (main.c). */
void sup_wait_command(int cmd);

/* With dns: remote in the table and a name map: read resolv.conf's
 * nameservers and start the DNS stub (dns.c); otherwise, or when it cannot
 * start (logged), nothing is redirected. */
void sup_dns_start(struct sup *s);
/* End the stub's threads. */
void sup_dns_stop(struct sup *s);
/* A connect to dst goes to the stub: port 53 of a nameserver, the stub
 * running, dns: remote in v. */
bool sup_dns_redirects(struct sup *s, const struct ps_table_view *v,
                       const struct ps_dest *dst);

/* Serve notifications until no process uses the filter any more; start()
 * runs once, at the first one, before any worker.  0, or -errno when the
 * listener fails. */
int sup_serve(struct sup *s, void (*start)(struct sup *));

#endif
