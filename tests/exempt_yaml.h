/*
 * The YAML text of a config with n exempt entries, shared by the reader's
 * linear-work unit test (tests/unit/check_config.c) and its benchmark
 * (bench/configload.c), so both measure the same input: one
 * comma-separated string of names (list 0) or a YAML list of addresses
 * (list 1).  The caller frees the buffer; NULL when out of memory.
 */
#ifndef PROXYSHIM_TESTS_EXEMPT_YAML_H
#define PROXYSHIM_TESTS_EXEMPT_YAML_H

#include <stdio.h>
#include <stdlib.h>

static inline char *
exempt_yaml(size_t n, int list, size_t *lenp)
{
	size_t i, len = 0, cap = n * 24 + 64;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
	if (!list) {
		len += (size_t)sprintf(buf, "proxy:\n  exempt: \"");
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(buf + len, "%sh%zu.example",
			                       i ? "," : "", i);
		len += (size_t)sprintf(buf + len, "\"\n");
	} else {
		len = (size_t)sprintf(buf, "proxy:\n  exempt:\n");
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(
			        buf + len, "  - 10.%zu.%zu.%zu\n",
			        i >> 16 & 255, i >> 8 & 255, i & 255);
	}
	*lenp = len;
	return buf;
}

#endif
