/*
 * What run does with the config file's current segment before it execs
 * its command (docs/behaviour.md#live-reload): part of the launcher, so
 * libc only (docs/performance.md#start-up).
 */
#include "proxyshim/config.h"
#include "proxyshim/current.h"
#include "proxyshim/shm.h"
#include "proxyshim/table.h"
#include "cli.h"

int
cli_table_settings(const char *name, struct ps_t_settings *out)
{
	struct ps_table_view v;
	const void *base;
	const char *why;
	size_t len;
	int r;

	if (name[0] == '\0' || shm_map(name, &base, &len) < 0)
		return -1;
	r = table_view_open(base, len, &v, &why);
	if (r == 0)
		*out = v.hdr->settings;
	shm_unmap(base, len);
	return r == 0 ? 0 : -1;
}

void
reload_on_start(const struct ps_source *src, const char *name)
{
	struct ps_current_seg *s;
	struct ps_t_settings set;
	uint64_t key, gen, table;

	if (src->kind != PS_SOURCE_FILE || name[0] == '\0' ||
	    current_key_of(src->path, &key) < 0 || current_open(key, 1, &s) < 0)
		return;
	current_read(s, &gen, &table);
	/* With automatic pickup the programs running would take this
	 * edit within seconds anyway: at once, and the new program starts
	 * on it.  With reload: manual, only reload changes the policy in
	 * force, for programs started now too. */
	if (gen == 0)
		current_init(s, src->identity);
	else if (table != src->identity &&
	         (cli_table_settings(name, &set) < 0 ||
	          set.reload_mode == PS_RELOAD_AUTO))
		current_publish(s, src->identity);
	current_close(s);
}
