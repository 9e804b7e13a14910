/*
 * The shim's side of https:// upstreams: find (or start) the table's TLS
 * relay and connect the program's own socket to it, asking for the final
 * destination with a plain CONNECT that carries the relay's secret.  The
 * program keeps an ordinary TCP socket; libssl stays in the relay.
 *
 * Starting: posix_spawn() of `proxyshim-relay --detach --table NAME`,
 * which forks again and setsid()s, so the relay is neither the program's
 * child for long nor in its session; no fork() in the program (no atfork
 * handlers run).  The relay is the program proxyshim-relay next to this
 * library (build tree and installed layout alike); with $PROXYSHIM_CMD
 * set, `$PROXYSHIM_CMD relay ...` instead (the command's alias).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/relay.h"
#include "proxyshim/relayreq.h"
#include "proxyshim/sockdiag.h"
#include "shim.h"
#include "tunnel.h"

extern char **environ;

#define RELAY_ENV_MAX 1024 /* environment entries passed on */

/* The relay segment of v's table, mapped on first use.  Each generation
 * of a reloaded policy has its own table, so its own relay, which reads
 * that generation's upstreams (docs/behaviour.md#live-reload). */
static struct ps_relay_seg *
relay_seg_of(const struct ps_table_view *v)
{
	_Atomic(struct ps_relay_seg *) *slot = reload_relay_slot(v);
	struct ps_relay_seg *s = atomic_load(slot), *none = NULL;
	int r;

	if (s != NULL)
		return s;
	r = relayseg_open(v->hdr->source_hash, &s);
	if (r < 0) {
		log_err("cannot open the relay segment: %s", strerror(-r));
		return NULL;
	}
	if (!atomic_compare_exchange_strong(slot, &none, s)) {
		munmap(s, sizeof(*s)); /* another thread was first */
		s = none;
	}
	return s;
}

/* The relay program next to this library; or $PROXYSHIM_CMD (*sub = 1:
 * it takes "relay" first). */
static int
relay_cmd_path(char *path, size_t size, int *sub)
{
	const char *env = env_get(PS_ENV_CMD);
	Dl_info self;
	char *slash;

	*sub = 0;
	if (env != NULL && *env != '\0') {
		*sub = 1;
		snprintf(path, size, "%s", env);
		return access(path, X_OK) == 0 ? 0 : -ENOENT;
	}
	if (dladdr((void *)relay_cmd_path, &self) == 0 ||
	    self.dli_fname == NULL)
		return -ENOENT;
	snprintf(path, size, "%s", self.dli_fname);
	slash = strrchr(path, '/');
	if (slash == NULL)
		return -ENOENT;
	snprintf(slash + 1, size - (size_t)(slash + 1 - path), "%s",
	         "proxyshim-relay");
	return access(path, X_OK) == 0 ? 0 : -ENOENT;
}

/* Spawn the relay with the program's environment minus LD_PRELOAD, stdio
 * on /dev/null and no inherited descriptors. */
static int
relay_spawn(const char *table)
{
	char path[PATH_MAX], *argv[6], **argvp = argv, *envp[RELAY_ENV_MAX + 1];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	size_t i, n = 0;
	pid_t pid;
	int r, sub;

	if (relay_cmd_path(path, sizeof(path), &sub) < 0) {
		log_err("cannot find proxyshim-relay next to the library to "
		        "start the TLS relay (or set %s to the command)",
		        PS_ENV_CMD);
		return -ENOENT;
	}
	for (i = 0; environ != NULL && environ[i] != NULL && n < RELAY_ENV_MAX;
	     i++)
		if (strncmp(environ[i], PS_ENV_PRELOAD "=",
		            sizeof(PS_ENV_PRELOAD)) != 0)
			envp[n++] = environ[i];
	envp[n] = NULL;
	argv[0] = path;
	argv[1] = (char *)"relay";
	argv[2] = (char *)"--detach";
	argv[3] = (char *)"--table";
	argv[4] = (char *)table;
	argv[5] = NULL;
	if (!sub) {
		argv[1] = path;
		argvp = argv + 1;
	}
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at,
	                         POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < 3; i++)
		posix_spawn_file_actions_addopen(&fa, (int)i, "/dev/null",
		                                 O_RDWR, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = posix_spawn(&pid, path, &fa, &at, argvp, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r != 0) {
		log_err("cannot start the TLS relay %s: %s", path, strerror(r));
		return -r;
	}
	/* The first process only forks the relay and exits. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	log_info("started the TLS relay (%s)", path);
	return 0;
}

/* The port of a live relay, starting one when there is none; waits at
 * most until deadline_ms (CLOCK_MONOTONIC).  0 when none came up. */
static uint32_t
relay_port(struct ps_relay_seg *s, const char *table, int64_t deadline_ms)
{
	uint32_t port;
	int64_t last, now;

	for (;;) {
		port = atomic_load(&s->port);
		if (port != 0)
			return port;
		now = relayseg_now_ms();
		if (now >= deadline_ms)
			return 0;
		last = atomic_load(&s->spawn_ms);
		if ((last == 0 || now - last >= PS_RELAY_START_MS) &&
		    atomic_compare_exchange_strong(&s->spawn_ms, &last, now) &&
		    relay_spawn(table) < 0)
			return 0;
		poll(NULL, 0, 10);
	}
}

/* A relay that refused the connection is gone (or going), or its port
 * is held by someone else: clear the record so that the next attempt
 * starts a new relay, with a new port and a new secret. */
static void
relay_forget(struct ps_relay_seg *s, uint32_t port)
{
	int32_t pid = atomic_load(&s->pid);

	if (pid > 0 && kill(pid, 0) == 0)
		log_info("relay pid %d alive but refusing: replacing it", pid);
	if (atomic_compare_exchange_strong(&s->port, &port, 0))
		atomic_compare_exchange_strong(&s->pid, &pid, 0);
}

/*
 * fd is connected to the relay's recorded port: is that our relay?  The
 * kernel must say that the socket we reached is owned by our uid before
 * anything is sent (docs/behaviour.md#https-upstreams-the-tls-relay); then
 * the secret, read together with the port it belongs to.  0; -EPERM
 * (someone else holds the port); -EAGAIN (the record changed meanwhile);
 * -ECONNREFUSED (cannot tell).
 */
static int
relay_verify(struct ps_relay_seg *seg, int fd, uint32_t port, char *pass)
{
	uid_t who = 0;
	uint32_t now;
	int r, i;

	r = sockdiag_peer_owned(-1, fd, geteuid(), &who);
	if (r == -EPERM) {
		log_err("127.0.0.1:%u, the TLS relay's port, is held by "
		        "uid %u, not by us: sent it nothing",
		        port, (unsigned)who);
		return r;
	}
	if (r == -ENOENT) {
		log_warn(
		        "the TLS relay's end of our connection to 127.0.0.1:%u "
		        "is gone: trying again",
		        port);
		return -EAGAIN;
	}
	if (r < 0) {
		log_err("cannot tell who listens on 127.0.0.1:%u, the TLS "
		        "relay's port (NETLINK_SOCK_DIAG: %s): sent it nothing",
		        port, strerror(-r));
		return -ECONNREFUSED;
	}
	for (i = 0; i < 100; i++) {
		r = relayseg_read(seg, &now, pass);
		if (r == 0)
			return now == port ? 0 : -EAGAIN;
		poll(NULL, 0, 1);
	}
	return -EAGAIN;
}

int
relay_tunnel(int fd, int sockfam, const struct ps_table_view *v,
             const uint32_t *ups, size_t n, const struct ps_target *dst)
{
	const struct ps_t_settings *st = &v->hdr->settings;
	const char *table = reload_table_name(v);
	struct ps_relay_seg *seg;
	char user[12 * PS_MAX_HOPS], pass[PS_RELAY_SECRET_HEX + 1];
	/* 127.0.0.1, mapped for an IPv6 socket. */
	struct ps_target lo = {.family = AF_INET, .addr = {127, 0, 0, 1}};
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct ps_hop hop;
	int64_t deadline;
	uint32_t port = 0;
	int r = -ECONNREFUSED, tries, wait_ms;

	if (table[0] == '\0') {
		log_err("https:// upstreams need a published table (the TLS "
		        "relay maps it)");
		return -ECONNREFUSED;
	}
	seg = relay_seg_of(v);
	if (seg == NULL)
		return -ECONNREFUSED;
	r = relayreq_user(user, sizeof(user), ups, n);
	if (r < 0)
		return -ECONNREFUSED;
	wait_ms = (int)st->connect_timeout_ms;
	deadline = relayseg_now_ms() + (wait_ms > 5000 ? wait_ms : 5000);
	for (tries = 0; tries < 4; tries++) {
		port = relay_port(seg, table, deadline);
		if (port == 0) {
			log_err("the TLS relay did not start");
			return -ECONNREFUSED;
		}
		lo.port = (uint16_t)port;
		r = io_sockaddr(sockfam, &lo, &ss, &sslen);
		if (r == 0)
			r = io_connect(fd, (struct sockaddr *)&ss, sslen,
			               wait_ms);
		if (r == -ECONNREFUSED) {
			relay_forget(seg, port);
			continue;
		}
		if (r < 0)
			return r;
		r = relay_verify(seg, fd, port, pass);
		if (r == 0)
			break;
		/* Nothing was sent: drop the connection (a reset), and try
		 * again; after a new relay when this port is not ours. */
		io_disconnect(fd);
		if (r == -EPERM)
			relay_forget(seg, port);
		else if (r != -EAGAIN)
			return r;
	}
	if (r < 0)
		return -ECONNREFUSED;
	memset(&hop, 0, sizeof(hop));
	hop.scheme = PS_SCHEME_HTTP;
	hop.user = user;
	hop.pass = pass;
	hop.at.family = AF_INET;
	hop.at.addr[0] = 127;
	hop.at.addr[3] = 1;
	hop.at.port = (uint16_t)port;
	/* The relay dials, does TLS and the upstream's CONNECT meanwhile.
	 * The request is relayreq_encode()'s: an http hop with the user
	 * list and the secret as credentials. */
	r = io_handshake(
	        fd, &hop, dst,
	        (int)(st->connect_timeout_ms + st->handshake_timeout_ms), 0);
	explicit_bzero(pass, sizeof(pass));
	return r;
}
