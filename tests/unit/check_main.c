/* One runner for every unit suite (tests/unit/suites.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

static int nskipped;

void
unit_skip(const char *test, const char *why)
{
	printf("SKIP: %s: %s\n", test, why);
	nskipped++;
}

int
main(int argc, char **argv)
{
	SRunner *sr = srunner_create(NULL);
	const char *only = argc > 1 ? argv[1] : NULL;
	int failed;

#define SUITE(name)                                                          \
	if (!only || strcmp(only, #name) == 0)                               \
		srunner_add_suite(sr, name());
#include "suites.h"
#undef SUITE
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	if (nskipped > 0)
		printf("%d skipped (not run, see SKIP lines above)\n",
		       nskipped);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
