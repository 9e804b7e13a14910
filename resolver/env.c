/*
 * Reading proxyshim's environment variables (include/proxyshim/env.h).
 */
#include <stddef.h>
#include <sys/auxv.h>

#include "proxyshim/env.h"

extern char **environ;

const char *
env_get(const char *name)
{
	char **e;
	size_t i;

	/* As secure_getenv(): nothing for setuid and setgid programs. */
	if (name == NULL || getauxval(AT_SECURE) != 0)
		return NULL;
	for (e = environ; e != NULL && *e != NULL; e++) {
		for (i = 0; name[i] != '\0' && (*e)[i] == name[i]; i++)
			;
		if (name[i] == '\0' && (*e)[i] == '=')
			return *e + i + 1;
	}
	return NULL;
}
