/*
 * Sanitizer builds only (SAN=1): lets the ASan runtime, preloaded into an
 * uninstrumented program together with this library, start up without
 * wedging glibc's locale lock.  Not part of a normal build.
 *
 * A preloaded libasan runs its constructor after those of the program's
 * own libraries, so it is initialised lazily by the first malloc().  When
 * that malloc() is newlocale()'s (libp11-kit's constructor, in curl and
 * wget), __libc_setlocale_lock is held for writing; the runtime's init
 * looks up swift_demangle with dlsym() and clears the failure with
 * dlerror(), which formats the message through gettext, which read-locks
 * the same lock: EDEADLK, ignored, and the unlock that follows releases
 * newlocale()'s write lock.  newlocale()'s own unlock then leaves the
 * lock's reader count negative and the program's next setlocale() waits
 * forever.  With the symbol defined, dlsym() succeeds, dlerror() has no
 * message to translate and the lock is never touched.
 */
#include <stddef.h>
#include <stdint.h>

#include "shim.h"

SHIM_EXPORT char *swift_demangle(const char *mangled, size_t len, char *out,
                                 size_t *outlen, uint32_t flags);

/* "Not a Swift name": the runtime then prints the name as it is. */
SHIM_EXPORT char *
swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen,
               uint32_t flags)
{
	(void)mangled;
	(void)len;
	(void)out;
	(void)outlen;
	(void)flags;
	return NULL;
}
