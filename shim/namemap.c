/*
 * The name map as the hooks use it (docs/behaviour.md#name-lookups): the
 * run tree's map, opened once; a connect destination's name from its fake
 * or recorded address; a fake address that now routes direct; recording
 * real addresses; and refusing lookups when the table is unusable.
 * getaddrinfo.c, gethostbyname.c, getnameinfo.c, connect.c and udp.c
 * call it; it calls none of them.  See namemap.h.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/log.h"
#include "proxyshim/names.h"
#include "proxyshim/proto.h"
#include "proxyshim/route.h"
#include "proxyshim/shm.h"
#include "namemap.h"
#include "shim.h"

static struct names_map names_map;
static struct names_map *names_ptr;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
namemap_once(void)
{
	char name[PS_SHM_NAME_MAX + 8];
	struct names_params p;
	int r;

	if (shim.mode != SHIM_ACTIVE)
		return;
	names_params_from_table(&shim.view, &p);
	names_shm_name(shim.view.hdr->source_hash, name, sizeof(name));
	r = names_open(&names_map, name, &p);
	if (r < 0) {
		/* Forked children still share an anonymous map; exec'ed
		 * ones do not. */
		log_warn("name map %s unavailable (%s): fake addresses are "
		         "shared with forked children only",
		         name, strerror(-r));
		r = names_open(&names_map, NULL, &p);
	}
	if (r < 0) {
		log_err("no name map (%s): names are resolved locally",
		        strerror(-r));
		return;
	}
	names_ptr = &names_map;
}

struct names_map *
namemap_get(void)
{
	if (shim.mode != SHIM_ACTIVE)
		return NULL;
	pthread_once(&names_once, namemap_once);
	return names_ptr;
}

int
namemap_dest(struct ps_dest *d, char *buf, size_t size)
{
	struct names_map *m;
	uint32_t slot;
	int n;

	if (d->family == 0 || (m = namemap_get()) == NULL)
		return 0;
	if (names_fake_slot(m, d->family, d->addr, &slot)) {
		n = names_fake_name(m, slot, buf, size);
		if (n < 0) {
			log_warn("connect to a fake address (slot %u) whose "
			         "name is unknown: EHOSTUNREACH",
			         slot);
			return -EHOSTUNREACH;
		}
		d->name = buf;
		d->name_len = (size_t)n;
		d->family = 0; /* no real address: the proxy resolves */
		memset(d->addr, 0, sizeof(d->addr));
		return 1;
	}
	n = names_real_name(m, d->family, d->addr, buf, size);
	if (n > 0) {
		d->name = buf;
		d->name_len = (size_t)n;
	}
	return 0;
}

/* A fake address whose route is direct (the config changed, or a rule
 * sends it direct by port): resolve now, for real, and connect there. */
int
namemap_connect_direct(int fd, int sockfam, const struct ps_dest *d)
{
	struct ps_target t = {.port = d->port};
	struct sockaddr_storage ss;
	socklen_t len;
	int r, gai;

	r = io_resolve(d->name, sockfam == AF_INET ? AF_INET : 0, &t, &gai);
	if (r < 0) {
		log_warn("%s: cannot resolve: %s", d->name,
		         gai != 0 ? gai_strerror(gai) : "no usable address");
		return r;
	}
	r = io_sockaddr(sockfam, &t, &ss, &len);
	if (r < 0)
		return -EHOSTUNREACH;
	return real.connect(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
}

int
namemap_fake(const char *name, struct names_fake *f)
{
	struct names_map *m = namemap_get();

	if (m == NULL)
		return -ENOMEM;
	return names_fake_lookup(m, name, strlen(name), f);
}

void
namemap_record(const char *name, int family, const void *addr)
{
	struct names_map *m = namemap_get();

	if (m != NULL)
		names_real_record(m, family, addr, name, strlen(name));
}

/* "localhost" and names under it (RFC 6761), with or without the final
 * dot: never a DNS query. */
static int
name_is_localhost(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	return route_name_is_localhost(s, n);
}

int
namemap_refused(const char *name)
{
	static atomic_int said;

	if (shim.mode != SHIM_BROKEN || !names_is_name(name) ||
	    name_is_localhost(name))
		return 0;
	if (atomic_exchange(&said, 1) == 0)
		log_err("no usable rule table: name lookups are refused too "
		        "(fail closed), starting with %s",
		        name);
	return 1;
}
