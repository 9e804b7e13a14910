/*
 * proxyshim: the command.  Built statically (libc only, no dynamic loader
 * at start): run is here; the other commands live in
 * libproxyshim-tools.so, which proxyshim-dyn, this command linked
 * dynamically, loads when one of them runs (or when run must compile or
 * its gc is due: the static command execs proxyshim-dyn then); the TLS
 * relay is its own program, proxyshim-relay (docs/performance.md#start-up).
 */
#include <stdio.h>
#include <string.h>

#include "proxyshim/log.h"
#include "cli.h"

char **cli_main_argv;

void
cli_usage(FILE *f)
{
	fputs("usage: proxyshim COMMAND [OPTIONS]\n"
	      "\n"
	      "  run [-c FILE] [-q|-v] -- CMD [ARG...]   run CMD through the "
	      "policy\n"
	      "  check [-c FILE] [--probe [--target HOST:PORT]]\n"
	      "                                          validate the config; "
	      "--probe\n"
	      "                                          also dials every "
	      "upstream\n"
	      "  explain [-c FILE] HOST[:PORT]           the route for one "
	      "destination\n"
	      "  compile [-c FILE]                       publish the table, "
	      "print its name\n"
	      "  dump [-c FILE]                          the compiled table, "
	      "readable\n"
	      "  reload [-c FILE]                        validate, publish and "
	      "switch\n"
	      "                                          running programs to "
	      "the file\n"
	      "  gc [-n] [-v] [--min-age SECONDS]        remove this user's "
	      "segments\n"
	      "                                          that nothing uses\n"
	      "\n"
	      "Config: -c FILE, $PROXYSHIM_CONFIG, ./proxyshim.yml,\n"
	      "$XDG_CONFIG_HOME/proxyshim/config.yml, /etc/proxyshim.yml, else "
	      "the\n"
	      "http_proxy/https_proxy/all_proxy/no_proxy environment.\n"
	      "Environment: PROXYSHIM_LOG=error|warn|info|debug, "
	      "PROXYSHIM_LOG_FILE,\n"
	      "PROXYSHIM_TABLE, PROXYSHIM_LIB.\n"
	      "\n"
	      "  -h, --help      this text\n"
	      "  -V, --version   print the version\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	        {"run", cmd_run},       {"gc", cli_tools},
	        {"relay", cli_relay},   {"check", cli_tools},
	        {"explain", cli_tools}, {"compile", cli_tools},
	        {"dump", cli_tools},    {"reload", cli_tools},
	};
	size_t i;

	cli_main_argv = argv;
	log_init();
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("proxyshim %s\n", PS_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "proxyshim: unknown command '%s'\n", argv[1]);
	cli_usage(stderr);
	return CLI_USAGE;
}
