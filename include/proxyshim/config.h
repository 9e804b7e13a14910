/*
 * proxyshim: the in-memory configuration model.
 *
 * The config reader (resolver/config.c, libyaml) and the environment default
 * (resolver/envcfg.c) produce a struct ps_config; the compiler
 * (resolver/compile.c) turns it into the shared table (table.h).  Nothing in
 * here is used on the connect path: the preloaded library only ever sees the
 * compiled table.
 *
 * All strings are heap-allocated and NUL-terminated; config_free() releases
 * everything.  Positions are 1-based (line, column) as reported to users.
 */
#ifndef PROXYSHIM_CONFIG_H
#define PROXYSHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maximum lengths accepted anywhere in a config. */
/* The longest host name, in bytes of text.  RFC 1035 caps a name at 255
 * octets in wire form (each label behind its length byte, then the root's
 * zero byte), which is 253 characters written out.  A name as given may
 * end in one dot more (an absolute name): it is dropped before a name is
 * stored, compared or looked up.  So a buffer for a name holds
 * PS_MAX_HOST + 1 bytes (the NUL), PS_MAX_HOST + 2 while the dot may
 * still be there. */
#define PS_MAX_HOST 253
#define PS_MAX_CRED 255 /* RFC 1929 user / password limit */
#define PS_MAX_HOPS 8   /* upstreams in one chain */
#define PS_ERR_MAX 512  /* error message buffer size used by the API */

enum ps_scheme {
	PS_SCHEME_NONE = 0,
	PS_SCHEME_HTTP,   /* CONNECT, default port 80 */
	PS_SCHEME_HTTPS,  /* TLS to the proxy, then CONNECT; default port 443 */
	PS_SCHEME_SOCKS4, /* client resolves; default port 1080 */
	PS_SCHEME_SOCKS4A, /* proxy resolves */
	PS_SCHEME_SOCKS5,  /* client resolves */
	PS_SCHEME_SOCKS5H, /* proxy resolves */
};

struct ps_pos {
	uint32_t line; /* 1-based, 0 = unknown (environment) */
	uint32_t col;  /* 1-based */
};

/* One upstream proxy, parsed from a URL such as socks5://u:p@[::1]:1080. */
struct ps_url {
	enum ps_scheme scheme;
	char *host; /* name, or address text without brackets */
	int family; /* AF_INET / AF_INET6 when host is a literal, else 0 */
	uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
	uint16_t port;    /* host order, never 0 after parsing */
	char *user;       /* percent-decoded; NULL when absent */
	char *pass;       /* percent-decoded; NULL when absent */
	struct ps_pos pos;
	/* The upstream's own tls: keys (an https:// upstream written as a
	 * mapping {url: ..., tls: {...}}); unset ones fall back to
	 * proxy.tls.  ca_file is made absolute like proxy.tls's. */
	char *tls_ca_file;     /* NULL = unset */
	char *tls_server_name; /* NULL = unset */
	bool tls_insecure_set;
	bool tls_insecure;
	struct ps_pos tls_pos; /* of its tls: mapping */
};

enum ps_via_kind {
	PS_VIA_DIRECT = 0,
	PS_VIA_BLOCK,
	PS_VIA_PROXY, /* hops[0..nhops-1], hops[0] is dialled first */
};

struct ps_via {
	enum ps_via_kind kind;
	size_t nhops;
	struct ps_url *hops;
};

enum ps_match_kind {
	PS_MATCH_ANY = 1, /* "*" */
	PS_MATCH_NAME,    /* "example.com": the name and every subdomain */
	PS_MATCH_SUFFIX,  /* ".example.com", "*.example.com": subdomains only */
	PS_MATCH_ADDR,    /* "10.1.2.3", "::1", "[::1]:443" */
	PS_MATCH_CIDR,    /* "10.0.0.0/8", "fd00::/8" (no port) */
};

/* One entry of an exempt list or of a rule's match list. */
struct ps_match {
	enum ps_match_kind kind;
	char *name;       /* NAME/SUFFIX: lower case, no leading "*."/".", no
	                     trailing dot */
	int family;       /* ADDR/CIDR: AF_INET or AF_INET6 */
	uint8_t addr[16]; /* ADDR/CIDR, network order, host bits cleared */
	uint8_t prefix;   /* CIDR: prefix length; ADDR: 32 or 128 */
	uint16_t port_lo; /* 0..65535 = any port */
	uint16_t port_hi;
	char *text; /* the entry as written (trimmed), for explain */
	struct ps_pos pos;
};

struct ps_rule {
	struct ps_match *match;
	size_t nmatch;
	struct ps_via via;
	struct ps_pos pos; /* of the rule's list item */
	char *label; /* e.g. "rules[2]" or "micronaut.http.services.api" */
};

enum ps_chain_mode {
	PS_CHAIN_STRICT = 0,
	PS_CHAIN_FAILOVER,
	PS_CHAIN_ROUND_ROBIN
};
enum ps_dns_mode { PS_DNS_REMOTE = 0, PS_DNS_LOCAL };
enum ps_on_failure { PS_FAIL_ERROR = 0, PS_FAIL_DIRECT };
enum ps_udp_mode { PS_UDP_DIRECT = 0, PS_UDP_BLOCK };
/* proxy.reload: whether running programs pick up edits of the file by
 * themselves (docs/behaviour.md#live-reload). */
enum ps_reload_mode { PS_RELOAD_AUTO = 0, PS_RELOAD_MANUAL };

/* Reverse-proxy header sources, in the order configured. */
enum ps_rp_header {
	PS_RP_PROXY = 1,       /* HAProxy PROXY protocol v1/v2 */
	PS_RP_XFF,             /* X-Forwarded-For */
	PS_RP_X_REAL_IP,       /* X-Real-IP */
	PS_RP_TRUE_CLIENT_IP,  /* True-Client-IP */
	PS_RP_CF_CONNECTING_IP /* CF-Connecting-IP */
};
#define PS_RP_MAX_HEADERS 5

struct ps_config {
	char *source; /* file path, or "<environment>" */

	struct ps_url *http;  /* NULL = not configured */
	struct ps_url *https; /* NULL = http's upstream serves https too */
	bool https_direct;    /* added: with https NULL, https_ports traffic
	                         goes direct instead of via http's upstream
	                         (environment default: no https->http
	                         fallback, docs/behaviour.md#environment-default);
	                         false for config files */

	struct ps_match *exempt;
	size_t nexempt;

	uint16_t *https_ports; /* default {443} */
	size_t nhttps_ports;

	struct ps_rule *rules; /* proxy.rules, then Kestra services */
	size_t nrules;

	enum ps_chain_mode chain;
	enum ps_dns_mode dns;
	int fake4_prefix; /* default 198.18.0.0/15 */
	uint8_t fake4[4];
	int fake6_prefix; /* default fdfe:dcba:9876::/48 */
	uint8_t fake6[16];
	uint32_t connect_timeout_ms;   /* default 5000 */
	uint32_t handshake_timeout_ms; /* default 10000 */
	enum ps_on_failure on_failure;
	enum ps_udp_mode udp;
	bool proxy_loopback;
	enum ps_reload_mode reload;

	struct ps_match *trusted; /* reverseProxy.trustedOrigins (ADDR/CIDR) */
	size_t ntrusted;
	enum ps_rp_header headers[PS_RP_MAX_HEADERS];
	size_t nheaders;        /* default: {X-Forwarded-For} */
	uint32_t rp_timeout_ms; /* PROXY header deadline, default 3000 */

	/* proxy.tls: every https:// upstream (read by the relay). */
	char *tls_ca_file;     /* PEM bundle; NULL = system store.  A relative
	                          path is made absolute against the config
	                          file's directory by config_load_file() */
	char *tls_server_name; /* SNI + checked name; NULL = the proxy's host */
	bool tls_insecure;     /* insecure_skip_verify: no verification */
	struct ps_pos tls_pos; /* of the proxy.tls mapping */

	/* How much reading work the load took, in steps a test can count
	 * exactly on any machine: YAML nodes visited, characters scanned
	 * while splitting comma-separated strings, and the elements that
	 * growing an array may have copied.  Linear in the input. */
	size_t load_work;
};

/*
 * Parsers for single values.  Each returns 0, or -EINVAL with a static
 * message in *err (no position: the caller adds FILE:LINE:COL).
 */
int url_parse(const char *s, size_t len, struct ps_url *out, const char **err);
void url_free(struct ps_url *u);
/* "socks5://user:***@host:1080"; never prints the password. */
size_t url_format_masked(const struct ps_url *u, char *buf, size_t bufsz);
const char *url_scheme_name(enum ps_scheme s);
/* Added: a DNS host name (letters, digits, '-', '_'; labels <= 63, total
 * <= 253 as text, one trailing dot allowed, ASCII only).  Shared by url.c
 * and match.c. */
int url_check_host(const char *s, size_t len, const char **err);

/* One exempt/match entry; ":port" or ":lo-hi" is accepted on names and
 * addresses (not on CIDRs or "*"). */
int match_parse(const char *s, size_t len, struct ps_match *out,
                const char **err);
void match_free(struct ps_match *m);

/* "250ms", "5s", "1m", "1h", a bare integer means seconds. */
int duration_parse(const char *s, size_t len, uint32_t *ms, const char **err);
/* "10.0.0.0/8", "::1/128", a bare address = full length.  Host bits set
 * are cleared, as Go's net.ParseCIDR does ("127.0.0.1/8" is 127.0.0.0/8,
 * docs/behaviour.md#match-entries). */
int cidr_parse(const char *s, size_t len, int *family, uint8_t addr[16],
               int *prefix, const char **err);
/* "443" or "1000-2000" (lo <= hi, 1..65535). */
int port_range_parse(const char *s, size_t len, uint16_t *lo, uint16_t *hi,
                     const char **err);

/*
 * Whole configurations.  On error they return -1 and write
 * "FILE:LINE:COL: message" into err (PS_ERR_MAX bytes is enough).
 */
void config_init(struct ps_config *c); /* defaults, no upstreams */
int config_load_file(const char *path, struct ps_config *out, char *err,
                     size_t errsz);
int config_load_buffer(const char *name, const char *buf, size_t len,
                       struct ps_config *out, char *err, size_t errsz);
/*
 * The environment default (docs/behaviour.md#environment-default) from
 * http_proxy/https_proxy/all_proxy/no_proxy (lower
 * case first, then upper case).  getenv_fn lets tests supply variables;
 * NULL means getenv().  Returns 0, 1 when no variable is set (out is then a
 * config with no upstreams), -1 on a bad value.
 */
int config_load_env(struct ps_config *out,
                    const char *(*getenv_fn)(const char *), char *err,
                    size_t errsz);
void config_free(struct ps_config *c);

#endif
