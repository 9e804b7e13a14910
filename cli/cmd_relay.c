/*
 * proxyshim relay: the TLS relay for https:// upstreams, started on demand
 * by the library (shim/relay.c); the work is in relay/.
 */
#include "../relay/relay.h"
#include "cli.h"

int
cmd_relay(int argc, char **argv)
{
	return relay_main(argc, argv);
}
