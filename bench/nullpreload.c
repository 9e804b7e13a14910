/*
 * bench/libnull.so: an empty preload library.  bench/startup preloads it
 * to show what the dynamic loader charges for any LD_PRELOAD at all, which
 * is the floor under proxyshim's own start-up cost.
 */
int bench_null_preload;
