/* proxyshim command: shared declarations of the subcommands. */
#ifndef PROXYSHIM_CLI_H
#define PROXYSHIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
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
int cmd_run(int argc, char **argv);
int cmd_gc(int argc, char **argv);     /* cli/cmd_gc.c (tools) */
int cmd_reload(int argc, char **argv); /* cli/cmd_reload.c */

#define GC_MIN_AGE_S 600 /* default --min-age, and run's interval */
#define GC_STAMP "-gc"   /* /proxyshim-<uid>-gc: when gc last ran */
/* gc from run and compile: at most every 10 minutes (a stamp in
 * /dev/shm), its removals and errors on stderr, only its errors when
 * silent (run -q); see docs/behaviour.md#garbage-collection-proxyshim-gc.
 * gc_due() says whether one is due (cli/gc_hold.c, in the launcher too);
 * gc_auto() runs it then (cli/cmd_gc.c, tools library: run calls it as
 * `gc --auto [-q]`). */
bool gc_due(void);
void gc_auto(bool silent);
/* Open the published table name, lock it (LOCK_SH, O_CLOEXEC: held until
 * exec) so that gc cannot remove it before the command's environment
 * names it, and check that it is a valid table of ours.  The fd; -ENOENT
 * when there is none (or gc removed it first); -EINVAL when what is there
 * cannot be used. */
int gc_hold(const char *name);

struct ps_source;
/* The launcher's helpers (cli/load.c).  A file of the installation: beside
 * the command (build tree), else ../lib/proxyshim/ from it (installed
 * layout).  0 or -1. */
int cli_find_file(const char *file, char *out, size_t outsz);
/* The same, with the file's stat() in *st. */
struct stat;
int cli_find_file_stat(const char *file, char *out, size_t outsz,
                       struct stat *st);
/* Compile and publish with the compiler library beside lib (loaded only
 * now: libyaml is no part of a run that finds its table published).  As
 * compiler_publish(); a private copy is dropped (name[0] == '\0'). */
int cli_publish(const char *lib, const struct ps_source *src, char *name,
                size_t namesz);
/* check, explain, compile, dump, reload, gc: run in
 * libproxyshim-tools.so. */
int cli_tools(int argc, char **argv);
/* run's gc, when gc_due(): `gc --auto [-q]` in the tools library. */
void cli_gc_auto(bool silent);
/* relay: exec proxyshim-relay. */
int cli_relay(int argc, char **argv);
#define PS_TOOLS_LIB "libproxyshim-tools.so"
#define PS_TOOLS_SYMBOL "proxyshim_tools_main"
#define PS_RELAY_EXE "proxyshim-relay"
/* The statically linked command (PS_STATIC_FRONT) loads no library: where
 * the dynamic one would dlopen() the compiler or the tools library, it
 * execs this, the same command linked dynamically, with its own arguments
 * (cli_main_argv), which then does the whole command
 * (docs/performance.md#what-run-does). */
#define PS_DYN_EXE "proxyshim-dyn"
extern char **cli_main_argv;
/* run: put this process under the seccomp filter and hand its listener
 * to the supervisor (exe, whose stat() is st), the running one or a new one
 * (cli/supervise.c).  0, or -errno with *step naming what failed and
 * *filtered true when the filter was installed all the same (its calls
 * then fail: nothing may run unsupervised under it). */
int supervise_start(const char *exe, const struct stat *st, const char **step,
                    bool *filtered);

/* The settings of the published table name (cli/reload_start.c): 0, or
 * -1 when there is none or it cannot be read.  The launcher reads them
 * only on the paths that need them (a normal run never maps the table). */
struct ps_t_settings;
int cli_table_settings(const char *name, struct ps_t_settings *out);

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
/* a, b and c one after the other into out: 0, or -1 when they do not fit.
 * Not snprintf() on run's way: its first call faults in printf's code,
 * part of every run's start (docs/performance.md#start-up). */
int cli_cat(char *out, size_t outsz, const char *a, const char *b,
            const char *c);

#endif
