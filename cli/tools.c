/*
 * libproxyshim-tools.so: the subcommands that read YAML (check with
 * --probe, explain, compile, dump, reload), loaded by the command only when one
 * of them runs, so that run and gc load libc alone
 * (docs/performance.md#start-up).
 */
#include <stdio.h>
#include <string.h>

#include "proxyshim/compiler.h"
#include "proxyshim/log.h"
#include "cli.h"

PS_EXPORT int proxyshim_tools_main(int argc, char **argv);

PS_EXPORT int
proxyshim_tools_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	        {"check", cmd_check},     {"explain", cmd_explain},
	        {"compile", cmd_compile}, {"dump", cmd_dump},
	        {"reload", cmd_reload},   {"gc", cmd_gc},
	};
	size_t i;

	log_init();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			return cmds[i].fn(argc, argv);
	fprintf(stderr, "proxyshim: unknown command '%s'\n", argv[0]);
	return CLI_USAGE;
}
