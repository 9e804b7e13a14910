/* Small helpers shared by the unit suites. */
#ifndef PS_TEST_HELPERS_H
#define PS_TEST_HELPERS_H

/* Path of a fixture relative to the repository root (tests run from it). */
#define FIXTURE(mod, file) "tests/fixtures/" mod "/" file

/* A test that cannot run here is not added to its case: it is reported
 * as skipped, with the reason, by the runner (check_main.c), and never
 * counted as a pass. */
void unit_skip(const char *test, const char *why);
#define tcase_add_test_unless(tc, test, cond, why)                           \
	do {                                                                 \
		if (cond)                                                    \
			unit_skip(#test, why);                               \
		else                                                         \
			tcase_add_test(tc, test);                            \
	} while (0)

/* Compile yaml (a config file's text) into a table, as `proxyshim compile`
 * would from a file: *tbl (malloc()ed, the caller frees) and *len.  Fails
 * the test on any error. */
#include <stddef.h>
#include <stdint.h>
void unit_compile_yaml(const char *yaml, uint8_t **tbl, size_t *len);

#endif
