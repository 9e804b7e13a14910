/*
 * The environment default (docs/behaviour.md#environment-default): http_proxy,
 * https_proxy, all_proxy and no_proxy, each read in lower case first and then
 * in UPPER CASE, the first non-empty value winning (curl's order; Go's
 * httpproxy agrees).
 *
 * curl never reads HTTP_PROXY in upper case: a CGI program receives the
 * request header "Proxy:" as HTTP_PROXY ("httpoxy"), so a client could pick
 * the proxy.  We read both spellings, but, like Go's
 * httpproxy, we refuse the upper-case HTTP_PROXY when REQUEST_METHOD says
 * we are running as a CGI program.
 *
 * https_proxy serves the https ports, http_proxy the rest; all_proxy fills
 * whichever is unset.  Unlike a config file there is no https->http
 * fallback (curl and Go agree), hence https_direct.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyshim/env.h"
#include "proxyshim/config.h"
#include "proxyshim/log.h"

#define ENV_SOURCE "<environment>"

struct env_var {
	const char *value; /* NULL when unset or empty */
	const char *name;  /* the spelling that was read */
};

static const char *
env_read(const char *(*get)(const char *), const char *name)
{
	/* env_get(), as resolver/source.c: setuid programs ignore the
	 * proxy variables altogether. */
	const char *v = get != NULL ? get(name) : env_get(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static struct env_var
env_pair(const char *(*get)(const char *), const char *lower, const char *upper)
{
	struct env_var v = {env_read(get, lower), lower};

	if (v.value == NULL) {
		v.value = env_read(get, upper);
		v.name = upper;
	}
	return v;
}

static int
env_fail(char *err, size_t errsz, const char *var, const char *msg,
         const char *entry, size_t elen)
{
	char q[68];
	size_t i;

	if (err == NULL || errsz == 0)
		return -EINVAL;
	if (entry != NULL) {
		/* no_proxy holds no secrets, but keep control bytes out of
		 * terminals and logs. */
		for (i = 0; i < elen && i < 64; i++)
			q[i] = entry[i] >= 0x20 && entry[i] < 0x7f ? entry[i]
			                                           : '?';
		q[i] = '\0';
		snprintf(err, errsz, ENV_SOURCE ":0:0: %s: %s in entry '%s%s'",
		         var, msg, q, i < elen ? "..." : "");
	} else
		snprintf(err, errsz, ENV_SOURCE ":0:0: %s: %s", var, msg);
	return -EINVAL;
}

static int
env_url(const struct env_var *v, struct ps_url **out, char *err, size_t errsz)
{
	struct ps_url *u;
	const char *e;

	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return env_fail(err, errsz, v->name, "out of memory", NULL, 0);
	/* e is a static message: the value (and its password) is never
	 * echoed. */
	if (url_parse(v->value, strlen(v->value), u, &e) < 0) {
		free(u);
		return env_fail(err, errsz, v->name, e, NULL, 0);
	}
	*out = u;
	return 0;
}

static int
env_is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/* Empty entries ("a,,b", a trailing comma) are skipped, as Go does. */
static int
env_no_proxy(const struct env_var *v, struct ps_config *c, char *err,
             size_t errsz)
{
	const char *s = v->value, *end = s + strlen(s), *comma;
	size_t cap = 0, len;
	struct ps_match *a;
	const char *e;

	for (; s <= end; s = comma + 1) {
		comma = memchr(s, ',', (size_t)(end - s));
		if (comma == NULL)
			comma = end;
		len = (size_t)(comma - s);
		if (env_is_blank(s, len))
			continue;
		if (c->nexempt == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			a = realloc(c->exempt, cap * sizeof(*a));
			if (a == NULL)
				return env_fail(err, errsz, v->name,
				                "out of memory", NULL, 0);
			c->exempt = a;
		}
		if (match_parse(s, len, &c->exempt[c->nexempt], &e) < 0)
			return env_fail(err, errsz, v->name, e, s, len);
		c->nexempt++;
	}
	return 0;
}

int
config_load_env(struct ps_config *out, const char *(*getenv_fn)(const char *),
                char *err, size_t errsz)
{
	struct env_var http = env_pair(getenv_fn, "http_proxy", "HTTP_PROXY");
	struct env_var https =
	        env_pair(getenv_fn, "https_proxy", "HTTPS_PROXY");
	struct env_var all = env_pair(getenv_fn, "all_proxy", "ALL_PROXY");
	struct env_var no = env_pair(getenv_fn, "no_proxy", "NO_PROXY");
	int r = -ENOMEM;

	config_init(out);
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	out->source = strdup(ENV_SOURCE);
	if (out->source == NULL) {
		env_fail(err, errsz, "environment", "out of memory", NULL, 0);
		goto out;
	}
	if (http.value != NULL && strcmp(http.name, "HTTP_PROXY") == 0 &&
	    env_read(getenv_fn, "REQUEST_METHOD") != NULL) {
		log_warn("ignoring HTTP_PROXY in a CGI environment (httpoxy); "
		         "use http_proxy");
		http.value = NULL;
	}
	if (http.value == NULL && https.value == NULL && all.value == NULL &&
	    no.value == NULL)
		return 1;
	if (http.value == NULL)
		http = all;
	if (https.value == NULL)
		https = all;
	r = 0;
	if (http.value != NULL)
		r = env_url(&http, &out->http, err, errsz);
	if (r == 0 && https.value != NULL)
		r = env_url(&https, &out->https, err, errsz);
	out->https_direct = out->https == NULL;
	if (r == 0 && no.value != NULL)
		r = env_no_proxy(&no, out, err, errsz);
out:
	if (r < 0) {
		config_free(out);
		return -1;
	}
	return 0;
}
