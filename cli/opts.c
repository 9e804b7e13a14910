/*
 * proxyshim: the options every subcommand shares (the command and
 * libproxyshim-tools.so both link this).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
cli_parse_opts(int argc, char **argv, struct cli_opts *o, int allow_qv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "proxyshim: %s needs a file\n",
				        a);
				return -1;
			}
			o->config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			o->config = a + 9;
		} else if (allow_qv && strcmp(a, "-q") == 0) {
			o->verbosity = -1;
		} else if (allow_qv && strcmp(a, "-v") == 0) {
			o->verbosity++;
		} else if (allow_qv && strcmp(a, "-vv") == 0) {
			o->verbosity += 2;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "proxyshim: unknown option %s\n", a);
			return -1;
		} else {
			return i;
		}
	}
	return i;
}

int
cli_cat(char *out, size_t outsz, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

	if (la + lb + lc >= outsz)
		return -1;
	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	memcpy(out + la + lb, c, lc + 1);
	return 0;
}
