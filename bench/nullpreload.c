/*
 * bench/libnull.so: an empty preload library, linked as cheaply as the
 * loader can take one (no libc, two segments, no RELRO; see the Makefile).
 * bench/startup preloads it to show what the dynamic loader charges for
 * any LD_PRELOAD at all, which is the floor under proxyshim's own start-up
 * cost.
 */
int bench_null_preload;
