/* bench/trampoline: the exec floor, the least any launcher can cost: a
 * program that only execv()s its arguments (bench/startup -T). */
#include <unistd.h>

int
main(int argc, char **argv)
{
	return argc < 2 ? 2 : (execv(argv[1], argv + 1), 127);
}
