/*
 * proxyshim: logging.  One write(2) per line to our own fd, pid and
 * __func__ in the line, errno saved and restored, level-gated; debug lines
 * are compiled out unless PS_DEBUG_LOG is defined (set in debug and test
 * builds by the Makefile).  Safe in signal-free hot paths: no malloc, no
 * stdio, no locks.
 */
#ifndef PROXYSHIM_LOG_H
#define PROXYSHIM_LOG_H

enum ps_log_level { PS_LOG_ERROR = 0, PS_LOG_WARN, PS_LOG_INFO, PS_LOG_DEBUG };

extern int ps_log_level; /* default PS_LOG_WARN */

/* Reads PROXYSHIM_LOG / PROXYSHIM_LOG_FILE (with env_get(): ignored in
 * setuid programs).  Idempotent. */
void log_init(void);
/* Set explicitly (command line -q / -v); fd < 0 keeps the current one. */
void log_setup(int level, int fd);
int log_level_parse(const char *s); /* -1 when unknown */

void log_line(int level, const char *func, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define PS_LOG_AT(lvl, ...)                                                    \
	do {                                                                   \
		if ((lvl) <= ps_log_level)                                     \
			log_line((lvl), __func__, __VA_ARGS__);                \
	} while (0)

#define log_err(...) PS_LOG_AT(PS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) PS_LOG_AT(PS_LOG_WARN, __VA_ARGS__)
#define log_info(...) PS_LOG_AT(PS_LOG_INFO, __VA_ARGS__)
#ifdef PS_DEBUG_LOG
#define log_debug(...) PS_LOG_AT(PS_LOG_DEBUG, __VA_ARGS__)
#else
#define log_debug(...)                                                         \
	do {                                                                   \
		if (0)                                                         \
			log_line(PS_LOG_DEBUG, __func__, __VA_ARGS__);         \
	} while (0)
#endif

#endif
