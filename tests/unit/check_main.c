/* One runner for every unit suite (tests/unit/suites.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxyshim/compiler.h"
#include "proxyshim/config.h"
#include "helpers.h"

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

static int nskipped;

void
unit_compile_yaml(const char *yaml, uint8_t **tbl, size_t *len)
{
	char path[] = "/tmp/proxyshim-unit-XXXXXX", err[PS_ERR_MAX];
	struct ps_source src;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(yaml, f);
	fclose(f);
	memset(&src, 0, sizeof(src));
	src.kind = PS_SOURCE_FILE;
	snprintf(src.path, sizeof(src.path), "%s", path);
	ck_assert_int_eq(source_identity_file(path, &src.identity), 0);
	*tbl = NULL;
	ck_assert_msg(compiler_build(&src, tbl, len, err, sizeof(err)) == 0,
	              "%s", err);
	unlink(path);
}

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
