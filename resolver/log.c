/*
 * Logging: one write(2) per line, no malloc, no stdio, errno preserved.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxyshim/hot.h"
#include "proxyshim/env.h"
#include "proxyshim/log.h"

int ps_log_level = PS_LOG_WARN;
static int log_fd = 2;
PS_HOT static int log_ready;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int
log_level_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return PS_LOG_WARN;
	return -1;
}

void
log_setup(int level, int fd)
{
	if (level >= PS_LOG_ERROR && level <= PS_LOG_DEBUG)
		ps_log_level = level;
	if (fd >= 0)
		log_fd = fd;
	log_ready = 1;
}

void
log_init(void)
{
	const char *lv, *file;
	int saved = errno, lvl, fd;

	if (log_ready)
		return;
	log_ready = 1;
	lv = env_get(PS_ENV_LOG);
	if (lv != NULL && *lv != '\0') {
		lvl = log_level_parse(lv);
		if (lvl >= 0)
			ps_log_level = lvl;
	}
	file = env_get(PS_ENV_LOG_FILE);
	if (file != NULL && *file != '\0') {
		fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		          0600);
		if (fd >= 0) {
			/* Keep it away from the low fds a program may dup2
			 * onto. */
			int hi = fcntl(fd, F_DUPFD_CLOEXEC, 100);
			if (hi >= 0) {
				close(fd);
				fd = hi;
			}
			log_fd = fd;
		}
	}
	errno = saved;
}

void
log_line(int level, const char *func, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno, n, m;
	size_t len;

	if (level < PS_LOG_ERROR || level > PS_LOG_DEBUG)
		level = PS_LOG_ERROR;
	n = snprintf(buf, sizeof(buf), "proxyshim[%ld] %s %s: ", (long)getpid(),
	             level_names[level], func);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	len = (size_t)n + (size_t)m;
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	/* One write per line; a short write to a log is not worth a loop that
	 * could block the host program. */
	if (write(log_fd, buf, len) < 0) {
		/* nothing sensible to do */
	}
	errno = saved;
}
