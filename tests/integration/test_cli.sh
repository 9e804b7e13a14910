#!/usr/bin/env bash
# The command and the table's life cycle (issue: foundation): check,
# explain, compile, dump, run; tables found by file identity; a corrupt or
# foreign table refused and the library failing closed.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

FIX=$ROOT/tests/fixtures/config
ps() { _it_asan_env "$SHIM_CMD" "$@"; }
# to_file TEXT: TEXT into a new file under $T, prints its path (the
# assert_* helpers read files).
_n=0
to_file() {
	_n=$((_n + 1))
	printf '%s\n' "$1" >"$T/out.$_n"
	printf '%s\n' "$T/out.$_n"
}

section "version and help"
assert_match "$(to_file "$(ps --version)")" '^proxyshim [0-9]+\.[0-9]+' "--version prints the version"
assert_exit 0 "--help exits 0" ps --help
assert_exit 2 "unknown command exits 2" ps frobnicate

section "check"
for f in "$FIX"/spec_native.yml "$FIX"/spec_kestra.yml "$FIX"/coder_values.yml; do
	[[ -f $f ]] || { fail "fixture $f missing"; continue; }
	assert_exit 0 "check accepts $(basename "$f") as it is" ps check -c "$f"
done
bad=$(write_file bad.yml <<'YAML'
proxy:
  http: localhost:3128
  exempt: "example.com"
  colour: blue
YAML
)
out=$(ps check -c "$bad" 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "check exits 1 on an unknown key"
assert_match "$(to_file "$out")" "^$bad:4:3: " "error names FILE:LINE:COL"
out=$(ps check -c "$T/missing.yml" 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "check exits 1 on a missing file"
assert_match "$(to_file "$out")" "missing.yml: No such file" "missing file is named"

section "explain"
cfg=$(write_file explain.yml <<'YAML'
proxy:
  http: http://alice:s3cret@10.9.9.9:3128
  https: socks5h://10.9.9.8
  exempt: "corp.example,.svc.cluster.local,10.0.0.0/8,[fd00::1]:8443"
  rules:
    - match: ["api.kestra.io", "*.internal.example"]
      via: socks5://bob:hunter2@10.10.10.10:1080
    - match: 192.168.0.0/16
      via: direct
    - match: evil.example
      via: block
    - match: chain.example
      via: [socks5://10.1.1.1:1080, http://10.1.1.2:8080]
YAML
)
ex() { ps explain -c "$cfg" "$1" 2>&1; }
assert_eq "via socks5://bob:***@10.10.10.10:1080" "$(ex api.kestra.io | head -1)" "rule 0 by name, password masked"
assert_eq "via socks5://bob:***@10.10.10.10:1080" "$(ex a.b.internal.example:22 | head -1)" "rule 0 by *.suffix"
assert_eq "via http://alice:***@10.9.9.9:3128" "$(ex internal.example | head -1)" "*.suffix does not match the name itself"
assert_eq "direct" "$(ex 192.168.4.4:80 | head -1)" "rule 1 by CIDR"
assert_eq "block" "$(ex evil.example | head -1)" "block rule"
assert_eq "via socks5://10.1.1.1:1080 http://10.1.1.2:8080" "$(ex chain.example | head -1)" "chain in order"
assert_eq "direct" "$(ex www.corp.example | head -1)" "exempt by name covers subdomains"
assert_eq "direct" "$(ex x.svc.cluster.local | head -1)" "exempt by leading dot"
assert_eq "direct" "$(ex 10.2.3.4:443 | head -1)" "exempt by CIDR"
assert_eq "direct" "$(ex '[fd00::1]:8443' | head -1)" "exempt IPv6 with port"
assert_eq "via http://alice:***@10.9.9.9:3128" "$(ex '[fd00::1]:8444' | head -1)" "exempt port is compared"
assert_eq "via socks5h://10.9.9.8:1080" "$(ex example.org:443 | head -1)" "https port uses proxy.https"
assert_eq "via http://alice:***@10.9.9.9:3128" "$(ex example.org | head -1)" "port defaults to 80: proxy.http"
assert_eq "direct" "$(ex localhost:8080 | head -1)" "localhost is direct"
assert_eq "direct" "$(ex 10.9.9.9:3128 | head -1)" "the upstream itself is direct"
assert_match "$(to_file "$(ex api.kestra.io)")" "rules\[0\] at $cfg:6:" "explain names the rule and its line"
assert_match "$(to_file "$(ex www.corp.example)")" "exempt.*corp.example" "explain names the exempt entry"
all=$(for h in api.kestra.io example.org evil.example; do ex "$h"; done)
assert_not_contains "$(to_file "$all")" "s3cret" "explain never prints a password"
assert_not_contains "$(to_file "$all")" "hunter2" "explain never prints a rule password"
assert_exit 2 "explain rejects a bad port" ps explain -c "$cfg" host:99999

section "compile and dump"
name=$(ps compile -c "$cfg") && rc=0 || rc=$?
assert_eq 0 "$rc" "compile succeeds"
assert_match "$(to_file "$name")" "^/proxyshim-$EUID-" "compile prints a per-user name"
obj=/dev/shm${name}
assert_eq "600 $EUID" "$(stat -c '%a %u' "$obj" 2>/dev/null)" "published table is 0600 and ours"
assert_eq "$name" "$(ps compile -c "$cfg")" "same file, same table"
dump=$(ps dump -c "$cfg" 2>&1)
assert_not_contains "$(to_file "$dump")" "s3cret" "dump never prints a password"
assert_not_contains "$(to_file "$dump")" "hunter2" "dump never prints a rule password"
assert_match "$(to_file "$dump")" "10\.10\.10\.10" "dump lists the upstreams"
dump2=$(PROXYSHIM_TABLE=$name ps dump 2>&1)
assert_match "$(to_file "$dump2")" "10\.10\.10\.10" "dump of a published table by name"

section "run"
assert_exit 7 "run returns the command's status" ps run -c "$cfg" -- sh -c 'exit 7'
assert_exit 127 "run: command not found is 127" ps run -c "$cfg" -- "$T/no-such-command"
printf 'x\n' >"$T/not-exec"
assert_exit 126 "run: not executable is 126" ps run -c "$cfg" -- "$T/not-exec"
out=$(env -u http_proxy "$SHIM_CMD" run -- true 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "run with no configuration at all refuses"
assert_match "$(to_file "$out")" "no configuration" "and says why"
env_out=$(ps run -c "$cfg" -- sh -c 'echo "$PROXYSHIM_TABLE|$LD_PRELOAD"')
assert_eq "$name" "${env_out%%|*}" "run exports the table name"
assert_match "$(to_file "${env_out#*|}")" "(^|[: ])$SHIM_LIB\$" "run preloads the library"
if ((IT_ASAN)); then
	assert_eq "$IT_ASAN_RT:$SHIM_LIB" "${env_out#*|}" \
		"sanitizer build: run preloads the ASan runtime first"
	# Control for the harness: a report in a wrapped program (a double
	# free through the runtime's free) fails the test file that ran it.
	cat >"$T/asan_control.sh" <<EOF
. "$IT_DIR/lib.sh"
shim_run "$cfg" python3 -c 'import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = ctypes.c_void_p(libc.malloc(16))
libc.free(p)
libc.free(p)'
it_done
EOF
	out=$(env -u IT_RESULT_FILE bash "$T/asan_control.sh" 2>&1) && rc=0 || rc=$?
	assert_eq 1 "$rc" "sanitizer build: a report in a wrapped program fails its file"
	assert_match "$(to_file "$out")" "FAIL - sanitizer report asan\.[0-9]+" \
		"and names the report"
	assert_match "$(to_file "$out")" "AddressSanitizer: attempting double-free" \
		"and shows its head"
fi

section "tables by file identity"
cfg2=$(write_file ident.yml <<'YAML'
proxy:
  http: socks5://127.0.0.1:9
YAML
)
want=$(ps compile -c "$cfg2")
ps_rm() { rm -f "/dev/shm$1" "/dev/shm$1-state"; }
ps_rm "$want"
maps=$(shim_preload "$cfg2" cat /proc/self/maps)
assert_eq 600 "$(stat -c %a "/dev/shm$want" 2>/dev/null)" "first by-hand process publishes the table"
maps=$(shim_preload "$cfg2" cat /proc/self/maps)
assert_not_contains "$(to_file "$maps")" "libyaml" "later processes do not load libyaml"
assert_not_contains "$(to_file "$maps")" "libproxyshim-compiler" "later processes do not load the compiler"
sleep 0.02
printf '  exempt: "example.com"\n' >>"$cfg2"
new=$(ps compile -c "$cfg2")
assert_ne "$want" "$new" "an edited file gets a new table"

section "start-up: what run loads and does (counted, not timed)"
# needed ELF: its DT_NEEDED libraries, sorted, one line (a sanitizer
# build's runtimes left out).
needed() {
	readelf -d "$1" 2>/dev/null |
		awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }' |
		grep -Ev '^lib(asan|ubsan|lsan|stdc\+\+|gcc_s|m)\.so' | sort | paste -sd' '
}
if command -v readelf >/dev/null; then
	# The command is static (no program interpreter, nothing to load at
	# start) except in a sanitizer build, whose runtimes are shared
	# libraries; proxyshim-dyn, the same linked dynamically for what needs
	# the compiler or the tools library, links libc only.
	if ((IT_ASAN)); then
		assert_eq "libc.so.6" "$(needed "$SHIM_CMD")" "the command links libc only (sanitizer build)"
	else
		assert_eq "" "$(needed "$SHIM_CMD")" "the command links no shared library"
		assert_not_contains "$(to_file "$(readelf -lW "$SHIM_CMD")")" "INTERP" "the command has no program interpreter (static)"
	fi
	assert_eq "libc.so.6" "$(needed "$B/proxyshim-dyn")" "proxyshim-dyn links libc only"
	assert_eq "libc.so.6 libyaml-0.so.2" "$(needed "$B/libproxyshim-compiler.so")" \
		"the compiler library links libyaml and libc only"
	assert_match "$(to_file "$(needed "$B/libproxyshim-tools.so")")" "libyaml" \
		"check/explain/compile/dump live in the tools library (libyaml)"
	assert_match "$(to_file "$(needed "$B/proxyshim-relay")")" "libssl" \
		"OpenSSL is the relay program's"
else
	skip "readelf not available (binutils)"
fi
out=$(ps relay --help 2>&1) && rc=0 || rc=$?
assert_eq 2 "$rc" "proxyshim relay is still there (it runs proxyshim-relay)"
assert_match "$(to_file "$out")" "usage: proxyshim relay --table" "with the relay's usage"
cfg3=$(write_file startup.yml <<'YAML'
proxy:
  http: socks5://127.0.0.1:9
YAML
)
t3=$(ps compile -c "$cfg3")
ps_rm "$t3"
assert_exit 0 "run with no table published yet" ps run -c "$cfg3" -- true
assert_eq 600 "$(stat -c %a "/dev/shm$t3" 2>/dev/null)" "run published the table it needed"
if command -v strace >/dev/null; then
	tr=$T/run.trace
	# One process up to its exec of the command (no -f: the launcher does
	# not fork); from its first look at the config to that exec.
	_it_asan_env strace -qq -s 4096 -o "$tr" "$SHIM_CMD" run -q -c "$cfg3" -- true
	# Lines may carry a pid (strace -f, padded): strip one if there.
	sed -E 's/^ *[0-9]+ +//' "$tr" |
		awk -v c="$cfg3" '!/^execve\(/ && index($0, "\"" c "\"") { on = 1 }
			on && /^execve\(/ { exit } on' >"$tr.main"
	n=$(wc -l <"$tr.main")
	echo "# run with a published table: $n system calls from the config's stat to the exec"
	assert_ok "run reached the config and the exec (trace has lines)" test "$n" -gt 3
	assert_ok "run with a published table: under 40 system calls ($n)" test "$n" -lt 40
	assert_fails "run with a published table writes nothing (no unlink/link/rename/fchmod)" \
		grep -qE '^(unlink|unlinkat|link|linkat|rename|renameat2?|fchmod|ftruncate)\(' "$tr.main"
	assert_fails "run with a published table reads no YAML and loads no libyaml, compiler or libssl" \
		grep -qE 'open(at)?\([^"]*"[^"]*('"$(basename "$cfg3")"'|libyaml|libproxyshim-compiler|libssl)' "$tr"
	assert_eq 2 "$(sed -E 's/^ *[0-9]+ +//' "$tr" | grep -c '^execve(.* = 0$')" \
		"run with a published table: two execs, run's and the command's"
	# With no table yet the static command hands the whole run to
	# proxyshim-dyn, which can load the compiler.
	ps_rm "$t3"
	_it_asan_env strace -qq -s 4096 -o "$tr.new" "$SHIM_CMD" run -q -c "$cfg3" -- true
	if [[ -z $(needed "$SHIM_CMD") ]]; then
		assert_match "$tr.new" '^execve\("[^"]*/proxyshim-dyn", \[[^]]*"run", "-q", "-c"' \
			"run with no table: the static command execs proxyshim-dyn with its arguments"
		assert_eq 3 "$(grep -c '^execve(.* = 0$' "$tr.new")" \
			"run with no table: three execs (run, proxyshim-dyn, the command)"
	fi
	assert_eq 600 "$(stat -c %a "/dev/shm$t3" 2>/dev/null)" "run with no table published it"
else
	skip "strace not available: the system calls of run are not counted"
fi
ps_rm "$t3"

section "broken tables fail closed"
if is_root && command -v unshare >/dev/null; then
	good=$(ps compile -c "$cfg")
	bad=/proxyshim-$EUID-v1-badbadbadbadbad0
	cp "/dev/shm$good" "/dev/shm$bad"
	chmod 600 "/dev/shm$bad"
	printf '\xff' | dd of="/dev/shm$bad" bs=1 seek=200 conv=notrunc status=none
	log=$T/broken.log
	# In a network namespace of our own (lo only): nothing can leave even if
	# the library were wrong.
	got=$(PROXYSHIM_TABLE=$bad PROXYSHIM_LOG_FILE=$log _it_asan_env unshare -n \
		env LD_PRELOAD="$(shim_preload_value)" python3 "$IT_DIR/connect_errno.py" 192.0.2.1 80 5)
	assert_eq ECONNREFUSED "$got" "corrupt table: non-loopback connect refused"
	assert_match "$log" "refusing table" "corrupt table: log says why"
	# Names too: which ones are dns: remote is unknown, so none is looked
	# up (EAI_FAIL from the library itself; glibc without a network would
	# say EAI_AGAIN), except localhost.
	got=$(PROXYSHIM_TABLE=$bad PROXYSHIM_LOG_FILE=$log _it_asan_env unshare -n \
		env LD_PRELOAD="$(shim_preload_value)" python3 -c '
import socket
for h in ("leak-check.example", "localhost"):
    try:
        socket.getaddrinfo(h, 80, type=socket.SOCK_STREAM)
        print(h, "ok")
    except socket.gaierror as e:
        print(h, "EAI_FAIL" if e.errno == socket.EAI_FAIL else e.errno)
')
	assert_eq $'leak-check.example EAI_FAIL\nlocalhost ok' "$got" \
		"corrupt table: names refused (EAI_FAIL), localhost still resolves"
	assert_match "$log" "name lookups are refused too" \
		"corrupt table: the refused lookup is logged"
	got=$(PROXYSHIM_TABLE=/proxyshim-$EUID-v1-0000000000000000 _it_asan_env unshare -n \
		env LD_PRELOAD="$(shim_preload_value)" python3 "$IT_DIR/connect_errno.py" 192.0.2.1 80 5 2>/dev/null)
	assert_eq ECONNREFUSED "$got" "missing table: non-loopback connect refused"
	chown 65534 "/dev/shm$bad"
	printf '\x00' | dd of="/dev/shm$bad" bs=1 seek=200 conv=notrunc status=none
	got=$(PROXYSHIM_TABLE=$bad _it_asan_env unshare -n \
		env LD_PRELOAD="$(shim_preload_value)" python3 "$IT_DIR/connect_errno.py" 192.0.2.1 80 5 2>/dev/null)
	assert_eq ECONNREFUSED "$got" "table owned by another user is refused"
	rm -f "/dev/shm$bad"
else
	skip "broken-table tests need root and unshare (network namespace)"
fi
for n in "$name" "$want" "$new"; do ps_rm "$n"; done
it_done
