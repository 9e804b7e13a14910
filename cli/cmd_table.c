/*
 * proxyshim check | explain | compile | dump.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/compiler.h"
#include "proxyshim/env.h"
#include "proxyshim/names.h"
#include "proxyshim/route.h"
#include "proxyshim/shm.h"
#include "proxyshim/table.h"
#include "cli.h"

/* Find the source; report a missing config as FILE: reason. */
static int
cli_source(const struct cli_opts *o, struct ps_source *src)
{
	int r = source_find(o->config, NULL, src);

	if (r < 0) {
		const char *p = o->config ? o->config : getenv(PS_ENV_CONFIG);

		/* The table's name comes from the file's identity, which
		 * a pipe or a device does not have. */
		fprintf(stderr, "proxyshim: %s: %s\n", p ? p : "config",
		        r == -EINVAL ? "not a regular file" : strerror(-r));
		return -1;
	}
	if (src->kind == PS_SOURCE_NONE) {
		fprintf(stderr,
		        "proxyshim: no configuration: no config file "
		        "found (-c FILE, $PROXYSHIM_CONFIG, "
		        "./proxyshim.yml, ~/.config/proxyshim/config.yml, "
		        "/etc/proxyshim.yml) and no http_proxy, "
		        "https_proxy or all_proxy set\n");
		return -1;
	}
	return 0;
}

/* Compile the configured source into a private, validated table. */
static int
cli_build_view(const struct cli_opts *o, uint8_t **tbl, size_t *len,
               struct ps_table_view *v)
{
	char err[PS_ERR_MAX];
	struct ps_source src;
	const char *why = "";

	if (cli_source(o, &src) < 0)
		return -1;
	if (compiler_build(&src, tbl, len, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (table_view_open(*tbl, *len, v, &why) < 0) {
		/* A compiler bug, not a user error: say so plainly. */
		fprintf(stderr,
		        "proxyshim: internal error: compiled table "
		        "invalid: %s\n",
		        why);
		free(*tbl);
		*tbl = NULL;
		return -1;
	}
	return 0;
}

static int
cli_only_opts(int argc, char **argv, struct cli_opts *o, int want_operands)
{
	int i = cli_parse_opts(argc, argv, o, 0);

	if (i < 0)
		return -1;
	if (want_operands == 0 && i < argc) {
		fprintf(stderr, "proxyshim %s: unexpected argument '%s'\n",
		        argv[0], argv[i]);
		return -1;
	}
	return i;
}

int
cmd_check(int argc, char **argv)
{
	struct cli_opts o = {0};
	struct probe_opts po = {0};
	struct ps_table_view v;
	uint8_t *tbl = NULL;
	size_t len = 0, i, nexempt = 0;
	int rc = CLI_OK;

	if (probe_take_opts(&argc, argv, &po) < 0 ||
	    cli_only_opts(argc, argv, &o, 0) < 0)
		return CLI_USAGE;
	if (cli_build_view(&o, &tbl, &len, &v) < 0)
		return CLI_FAIL;
	for (i = 0; i < v.nsources; i++)
		if (v.sources[i].prio == v.hdr->settings.nrules + 1)
			nexempt++;
	printf("%s: ok: %u rules, %zu exempt entries, %zu upstreams\n",
	       table_str(&v, v.hdr->settings.source_off),
	       v.hdr->settings.nrules, nexempt, v.nupstreams);
	if (po.probe)
		rc = probe_upstreams(&v, &po);
	free(tbl);
	return rc;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT or a bare IPv6 literal. */
static int
cli_parse_dest(const char *arg, char *host, size_t hostsz, struct ps_dest *d)
{
	const char *colon, *end;
	unsigned long port = 80;
	size_t hlen;
	char *ep;

	memset(d, 0, sizeof(*d));
	if (arg[0] == '[') {
		end = strchr(arg, ']');
		if (end == NULL)
			return -1;
		hlen = (size_t)(end - arg - 1);
		arg++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(arg, ':');
		if (colon != NULL && strchr(arg, ':') != colon)
			colon = NULL; /* bare IPv6: no port */
		hlen = colon ? (size_t)(colon - arg) : strlen(arg);
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &ep, 10);
		if (errno != 0 || *ep != '\0' || colon[1] == '\0' ||
		    port == 0 || port > 65535)
			return -1;
	}
	d->port = (uint16_t)port;
	if (inet_pton(AF_INET, host, d->addr) == 1) {
		d->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, d->addr) == 1) {
		d->family = AF_INET6;
	} else {
		d->name = host;
		d->name_len = hlen;
	}
	return 0;
}

static void
cli_print_route(const struct ps_table_view *v, const struct ps_route *rt,
                uint16_t port)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	const char *file = table_str(v, s->source_off);
	uint32_t i;

	if (rt->action == PS_ROUTE_DIRECT) {
		printf("direct\n");
	} else if (rt->action == PS_ROUTE_BLOCK) {
		printf("block\n");
	} else {
		printf("via");
		for (i = 0; i < rt->chain_len; i++) {
			uint32_t u = v->chains[rt->chain_first + i];

			printf(" %s",
			       table_str(v, v->upstreams[u].display_off));
		}
		printf("\n");
		for (i = 0; i < rt->chain_len; i++) {
			uint32_t u = v->chains[rt->chain_first + i];

			if (v->upstreams[u].scheme == PS_SCHEME_HTTPS) {
				printf("through: the TLS relay (proxyshim "
				       "relay): "
				       "the chain has an https:// hop\n");
				/* docs/behaviour.md#static-and-go-programs */
				printf("static and Go programs (run's "
				       "supervisor): refused, ECONNREFUSED (an "
				       "https:// hop needs the library)\n");
				break;
			}
		}
	}
	switch (rt->why) {
	case PS_WHY_LOOPBACK:
		printf("because: loopback destination (proxy_loopback: "
		       "false)\n");
		break;
	case PS_WHY_UPSTREAM:
		printf("because: the destination is a configured upstream "
		       "proxy\n");
		break;
	case PS_WHY_RULE: {
		const struct ps_t_rule *r = &v->rules[rt->rule];

		printf("because: %s at %s:%u:%u", table_str(v, r->label_off),
		       file, r->line, r->col);
		break;
	}
	case PS_WHY_EXEMPT:
		printf("because: exempt");
		break;
	case PS_WHY_HTTPS:
		printf("because: port %u is in https_ports: %s\n", port,
		       s->https_rule == s->http_rule
		               ? "proxy.http (no proxy.https configured)"
		               : "proxy.https");
		break;
	case PS_WHY_HTTP:
		printf("because: default route: proxy.http\n");
		break;
	default:
		printf("because: no upstream configured\n");
		break;
	}
	if ((rt->why == PS_WHY_RULE || rt->why == PS_WHY_EXEMPT)) {
		if (rt->src != PS_NONE && rt->src < v->nsources) {
			const struct ps_t_source *src = &v->sources[rt->src];

			printf(", entry \"%s\" at %s:%u:%u\n",
			       table_str(v, src->text_off), file, src->line,
			       src->col);
		} else {
			printf("\n");
		}
	}
}

/* Take "--peer ADDR" / "--peer=ADDR" out of argv (before the operand). */
static int
explain_take_peer(int *argc, char **argv, const char **peer)
{
	int i, j, take;

	for (i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--peer") == 0)
			take = 2;
		else if (strncmp(argv[i], "--peer=", 7) == 0)
			take = 1;
		else
			continue;
		if (take == 2 && i + 1 >= *argc) {
			fprintf(stderr, "proxyshim explain: --peer needs an "
			                "address\n");
			return -1;
		}
		*peer = take == 1 ? argv[i] + 7 : argv[i + 1];
		for (j = i; j + take < *argc; j++)
			argv[j] = argv[j + take];
		*argc -= take;
		return 0;
	}
	return 0;
}

static const char *
explain_header_name(uint8_t h)
{
	switch (h) {
	case PS_RP_PROXY:
		return "PROXY (required; read and consumed before the program "
		       "sees a byte)";
	case PS_RP_XFF:
		return "X-Forwarded-For (peeked; rightmost untrusted address)";
	case PS_RP_X_REAL_IP:
		return "X-Real-IP (peeked; first value)";
	case PS_RP_TRUE_CLIENT_IP:
		return "True-Client-IP (peeked; first value)";
	case PS_RP_CF_CONNECTING_IP:
		return "CF-Connecting-IP (peeked; first value)";
	default:
		return "?";
	}
}

/* explain --peer ADDR: docs/behaviour.md#reverse-proxy-side for a
 * connection from ADDR. */
static int
explain_peer(const struct ps_table_view *v, const char *peer)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	char buf[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	size_t n = strlen(peer), k;
	int fam = AF_INET;

	if (n > 2 && peer[0] == '[' && peer[n - 1] == ']') {
		peer++;
		n -= 2;
	}
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, peer, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, addr) != 1) {
		fam = AF_INET6;
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return -1;
	}
	if (!route_trusted(v, fam, addr)) {
		printf("untrusted %s: never parsed; accept() and getpeername() "
		       "report it as it is\n",
		       buf);
		return 0;
	}
	printf("trusted %s: the client is taken from, in order:\n", buf);
	for (k = 0; k < s->nheaders && k < sizeof(s->headers); k++)
		printf("  %s\n", explain_header_name(s->headers[k]));
	printf("  else the peer itself (also for PROXY LOCAL and UNKNOWN)\n");
	return 0;
}

int
cmd_explain(int argc, char **argv)
{
	struct cli_opts o = {0};
	struct ps_table_view v;
	struct ps_route rt;
	struct ps_dest d;
	char host[PS_MAX_HOST + 2]; /* as given: a trailing dot may follow */
	const char *peer = NULL;
	uint8_t *tbl = NULL;
	size_t len = 0;
	int i;

	if (explain_take_peer(&argc, argv, &peer) < 0)
		return CLI_USAGE;
	i = cli_only_opts(argc, argv, &o, 1);
	if (i < 0)
		return CLI_USAGE;
	if (peer != NULL && i == argc) { /* --peer alone */
		if (cli_build_view(&o, &tbl, &len, &v) < 0)
			return CLI_FAIL;
		i = explain_peer(&v, peer);
		free(tbl);
		if (i < 0)
			fprintf(stderr,
			        "proxyshim explain: bad peer address "
			        "'%s'\n",
			        peer);
		return i < 0 ? CLI_USAGE : CLI_OK;
	}
	if (i != argc - 1) {
		fprintf(stderr,
		        "usage: proxyshim explain [-c FILE] HOST[:PORT]\n"
		        "       proxyshim explain [-c FILE] --peer ADDR\n");
		return CLI_USAGE;
	}
	if (cli_parse_dest(argv[i], host, sizeof(host), &d) < 0) {
		fprintf(stderr,
		        "proxyshim explain: bad destination '%s' "
		        "(HOST[:PORT], [IPV6]:PORT)\n",
		        argv[i]);
		return CLI_USAGE;
	}
	if (cli_build_view(&o, &tbl, &len, &v) < 0)
		return CLI_FAIL;
	route_lookup(&v, &d, &rt);
	cli_print_route(&v, &rt, d.port);
	if (names_is_name(host)) { /* what the name hooks would do */
		enum names_why why;
		enum names_how how =
		        names_decide(&v, host, strlen(host), d.port, &why);

		printf("name lookup: %s (%s)\n",
		       how == NAMES_FAKE ? "fake address" : "resolved locally",
		       names_why_text(why));
		/* Go's own resolver asks the supervisor's DNS stub, which
		 * answers alike
		 * (docs/behaviour.md#names-for-static-and-go-programs). */
		if (how == NAMES_FAKE)
			printf("name lookup, programs with their own resolver "
			       "(Go under run): the same fake address, from "
			       "the supervisor's DNS stub\n");
	}
	reload_print_generation(&o, v.hdr->source_hash);
	if (peer != NULL && explain_peer(&v, peer) < 0) {
		fprintf(stderr, "proxyshim explain: bad peer address '%s'\n",
		        peer);
		free(tbl);
		return CLI_USAGE;
	}
	free(tbl);
	return CLI_OK;
}

int
cmd_compile(int argc, char **argv)
{
	char name[PS_SHM_NAME_MAX], err[PS_ERR_MAX];
	struct cli_opts o = {0};
	struct ps_source src;
	uint8_t *priv = NULL;
	size_t privlen = 0;

	if (cli_only_opts(argc, argv, &o, 0) < 0)
		return CLI_USAGE;
	if (cli_source(&o, &src) < 0)
		return CLI_FAIL;
	if (compiler_publish(&src, name, sizeof(name), &priv, &privlen, err,
	                     sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return CLI_FAIL;
	}
	if (name[0] == '\0') {
		free(priv);
		fprintf(stderr, "proxyshim: could not publish the table in "
		                "shared memory (see the log line above)\n");
		return CLI_FAIL;
	}
	printf("%s\n", name);
	fflush(stdout);
	gc_auto(false); /* every 10 minutes at most; our table is new */
	return CLI_OK;
}

int
cmd_dump(int argc, char **argv)
{
	struct cli_opts o = {0};
	struct ps_table_view v;
	const char *tname = getenv(PS_ENV_TABLE), *why = "";
	const void *base = NULL;
	uint8_t *tbl = NULL;
	size_t len = 0;
	int r;

	if (cli_only_opts(argc, argv, &o, 0) < 0)
		return CLI_USAGE;
	if (o.config == NULL && tname != NULL && *tname != '\0') {
		/* Show exactly what wrapped programs map. */
		r = shm_map(tname, &base, &len);
		if (r < 0) {
			fprintf(stderr, "proxyshim: table %s: %s\n", tname,
			        strerror(-r));
			return CLI_FAIL;
		}
		if (table_view_open(base, len, &v, &why) < 0) {
			fprintf(stderr, "proxyshim: table %s is invalid: %s\n",
			        tname, why);
			shm_unmap(base, len);
			return CLI_FAIL;
		}
		printf("table: %s\n", tname);
		table_dump(&v, stdout);
		shm_unmap(base, len);
		return CLI_OK;
	}
	if (cli_build_view(&o, &tbl, &len, &v) < 0)
		return CLI_FAIL;
	table_dump(&v, stdout);
	reload_print_generation(&o, v.hdr->source_hash);
	free(tbl);
	return CLI_OK;
}
