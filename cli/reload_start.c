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

/* The reload mode of a published table; auto when it cannot be read. */
static int
reload_mode_of(const char *name)
{
	struct ps_table_view v;
	const void *base;
	const char *why;
	size_t len;
	int mode = PS_RELOAD_AUTO;

	if (shm_map(name, &base, &len) < 0)
		return mode;
	if (table_view_open(base, len, &v, &why) == 0)
		mode = (int)v.hdr->settings.reload_mode;
	shm_unmap(base, len);
	return mode;
}

void
reload_on_start(const struct ps_source *src, const char *name)
{
	struct ps_current_seg *s;
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
	         reload_mode_of(name) == PS_RELOAD_AUTO)
		current_publish(s, src->identity);
	current_close(s);
}
