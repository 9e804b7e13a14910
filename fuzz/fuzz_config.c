/*
 * libFuzzer target: YAML config -> config_load_buffer() -> compile_table()
 * -> table_view_open() -> route_lookup() (resolver/config.c, compile.c,
 * table.c, route.c, dump.c).
 *
 * Checks: the reader never crashes or leaks on any bytes; an error carries
 * a message; whatever the compiler produces from an accepted config, the
 * validator accepts (the compiler and table.c agree on the layout), and a
 * few lookups, route_trusted() and table_dump() walk it without a stray
 * read; every VIA route has 1..PS_MAX_HOPS hops inside the chain array.
 *
 * Built and run by fuzz/run.sh (sources listed there).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/route.h"
#include "proxyshim/table.h"
#include "fuzz.h"

static FILE *devnull;

static void
lookups(const struct ps_table_view *v)
{
	static const char *const names[] = {
	        "example.com", "x.cluster.local", "api.kestra.io",
	        "a.b.internal.example", "localhost", "EXAMPLE.COM.", NULL};
	static const char *const addrs[] = {"10.1.2.3", "192.168.1.1",
	                                    "8.8.8.8", "::1", "fd00::5",
	                                    "::ffff:10.0.0.1"};
	static const uint16_t ports[] = {80, 443, 8443, 1};
	struct ps_route rt;
	struct ps_dest d;
	size_t i, j;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			memset(&d, 0, sizeof(d));
			d.name = names[i];
			d.name_len = names[i] ? strlen(names[i]) : 0;
			d.port = ports[j];
			CHECK(route_lookup(v, &d, &rt) == 0);
			fuzz_check_route(v, &rt);
		}
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		fuzz_lookup_addr(v, addrs[i], ports[i % 4]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_config c;
	struct ps_table_view v;
	char err[PS_ERR_MAX];
	const char *why = NULL;
	uint8_t *tbl = NULL;
	size_t len = 0;
	int r;

	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	if (config_load_buffer("fuzz.yml", (const char *)data, size, &c, err,
	                       sizeof(err)) != 0) {
		CHECK(err[0] != '\0');
		return 0;
	}
	r = compile_table(&c, 1, &tbl, &len, err, sizeof(err));
	if (r != 0) {
		/* The compiler may refuse what it cannot represent, with a
		 * message, never by crashing. */
		CHECK(r < 0 && tbl == NULL && err[0] != '\0');
		config_free(&c);
		return 0;
	}
	if (table_view_open(tbl, len, &v, &why) != 0) {
		fprintf(stderr, "validator refused the compiler's table: %s\n",
		        why ? why : "?");
		abort();
	}
	lookups(&v);
	if (devnull != NULL)
		table_dump(&v, devnull);
	free(tbl);
	config_free(&c);
	return 0;
}
