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

# ------------------------------------------------------------------ gc
section "proxyshim gc: ten versions of a config, three still in use"
# A config whose effect shows without a proxy: 127.0.0.3 is blocked
# (EACCES), which a process without its table would not say (failing
# closed lets loopback through).  Each version adds one harmless rule.
GCP=$(free_port)
gc_cfg() {
	{
		echo "proxy:"
		echo "  proxy_loopback: true"
		echo "  rules:"
		echo "    - match: [\"blocked.gc.proxyshim.test\", 127.0.0.3]"
		echo "      via: block"
		echo "    - match: 10.99.0.$1"
		echo "      via: direct"
	} >"$T/gc.yml"
}
cat >"$T/gcprog.py" <<'PYEOF'
"""gcprog.py PORT child | PORT STEPFILE [names]: connect to 127.0.0.3:PORT
(blocked by the policy: EACCES); with names, resolve a blocked name too
(a fake address: the -names segment is mapped); wait for STEPFILE; connect
again, and run a child (a new exec) that does the same."""
import errno, os, socket, subprocess, sys, time

def probe(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.3", port))
        r = "OK"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    return r

port = int(sys.argv[1])
if sys.argv[2] == "child":
    print(probe(port))
    sys.exit(0)
line = "start " + probe(port)
if len(sys.argv) > 3:
    ai = socket.getaddrinfo("blocked.gc.proxyshim.test", 80, socket.AF_INET)
    line += " " + ai[0][4][0]
print(line, flush=True)
for _ in range(1200):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
c = subprocess.run([sys.executable, sys.argv[0], sys.argv[1], "child"],
                   capture_output=True, text=True, timeout=60)
out = c.stdout.strip() or c.stderr.strip()[-200:]
print("after", probe(port), "child", out, flush=True)
PYEOF
# gc_segs V...: the segments of those versions' tables in /dev/shm, one
# path a line.
gc_segs() {
	local v f
	for v in "$@"; do
		for f in "/dev/shm${GCT[v]}" "/dev/shm${GCT[v]}"-*; do
			[[ -f $f ]] && echo "$f"
		done
	done
	return 0
}
# gc_left V...: the same, as V, V-names, ...
gc_left() {
	local v f out=()
	for v in "$@"; do
		while read -r f; do
			out+=("$v${f#"/dev/shm${GCT[v]}"}")
		done < <(gc_segs "$v")
	done
	echo "${out[*]}"
}
# gc_age V...: backdate those segments past gc's minimum age (ten
# minutes): gc leaves recent segments alone, other runs' too.
gc_age() {
	local f
	gc_segs "$@" | while read -r f; do touch -c -d '-1 hour' "$f"; done
}
declare -a GCT=()
gc_cfg 1
_it_spawn "$T/gc-a.out" timeout 120 "$SHIM_CMD" run -c "$T/gc.yml" -- \
	python3 "$T/gcprog.py" "$GCP" "$T/gc.go"
gc_a=$_IT_LAST_PID
wait_for_log "$T/gc-a.out" '^start ' 20 || true
GCT[1]=$("$SHIM_CMD" compile -c "$T/gc.yml" 2>/dev/null)
for v in 2 3 4 5 6 7 8 9 10; do
	sleep 0.01 # a new mtime for each version, whatever the clock's grain
	gc_cfg "$v"
	GCT[v]=$("$SHIM_CMD" compile -c "$T/gc.yml" 2>/dev/null)
	if ((v == 5)); then
		_it_spawn "$T/gc-b.out" timeout 120 env LD_PRELOAD="$(shim_preload_value)" \
			PROXYSHIM_CONFIG="$T/gc.yml" python3 "$T/gcprog.py" "$GCP" "$T/gc.go" names
		gc_b=$_IT_LAST_PID
		wait_for_log "$T/gc-b.out" '^start ' 20 || true
	fi
done
# Version 7's table is locked as `run` locks the table it is about to hand
# to its command (LOCK_SH, until exec), by a process whose command line
# and environment do not name it: only the lock keeps it.
_it_spawn "$T/gc-lock.out" bash -c 'flock -s 9 && exec sleep 100' 9<"/dev/shm${GCT[7]}"
gc_lock=$_IT_LAST_PID
gc_line() { grep -m 1 "^$2 " "$1"; }
echo "# start: A '$(gc_line "$T/gc-a.out" start)', B '$(gc_line "$T/gc-b.out" start)'"
assert_re "$(gc_line "$T/gc-a.out" start)" '^start EACCES$' \
	"A (proxyshim run, version 1) applies its table"
assert_re "$(gc_line "$T/gc-b.out" start)" '^start EACCES 198\.18\.' \
	"B (preloaded by hand at version 5) applies its table and holds a fake address"
assert_eq 10 "$(printf '%s\n' "${GCT[@]}" | sort -u | grep -c '^/proxyshim-')" \
	"ten versions, ten tables"
gc_age "${!GCT[@]}"
# The lock is taken (bounded wait for flock(1) to start).
for ((i = 0; i < 200; i++)); do
	flock -n -x "/dev/shm${GCT[7]}" true 2>/dev/null || break
	sleep 0.05
done
rc=0
"$SHIM_CMD" gc -v >"$T/gc.out" 2>&1 || rc=$?
grep -F -e "${GCT[1]#/}" -e "${GCT[5]#/}" -e "${GCT[7]#/}" -e 'removed [0-9]' "$T/gc.out" |
	head -n 8 | sed 's/^/#   /'
assert_eq 0 "$rc" "gc exits 0"
left=$(gc_left "${!GCT[@]}")
echo "# left of the ten: $left"
assert_eq "1 1-names 5 5-names 7" "$left" \
	"gc keeps exactly the tables in use: A's (PROXYSHIM_TABLE), B's (its -names mapped), the locked one"
n=0
for v in 2 3 4 6 8 9 10; do
	grep -qxF "removed ${GCT[v]}" "$T/gc.out" && n=$((n + 1))
done
assert_eq 7 "$n" "gc says it removed the other seven tables"
assert_match "$T/gc.out" "kept ${GCT[1]#/}: in use" "gc -v says why A's table is kept"
touch "$T/gc.go"
wait_for_log "$T/gc-a.out" '^after ' 60 || true
wait_for_log "$T/gc-b.out" '^after ' 60 || true
assert_eq "after EACCES child EACCES" "$(gc_line "$T/gc-a.out" after)" \
	"A keeps working after gc, and a child it execs then finds its table (PROXYSHIM_TABLE)"
assert_eq "after EACCES child EACCES" "$(gc_line "$T/gc-b.out" after)" \
	"B keeps working after gc, and its child compiles the current version"
kill "$gc_lock" 2>/dev/null
wait "$gc_lock" "$gc_a" "$gc_b" 2>/dev/null
# Nothing uses them now: gc removes them too.
gc_age 1 5 7
"$SHIM_CMD" gc >"$T/gc2.out" 2>&1
assert_eq "" "$(gc_left 1 5 7)" \
	"once A and B have exited and the lock is gone, gc removes their tables too"
assert_re "$("$SHIM_CMD" gc --min-age x 2>&1; echo "rc=$?")" 'rc=2$' \
	"gc --min-age takes seconds (usage error otherwise)"

section "run's own collection (gc --auto), with and without -q"
# A table that nothing uses, older than gc's minimum age, and a stamp that
# says the last collection was an hour ago: run collects before it execs
# its command and says what it removed on stderr; run -q says nothing.
gc_stamp_file="/dev/shm/proxyshim-$(id -u)-gc"
for q in "" -q; do
	gc_cfg $((20 + ${#q}))
	GCT[11]=$("$SHIM_CMD" compile -c "$T/gc.yml" 2>/dev/null)
	gc_cfg $((30 + ${#q}))
	gc_age 11
	touch -d '-1 hour' "$gc_stamp_file"
	rc=0
	"$SHIM_CMD" run $q -c "$T/gc.yml" -- true 2>"$T/gc-auto.err" || rc=$?
	assert_eq 0 "$rc" "run${q:+ $q} runs its command when a collection is due"
	assert_eq "" "$(gc_left 11)" \
		"run${q:+ $q} removed the old table nothing used (a collection was due)"
	if [[ -z $q ]]; then
		assert_match "$T/gc-auto.err" "^removed ${GCT[11]}\$" \
			"run says on stderr which segments it removed"
	else
		assert_eq "" "$(cat "$T/gc-auto.err")" \
			"run -q collects quietly: nothing on stderr"
	fi
	assert_eq 1 "$(($(date +%s) - $(stat -c %Y "$gc_stamp_file") < 600))" \
		"run${q:+ $q} renewed the stamp: the next run does not collect again"
done

it_done
