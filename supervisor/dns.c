/*
 * Names for Go's own resolver under the supervisor
 * (docs/behaviour.md#names-for-static-and-go-programs): with dns: remote,
 * the supervisor runs the DNS stub (dns/stub.c) on 127.0.0.1 and serve.c
 * connects a supervised program's DNS sockets (a connect() to port 53 of a
 * nameserver of /etc/resolv.conf) to it instead.  The stub answers from the
 * supervisor's name map and table, on threads of the supervisor, which is
 * not under the filter: its real lookups of direct names go to the system's
 * resolver as they are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxyshim/addr.h"
#include "proxyshim/config.h"
#include "proxyshim/log.h"
#include "proxyshim/sockdiag.h"
#include "supervisor.h"

/* The view a serving thread answers with, held until its next answer
 * (dnsstub_names.policy has no release). */
static _Thread_local const struct ps_table_view *sup_dns_held;

static const struct ps_table_view *
sup_dns_policy(void *ctx)
{
	struct sup *s = ctx;

	sup_policy_put(s, sup_dns_held);
	sup_dns_held = sup_policy_get(s);
	return sup_dns_held;
}

/* Only the run's user may ask over TCP (the kernel's word on the peer
 * socket's owner); a UDP datagram on 127.0.0.1 comes from this machine,
 * and the kernel says nothing of its sender's owner. */
static int
sup_dns_peer_ok(int fd, int proto, const struct sockaddr *peer, socklen_t len,
                void *arg)
{
	(void)peer;
	(void)len;
	(void)arg;
	if (proto != IPPROTO_TCP)
		return 1;
	return sockdiag_peer_owned(-1, fd, geteuid(), NULL) == 0;
}

static void *
sup_dns_thread(void *arg)
{
	struct sup *s = arg;
	int r = dnsstub_serve(&s->dns.stub);

	if (r < 0)
		log_err("DNS stub: %s", strerror(-r));
	sup_policy_put(s, sup_dns_held);
	sup_dns_held = NULL;
	return NULL;
}

/* One "nameserver ADDR" line's address (a scope after % dropped). */
static void
sup_dns_add(struct sup_dns *d, const char *text)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct sup_ns *ns;

	if (d->nns >= SUP_NS_MAX)
		return;
	snprintf(buf, sizeof(buf), "%s", text);
	buf[strcspn(buf, "%")] = '\0';
	ns = &d->ns[d->nns];
	memset(ns, 0, sizeof(*ns));
	if (inet_pton(AF_INET, buf, ns->addr) == 1)
		ns->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, ns->addr) == 1)
		ns->family = AF_INET6;
	else
		return;
	d->nns++;
}

/* The nameservers of /etc/resolv.conf, read once; none named: the
 * resolvers' default, the local host (127.0.0.1 and ::1). */
static void
sup_dns_nameservers(struct sup_dns *d)
{
	char line[512], word[16], addr[INET6_ADDRSTRLEN + 16];
	FILE *f = fopen("/etc/resolv.conf", "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, " %15s %61s", word, addr) == 2 &&
		    strcmp(word, "nameserver") == 0)
			sup_dns_add(d, addr);
	if (f != NULL)
		fclose(f);
	if (d->nns == 0) {
		sup_dns_add(d, "127.0.0.1");
		sup_dns_add(d, "::1");
	}
}

void
sup_dns_start(struct sup *s)
{
	const struct ps_table_view *v = sup_policy_get(s);
	struct sup_dns *d = &s->dns;
	int remote, port, i;

	remote = v != NULL && v->hdr->settings.dns_mode == PS_DNS_REMOTE;
	sup_policy_put(s, v);
	if (!remote || !s->have_names)
		return;
	sup_dns_nameservers(d);
	d->names.map = &s->names;
	d->names.policy = sup_dns_policy;
	d->names.ctx = s;
	d->stub.answer = dnsstub_answer_names;
	d->stub.arg = &d->names;
	d->stub.peer_ok = sup_dns_peer_ok;
	port = dnsstub_listen(&d->stub);
	if (port < 0 || pipe2(d->stop, O_CLOEXEC) < 0) {
		log_err("DNS stub: %s: the supervised programs' own DNS "
		        "queries go to their nameservers",
		        strerror(port < 0 ? -port : errno));
		return;
	}
	d->stub.stop_fd = d->stop[0];
	for (i = 0; i < SUP_DNS_THREADS; i++)
		if (pthread_create(&d->th[d->nth], NULL, sup_dns_thread, s) ==
		    0)
			d->nth++;
	if (d->nth == 0) {
		log_err("DNS stub: no serving thread: the supervised programs' "
		        "own DNS queries go to their nameservers");
		return;
	}
	atomic_store(&d->port, port);
	log_info("supervisor: DNS stub on 127.0.0.1:%d for %d nameserver(s)",
	         port, d->nns);
}

void
sup_dns_stop(struct sup *s)
{
	struct sup_dns *d = &s->dns;
	int i;

	if (d->nth == 0)
		return;
	atomic_store(&d->port, 0);
	if (write(d->stop[1], "x", 1) != 1)
		return;
	for (i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
}

bool
sup_dns_redirects(struct sup *s, const struct ps_table_view *v,
                  const struct ps_dest *dst)
{
	const struct sup_dns *d = &s->dns;
	const uint8_t *a;
	int fam = dst->family, i;

	if (dst->port != 53 || atomic_load(&d->port) == 0 ||
	    v->hdr->settings.dns_mode != PS_DNS_REMOTE || dst->name != NULL)
		return false;
	a = ps_addr_unmap(&fam, dst->addr);
	for (i = 0; i < d->nns; i++)
		if (d->ns[i].family == fam &&
		    memcmp(d->ns[i].addr, a, fam == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}
