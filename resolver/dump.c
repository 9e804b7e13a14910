/*
 * table_dump(): the compiled table as people read it (proxyshim dump).
 * Credentials never appear: upstreams are shown by their masked display
 * string, and the user/password strings are never followed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyshim/config.h"
#include "proxyshim/table.h"

#define DUMP_SMALL 1000 /* list every entry below this many */

static const char *
dump_enum(unsigned v, const char *const *names, size_t n)
{
	return v < n ? names[v] : "?";
}

/* "rules[2]", "exempt" or "upstream" for a priority. */
static void
dump_prio(const struct ps_table_view *v, uint32_t prio, char *buf, size_t bufsz)
{
	const struct ps_t_settings *s = &v->hdr->settings;

	if (prio == PS_PRIO_UPSTREAM)
		snprintf(buf, bufsz, "upstream");
	else if (prio <= s->nrules)
		snprintf(buf, bufsz, "%s",
		         table_str(v, v->rules[prio - 1].label_off));
	else if (prio == s->nrules + 1)
		snprintf(buf, bufsz, "exempt");
	else
		snprintf(buf, bufsz, "-");
}

static void
dump_header(const struct ps_table_view *v, FILE *f)
{
	static const char *const chain[] = {"strict", "failover",
	                                    "round_robin"};
	static const char *const dns[] = {"remote", "local"};
	static const char *const fail[] = {"error", "direct"};
	static const char *const udp[] = {"direct", "block"};
	static const char *const hdrs[] = {
	        "?",         "PROXY",          "X-Forwarded-For",
	        "X-Real-IP", "True-Client-IP", "CF-Connecting-IP"};
	const struct ps_t_header *h = v->hdr;
	const struct ps_t_settings *s = &h->settings;
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	unsigned i;

	fprintf(f,
	        "proxyshim table version %u, %u bytes, crc32c %08x, "
	        "generation %llu\n",
	        h->version, h->total_size, h->checksum,
	        (unsigned long long)h->generation);
	fprintf(f, "source: %s (identity %016llx)\n",
	        table_str(v, s->source_off),
	        (unsigned long long)h->source_hash);
	inet_ntop(AF_INET, s->fake4, a4, sizeof(a4));
	inet_ntop(AF_INET6, s->fake6, a6, sizeof(a6));
	fprintf(f, "settings:\n");
	fprintf(f,
	        "  chain: %s\n  dns: %s\n  on_failure: %s\n  udp: %s\n"
	        "  proxy_loopback: %s\n  reload: %s\n",
	        dump_enum(s->chain_mode, chain, 3),
	        dump_enum(s->dns_mode, dns, 2),
	        dump_enum(s->on_failure, fail, 2),
	        dump_enum(s->udp_mode, udp, 2),
	        s->proxy_loopback ? "true" : "false",
	        s->reload_mode == PS_RELOAD_MANUAL ? "manual" : "auto");
	fprintf(f, "  fake_ipv4: %s/%u\n  fake_ipv6: %s/%u\n", a4,
	        s->fake4_prefix, a6, s->fake6_prefix);
	fprintf(f,
	        "  timeouts: connect %ums, handshake %ums, reverse proxy "
	        "header %ums\n",
	        s->connect_timeout_ms, s->handshake_timeout_ms,
	        s->rp_timeout_ms);
	fprintf(f, "  reverse proxy headers:");
	for (i = 0; i < s->nheaders && i < sizeof(s->headers); i++)
		fprintf(f, " %s", dump_enum(s->headers[i], hdrs, 6));
	fprintf(f, "%s\n", s->nheaders ? "" : " (none)");
	/* proxy.tls: file and host names, nothing secret to mask. */
	fprintf(f,
	        "  tls: ca_file %s, server_name %s, insecure_skip_verify "
	        "%s\n",
	        s->tls_ca_off != 0 ? table_str(v, s->tls_ca_off)
	                           : "(system store)",
	        s->tls_name_off != 0 ? table_str(v, s->tls_name_off)
	                             : "(each proxy's host)",
	        s->tls_flags & PS_T_TLS_INSECURE
	                ? "true (certificates NOT verified)"
	                : "false");
}

static void
dump_https_ports(const struct ps_table_view *v, FILE *f)
{
	size_t i, n = v->nhttps_ports;

	fprintf(f, "  https_ports:");
	for (i = 0; i < n; i++) {
		const struct ps_t_portrange *r = &v->https_ports[i];

		if (r->lo == r->hi)
			fprintf(f, "%s %u", i ? "," : "", r->lo);
		else
			fprintf(f, "%s %u-%u", i ? "," : "", r->lo, r->hi);
	}
	fprintf(f, "%s\n", n ? "" : " (none)");
}

static void
dump_rule_route(const struct ps_table_view *v, const struct ps_t_rule *r,
                FILE *f)
{
	uint32_t k;

	switch (r->action) {
	case PS_T_DIRECT:
		fprintf(f, "direct");
		break;
	case PS_T_BLOCK:
		fprintf(f, "block");
		break;
	default:
		fprintf(f, "via");
		for (k = 0; k < r->chain_len; k++)
			fprintf(f, "%s %s", k ? " ->" : "",
			        table_str(
			                v,
			                v->upstreams[v->chains[r->chain_first +
			                                       k]]
			                        .display_off));
	}
}

static void
dump_rules(const struct ps_table_view *v, FILE *f)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	size_t i;

	fprintf(f, "upstreams (%zu):\n", v->nupstreams);
	for (i = 0; i < v->nupstreams; i++) {
		const struct ps_t_upstream *u = &v->upstreams[i];

		fprintf(f, "  [%zu] %s", i, table_str(v, u->display_off));
		if (u->scheme == PS_SCHEME_HTTPS)
			fprintf(f, " (tls: ca_file %s, server_name %s%s)",
			        u->tls_ca_off ? table_str(v, u->tls_ca_off)
			                      : "(system store)",
			        u->tls_name_off ? table_str(v, u->tls_name_off)
			                        : "(its host)",
			        u->tls_flags & PS_T_TLS_INSECURE
			                ? ", insecure_skip_verify: NOT "
			                  "verified"
			                : "");
		fprintf(f, "\n");
	}
	fprintf(f, "rules (%u, first match wins):\n", s->nrules);
	for (i = 0; i < v->nrules_total; i++) {
		const struct ps_t_rule *r = &v->rules[i];

		if (i == s->nrules)
			fprintf(f, "default routes:\n");
		fprintf(f, "  [%zu] %s (line %u:%u): ", i,
		        table_str(v, r->label_off), r->line, r->col);
		dump_rule_route(v, r, f);
		if (i == s->http_rule)
			fprintf(f, "  [http]");
		if (i == s->https_rule)
			fprintf(f, "  [https ports]");
		fprintf(f, "\n");
	}
	if (s->http_rule == PS_PRIO_NONE && s->https_rule == PS_PRIO_NONE)
		fprintf(f, "default routes: none (direct)\n");
}

static size_t
dump_used_slots(const uint32_t *slots, size_t n)
{
	size_t i, used = 0;

	for (i = 0; i < n; i++)
		used += slots[i] != 0;
	return used;
}

static void
dump_counts(const struct ps_table_view *v, FILE *f)
{
	const struct ps_t_settings *s = &v->hdr->settings;
	size_t i, nexempt = 0, nup = 0;

	for (i = 0; i < v->nsources; i++) {
		nexempt += v->sources[i].prio == s->nrules + 1;
		nup += v->sources[i].prio == PS_PRIO_UPSTREAM;
	}
	fprintf(f,
	        "match entries: %zu (%zu in rules, %zu exempt, %zu "
	        "upstream addresses)\n",
	        v->nsources, v->nsources - nexempt - nup, nexempt, nup);
	fprintf(f, "  name keys: %zu in %zu slots, %zu entries%s\n",
	        dump_used_slots(v->name_slots, v->nname_slots), v->nname_slots,
	        v->nname_ents, v->name_filter ? " (filtered)" : "");
	fprintf(f, "  address:port keys: %zu in %zu slots, %zu entries\n",
	        dump_used_slots(v->addr_slots, v->naddr_slots), v->naddr_slots,
	        v->naddr_ents);
	fprintf(f, "  ranges: %zu IPv4%s, %zu IPv6%s\n", v->nv4,
	        v->v4_index ? " (indexed)" : "", v->nv6,
	        v->v6_index ? " (indexed)" : "");
	if (s->star_prio != PS_PRIO_NONE) {
		char who[128];

		dump_prio(v, s->star_prio, who, sizeof(who));
		fprintf(f, "  \"*\": %s\n", who);
	}
}

static void
dump_sources(const struct ps_table_view *v, FILE *f)
{
	char who[128];
	size_t i;

	fprintf(f, "entries (source order):\n");
	for (i = 0; i < v->nsources; i++) {
		const struct ps_t_source *src = &v->sources[i];

		dump_prio(v, src->prio, who, sizeof(who));
		fprintf(f, "  [%zu] %-12s \"%s\" (line %u:%u)\n", i, who,
		        table_str(v, src->text_off), src->line, src->col);
	}
}

static void
dump_range4(const struct ps_t_range4 *r, size_t n, size_t i, char *lo, char *hi)
{
	uint8_t a[4];
	uint32_t x = r[i].start,
	         y = i + 1 < n ? r[i + 1].start - 1 : UINT32_MAX;
	int k;

	for (k = 0; k < 4; k++)
		a[k] = (uint8_t)(x >> (24 - 8 * k));
	inet_ntop(AF_INET, a, lo, INET_ADDRSTRLEN);
	for (k = 0; k < 4; k++)
		a[k] = (uint8_t)(y >> (24 - 8 * k));
	inet_ntop(AF_INET, a, hi, INET_ADDRSTRLEN);
}

static void
dump_range6(const struct ps_t_range6 *r, size_t n, size_t i, char *lo, char *hi)
{
	uint8_t a[16];
	int k;

	inet_ntop(AF_INET6, r[i].start, lo, INET6_ADDRSTRLEN);
	if (i + 1 < n) {
		/* The next start minus one, big-endian with borrow. */
		memcpy(a, r[i + 1].start, 16);
		for (k = 15; k >= 0; k--)
			if (a[k]-- != 0)
				break;
	} else {
		memset(a, 0xff, 16);
	}
	inet_ntop(AF_INET6, a, hi, INET6_ADDRSTRLEN);
}

static void
dump_ranges(const struct ps_table_view *v, FILE *f)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN], who[128];
	size_t i;

	fprintf(f, "address ranges (best entry):\n");
	for (i = 0; i < v->nv4; i++) {
		if (v->v4[i].prio == PS_PRIO_NONE)
			continue;
		dump_range4(v->v4, v->nv4, i, lo, hi);
		dump_prio(v, v->v4[i].prio, who, sizeof(who));
		fprintf(f, "  %s - %s: %s \"%s\"\n", lo, hi, who,
		        table_str(v, v->sources[v->v4[i].src].text_off));
	}
	for (i = 0; i < v->nv6; i++) {
		if (v->v6[i].prio == PS_PRIO_NONE)
			continue;
		dump_range6(v->v6, v->nv6, i, lo, hi);
		dump_prio(v, v->v6[i].prio, who, sizeof(who));
		fprintf(f, "  %s - %s: %s \"%s\"\n", lo, hi, who,
		        table_str(v, v->sources[v->v6[i].src].text_off));
	}
}

static void
dump_trust(const struct ps_table_view *v, FILE *f)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
	size_t i, n = 0;

	fprintf(f, "reverse proxy trusted origins:");
	for (i = 0; i < v->ntrust4; i++) {
		if (v->trust4[i].prio != 0)
			continue;
		dump_range4(v->trust4, v->ntrust4, i, lo, hi);
		fprintf(f, "\n  %s - %s", lo, hi);
		n++;
	}
	for (i = 0; i < v->ntrust6; i++) {
		if (v->trust6[i].prio != 0)
			continue;
		dump_range6(v->trust6, v->ntrust6, i, lo, hi);
		fprintf(f, "\n  %s - %s", lo, hi);
		n++;
	}
	fprintf(f, "%s\n", n ? "" : " (none)");
}

void
table_dump(const struct ps_table_view *v, FILE *f)
{
	dump_header(v, f);
	dump_https_ports(v, f);
	dump_rules(v, f);
	dump_counts(v, f);
	if (v->nsources < DUMP_SMALL) {
		dump_sources(v, f);
		dump_ranges(v, f);
	}
	dump_trust(v, f);
}
