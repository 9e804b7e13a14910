/*
 * What every libFuzzer target here shares: the entry point's prototype
 * (-Wmissing-prototypes) and CHECK, which aborts so that libFuzzer keeps
 * the input (assert() would vanish under NDEBUG).
 */
#ifndef PROXYSHIM_FUZZ_H
#define PROXYSHIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#endif
