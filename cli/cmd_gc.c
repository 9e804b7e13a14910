/*
 * proxyshim gc: remove this user's shared-memory segments that nothing
 * uses, and the lock `run` holds on its table until it execs.  The rule,
 * and why it never removes a segment in use:
 * docs/behaviour.md#garbage-collection-proxyshim-gc
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/current.h"
#include "proxyshim/env.h"
#include "proxyshim/relay.h"
#include "proxyshim/shm.h"
#include "proxyshim/table.h"
#include "cli.h"

#define GC_MAX_GROUPS 4096 /* groups looked at in one run */
#define GC_MAX_MEMBERS 8   /* table, -names, -state, -relay, -current, temps */
#define GC_MAX_PROCS 65536 /* processes remembered by one scan */
#define GC_EXEC_TRIES 100  /* 10 ms apart: a process in execve() */
#define GC_SCAN_ROUNDS 10  /* rescans for processes born meanwhile */

struct gc_member {
	char name[PS_SHM_NAME_MAX + 16]; /* without the leading '/' */
	dev_t dev; /* the object is dev:ino (maps name both) */
	ino_t ino;
	off_t size;
	int temp; /* NAME.<pid>.<ns>: a publisher's temporary */
	long pid; /* temp only */
};

struct gc_group {
	char base[PS_SHM_NAME_MAX]; /* proxyshim-<uid>-v<F>-<16 hex> */
	struct gc_member m[GC_MAX_MEMBERS];
	int n;
	time_t newest; /* mtime of the newest non-temporary member */
	int lockfd;    /* the table, locked LOCK_EX; -1 */
	int used;      /* a process refers to it (or is unknown) */
	int young;
};

struct gc_proc {
	long pid;
	unsigned long long start; /* /proc/PID/stat field 22 */
};

struct gc {
	struct gc_group *g;
	size_t ng;
	struct gc_proc *seen;
	size_t nseen;
	char prefix[32]; /* "proxyshim-<uid>-" */
	int unknown;     /* a process stayed inside execve(): keep all */
	int hidden;      /* processes that could not be read */
	long unknown_pid;
	int dry, verbose;
	int silent; /* run -q's collection: errors only */
	time_t min_age;
};

/* "proxyshim-<uid>-v<digits>-<16 hex>" at the start of s: its length,
 * else 0. */
static size_t
gc_base_len(const struct gc *c, const char *s)
{
	size_t n = strlen(c->prefix), i;

	if (strncmp(s, c->prefix, n) != 0 || s[n] != 'v' ||
	    !isdigit((unsigned char)s[n + 1]))
		return 0;
	for (n++; isdigit((unsigned char)s[n]); n++)
		;
	if (s[n++] != '-')
		return 0;
	for (i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)s[n + i]) ||
		    isupper((unsigned char)s[n + i]))
			return 0;
	return n + 16;
}

static struct gc_group *
gc_group_of(struct gc *c, const char *base, size_t len)
{
	size_t i;

	for (i = 0; i < c->ng; i++)
		if (strlen(c->g[i].base) == len &&
		    memcmp(c->g[i].base, base, len) == 0)
			return &c->g[i];
	if (c->ng >= GC_MAX_GROUPS || len >= PS_SHM_NAME_MAX)
		return NULL;
	memset(&c->g[c->ng], 0, sizeof(c->g[0]));
	memcpy(c->g[c->ng].base, base, len);
	c->g[c->ng].lockfd = -1;
	return &c->g[c->ng++];
}

/* One /dev/shm entry: ours (owner and name), a known member kind. */
static void
gc_add_entry(struct gc *c, int dfd, const char *name)
{
	size_t bl = gc_base_len(c, name);
	const char *rest = name + bl;
	struct gc_member *m;
	struct gc_group *g;
	struct stat st;
	char *end;
	long pid = 0;
	int temp = 0;

	if (bl == 0)
		return;
	if (*rest == '.') {
		pid = strtol(rest + 1, &end, 10);
		if (pid <= 0 || *end != '.')
			return;
		temp = 1;
	} else if (*rest != '\0' && strcmp(rest, "-names") != 0 &&
	           strcmp(rest, "-state") != 0 &&
	           strcmp(rest, PS_RELAY_SUFFIX) != 0 &&
	           strcmp(rest, PS_CURRENT_SUFFIX) != 0) {
		return; /* not a kind we know: never ours to remove */
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    strlen(name) >= sizeof(m->name))
		return;
	g = gc_group_of(c, name, bl);
	if (g == NULL || g->n >= GC_MAX_MEMBERS)
		return;
	m = &g->m[g->n++];
	strcpy(m->name, name);
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = st.st_size;
	m->temp = temp;
	m->pid = pid;
	if (!temp && st.st_mtime > g->newest)
		g->newest = st.st_mtime;
}

static int
gc_list(struct gc *c)
{
	struct dirent *e;
	DIR *d = opendir(PS_SHM_DIR);

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL)
		gc_add_entry(c, dirfd(d), e->d_name);
	closedir(d);
	return 0;
}

/* Lock each old enough group's table: `run` holds LOCK_SH on the table it
 * hands its command from publication to exec, so a table it is handing
 * over cannot be locked here, and one locked here cannot be handed over
 * (run waits, then finds the name gone and publishes again). */
static void
gc_lock(struct gc *c)
{
	char path[sizeof(PS_SHM_DIR) + PS_SHM_NAME_MAX + 16];
	struct stat st;
	size_t i;
	int k, fd;

	for (i = 0; i < c->ng; i++) {
		struct gc_group *g = &c->g[i];

		if (g->young)
			continue;
		for (k = 0; k < g->n; k++) {
			if (g->m[k].temp || strcmp(g->m[k].name, g->base) != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", PS_SHM_DIR,
			         g->m[k].name);
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) != 0 ||
			    st.st_ino != g->m[k].ino ||
			    flock(fd, LOCK_EX | LOCK_NB) != 0) {
				g->used = 1; /* replaced, or being handed */
				if (fd >= 0)
					close(fd);
				continue;
			}
			g->lockfd = fd;
		}
	}
}

/* The whole of a /proc file into a growing buffer; its length or -errno. */
static ssize_t
gc_read(const char *path, char **buf, size_t *cap)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		if (len + 4096 > *cap) {
			char *nb = realloc(*buf, *cap * 2 + 8192);

			if (nb == NULL) {
				close(fd);
				return -ENOMEM;
			}
			*buf = nb;
			*cap = *cap * 2 + 8192;
		}
		n = read(fd, *buf + len, *cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	n = n < 0 ? -errno : (ssize_t)len;
	close(fd);
	if (n >= 0)
		(*buf)[len] = '\0';
	return n;
}

/* Mark the group whose base name is at s (len bytes), if any. */
static void
gc_mark_name(struct gc *c, const char *s, size_t len)
{
	size_t i;

	if (len > 0 && s[0] == '/') {
		s++;
		len--;
	}
	for (i = 0; i < c->ng; i++) {
		size_t bl = strlen(c->g[i].base);

		if (len >= bl && memcmp(s, c->g[i].base, bl) == 0)
			c->g[i].used = 1;
	}
}

/* NUL-separated strings (environ, cmdline): PROXYSHIM_TABLE=NAME, or any
 * argument naming one of our segments (the relay's --table NAME). */
static void
gc_mark_strings(struct gc *c, const char *buf, size_t len)
{
	static const char key[] = PS_ENV_TABLE "=";
	size_t off = 0, n;

	while (off < len) {
		const char *s = buf + off;

		n = strnlen(s, len - off);
		if (n > sizeof(key) - 1 && memcmp(s, key, sizeof(key) - 1) == 0)
			gc_mark_name(c, s + sizeof(key) - 1,
			             n - (sizeof(key) - 1));
		else if (strstr(s, c->prefix) != NULL)
			gc_mark_name(c, strstr(s, c->prefix),
			             strlen(strstr(s, c->prefix)));
		off += n + 1;
	}
}

/* /proc/PID/maps: every mapping of one of our segments, by device and
 * inode (a mapped object may have been unlinked or replaced since; and an
 * inode number alone is shared by objects of other tmpfs mounts, such as
 * another mount namespace's /dev/shm). */
static void
gc_mark_maps(struct gc *c, const char *buf)
{
	char shm[32];
	const char *line = buf;
	size_t i;
	int k;

	snprintf(shm, sizeof(shm), "%s/%s", PS_SHM_DIR, "proxyshim-");
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n'), *p = strstr(line, shm);
		unsigned long long ino;
		unsigned maj, min;

		if (p != NULL && (nl == NULL || p < nl) &&
		    sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) ==
		            3)
			for (i = 0; i < c->ng; i++)
				for (k = 0; k < c->g[i].n; k++)
					if (c->g[i].m[k].ino == (ino_t)ino &&
					    c->g[i].m[k].dev ==
					            makedev(maj, min))
						c->g[i].used = 1;
		line = nl != NULL ? nl + 1 : NULL;
	}
}

/* /proc/PID/stat: state, flags, start time, env_end.  0, or -errno. */
static int
gc_stat(long pid, char *state, unsigned long *flags, unsigned long long *start,
        unsigned long *env_end)
{
	char path[64], buf[1024], *p;
	unsigned long long f[52];
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (p == NULL || p[1] != ' ')
		return -EINVAL;
	*state = p[2];
	p += 3;
	/* Fields 4.. after the state; start is 22, flags 9, env_end 51. */
	memset(f, 0, sizeof(f));
	for (i = 4; i <= 51 && *p != '\0'; i++) {
		f[i] = strtoull(p, &p, 10);
		while (*p == ' ')
			p++;
	}
	*flags = (unsigned long)f[9];
	*start = f[22];
	*env_end = (unsigned long)f[51];
	return 0;
}

/* One process: its environment, arguments and mappings.  A process that
 * cannot be read although it may use our segments makes the whole run
 * keep everything (c->unknown). */
static void
gc_scan_pid(struct gc *c, long pid, char **buf, size_t *cap)
{
	char path[64], state;
	unsigned long flags, env_end;
	unsigned long long start;
	ssize_t n;
	int tries;

	for (tries = 0;; tries++) {
		if (gc_stat(pid, &state, &flags, &start, &env_end) < 0)
			return; /* gone */
		if (state == 'Z' || state == 'X' || (flags & 0x00200000))
			return; /* dead, or a kernel thread */
		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		n = gc_read(path, buf, cap);
		if (n == -ENOENT || n == -ESRCH)
			return;
		/* env_end is 0 only inside execve(), between the old image
		 * and the new one's stack: look again shortly. */
		if (n >= 0 && (n > 0 || env_end != 0))
			break;
		if (n < 0 && n != -EACCES && n != -EPERM)
			return;
		if (n < 0) {
			/* Another uid's (it cannot open our 0600 objects),
			 * or one that turned dumping off: setuid and setgid
			 * programs, which the library leaves alone.  Not
			 * seen: docs/behaviour.md says so. */
			c->hidden++;
			return;
		}
		if (tries >= GC_EXEC_TRIES) {
			c->unknown = 1;
			c->unknown_pid = pid;
			return;
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	gc_mark_strings(c, *buf, (size_t)n);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	n = gc_read(path, buf, cap);
	if (n > 0)
		gc_mark_strings(c, *buf, (size_t)n);
	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	n = gc_read(path, buf, cap);
	if (n > 0)
		gc_mark_maps(c, *buf);
	else if (n == -EACCES || n == -EPERM)
		c->hidden++;
}

static int
gc_seen(const struct gc *c, long pid, unsigned long long start)
{
	size_t i;

	for (i = 0; i < c->nseen; i++)
		if (c->seen[i].pid == pid && c->seen[i].start == start)
			return 1;
	return 0;
}

/* One pass over /proc, scanning every process not scanned before; the
 * number scanned, or -errno. */
static int
gc_scan_round(struct gc *c, char **buf, size_t *cap)
{
	unsigned long flags, env_end;
	unsigned long long start;
	struct dirent *e;
	char state, *end;
	int count = 0;
	DIR *d = opendir("/proc");
	long pid;

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || *end != '\0' || pid == (long)getpid())
			continue;
		if (gc_stat(pid, &state, &flags, &start, &env_end) < 0 ||
		    gc_seen(c, pid, start))
			continue;
		if (c->nseen >= GC_MAX_PROCS) {
			c->unknown = 1;
			break;
		}
		c->seen[c->nseen].pid = pid;
		c->seen[c->nseen++].start = start;
		gc_scan_pid(c, pid, buf, cap);
		count++;
	}
	closedir(d);
	return count;
}

/* A pass over /proc goes up in pid order and also returns processes born
 * while it runs, above its position; a later pass scans those born below
 * it (pids wrapped around) or after it ended.  Three passes at most: see
 * docs/behaviour.md#garbage-collection-proxyshim-gc for why that bounds
 * what a scan can miss. */
static int
gc_scan(struct gc *c)
{
	char *buf = NULL;
	size_t cap = 0;
	int r = 0, round;

	for (round = 0; round < GC_SCAN_ROUNDS; round++) {
		r = gc_scan_round(c, &buf, &cap);
		if (r <= 0)
			break;
	}
	free(buf);
	return r < 0 ? r : 0;
}

/* A config file's current segment in use keeps the table it names, which
 * its processes switch to at their next call (docs/behaviour.md#live-reload).
 * Read before the groups are swept; a reload that publishes meanwhile
 * publishes a young table, which this run does not remove anyway. */
static void
gc_keep_current(struct gc *c)
{
	char name[PS_SHM_NAME_MAX];
	struct ps_current_seg *s;
	uint64_t gen, table;
	size_t i, n = c->ng;
	void *p;
	int k;

	for (i = 0; i < n; i++) {
		if (!c->g[i].used && !c->unknown)
			continue;
		for (k = 0; k < c->g[i].n; k++) {
			size_t bl = strlen(c->g[i].base);

			if (c->g[i].m[k].temp ||
			    strcmp(c->g[i].m[k].name + bl, PS_CURRENT_SUFFIX))
				continue;
			snprintf(name, sizeof(name), "/%s", c->g[i].m[k].name);
			if (shm_map_rw(name, sizeof(*s), 0, &p) < 0)
				continue;
			s = p;
			current_read(s, &gen, &table);
			munmap(p, sizeof(*s));
			shm_table_name(table, name, sizeof(name));
			gc_mark_name(c, name, strlen(name));
		}
	}
}

static int
gc_pid_alive(long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Remove (or with -n, list) what is free; returns segments removed. */
static int
gc_sweep(struct gc *c, unsigned long long *bytes, int *kept)
{
	char name[PS_SHM_NAME_MAX + 17];
	size_t i;
	int k, removed = 0;

	for (i = 0; i < c->ng; i++) {
		struct gc_group *g = &c->g[i];

		if (g->young || g->used || c->unknown) {
			if (c->verbose)
				printf("kept %s: %s\n", g->base,
				       g->young  ? "recently written"
				       : g->used ? "in use"
				                 : "a process could not be "
				                   "inspected");
			(*kept)++;
			continue;
		}
		for (k = 0; k < g->n; k++) {
			if (g->m[k].temp && gc_pid_alive(g->m[k].pid))
				continue; /* still being published */
			snprintf(name, sizeof(name), "/%s", g->m[k].name);
			if (!c->dry && shm_unlink(name) != 0)
				continue;
			if (!c->silent)
				printf("%s %s\n",
				       c->dry ? "would remove" : "removed",
				       name);
			*bytes += (unsigned long long)g->m[k].size;
			removed++;
		}
	}
	return removed;
}

static void
gc_stamp(void)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "/proxyshim-%u%s", (unsigned)geteuid(),
	         GC_STAMP);
	fd = shm_open_name(name, O_RDWR | O_CREAT, 0600);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
}

/* The collection itself; quiet 1: print nothing unless something is
 * removed or goes wrong; quiet 2: only what goes wrong. */
static int
gc_run(time_t min_age, int dry, int verbose, int quiet)
{
	struct gc c;
	unsigned long long bytes = 0;
	int r, removed = 0, kept = 0, old = 0;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.min_age = min_age;
	c.dry = dry;
	c.verbose = verbose;
	c.silent = quiet > 1;
	snprintf(c.prefix, sizeof(c.prefix), "proxyshim-%u-",
	         (unsigned)geteuid());
	c.g = calloc(GC_MAX_GROUPS, sizeof(*c.g));
	c.seen = calloc(GC_MAX_PROCS, sizeof(*c.seen));
	r = c.g == NULL || c.seen == NULL ? -ENOMEM : gc_list(&c);
	/* Only groups old enough are candidates; with none, no scan of
	 * /proc at all (the usual case for run and compile). */
	for (i = 0; r == 0 && i < c.ng; i++) {
		c.g[i].young = c.g[i].newest != 0 &&
		               time(NULL) - c.g[i].newest < c.min_age;
		old += !c.g[i].young;
	}
	if (r == 0 && old > 0) {
		gc_lock(&c);
		r = gc_scan(&c);
		gc_keep_current(&c);
	}
	if (r == 0) {
		if (c.unknown && !quiet && c.unknown_pid > 0)
			fprintf(stderr,
			        "proxyshim gc: process %ld stayed in "
			        "execve(): nothing removed\n",
			        c.unknown_pid);
		else if (c.unknown && !quiet)
			fprintf(stderr,
			        "proxyshim gc: more than %d processes: "
			        "nothing removed\n",
			        GC_MAX_PROCS);
		if (verbose && c.hidden > 0)
			printf("%d process(es) could not be read (another "
			       "user's, or not dumpable)\n",
			       c.hidden);
		removed = gc_sweep(&c, &bytes, &kept);
		if (!dry)
			gc_stamp();
	} else {
		fprintf(stderr, "proxyshim gc: %s\n", strerror(-r));
	}
	for (i = 0; i < c.ng; i++)
		if (c.g[i].lockfd >= 0)
			close(c.g[i].lockfd);
	if (!quiet || (removed > 0 && !c.silent))
		printf("%s %d segment(s), %llu bytes; kept %d table(s)\n",
		       dry ? "would remove" : "removed", removed, bytes, kept);
	free(c.g);
	free(c.seen);
	return r == 0 ? CLI_OK : CLI_FAIL;
}

void
gc_auto(bool silent)
{
	if (!gc_due())
		return;
	fflush(stdout);
	/* Its lines go to stderr: run's and compile's stdout is the
	 * command's, or the table's name. */
	{
		int saved = dup(STDOUT_FILENO);

		if (saved < 0)
			return;
		dup2(STDERR_FILENO, STDOUT_FILENO);
		gc_run(GC_MIN_AGE_S, 0, 0, silent ? 2 : 1);
		fflush(stdout);
		dup2(saved, STDOUT_FILENO);
		close(saved);
	}
}

int
cmd_gc(int argc, char **argv)
{
	long min_age = GC_MIN_AGE_S;
	int i, dry = 0, verbose = 0;
	char *end;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 ||
		    strcmp(argv[i], "--dry-run") == 0) {
			dry = 1;
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (strcmp(argv[i], "--auto") == 0 && i == 1 &&
		           (argc == 2 ||
		            (argc == 3 && strcmp(argv[2], "-q") == 0))) {
			gc_auto(argc == 3); /* run's, when gc_due() */
			return CLI_OK;
		} else if (strcmp(argv[i], "--min-age") == 0 && i + 1 < argc) {
			min_age = strtol(argv[++i], &end, 10);
			if (*argv[i] == '\0' || *end != '\0' || min_age < 0) {
				fprintf(stderr, "proxyshim gc: --min-age takes "
				                "seconds\n");
				return CLI_USAGE;
			}
		} else {
			fprintf(stderr, "usage: proxyshim gc [-n] [-v] "
			                "[--min-age SECONDS]\n");
			return CLI_USAGE;
		}
	}
	return gc_run((time_t)min_age, dry, verbose, 0);
}
