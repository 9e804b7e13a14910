/*
 * proxyshim-relay: the TLS relay for https:// upstreams as a program of its
 * own, so that OpenSSL is loaded by nothing else (the library starts it on
 * demand, shim/relay.c; `proxyshim relay` execs it).
 */
#include "proxyshim/log.h"
#include "relay.h"

int
main(int argc, char **argv)
{
	log_init();
	return relay_main(argc, argv);
}
