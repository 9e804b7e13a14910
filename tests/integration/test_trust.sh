#!/usr/bin/env bash
# Trust boundaries:
#   setgid programs (AT_SECURE): the library applies no policy and opens no
#     file on the caller's behalf, not even ./proxyshim.yml in the caller's
#     directory; PROXYSHIM_* are ignored;
#   proxyshim gc: ten edits of a config, then gc removes every segment
#     group nothing uses and keeps exactly those of running programs
#     (handed PROXYSHIM_TABLE, or mapping a companion segment, or holding
#     the table locked as `run` does until it execs); the programs keep
#     working, and a child exec'd after gc still finds its table.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

start_banner ban banner="220 trust banner" || it_done
P=${SRV_PORT[ban]}

# ------------------------------------------------------------ AT_SECURE
section "setgid programs (AT_SECURE): no policy, no file opened"
if is_root && command -v setpriv >/dev/null && command -v strace >/dev/null; then
	sd=$T/secure
	mkdir -p "$sd/lib" "$sd/out" "$sd/cwd"
	chmod 0755 "$sd" "$sd/lib" "$sd/cwd"
	chmod 0777 "$sd/out"
	# The compiler too: without it the control would fail closed (and a
	# loopback connect fail closed still goes through), proving nothing.
	cp "$SHIM_LIB" "$B/libproxyshim-compiler.so" "$sd/lib/"
	# The caller's directory holds a policy that blocks everything,
	# loopback included.
	cat >"$sd/cwd/proxyshim.yml" <<'EOF'
proxy:
  proxy_loopback: true
  rules:
    - match: "*"
      via: block
    - match: 0.0.0.0/0
      via: block
EOF
	chmod 0644 "$sd/cwd/proxyshim.yml"
	cat >"$sd/probe.c" <<'EOF'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef PROBE_ASAN
/* A setgid process cannot read its own /proc/self/environ, so ASAN_OPTIONS
 * does not reach the runtime, and LeakSanitizer cannot run there. */
const char *__asan_default_options(void) { return "detect_leaks=0"; }
#endif
int main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;
	const char *e;

	if (argc < 2 || fd < 0)
		return 2;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	e = r == 0 ? "OK" : strerrorname_np(errno);
	printf("AT_SECURE=%lu connect=%s\n", getauxval(AT_SECURE), e ? e : "?");
	return 0;
}
EOF
	san=()
	((IT_ASAN)) && san=(-fsanitize=address -DPROBE_ASAN)
	if cc "${san[@]}" -o "$sd/probe" "$sd/probe.c" -Wl,--no-as-needed -L"$sd/lib" -lproxyshim \
		-Wl,-rpath,"$sd/lib" 2>"$sd/cc.err"; then
		chmod 0755 "$sd/probe"
		cp "$sd/probe" "$sd/probe-sgid"
		chown root:root "$sd/probe-sgid"
		chmod 2755 "$sd/probe-sgid"
		# runas NAME BINARY: run BINARY as nobody in the policy's
		# directory, traced by root (a privileged tracer: the kernel
		# still honours setgid), every file-name system call logged.
		runas() {
			(cd "$sd/cwd" && strace -f -qq -e trace=%file -o "$sd/out/$1.trace" \
				setpriv --reuid=nobody --regid=nogroup --clear-groups env PROXYSHIM_LOG=debug \
				PROXYSHIM_LOG_FILE="$sd/out/$1.log" \
				"$sd/$2" "$P" 2>"$sd/out/$1.err")
		}
		# probe_files NAME: the file system calls in NAME's trace after
		# the loader's last successful library open (the loader's own
		# search is its business), minus fstat of an fd (stdio) and,
		# in a sanitizer build, the runtime's reads of /proc and /sys.
		probe_files() {
			awk '/open.*\.so(\.[0-9]+)*", .*= [0-9]+$/ { n = NR } { l[NR] = $0 }
				END { for (i = n + 1; i <= NR; i++) print l[i] }' "$sd/out/$1.trace" |
				grep -vE '^[0-9]+ +(\+\+\+|---)|fstat(at)?\([0-9]+, ""' |
				{ if ((IT_ASAN)); then grep -vE '"/(proc|sys)/'; else cat; fi; } || true
		}
		a=$(runas plain probe)
		b=$(runas sgid probe-sgid)
		echo "# nobody in a directory whose proxyshim.yml blocks everything: plain '$a', setgid '$b'"
		if [[ $a == "AT_SECURE=0 "* && $b == "AT_SECURE=1 "* ]]; then
			assert_eq "AT_SECURE=0 connect=EACCES" "$a" \
				"control: the same probe, not setgid, reads ./proxyshim.yml and is blocked"
			assert_match "$sd/out/plain.trace" 'proxyshim\.yml' \
				"control: the trace shows the plain probe looking for ./proxyshim.yml"
			[[ -f $sd/out/plain.log ]] && pass "control: the plain probe opens PROXYSHIM_LOG_FILE" ||
				fail "control: the plain probe did not create PROXYSHIM_LOG_FILE"
			assert_eq "AT_SECURE=1 connect=OK" "$b" \
				"setgid program run by nobody: connect passes through untouched"
			files=$(probe_files sgid)
			n=$(grep -c . <<<"$files" || true)
			echo "# setgid probe: $n file system call(s) after the loader's"
			[[ -n $files ]] && printf '%s\n' "$files" | head -n 10 | sed 's/^/#   /'
			assert_eq 0 "$n" "setgid program: the library opens, stats or maps no file (strace)"
			[[ -e $sd/out/sgid.log ]] && fail "setgid program created PROXYSHIM_LOG_FILE" ||
				pass "setgid program: PROXYSHIM_LOG_FILE ignored"
			assert_not_contains "$sd/out/sgid.err" "proxyshim" \
				"setgid program: nothing logged (PROXYSHIM_LOG ignored)"
		else
			skip "AT_SECURE could not be arranged with the library loaded (plain '$a', setgid '$b')"
		fi
		# The probes, as nobody, published segments (the plain one by
		# design): remove exactly those the traces name.
		grep -ohE '/dev/shm/proxyshim-[0-9]+-v[0-9]+-[0-9a-f]{16}' "$sd"/out/*.trace 2>/dev/null |
			sort -u | while read -r f; do rm -f -- "$f" "$f"-*; done
	else
		skip "AT_SECURE: cannot link a probe against libproxyshim.so: $(head -n 2 "$sd/cc.err")"
	fi
	echo "# LD_PRELOAD is not honoured for a setgid binary unless the library is in a trusted dir and setuid; the probe links the library instead (DT_NEEDED, absolute RUNPATH)"
else
	skip "AT_SECURE: needs root (a setgid root binary run as nobody), setpriv and strace"
fi

it_done
