/* bench/trampoline: the exec floor, the least any launcher can cost: a
 * program that only execv()s its arguments (bench/startup -T).
 *
 * With -s first, it installs a seccomp filter with a notification
 * listener before the exec (notify on a connect that does not carry the
 * library's mark, allow the rest; the listener is close-on-exec, so
 * nothing serves it: such a connect fails with ENOSYS): the least a
 * launcher that supervises its command with seccomp costs, as `proxyshim
 * run` does, and with the library preloaded and PROXYSHIM_SUPERVISED=1
 * (its connects marked) the least a supervised dynamic program pays
 * (docs/performance.md#supervision).  Root installs it as is; others set
 * no_new_privs first, as run does.
 *
 * Each -E NAME=VALUE (after -s) is put in the program's environment: with
 * LD_PRELOAD of the empty library, the least a launcher that supervises and
 * preloads costs; with libproxyshim.so and its PROXYSHIM_TABLE, what run's
 * command costs without run's own work (bench/run.sh's launch-floor and
 * lib-floor). */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proxyshim/supervise.h"

#if defined(__x86_64__)
#define TR_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TR_ARCH AUDIT_ARCH_AARCH64
#endif

static int
tr_filter(void)
{
#ifdef TR_ARCH
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, arch)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TR_ARCH, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 38 /* ENOSYS */),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0, 5),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, args[3])),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	                 (uint32_t)PS_SUPERVISE_MAGIC, 0, 2),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, args[3]) + 4),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	                 (uint32_t)(PS_SUPERVISE_MAGIC >> 32), 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	               SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp) < 0
	               ? -1
	               : 0;
#else
	return -1;
#endif
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "-s") == 0) {
		if (tr_filter() < 0)
			return 126;
		argv++;
		argc--;
	}
	while (argc >= 3 && strcmp(argv[1], "-E") == 0) {
		if (putenv(argv[2]) != 0)
			return 126;
		argv += 2;
		argc -= 2;
	}
	return argc < 2 ? 2 : (execv(argv[1], argv + 1), 127);
}
