#!/usr/bin/env bash
# Faults and attacks (issue 6), the parts test_reliability.sh does not
# cover:
#   fake-address pool full: a /30 fake_ipv4 (2 slots) and a /120
#     fake_ipv6 (254 slots): names beyond the pool get EAI_AGAIN at once
#     with a log line, the names that have a slot keep it (across exec)
#     and still reach their own destination through the proxy;
#   the table corrupted, then truncated, while a wrapped program runs with
#     it mapped: the program never crashes (no SIGBUS) and keeps its
#     validated copy; a new process refuses the table with a log line and
#     fails closed; `proxyshim run` replaces it.  Twice: a table of the
#     usual size (read into the library's static buffer) and one of about
#     200 KiB (copied into pages of its own);
#   another user (nobody) pre-creating the table and its -state, -names and
#     -relay names: the victim (root) refuses the foreign objects by owner,
#     never uses the attacker's table, writes nothing into the attacker's
#     files, and still gets its connections through its own proxy;
#   forged PROXY v1/v2 headers and X-Forwarded-For from a peer outside
#     trustedOrigins: accept() and getpeername() report the real peer and
#     the server reads the bytes unchanged (a trusted peer as the control);
#   signals every 500 us (with and without SA_RESTART) during a connect
#     whose upstream stalls: ETIMEDOUT at the timeout, never EINTR, never
#     a socket left connected to the proxy.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client sigstall || it_done

SHIMLOG=$T/shim.log
start_banner ban banner="220 faults banner" || it_done
P=${SRV_PORT[ban]}


# line_of FILE KEY: the rest of FILE's first line that starts with "KEY ".
line_of() {
	sed -n "s/^$2 //p" "$1" | head -n 1
}

# fail_closed TABLE MSG: a new process given PROXYSHIM_TABLE=TABLE, in a
# network namespace of its own (nothing can leave even if the library
# were wrong), must get ECONNREFUSED for a non-loopback connect.
fail_closed() {
	local got
	got=$(PROXYSHIM_TABLE=$1 PROXYSHIM_LOG_FILE=$SHIMLOG _it_asan_env unshare -n \
		env LD_PRELOAD="$(shim_preload_value)" python3 "$IT_DIR/connect_errno.py" \
		192.0.2.1 80 5 2>/dev/null) || got="exit $?"
	assert_eq ECONNREFUSED "$got" "$2"
}

CAN_NS=0
_it_can_ns && CAN_NS=1

# ---------------------------------------------------------------- pool full
section "fake-address pool full"
cat >"$T/pool.py" <<'EOF'
import socket, sys, time
from longrun import banner_echo
port = int(sys.argv[1])

def res(name, fam=socket.AF_INET):
    t0 = time.monotonic()
    try:
        r = socket.getaddrinfo(name, port, fam, socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror as e:
        r = "EAI_AGAIN" if e.errno == socket.EAI_AGAIN else "EAI%d" % e.errno
    return "%s %d" % (r, int((time.monotonic() - t0) * 1000))

def talk(addr):
    tok = ("tok-%s\n" % addr).encode()
    b, e = banner_echo(addr, port, tok)
    return b.decode(errors="replace").strip() + (" echo-ok" if e == tok else " echo-bad")

mode = sys.argv[2]
if mode == "v6":
    n = int(sys.argv[3])
    addrs = set()
    for i in range(n):
        a = res("v6-%d.pool.proxyshim.test" % i, socket.AF_INET6).split()[0]
        addrs.add(a)
    print("v6-distinct %d" % len(addrs), flush=True)
    print("v6-sample " + sorted(addrs)[0], flush=True)
    print("v6-over " + res("v6-%d.pool.proxyshim.test" % n, socket.AF_INET6), flush=True)
    sys.exit(0)
if mode == "one":
    a = res("a.pool.proxyshim.test")
    print("a " + a, flush=True)
    print("c " + res("c.pool.proxyshim.test"), flush=True)
    b = res("b.pool.proxyshim.test")
    print("b " + b, flush=True)
    if sys.argv[3] == "talk":
        print("talk-b " + talk(b.split()[0]), flush=True)
    sys.exit(0)
a, b = res("a.pool.proxyshim.test"), res("b.pool.proxyshim.test")
print("a " + a, flush=True)
print("b " + b, flush=True)
print("c " + res("c.pool.proxyshim.test"), flush=True)
print("d " + res("d.pool.proxyshim.test"), flush=True)
print("a2 " + res("a.pool.proxyshim.test"), flush=True)
if sys.argv[3] == "talk":
    print("talk-a " + talk(a.split()[0]), flush=True)
    print("talk-b " + talk(b.split()[0]), flush=True)
print("c2 " + res("c.pool.proxyshim.test"), flush=True)
EOF
# Two servers on one port, on 127.0.0.2 and 127.0.0.3: the proxy resolves
# a.pool to the first and b.pool to the second, so a fake address that
# reached the wrong name would show the wrong banner.
TALK=notalk
if ((CAN_NS)) && start_banner pa host=127.0.0.2 banner="220 name a" &&
	start_banner pb host=127.0.0.3 port="${SRV_PORT[pa]}" banner="220 name b" &&
	start_microsocks pms hosts="a.pool.proxyshim.test=127.0.0.2,b.pool.proxyshim.test=127.0.0.3"; then
	TALK=talk
	PP=${SRV_PORT[pa]}
	PURL=socks5h://${SRV_ADDR[pms]}
else
	PP=$P
	PURL=socks5h://127.0.0.1:9
	skip "pool full: connecting the names that have a slot needs root and unshare (names only the proxy resolves, two servers on one port); EAI_AGAIN is checked without"
fi
c=$(proxy_cfg pool "http: $PURL" "dns: remote" "fake_ipv4: 198.18.0.0/30" "proxy_loopback: true" \
	"timeouts: {connect: 5s, handshake: 10s}")
out=$T/pool.out
: >"$SHIMLOG"
[[ $TALK == talk ]] && mark pms
rc=0
PYTHONPATH="$IT_DIR/clients" PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$c" timeout 60 bash -c \
	'python3 "$1" "$2" two "$3" && python3 "$1" "$2" one "$3"' _ "$T/pool.py" "$PP" "$TALK" \
	>"$out" 2>&1 || rc=$?
sed 's/^/# /' "$out"
assert_eq 0 "$rc" "pool: the program ran to its end (no crash)"
a=$(line_of "$out" a) b=$(line_of "$out" b)
assert_re "$a" '^198\.18\.0\.[12] [0-9]+$' "pool /30: a.pool got one of the 2 slots (198.18.0.1-2)"
assert_re "$b" '^198\.18\.0\.[12] [0-9]+$' "pool /30: b.pool got the other"
assert_ne "${a%% *}" "${b%% *}" "pool /30: a and b have distinct fake addresses"
for k in c d c2; do
	v=$(line_of "$out" "$k")
	assert_re "$v" '^EAI_AGAIN [0-9]+$' "pool /30 full: $k -> EAI_AGAIN (at once: no slot is idle for the TTL)"
done
assert_eq "${a%% *}" "$(line_of "$out" a2 | cut -d' ' -f1)" "pool /30 full: a.pool keeps its address (no slot recycled within the TTL)"
assert_match "$SHIMLOG" 'c\.pool\.proxyshim\.test: no fake address .*name map full' \
	"pool /30 full: the shim logs which name got no address and why"
# The second program (exec'ed, same table): the map is shared.
assert_eq "EAI_AGAIN" "$(awk '$1 == "c" { n++; if (n == 2) print $2 }' "$out")" \
	"pool /30 full: a new process of the same table still gets EAI_AGAIN for c (the map is shared)"
assert_eq "${b%% *}" "$(awk '$1 == "b" { n++; if (n == 2) print $2 }' "$out")" \
	"pool /30 full: and the same address for b"
if [[ $TALK == talk ]]; then
	assert_eq "220 name a echo-ok" "$(line_of "$out" talk-a)" "pool /30 full: a's fake address reaches a (127.0.0.2) through the proxy"
	assert_eq "220 name b echo-ok" "$(line_of "$out" talk-b)" "pool /30 full: b's fake address reaches b (127.0.0.3)"
	assert_eq 3 "$(_it_since pms | grep -cE 'connected to [ab]\.pool\.proxyshim\.test:')" \
		"pool /30 full: the proxy was sent the names (3 connections: a, b, b)"
fi
# The IPv6 pool: /120 is 254 slots.
c=$(proxy_cfg pool6 "http: $PURL" "dns: remote" "fake_ipv6: \"fdfe:dcba:9876::/120\"")
rc=0
o=$(PYTHONPATH="$IT_DIR/clients" shim_run "$c" timeout 60 python3 "$T/pool.py" "$PP" v6 254 2>&1) || rc=$?
printf '%s\n' "$o" | sed 's/^/# /'
assert_eq 0 "$rc" "pool v6: the program ran to its end"
assert_eq 254 "$(sed -n 's/^v6-distinct //p' <<<"$o")" "pool v6 /120: 254 names, 254 distinct addresses"
assert_re "$(sed -n 's/^v6-sample //p' <<<"$o")" '^fdfe:dcba:9876::[0-9a-f]{1,2}$' "pool v6 /120: inside fdfe:dcba:9876::/120"
assert_re "$(sed -n 's/^v6-over //p' <<<"$o")" '^EAI_AGAIN [0-9]+$' "pool v6 /120 full: the 255th name -> EAI_AGAIN"

# ------------------------------------------- table corrupted or truncated
# table_faults NAME LABEL [CONFIG LINE...]: the config NAME (microsocks as
# its upstream, plus the extra lines) run by a long-running program while
# its table is corrupted, then truncated.  Run for a table of the usual
# size and for one over the 64 KiB the library reads into its static
# buffer (copied into pages of its own instead: resolver/shm.c).
table_faults() {
	local name=$1 label=$2 c out lp tbl f size rc s o
	shift 2
	section "table corrupted, then truncated, under a running program ($label)"
	start_microsocks "$name" || it_done
	c=$(proxy_cfg "$name" "http: ${SRV_URL[$name]}" "proxy_loopback: true" \
		"timeouts: {connect: 5s, handshake: 10s}" "$@")
	out=$T/longrun-$name.out
	rm -f "$T/corrupt" "$T/half" "$T/empty"
	mark "$name"
	: >"$SHIMLOG"
	_it_spawn "$out" _it_asan_env env PROXYSHIM_LOG_FILE="$SHIMLOG" "$SHIM_CMD" run -c "$c" -- \
		timeout 60 python3 -u "$IT_DIR/clients/longrun.py" "$P" "220 faults" 3 start \
		"$T/corrupt" "$T/half" "$T/empty"
	lp=$_IT_LAST_PID
	if ! wait_for_log "$out" "^step start" 15; then
		fail "($label) long-running program did not start: $(tail -n 3 "$out")"
		kill "$lp" 2>/dev/null
		wait "$lp" 2>/dev/null
		return
	fi
	tbl=$(line_of "$out" TABLE)
	f=/dev/shm$tbl
	size=$(stat -c %s "$f")
	echo "# $tbl: $size bytes"
	if [[ $label == large ]]; then
		if ((size > 65536 && size <= 1048576)); then
			pass "($label) the table is over 64 KiB and under 1 MiB ($size bytes)"
		else
			fail "($label) the table should be over 64 KiB and under 1 MiB: $size bytes"
		fi
	fi
	# corrupt: the magic, a run in the middle, the last bytes
	printf 'XXXXXXXX' | dd of="$f" bs=1 seek=0 conv=notrunc status=none
	head -c 64 /dev/urandom | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
	printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=$((size - 4)) conv=notrunc status=none
	fail_closed "$tbl" "($label) corrupted table: a new process fails closed (ECONNREFUSED)"
	assert_match "$SHIMLOG" "refusing table $tbl: " "($label) corrupted table: the new process logs why"
	touch "$T/corrupt"
	wait_for_log "$out" "^step corrupt" 20 || true
	truncate -s $((size / 2)) "$f"
	: >"$SHIMLOG"
	fail_closed "$tbl" "($label) table truncated to half: a new process fails closed"
	assert_match "$SHIMLOG" "refusing table $tbl: " "($label) table truncated to half: the new process logs why"
	touch "$T/half"
	wait_for_log "$out" "^step half" 20 || true
	truncate -s 0 "$f"
	: >"$SHIMLOG"
	fail_closed "$tbl" "($label) table truncated to 0: a new process fails closed"
	assert_match "$SHIMLOG" "refusing table $tbl: empty" "($label) table truncated to 0: the new process logs why"
	touch "$T/empty"
	rc=0
	wait "$lp" 2>/dev/null || rc=$?
	_it_forget "$lp"
	sed 's/^/# /' "$out"
	assert_eq 0 "$rc" "($label) the running program exited 0 (no SIGBUS, no crash)"
	for s in "corrupt:corrupted" "half:truncated to half" "empty:truncated to 0"; do
		assert_eq "OK OK OK" "$(line_of "$out" "step ${s%%:*}")" \
			"($label) table ${s#*:}: the running program still connects through the proxy (3 in a row)"
	done
	assert_crossed "$name" "$P" "($label) all 12 connections of the running program crossed the proxy" 12
	# `proxyshim run` finds the broken table of this config and replaces it.
	: >"$SHIMLOG"
	mark "$name"
	o=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$c" timeout 20 python3 "$IT_DIR/connect_errno.py" 127.0.0.1 "$P" 5 2>&1)
	assert_eq OK "$o" "($label) a new 'proxyshim run' of the config connects"
	assert_crossed "$name" "$P" "($label) through the proxy"
	assert_match "$SHIMLOG" "replacing invalid table $tbl" "($label) run replaced the broken table (log line)"
	assert_eq "$size" "$(stat -c %s "$f" 2>/dev/null || echo 0)" "($label) the table has its full size again"
}
table_faults tms small
# 3000 exempt names (none of them the destination, 127.0.0.1): ~200 KiB.
table_faults tml large "exempt: [$(seq -f 'pad-%g.exempt.proxyshim.test' 1 3000 | paste -sd,)]"

# --------------------------------------- another user pre-creates the names
section "another user (nobody) pre-creates the segment names"
if is_root && command -v setpriv >/dev/null && ((CAN_NS)); then
	SECRET=secret-host.victim.proxyshim.test
	start_microsocks vms hosts="$SECRET=127.0.0.1" || it_done
	start_microsocks evil || it_done
	cv=$(proxy_cfg victim "http: socks5h://${SRV_ADDR[vms]}" "dns: remote" "proxy_loopback: true" \
		"chain: failover" "timeouts: {connect: 5s, handshake: 10s}")
	ce=$(proxy_cfg attacker "http: ${SRV_URL[evil]}" "proxy_loopback: true")
	vname=$("$SHIM_CMD" compile -c "$cv")
	ename=$("$SHIM_CMD" compile -c "$ce")
	rm -f "/dev/shm$vname" "/dev/shm$vname"-*
	# The attacker's content: a valid table that routes everything to
	# the attacker's proxy, under the victim's name.
	install -m 0644 "/dev/shm$ename" "$T/evil.tbl"
	head -c 8192 /dev/zero >"$T/evil.seg"
	chmod 0644 "$T/evil.seg"
	atk=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	"${atk[@]}" sh -c 'umask 0; cp "$1" "$2" && for s in state names relay; do cp "$3" "$2-$s"; chmod 0666 "$2-$s"; done' \
		_ "$T/evil.tbl" "/dev/shm$vname" "$T/evil.seg"
	ls -ln "/dev/shm$vname" "/dev/shm$vname"-* | sed 's/^/# /'
	before=$(cd /dev/shm && sha256sum "${vname#/}" "${vname#/}"-*)
	owners=$(stat -c '%U' "/dev/shm$vname" "/dev/shm$vname"-* | sort -u | paste -sd,)
	assert_eq nobody "$owners" "nobody owns the table name and its -state/-names/-relay"
	cat >"$T/victim.py" <<'EOF'
import socket, sys
a = socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
s = socket.create_connection((a, int(sys.argv[2])), timeout=10)
b = s.recv(100)
print("addr %s banner %s" % (a, b.decode(errors="replace").strip()), flush=True)
EOF
	for how in run preload; do
		: >"$SHIMLOG"
		mark vms
		mark evil
		if [[ $how == run ]]; then
			o=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$cv" timeout 20 python3 "$T/victim.py" "$SECRET" "$P" 2>&1)
		else
			o=$(PROXYSHIM_LOG_FILE=$SHIMLOG shim_preload "$cv" timeout 20 python3 "$T/victim.py" "$SECRET" "$P" 2>&1)
		fi
		echo "# $how: $o"
		sed 's/^proxyshim\[[0-9]*\] //' "$SHIMLOG" | sort -u | sed 's/^/#   log: /'
		assert_re "$o" "^addr 198\.1[89]\.[0-9.]+ banner 220 faults banner$" \
			"$how: the victim's name got a fake address and reached its server"
		assert_crossed vms "$P" "$how: through the victim's own proxy"
		assert_not_crossed evil "$P" "$how: never through the attacker's table's proxy"
		assert_match "$SHIMLOG" "(cannot publish table $vname|cannot map table $vname|refusing table $vname)" \
			"$how: a log line says the foreign table was not used"
		assert_match "$SHIMLOG" "name map $vname-names unavailable \(Operation not permitted\)" \
			"$how: a log line says the foreign name map was not used"
		assert_match "$SHIMLOG" "shared state unavailable \(Operation not permitted\)" \
			"$how: a log line says the foreign -state was not used"
	done
	after=$(cd /dev/shm && sha256sum "${vname#/}" "${vname#/}"-*)
	assert_eq "$before" "$after" "the attacker's four objects are byte for byte unchanged (the victim wrote nothing into them)"
	assert_eq nobody "$(stat -c '%U' "/dev/shm$vname" "/dev/shm$vname"-* | sort -u | paste -sd,)" \
		"and still nobody's (the victim did not take them over)"
	hits=$(grep -laF "$SECRET" /dev/shm/* 2>/dev/null | while read -r g; do
		[[ $(stat -c %U "$g") != root ]] && echo "$g"; done)
	assert_eq "" "$hits" "the victim's resolved name is in no object another user owns"
	# What the library does with the table name itself, given explicitly.
	fail_closed "$vname" "PROXYSHIM_TABLE naming nobody's object: fail closed"
	rm -f "/dev/shm$vname" "/dev/shm$vname"-* "/dev/shm$ename" "/dev/shm$ename"-*

	# The relay's secret: an https:// upstream, its -relay name taken.
	if command -v openssl >/dev/null && make_test_ca "$T/pki" &&
		start_tinyproxy rtp && start_stunnel rst "${SRV_ADDR[rtp]}" "$T/pki/server.crt" "$T/pki/server.key"; then
		cr=$(proxy_cfg relay "http: ${SRV_URL[rst]}" "proxy_loopback: true" "tls: {ca_file: $T/pki/ca.crt}")
		rname=$("$SHIM_CMD" compile -c "$cr")
		rm -f "/dev/shm$rname"-*
		"${atk[@]}" sh -c 'umask 0; cp "$1" "$2-relay"; chmod 0666 "$2-relay"' _ "$T/evil.seg" "/dev/shm$rname"
		rbefore=$(sha256sum <"/dev/shm$rname-relay")
		: >"$SHIMLOG"
		mark rtp
		o=$(PROXYSHIM_RELAY_IDLE=5 PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$cr" timeout 20 \
			python3 "$IT_DIR/connect_errno.py" 127.0.0.1 "$P" 10 2>&1)
		assert_eq ECONNREFUSED "$o" "https:// upstream with nobody's -relay: fail closed (ECONNREFUSED)"
		assert_match "$SHIMLOG" "cannot open the relay segment: Operation not permitted" \
			"https:// upstream with nobody's -relay: the log says why"
		assert_eq "$rbefore" "$(sha256sum <"/dev/shm$rname-relay")" \
			"nobody's -relay is unchanged: no secret was written where the attacker can read it"
		assert_not_crossed rtp "$P" "nothing went through the https:// upstream"
		# Control: with the name free, the same connect goes through.
		rm -f "/dev/shm$rname-relay"
		o=$(PROXYSHIM_RELAY_IDLE=5 PROXYSHIM_LOG_FILE=$SHIMLOG shim_run "$cr" timeout 20 \
			python3 "$IT_DIR/connect_errno.py" 127.0.0.1 "$P" 10 2>&1)
		assert_eq OK "$o" "control: with the -relay name free, the https:// upstream works"
		assert_eq "600 root" "$(stat -c '%a %U' "/dev/shm$rname-relay")" "control: the -relay it made is 0600, ours"
		rp=$(relay_pid "$cr")
		[[ -n $rp && $rp != 0 ]] && kill "$rp" 2>/dev/null
	else
		skip "relay secret: needs openssl, tinyproxy and stunnel4"
	fi
else
	skip "pre-created segments: needs root, setpriv and unshare (a second user, names only the proxy resolves)"
fi

# ------------------------------------------------- spoofing the reverse side
section "forged PROXY v1/v2 and X-Forwarded-For from an untrusted peer"
cat >"$T/peerdump.py" <<'EOF'
import hashlib, socket, sys
from srvlib import write_port_file
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(8)
write_port_file(sys.argv[1], l.getsockname()[1])
for _ in range(int(sys.argv[2])):
    c, a = l.accept()
    p = c.getpeername()
    c.settimeout(5)
    data = b""
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    print("conn accept=%s:%d peer=%s:%d len=%d sha=%s" % (a[0], a[1], p[0], p[1], len(data),
          hashlib.sha256(data).hexdigest()[:16]), flush=True)
    c.sendall(data)
    c.close()
EOF
cat >"$T/spoof.py" <<'EOF'
import hashlib, socket, sys
src, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0, 12]) +
      bytes([6, 6, 6, 6, 127, 0, 0, 1]) + (4242).to_bytes(2, "big") + (80).to_bytes(2, "big"))
data = {
    "v1": b"PROXY TCP4 6.6.6.6 127.0.0.1 4242 80\r\nhello v1\n",
    "v2": v2 + b"hello v2\n",
    "xff": b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
}[kind]
s = socket.socket()
s.bind((src, 0))
s.connect(("127.0.0.1", port))
me = s.getsockname()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.settimeout(8)
back = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        back += d
except OSError:
    pass
print("me=%s:%d len=%d sha=%s echo=%s" % (me[0], me[1], len(data),
      hashlib.sha256(data).hexdigest()[:16], "same" if back == data else "differs"))
EOF
# spoof_case NAME HEADERS CLIENT KIND: a server under the shim trusting
# only 127.0.0.5, one connection from CLIENT with a forged KIND header.
# Sets SP_CLIENT (the client's line) and SP_SERVER (the server's line).
spoof_case() {
	local name=$1 hdr=$2 src=$3 kind=$4 cf port sp
	cf=$(write_file "cfg/rp-$name.yml" <<EOF
reverseProxy:
  trustedOrigins: [127.0.0.5/32]
  headers: [$hdr]
EOF
	)
	mkdir -p "$T/$name"
	_it_spawn "$T/$name/out.log" _it_asan_env env LD_PRELOAD="$(shim_preload_value)" \
		PROXYSHIM_CONFIG="$cf" PROXYSHIM_LOG_FILE="$T/$name/shim.log" \
		PYTHONPATH="$IT_DIR" timeout 30 python3 -u "$T/peerdump.py" "$T/$name/port" 1
	sp=$_IT_LAST_PID
	SP_CLIENT="" SP_SERVER=""
	if port=$(_it_wait_portfile "$sp" "$T/$name/port"); then
		SP_CLIENT=$(timeout 20 python3 "$T/spoof.py" "$src" "$port" "$kind" 2>&1)
		wait "$sp" 2>/dev/null
		SP_SERVER=$(grep '^conn ' "$T/$name/out.log")
	else
		fail "$name: server under the shim did not start: $(tail -n 3 "$T/$name/out.log")"
	fi
	_it_forget "$sp"
	echo "# $name: client $SP_CLIENT; server $SP_SERVER"
}
for kind in v1 v2 xff; do
	hdr=PROXY
	[[ $kind == xff ]] && hdr="X-Forwarded-For, X-Real-IP"
	spoof_case "untrusted-$kind" "$hdr" 127.0.0.1 "$kind"
	if [[ $SP_CLIENT =~ ^me=([0-9.]+:[0-9]+)\ len=([0-9]+)\ sha=([0-9a-f]+)\ echo=(.*)$ ]]; then
		me=${BASH_REMATCH[1]} len=${BASH_REMATCH[2]} sha=${BASH_REMATCH[3]} echo=${BASH_REMATCH[4]}
		assert_eq "conn accept=$me peer=$me len=$len sha=$sha" "$SP_SERVER" \
			"$kind from untrusted 127.0.0.1: accept() and getpeername() report the real peer ($me), every byte delivered as sent"
		assert_eq same "$echo" "$kind from untrusted: the bytes came back unchanged"
	else
		fail "$kind from untrusted: client said '$SP_CLIENT'"
	fi
done
# Control: the same forged v1 header from the trusted origin is honoured,
# so the cases above could have failed.
spoof_case trusted-v1 PROXY 127.0.0.5 v1
assert_re "$SP_SERVER" '^conn accept=6\.6\.6\.6:4242 peer=6\.6\.6\.6:4242 len=9 ' \
	"control: from the trusted 127.0.0.5 the header is read (6.6.6.6:4242) and consumed"
spoof_case trusted-xff "X-Forwarded-For" 127.0.0.5 xff
assert_re "$SP_SERVER" '^conn accept=6\.6\.6\.6:0 peer=6\.6\.6\.6:0 ' \
	"control: from the trusted 127.0.0.5 X-Forwarded-For is used"

# ------------------------------------------------- signals during the handshake
section "signals every 500 us while the upstream stalls"
start_silent stall || it_done
start_blackhole hole || it_done
for up in "socks5://${SRV_ADDR[stall]}" "http://${SRV_ADDR[stall]}" "socks5://${SRV_ADDR[hole]}"; do
	what="handshake stalls"
	[[ $up == *"${SRV_ADDR[hole]}"* ]] && what="connect to the upstream stalls"
	c=$(proxy_cfg "sig-$RANDOM" "http: $up" "proxy_loopback: true" "timeouts: {connect: 1s, handshake: 1s}")
	for mode in "restart" "norestart" "norestart nonblock"; do
		rc=0
		# The signals must not restart the 1 s deadline: a connect that
		# never ended would be stopped by `timeout 30` (rc 124), not
		# timed here.
		# shellcheck disable=SC2086
		o=$(shim_run "$c" timeout 30 "$T/sigstall" 127.0.0.1 "$P" 2 $mode 2>/dev/null) || rc=$?
		last=$(tail -n 1 <<<"$o")
		echo "# ${up%%:*} $what, $mode: $last"
		assert_re "$rc $last" '^0 alarms=many eintr=0 halfopen=0 max_ms=[0-9]+ fds_before=([0-9]+) fds_after=\1 results=ETIMEDOUT$' \
			"${up%%:*}, $what, $mode: ETIMEDOUT at the deadline, never EINTR, no socket left connected to the proxy, no descriptor leaked"
	done
done
# And when the upstream answers: every connect through microsocks works.
c=$(proxy_cfg sig-ok "http: ${SRV_URL[tms]}" "proxy_loopback: true" "timeouts: {connect: 5s, handshake: 10s}")
for mode in restart norestart; do
	o=$(shim_run "$c" timeout 30 "$T/sigstall" 127.0.0.1 "$P" 20 "$mode" 2>/dev/null | tail -n 1)
	assert_re "$o" '^alarms=[a-z]+ eintr=0 halfopen=0 max_ms=[0-9]+ fds_before=([0-9]+) fds_after=\1 results=OK$' \
		"a live upstream, $mode: 20 connects under the timer all succeed"
done
it_done
