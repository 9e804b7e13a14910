/*
 * Library start-up: resolve the real libc symbols, then find and map the
 * compiled table.  Never exits or aborts the host program on config
 * trouble: a table that was asked for but cannot be used puts the library
 * in SHIM_BROKEN (fail closed, documented in docs/behaviour.md).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "proxyshim/hot.h"
#include "proxyshim/compiler.h"
#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/shm.h"
#include "proxyshim/supervise.h"
#include "shim.h"

PS_HOT struct shim_state shim;
PS_HOT struct shim_real real;
/* proto/io.c's calls to libc (include/proxyshim/proto.h): set at init. */
PS_HOT int (*io_real_connect)(int, const struct sockaddr *, socklen_t);
PS_HOT int (*io_real_getaddrinfo)(const char *, const char *,
                                  const struct addrinfo *, struct addrinfo **);
PS_HOT void (*io_real_freeaddrinfo)(struct addrinfo *);

PS_HOT static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* A published table of the usual size (a KiB or two) is read into here
 * rather than into pages of its own; pages never touched cost nothing.
 * Filled once, at start.  Live reload reads a new table elsewhere
 * (shim/reload.c): threads may still be looking routes up in this one. */
static uint64_t table_buf[64 * 1024 / sizeof(uint64_t)];

struct shim_sym {
	const char *name;
	void **slot;
};

static const struct shim_sym shim_syms[] = {
        {"connect", (void **)&real.connect},
        {"sendto", (void **)&real.sendto},
        {"sendmsg", (void **)&real.sendmsg},
        {"getaddrinfo", (void **)&real.getaddrinfo},
        {"freeaddrinfo", (void **)&real.freeaddrinfo},
        /* The resolver's hooks (glibc has them all). */
        {"getnameinfo", (void **)&real.getnameinfo},
        {"gethostbyname", (void **)&real.gethostbyname},
        {"gethostbyname2", (void **)&real.gethostbyname2},
        {"gethostbyname_r", (void **)&real.gethostbyname_r},
        {"gethostbyname2_r", (void **)&real.gethostbyname2_r},
        {"gethostbyaddr", (void **)&real.gethostbyaddr},
        {"gethostbyaddr_r", (void **)&real.gethostbyaddr_r},
        {"sendmmsg", (void **)&real.sendmmsg},
        /* The reverse-proxy side (shim/accept.c). */
        {"accept", (void **)&real.accept},
        {"accept4", (void **)&real.accept4},
        {"getpeername", (void **)&real.getpeername},
};

/* This library's first and last byte, from the linker: hidden, so that
 * no other object's symbols of those names stand in for them. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

static void
shim_resolve_symbols(void)
{
	size_t i;

	for (i = 0; i < sizeof(shim_syms) / sizeof(shim_syms[0]); i++) {
		const char *p = dlsym(RTLD_NEXT, shim_syms[i].name);

		/* Resolving to ourselves would recurse forever: the only
		 * unrecoverable set-up error (proxychains-ng does the same).
		 * Checked against this library's address range: dladdr()
		 * scans libc's whole symbol table on every call (~80 us of
		 * every process start), and naming our own hooks here would
		 * cost a symbol lookup each at load
		 * (docs/performance.md#what-a-preloaded-start-costs). */
		if (p == NULL || (p >= __ehdr_start && p < _end)) {
			log_err("cannot resolve %s: %s", shim_syms[i].name,
			        p == NULL ? dlerror()
			                  : "it resolves to the shim itself");
			abort();
		}
		*shim_syms[i].slot = (void *)p;
	}
}

static int
shim_use(const void *base, size_t len)
{
	const char *why = "";
	int r;

	r = table_view_open(base, len, &shim.view, &why);
	if (r < 0) {
		log_err("refusing table %s: %s",
		        shim.table_name[0] ? shim.table_name : "(private)",
		        why);
		return r;
	}
	shim.mode = SHIM_ACTIVE;
	return 0;
}

static int
shim_map_named(const char *name)
{
	const void *base;
	size_t len;
	int r;

	/* By hand, not snprintf() nor strnlen() and memcpy(): the first call
	 * of each touches pages of libc that a program that never prints
	 * does not, page faults of every start
	 * (docs/performance.md#what-a-preloaded-start-costs). */
	for (len = 0; len < sizeof(shim.table_name) - 1 && name[len] != '\0';
	     len++)
		shim.table_name[len] = name[len];
	shim.table_name[len] = '\0';
	r = shm_map_into(name, table_buf, sizeof(table_buf), &base, &len);
	if (r == -EBADMSG) {
		/* Truncated (or grown past the limit) after publication:
		 * as invalid as a bad checksum. */
		log_err("refusing table %s: empty or over the size limit",
		        name);
		return -EINVAL;
	}
	if (r < 0)
		return r;
	r = shim_use(base, len);
	if (r < 0 && base != (const void *)table_buf)
		shm_unmap(base, len);
	return r;
}

/* dlopen the compiler next to this library, compile and publish. */
int
shim_compiler_publish(const struct ps_source *src, char *name, size_t namesz,
                      uint8_t **priv, size_t *privlen, char *err, size_t errsz)
{
	char path[PATH_MAX];
	ps_compiler_publish_fn fn;
	Dl_info self;
	void *h;
	char *slash;
	int r;

	if (dladdr((void *)shim_compiler_publish, &self) == 0 ||
	    self.dli_fname == NULL)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s", self.dli_fname);
	slash = strrchr(path, '/');
	if (slash == NULL)
		return -ENOENT;
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "%s",
	         PS_COMPILER_LIB);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		log_err("cannot load %s: %s", path, dlerror());
		return -ENOENT;
	}
	fn = (ps_compiler_publish_fn)dlsym(h, PS_COMPILER_SYMBOL);
	if (fn == NULL) {
		log_err("%s: no %s", path, PS_COMPILER_SYMBOL);
		dlclose(h);
		return -ENOENT;
	}
	r = fn(src, name, namesz, priv, privlen, err, errsz);
	/* The compiler's code is no longer needed; libyaml leaves with it. */
	dlclose(h);
	return r;
}

static int
shim_compile(const struct ps_source *src)
{
	char name[PS_SHM_NAME_MAX], err[PS_ERR_MAX];
	uint8_t *priv = NULL;
	size_t privlen = 0;
	int r;

	err[0] = '\0';
	r = shim_compiler_publish(src, name, sizeof(name), &priv, &privlen, err,
	                          sizeof(err));
	if (r < 0) {
		if (err[0] == '\0')
			return -ENOENT; /* no compiler (logged) */
		log_err("%s", err);
		return -EINVAL;
	}
	if (name[0] != '\0')
		return shim_map_named(name);
	shim.table_name[0] = '\0';
	r = shim_use(priv, privlen);
	if (r < 0)
		free(priv);
	return r;
}

static void
shim_load_table(void)
{
	const char *tname = env_get(PS_ENV_TABLE);
	char name[PS_SHM_NAME_MAX];
	struct ps_source src;
	int r;

	if (tname != NULL && *tname != '\0') {
		r = shim_map_named(tname);
		if (r < 0) {
			if (r != -EINVAL)
				log_err("cannot map table %s: %s", tname,
				        strerror(-r));
			shim.mode = SHIM_BROKEN;
		}
		return;
	}
	r = source_find(NULL, NULL, &src);
	if (r < 0) {
		log_err("config %s: %s", env_get(PS_ENV_CONFIG), strerror(-r));
		shim.mode = SHIM_BROKEN;
		return;
	}
	if (src.kind == PS_SOURCE_NONE) {
		shim.mode = SHIM_PASS;
		return;
	}
	shm_table_name(src.identity, name, sizeof(name));
	r = shim_map_named(name);
	/* Another user's object (or one others can touch) holds our name:
	 * never use it; a private copy works (the compiler says so). */
	if (r == -EPERM)
		log_warn("table %s is not ours or not private: not used", name);
	if (r == -ENOENT || r == -EINVAL || r == -EPERM)
		r = shim_compile(&src);
	if (r < 0)
		shim.mode = SHIM_BROKEN;
}

static void
shim_init_once(void)
{
	const char *sup;

	int saved = errno;

	log_init();
	shim_resolve_symbols();
	/* Under run's seccomp supervision, the library's own connects carry
	 * the mark the filter lets through without asking the supervisor:
	 * dynamic programs keep their fast path
	 * (docs/performance.md#supervision). */
	sup = env_get(PS_ENV_SUPERVISED);
	if (sup != NULL && sup[0] == '1')
		real.connect = io_marked_connect;
	io_real_connect = real.connect;
	io_real_getaddrinfo = real.getaddrinfo;
	io_real_freeaddrinfo = real.freeaddrinfo;
	/* setuid/setgid (AT_SECURE): no policy at all, and no file opened
	 * on the caller's behalf, not even ./proxyshim.yml
	 * (docs/behaviour.md#setuid-and-setgid-programs). */
	if (getauxval(AT_SECURE) != 0)
		shim.mode = SHIM_PASS;
	else
		shim_load_table();
	if (shim.mode == SHIM_BROKEN)
		log_err("no usable rule table: non-loopback connections will "
		        "be refused (fail closed)");
	else if (shim.mode == SHIM_ACTIVE)
		log_debug("table %s mapped, %zu bytes", shim.table_name,
		          shim.view.size);
	errno = saved;
}

void
shim_init(void)
{
	pthread_once(&init_once, shim_init_once);
}

__attribute__((constructor)) static void
shim_constructor(void)
{
	shim_init();
}
