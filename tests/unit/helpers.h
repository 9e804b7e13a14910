/* Small helpers shared by the unit suites. */
#ifndef PS_TEST_HELPERS_H
#define PS_TEST_HELPERS_H

/* Path of a fixture relative to the repository root (tests run from it). */
#define FIXTURE(mod, file) "tests/fixtures/" mod "/" file

#endif
