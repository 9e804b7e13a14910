/* Every unit suite, one line each: SUITE(name) declares Suite *name(void). */
SUITE(url_suite)
SUITE(match_suite)
SUITE(config_suite)
SUITE(envcfg_suite)
SUITE(table_suite)
SUITE(route_suite)
SUITE(proto_suite)
SUITE(shm_suite)
