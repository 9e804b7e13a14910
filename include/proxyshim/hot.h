/*
 * PS_HOT marks a zero-initialised variable that every preloaded start
 * writes (the library's init state, its libc pointers, the log's).  It is
 * kept with the initialised data, on the page the loader writes anyway
 * when it maps the library, instead of in .bss, where each page that
 * start-up writes is a page fault of its own: a dozen microseconds under
 * some hypervisors (docs/performance.md#what-a-preloaded-start-costs).
 */
#ifndef PROXYSHIM_HOT_H
#define PROXYSHIM_HOT_H

#define PS_HOT __attribute__((section(".data.ps_hot")))

#endif
