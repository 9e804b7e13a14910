#!/usr/bin/env bash
# The reverse-proxy side (SPEC §5): servers under the shim behind haproxy
# (PROXY protocol v1 and v2) and nginx (X-Forwarded-For) see their real
# clients; untrusted peers are never parsed; trusted origins that send no
# header or a broken one are closed and logged while the server goes on.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

need_shim || it_done
build_client peerserver || it_done
command -v haproxy >/dev/null || skip "haproxy not installed"
CLIENT=127.0.0.5 # every client connects from here

pp_cfg=$(write_file pp.yml <<'EOF2'
reverseProxy:
  trustedOrigins: [127.0.0.1/32]
  headers: [PROXY]
EOF2
)
xff_cfg=$(write_file xff.yml <<'EOF2'
reverseProxy:
  trustedOrigins: [127.0.0.1]
  headers: [X-Forwarded-For]
EOF2
)
PRE=$(shim_preload_value)
SHIM_ENV=(env LD_PRELOAD="$PRE" PROXYSHIM_LOG=info)

# start_under_shim NAME CFG PORTFILE_ARG... CMD...: CMD under the shim, its
# output in $T/NAME/out.log, the shim's log in $T/NAME/shim.log; CMD
# writes its port to $T/NAME/port.
start_under_shim() {
	local name=$1 cfg=$2 port
	shift 2
	_it_opts && _it_new "$name" || return 1
	_it_spawn "$_dir/out.log" "${SHIM_ENV[@]}" PROXYSHIM_CONFIG="$cfg" \
		PROXYSHIM_LOG_FILE="$_dir/shim.log" "$@"
	if ! port=$(_it_wait_portfile "$_IT_LAST_PID" "$_dir/port"); then
		_it_start_failed "$name" "$name" "$_dir/out.log"
		return 1
	fi
	_it_register "$name" shimmed "$_IT_LAST_PID" 127.0.0.1 "$port" "$_dir" \
		"$_dir/out.log"
}

# start_peer NAME CFG MODE: tests/integration/clients/peerserver.c.
start_peer() {
	start_under_shim "$1" "$2" "$T/peerserver" "$T/$1/port" "$3"
}

# rp_send SRC PORT DATA [split]: connect from SRC to 127.0.0.1:PORT, send
# DATA (a Python bytes literal), print the reply ("CLOSED" for EOF before
# any byte, "RESET", "TIMEOUT").  split: 3 bytes at a time, 30 ms apart.
rp_send() {
	python3 - "$1" "$2" "$3" "${4:-}" <<'PY'
import socket, sys, time, ast
src, port, data, split = sys.argv[1], int(sys.argv[2]), ast.literal_eval(sys.argv[3]), sys.argv[4]
s = socket.socket()
s.bind((src, 0))
s.connect(("127.0.0.1", port))
if split:
    for i in range(0, len(data), 3):
        s.send(data[i:i + 3])
        time.sleep(0.03)
else:
    s.sendall(data)
s.settimeout(8)
try:
    r = s.recv(200)
    print(r.decode(errors="replace").strip() if r else "CLOSED")
except ConnectionResetError:
    print("RESET")
except socket.timeout:
    print("TIMEOUT")
PY
}

# ------------------------------------------------------------ PROXY, haproxy

section "haproxy send-proxy (v1) -> C server, blocking accept()"
start_peer pv1 "$pp_cfg" block || it_done
if start_haproxy hv1 -- "127.0.0.1:${SRV_PORT[pv1]}" send-proxy; then
	out=$(rp_send $CLIENT "${SRV_PORT[hv1]}" "b'hello v1\n'")
	assert_re "$out" "^you are 127\.0\.0\.5:[0-9]+$" "v1: getpeername() is the client"
	assert_log pv1 "^conn accept=127\.0\.0\.5:[0-9]+ peer=127\.0\.0\.5:[0-9]+ dup=127\.0\.0\.5 trunc=16 first=hello v1$" \
		"v1: accept(), getpeername(), a dup and truncation agree; the header was consumed"
fi

section "haproxy send-proxy-v2 -> C server, non-blocking listener"
start_peer pv2 "$pp_cfg" nonblock || it_done
if start_haproxy hv2 -- "127.0.0.1:${SRV_PORT[pv2]}" send-proxy-v2; then
	for i in 1 2 3; do
		out=$(rp_send $CLIENT "${SRV_PORT[hv2]}" "b'hello v2 $i\n'")
		assert_re "$out" "^you are 127\.0\.0\.5:[0-9]+$" "v2 #$i: client seen"
	done
	assert_log pv2 "^conn accept=127\.0\.0\.5:[0-9]+ peer=127\.0\.0\.5:[0-9]+ dup=127\.0\.0\.5 trunc=16 first=hello v2 3$" \
		"v2: the header was consumed, the data intact"
fi

section "haproxy send-proxy-v2 with CRC32C -> accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)"
start_peer pa4 "$pp_cfg" accept4 || it_done
if start_haproxy ha4 -- "127.0.0.1:${SRV_PORT[pa4]}" send-proxy-v2 proxy-v2-options crc32c,unique-id; then
	out=$(rp_send $CLIENT "${SRV_PORT[ha4]}" "b'crc\n'")
	assert_re "$out" "^you are 127\.0\.0\.5:[0-9]+$" "v2 + CRC32C TLV: client seen"
	assert_not_contains "$T/pa4/out.log" "flags lost" "accept4 flags honoured"
fi

section "untrusted clients are never parsed"
out=$(rp_send $CLIENT "${SRV_PORT[pv1]}" "b'PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\nx\n'")
assert_re "$out" "^you are 127\.0\.0\.5:[0-9]+$" "a forged PROXY header from an untrusted peer is ignored"
assert_log pv1 "first=PROXY TCP4 6\.6\.6\.6 127\.0\.0\.1 1 2\.$" "and the program sees it as data"

section "a trusted origin with a broken or missing header"
mark pv1
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b'PROXY TCP9 1.2.3.4\r\nx\n'")
assert_re "$out" "^(CLOSED|RESET)$" "broken v1 header: closed"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b'\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c'")
assert_re "$out" "^(CLOSED|RESET)$" "bad v2 command: closed"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b''")
assert_re "$out" "^(CLOSED|RESET)$" "no header at all: closed (at the deadline: the log line below)"
assert_match "$T/pv1/shim.log" "from trusted 127\.0\.0\.1: PROXY: unknown address family" "broken header logged"
assert_match "$T/pv1/shim.log" "from trusted 127\.0\.0\.1: PROXY v2: bad command" "bad v2 logged"
assert_match "$T/pv1/shim.log" "from trusted 127\.0\.0\.1: no PROXY header in time" "missing header logged"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b'PROXY TCP4 127.0.0.5 127.0.0.1 5 6\r\nafter\n'" split)
assert_eq "you are 127.0.0.5:5" "$out" "the server keeps serving (a header split across segments)"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b'PROXY UNKNOWN\r\nunknown\n'")
assert_re "$out" "^you are 127\.0\.0\.1:[0-9]+$" "UNKNOWN keeps the socket's peer"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv1]}" "b'\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00local\n'")
assert_re "$out" "^you are 127\.0\.0\.1:[0-9]+$" "v2 LOCAL keeps the socket's peer"
mark pv2
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv2]}" "b'GET / HTTP/1.0\r\n\r\n'")
assert_re "$out" "^(CLOSED|RESET)$" "non-blocking listener: no header, closed"
assert_log pv2 "^accept error Software caused connection abort$" "non-blocking accept() returned ECONNABORTED"
out=$(rp_send 127.0.0.1 "${SRV_PORT[pv2]}" "b'PROXY TCP6 2001:db8::5 ::1 7 8\r\nv6\n'")
assert_eq "you are ::ffff:127.0.0.5:7" "${out/2001:db8::5/::ffff:127.0.0.5}" "an IPv6 client on an IPv4 socket"
assert_log pv2 "^conn accept=2001:db8::5:7 peer=2001:db8::5:7 dup=2001:db8::5 trunc=28 first=v6$" \
	"the family changes to AF_INET6, addrlen is the real size (28)"

section "python3 http.server under the shim behind haproxy"
it_www
pyport=$(free_port)
_it_opts && _it_new pyhttp
_it_spawn "$T/pyhttp/out.log" "${SHIM_ENV[@]}" PROXYSHIM_CONFIG="$pp_cfg" \
	PROXYSHIM_LOG_FILE="$T/pyhttp/shim.log" \
	python3 -u -m http.server --bind 127.0.0.1 --directory "$IT_WWW" "$pyport"
if _it_wait_listen "$_IT_LAST_PID" "$pyport"; then
	_it_register pyhttp pyhttp "$_IT_LAST_PID" 127.0.0.1 "$pyport" "$T/pyhttp" "$T/pyhttp/out.log"
	for v in send-proxy send-proxy-v2; do
		name=hpy${v//[^a-z2]/}
		start_haproxy "$name" -- "127.0.0.1:$pyport" "$v" || continue
		mark pyhttp
		out=$("${CURL[@]}" --interface $CLIENT "http://${SRV_ADDR[$name]}/hello.txt")
		assert_eq "$HELLO_BODY" "$out" "$v: the page arrives intact"
		assert_log pyhttp "^127\.0\.0\.5 - - .*\"GET /hello\.txt HTTP/1\.1\" 200" "$v: http.server logs 127.0.0.5"
	done
else
	fail "python3 -m http.server did not start"
fi

# ---------------------------------------------------------- X-Forwarded-For

section "nginx (X-Forwarded-For) -> python3 http.server under the shim"
xport=$(free_port)
_it_opts && _it_new pyxff
_it_spawn "$T/pyxff/out.log" "${SHIM_ENV[@]}" PROXYSHIM_CONFIG="$xff_cfg" \
	PROXYSHIM_LOG_FILE="$T/pyxff/shim.log" \
	python3 -u -m http.server --bind 127.0.0.1 --directory "$IT_WWW" "$xport"
if _it_wait_listen "$_IT_LAST_PID" "$xport"; then
	_it_register pyxff pyxff "$_IT_LAST_PID" 127.0.0.1 "$xport" "$T/pyxff" "$T/pyxff/out.log"
	if start_nginx ngx -- "127.0.0.1:$xport"; then
		mark pyxff
		out=$("${CURL[@]}" --interface $CLIENT "http://${SRV_ADDR[ngx]}/hello.txt")
		assert_eq "$HELLO_BODY" "$out" "through nginx: the page arrives intact"
		assert_log pyxff "^127\.0\.0\.5 - - .*\"GET /hello\.txt HTTP/1\.1\" 200" "http.server logs 127.0.0.5"
		mark pyxff
		out=$("${CURL[@]}" --interface $CLIENT -H "X-Forwarded-For: 6.6.6.6, 127.0.0.1" \
			"http://${SRV_ADDR[ngx]}/hello.txt")
		assert_log pyxff "^127\.0\.0\.5 - - .*\"GET /hello\.txt" "spoofed leftmost X-Forwarded-For entries are ignored"
		assert_log ngx "^127\.0\.0\.5 \"GET /hello\.txt HTTP/1\.1\" 200 \"6\.6\.6\.6, 127\.0\.0\.1\"" "(nginx passed the forged entries on)"
	fi
	mark pyxff
	out=$("${CURL[@]}" --interface $CLIENT -H "X-Forwarded-For: 6.6.6.6" "http://127.0.0.1:$xport/hello.txt")
	assert_log pyxff "^127\.0\.0\.5 - - .*\"GET /hello\.txt" "a direct untrusted client with a forged X-Forwarded-For is itself"
	assert_not_contains "$T/pyxff/out.log" "6.6.6.6" "6.6.6.6 never reported"
else
	fail "python3 -m http.server (xff) did not start"
fi

section "Server-Sent Events through nginx, server under the shim"
if start_under_shim sse "$xff_cfg" python3 -u "$IT_DIR/clients/rp_sse.py" \
	--port-file "$T/sse/port" --events 5 --gap 0.5 &&
	start_nginx ngxsse -- "127.0.0.1:${SRV_PORT[sse]}"; then
	# Each event as it arrives, with how many the server had sent by
	# then: streamed, the first arrives while most are still unsent;
	# buffered anywhere on the way, all five would be sent first.
	curl -sS -N --max-time 15 --interface $CLIENT "http://${SRV_ADDR[ngxsse]}/events" |
		while IFS= read -r line; do
			[[ $line == data:* ]] &&
				printf '%s sent=%s\n' "$line" "$(grep -c '^sent ' "$T/sse/out.log")"
		done >"$T/sse.seen"
	n=$(wc -l <"$T/sse.seen")
	assert_eq 5 "$n" "all 5 events arrived"
	first=$(head -n1 "$T/sse.seen")
	if [[ $first =~ ^data:\ 0\ sent=([0-9]+)$ ]] && ((BASH_REMATCH[1] < 5)); then
		pass "events arrived incrementally (the first when the server had sent ${BASH_REMATCH[1]} of 5)"
	else
		fail "events not incremental: $(tr '\n' ' ' <"$T/sse.seen")"
	fi
	assert_log sse '^127\.0\.0\.5 "GET /events"' "the SSE server saw 127.0.0.5"
fi

section "python3 asyncio server (event loop) under the shim behind haproxy send-proxy-v2"
# rp_many PORT N: N concurrent clients from $CLIENT to 127.0.0.1:PORT, each
# sends a line; prints one line per client: "MS REPLY" (ms since start).
rp_many() {
	python3 - "$CLIENT" "$1" "$2" <<'PY'
import socket, sys, threading, time
src, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.monotonic()
out = [None] * n
def one(i):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"hi %d\n" % i)
        r = s.recv(200).decode(errors="replace").strip() or "CLOSED"
    except OSError as e:
        r = type(e).__name__
    out[i] = "%d %s" % ((time.monotonic() - t0) * 1000, r)
    s.close()
th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in th: t.start()
for t in th: t.join(15)
print("\n".join(o or "0 HUNG" for o in out))
PY
}
if start_under_shim aio "$pp_cfg" python3 -u "$IT_DIR/clients/rp_asyncio.py" \
	--port-file "$T/aio/port" --lifetime 120 &&
	start_haproxy haio -- "127.0.0.1:${SRV_PORT[aio]}" send-proxy-v2; then
	mark aio
	out=$(rp_many "${SRV_PORT[haio]}" 8)
	n=$(grep -c ' you are 127\.0\.0\.5$' <<<"$out")
	assert_eq 8 "$n" "8 concurrent clients all answered as 127.0.0.5"
	sleep 0.3
	n=$(_it_since aio | grep -cE '^conn 127\.0\.0\.5 [0-9]+$')
	assert_eq 8 "$n" "peername is 127.0.0.5 for all 8 connections"
	assert_not_contains "$T/aio/out.log" "conn 127.0.0.1 " "the proxy's address never reported"

	# A trusted origin that connects and sends nothing: the wait for its
	# header happens inside accept(), so the loop stalls up to the
	# deadline (3 s), then the connection is closed and the others queued
	# behind it are served.
	mark aio
	python3 - "${SRV_PORT[aio]}" >"$T/aio/silent.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(8)
t0 = time.monotonic()
try:
    r = s.recv(10)
    print("CLOSED" if not r else "DATA", int((time.monotonic() - t0) * 1000))
except ConnectionResetError:
    print("RESET", int((time.monotonic() - t0) * 1000))
except socket.timeout:
    print("TIMEOUT")
PY
	silent=$!
	sleep 0.3 # the loop is now inside accept() for the silent connection
	out=$(rp_many "${SRV_PORT[haio]}" 5)
	wait "$silent"
	n=$(grep -c ' you are 127\.0\.0\.5$' <<<"$out")
	assert_eq 5 "$n" "behind a silent trusted connection, all 5 clients served as 127.0.0.5"
	# Not asserted (a limitation, documented): the loop stalls for the
	# rest of the deadline, so even the fastest waits.  Timing is shown,
	# never judged; the clients' own 10 s socket timeout bounds a hang.
	echo "# observed: clients queued behind the silent one answered after $(cut -d' ' -f1 <<<"$out" | sort -n | head -n1)..$(cut -d' ' -f1 <<<"$out" | sort -n | tail -n1) ms (its 3 s wait began 0.3 s before them)"
	assert_re "$(cat "$T/aio/silent.out")" "^(CLOSED|RESET) [0-9]+$" \
		"the silent trusted connection was closed by the server (not left open past the client's 8 s)"
	assert_match "$T/aio/shim.log" "from trusted 127\.0\.0\.1: no PROXY header in time" "and logged"
	out=$(rp_many "${SRV_PORT[haio]}" 3)
	n=$(grep -c ' you are 127\.0\.0\.5$' <<<"$out")
	assert_eq 3 "$n" "afterwards the loop serves new clients"
	assert_not_contains "$T/aio/out.log" "Traceback" "no exception in the event loop"
fi

section "proxyshim explain --peer"
out=$("$SHIM_CMD" explain -c "$pp_cfg" --peer 127.0.0.1 2>&1)
assert_re "$out" "^trusted" "127.0.0.1 is trusted"
assert_re "$out" "PROXY" "the PROXY header would be read"
out=$("$SHIM_CMD" explain -c "$xff_cfg" --peer 127.0.0.5 2>&1)
assert_re "$out" "^untrusted" "127.0.0.5 is not trusted"
it_done
