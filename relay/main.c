/*
 * proxyshim-relay: the TLS relay for https:// upstreams as a program of its
 * own, so that OpenSSL is loaded by nothing else (the library starts it on
 * demand, shim/relay.c; `proxyshim relay` execs it).
 */
#include <stdlib.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/proto.h"
#include "proxyshim/supervise.h"
#include "relay.h"

int
main(int argc, char **argv)
{
	const char *sup = env_get(PS_ENV_SUPERVISED);

	log_init();
	/* Started under run's supervision (by the library of a supervised
	 * program): its connects go to upstreams only, and carry the mark,
	 * as the library's do (docs/performance.md#supervision). */
	if (sup != NULL && sup[0] == '1')
		io_real_connect = io_marked_connect;
	return relay_main(argc, argv);
}
