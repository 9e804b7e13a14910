/*
 * proxyshim: every environment variable the library and the command read.
 * They are read with env_get(), so setuid/setgid programs ignore them all
 * (torsocks does the same).
 */
#ifndef PROXYSHIM_ENV_H
#define PROXYSHIM_ENV_H

#define PS_ENV_CONFIG "PROXYSHIM_CONFIG"     /* config file path */
#define PS_ENV_TABLE "PROXYSHIM_TABLE"       /* published table name */
#define PS_ENV_LOG "PROXYSHIM_LOG"           /* error|warn|info|debug */
#define PS_ENV_LOG_FILE "PROXYSHIM_LOG_FILE" /* default stderr */
#define PS_ENV_LIB "PROXYSHIM_LIB"           /* run: library to preload */
#define PS_ENV_CMD "PROXYSHIM_CMD"           /* the command (TLS relay) */
/* The TLS relay only: overrides of the table's proxy.tls settings, read
 * when the relay starts (it inherits the starting program's environment).
 * Empty or unset = the config's value. */
#define PS_ENV_TLS_CA "PROXYSHIM_TLS_CA_FILE"       /* CA bundle (PEM) */
#define PS_ENV_TLS_NAME "PROXYSHIM_TLS_SERVER_NAME" /* SNI + checked name */
#define PS_ENV_TLS_INSECURE "PROXYSHIM_TLS_INSECURE_SKIP_VERIFY" /* 1 / 0 */
#define PS_ENV_RELAY_IDLE "PROXYSHIM_RELAY_IDLE" /* seconds, default 60 */
#define PS_ENV_PRELOAD "LD_PRELOAD"
#define PS_ENV_XDG_CONFIG "XDG_CONFIG_HOME"
#define PS_ENV_HOME "HOME"

/* The value of name, as secure_getenv() gives it (NULL under AT_SECURE:
 * setuid and setgid programs), without libc's getenv() code: the library
 * reads its variables at every start, and libc's pages that nothing else
 * touches are page faults of every start
 * (docs/performance.md#what-a-preloaded-start-costs).  resolver/env.c. */
const char *env_get(const char *name);

#endif
