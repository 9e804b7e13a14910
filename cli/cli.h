/* proxyshim command: shared declarations of the subcommands. */
#ifndef PROXYSHIM_CLI_H
#define PROXYSHIM_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses. */
#define CLI_OK 0
#define CLI_FAIL 1 /* config error, route failure, ... */
#define CLI_USAGE 2

struct cli_opts {
	const char *config; /* -c FILE */
	int verbosity;      /* -1 quiet, 0 default, 1.. verbose */
};

int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_relay(int argc, char **argv); /* cli/cmd_relay.c */
int cmd_run(int argc, char **argv);
int cmd_gc(int argc, char **argv);     /* cli/cmd_gc.c */
int cmd_reload(int argc, char **argv); /* cli/cmd_reload.c */

/* gc from run and compile: at most every 10 minutes (a stamp in
 * /dev/shm), its lines on stderr; see
 * docs/behaviour.md#garbage-collection-proxyshim-gc */
void gc_auto(void);
/* Lock the published table name (LOCK_SH, O_CLOEXEC: held until exec) so
 * that gc cannot remove it before the command's environment names it;
 * publishes src again if gc removed it first.  The fd, or -errno. */
struct ps_source;
int gc_hold(const struct ps_source *src, char *name, size_t namesz);

/* Live reload (cli/cmd_reload.c, docs/behaviour.md#live-reload).  run:
 * make the table it starts its command with the one in force when no
 * other is, or when the file changed and reload is automatic.  explain
 * and dump: one line, the generation in force for the config file and
 * whether it is the table shown (identity shown). */
struct cli_opts;
void reload_on_start(const struct ps_source *src, const char *name);
void reload_print_generation(const struct cli_opts *o, uint64_t shown);

/* check --probe [--target HOST:PORT] (cmd_probe.c). */
struct ps_table_view;
struct probe_opts {
	int probe; /* --probe */
	const char
	        *target; /* --target HOST:PORT, NULL = each upstream itself */
};
/* Take --probe and --target out of argv (argc updated); -1 on misuse. */
int probe_take_opts(int *argc, char **argv, struct probe_opts *po);
/* Dial and handshake every upstream of v, one line each; CLI_OK when all
 * work, CLI_FAIL otherwise, CLI_USAGE for a bad target. */
int probe_upstreams(const struct ps_table_view *v, const struct probe_opts *po);

/* Parse -c FILE, -q, -v, --config=FILE up to the first non-option (or
 * "--", consumed); returns the index of the first operand or -1. */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, int allow_qv);
void cli_usage(FILE *f);

#endif
