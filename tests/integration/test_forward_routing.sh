#!/usr/bin/env bash
# Forward path (issue 3): routing by address (SPEC §3).  Loopback direct
# unless proxy_loopback, the upstreams' own addresses direct, exempt by CIDR
# and by IP:port (the port compared), IPv4-mapped destinations routed as
# IPv4, per-scheme routing (https_ports), first-match rules, rules before
# exempt, port ranges, block rules (EACCES), chains of two and three
# upstreams (each proxy logs its hop), failover past a refused and past a
# hanging upstream (the second connect skips it: measured), failover past an
# upstream that answers badly (not marked dead), round_robin across two
# proxies; UDP and AF_UNIX never routed.  Routing by name:
# test_forward_names.sh.
#
# Proof of the route: the proxies' logs (assert_crossed/assert_not_crossed)
# and the origin's /whoami: microsocks connects out from 127.0.0.9, so a
# proxied request shows 127.0.0.9 and a direct one 127.0.0.1.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done
build_client httpget || it_done

MS_OUT=127.0.0.9
start_origin web || it_done  # 127.0.0.1:A
start_origin webb || it_done # 127.0.0.1:B (same address, another port)
start_origin web2 host=127.0.0.2 || it_done
start_origin web6 host=::1 || it_done
start_banner ban || it_done
start_banner ban6 host=::1 || it_done
start_microsocks ms out=$MS_OUT || it_done
start_tinyproxy tp || it_done
start_dante dn
A=${SRV_PORT[web]} B=${SRV_PORT[webb]}

# cfg NAME: stdin (the body of `proxy:`, indented two spaces) as a config
# file; prints its path.  Every config here proxies loopback.
cfg() {
	{
		echo "proxy:"
		echo "  proxy_loopback: true"
		echo "  timeouts: {connect: 1s, handshake: 3s}"
		cat
	} | write_file "cfg/$1.yml"
}

# who CFG ORIGIN: the address ORIGIN saw for a /whoami made by curl under
# the shim (or "curl-failed").
who() {
	local out
	out=$(shim_run "$1" "${CURL[@]}" --max-time 10 --noproxy '*' \
		"${SRV_URL[$2]}/whoami" 2>/dev/null) || out=curl-failed
	printf '%s\n' "${out%% *}"
}

# hello CFG ORIGIN: hello.txt from ORIGIN by curl under the shim.
hello() {
	shim_run "$1" "${CURL[@]}" --max-time 10 --noproxy '*' \
		"${SRV_URL[$2]}/hello.txt" 2>&1
}

# errno_of CFG HOST PORT: connect_errno.py under the shim.
errno_of() {
	shim_run "$1" python3 "$IT_DIR/connect_errno.py" "$2" "$3" 5 2>/dev/null
}

# since NAME: NAME's log lines after its mark.
since() {
	tail -n +"$((${SRV_MARK[$1]:-0} + 1))" "${SRV_LOG[$1]}"
}

# origin_lines NAME: lines in the origin's log now.
origin_lines() {
	wc -l <"${SRV_LOG[$1]}"
}

section "loopback is direct unless proxy_loopback"
c=$(write_file cfg/noloop.yml <<EOF
proxy:
  http: ${SRV_URL[ms]}
EOF
)
mark ms
assert_eq 127.0.0.1 "$(who "$c" web)" "no proxy_loopback: 127.0.0.1 reached directly"
assert_not_crossed ms "$A" "no proxy_loopback: microsocks not used"
c=$(cfg loop <<EOF
  http: ${SRV_URL[ms]}
EOF
)
mark ms
assert_eq "$MS_OUT" "$(who "$c" web)" "proxy_loopback: the origin sees microsocks ($MS_OUT)"
assert_crossed ms "$A" "proxy_loopback: microsocks logged it"

section "the upstream's own address is direct"
# curl speaks SOCKS itself here: its connection to microsocks must not be
# sent through microsocks.
mark ms
out=$(shim_run "$c" "${CURL[@]}" --proxy "socks5://${SRV_ADDR[ms]}" \
	"${SRV_URL[web]}/hello.txt" 2>&1)
assert_eq "$HELLO_BODY" "$out" "a proxy-aware client reaches its proxy under the shim"
assert_eq 1 "$(conn_count ms "$A")" "microsocks saw exactly one connection (no loop)"
assert_eq 0 "$(conn_count ms "${SRV_PORT[ms]}")" "microsocks was not asked to reach itself"

section "exempt by CIDR"
c=$(cfg cidr <<EOF
  http: ${SRV_URL[ms]}
  exempt: "127.0.0.2/32"
EOF
)
mark ms
assert_eq "$HELLO_BODY" "$(hello "$c" web2)" "exempt 127.0.0.2/32: 127.0.0.2 reached"
out=$(shim_run "$c" timeout 10 "$T/httpget" get ::ffff:127.0.0.2 "${SRV_PORT[web2]}" /hello.txt 2>&1)
assert_eq "$HELLO_BODY" "$out" "exempt 127.0.0.2/32: ::ffff:127.0.0.2 (IPv4-mapped) reached"
assert_not_crossed ms "${SRV_PORT[web2]}" "exempt 127.0.0.2/32: both went direct"
mark ms
assert_eq "$MS_OUT" "$(who "$c" web)" "exempt 127.0.0.2/32: 127.0.0.1 still proxied"
assert_crossed ms "$A" "exempt 127.0.0.2/32: microsocks logged 127.0.0.1"
c=$(cfg cidr6 <<EOF
  http: ${SRV_URL[tp]}
  exempt: ["::1/128"]
EOF
)
mark tp
assert_eq "::1" "$(who "$c" web6)" "exempt ::1/128: [::1] reached directly"
assert_not_crossed tp "${SRV_PORT[web6]}" "exempt ::1/128: tinyproxy not used"
assert_eq "$HELLO_BODY" "$(hello "$c" web)" "exempt ::1/128: 127.0.0.1 still proxied"
assert_crossed tp "$A" "exempt ::1/128: tinyproxy logged 127.0.0.1"

section "exempt by IP:port (the port is compared)"
c=$(cfg ipport <<EOF
  http: ${SRV_URL[ms]}
  exempt: "127.0.0.1:$A"
EOF
)
mark ms
assert_eq 127.0.0.1 "$(who "$c" web)" "exempt 127.0.0.1:$A: port $A direct"
assert_not_crossed ms "$A" "exempt 127.0.0.1:$A: microsocks not used for port $A"
assert_eq "$MS_OUT" "$(who "$c" webb)" "exempt 127.0.0.1:$A: port $B proxied"
assert_crossed ms "$B" "exempt 127.0.0.1:$A: microsocks logged port $B"
c=$(cfg ipport6 <<EOF
  http: ${SRV_URL[tp]}
  exempt: "[::1]:${SRV_PORT[web6]}"
EOF
)
mark tp
assert_eq "::1" "$(who "$c" web6)" "exempt [::1]:${SRV_PORT[web6]}: direct"
assert_not_crossed tp "${SRV_PORT[web6]}" "exempt [::1]:port: tinyproxy not used"
out=$(shim_run "$c" timeout 10 "$T/httpget" banner ::1 "${SRV_PORT[ban6]}" x 2>&1)
assert_eq "${SRV_BANNER[ban6]}"$'\n'"echo x" "$out" "exempt [::1]:port: another port of ::1 works"
assert_crossed tp "${SRV_PORT[ban6]}" "exempt [::1]:port: another port of ::1 is proxied"

section "per-scheme routing (https_ports)"
c=$(cfg scheme <<EOF
  http: ${SRV_URL[ms]}
  https: ${SRV_URL[tp]}
  https_ports: [$B]
EOF
)
mark ms
mark tp
assert_eq "$HELLO_BODY" "$(hello "$c" webb)" "https_ports [$B]: port $B works"
assert_crossed tp "$B" "https_ports [$B]: port $B crossed proxy.https (tinyproxy)"
assert_not_crossed ms "$B" "https_ports [$B]: port $B did not cross proxy.http"
assert_eq "$MS_OUT" "$(who "$c" web)" "https_ports [$B]: port $A crossed proxy.http (microsocks)"
assert_not_crossed tp "$A" "https_ports [$B]: port $A did not cross proxy.https"
c=$(cfg scheme_nohttps <<EOF
  http: ${SRV_URL[ms]}
  https_ports: [$B]
EOF
)
mark ms
assert_eq "$MS_OUT" "$(who "$c" webb)" "no proxy.https: the https port uses proxy.http"
assert_crossed ms "$B" "no proxy.https: microsocks logged port $B"

section "rules: first match wins"
c=$(cfg rules1 <<EOF
  http: ${SRV_URL[ms]}
  rules:
    - match: "127.0.0.1:$A"
      via: ${SRV_URL[tp]}
    - match: 127.0.0.0/8
      via: ${SRV_URL[ms]}
EOF
)
mark tp
mark ms
assert_eq "$HELLO_BODY" "$(hello "$c" web)" "rules [IP:$A→tp, /8→ms]: port $A works"
assert_crossed tp "$A" "rules [IP:$A→tp, /8→ms]: port $A crossed tinyproxy (rule 0)"
assert_not_crossed ms "$A" "rules [IP:$A→tp, /8→ms]: not microsocks"
assert_eq "$MS_OUT" "$(who "$c" webb)" "rules [IP:$A→tp, /8→ms]: port $B took rule 1 (microsocks)"
c=$(cfg rules2 <<EOF
  http: ${SRV_URL[tp]}
  rules:
    - match: 127.0.0.0/8
      via: ${SRV_URL[ms]}
    - match: "127.0.0.1:$A"
      via: ${SRV_URL[tp]}
EOF
)
mark tp
mark ms
assert_eq "$MS_OUT" "$(who "$c" web)" "rules [/8→ms, IP:$A→tp]: port $A took rule 0 (microsocks)"
assert_crossed ms "$A" "rules [/8→ms, IP:$A→tp]: microsocks logged it"
assert_not_crossed tp "$A" "rules [/8→ms, IP:$A→tp]: tinyproxy did not"

c=$(cfg rules_exempt <<EOF
  http: ${SRV_URL[ms]}
  exempt: "127.0.0.2"
  rules:
    - match: 127.0.0.2
      via: ${SRV_URL[tp]}
    - match: "127.0.0.1:$((B - 1))-$((B + 1))"
      via: direct
EOF
)
mark tp
assert_eq "$HELLO_BODY" "$(hello "$c" web2)" "a rule beats exempt: 127.0.0.2 works"
assert_crossed tp "${SRV_PORT[web2]}" "a rule beats exempt: 127.0.0.2 crossed tinyproxy"
mark ms
assert_eq 127.0.0.1 "$(who "$c" webb)" "rule 127.0.0.1:$((B - 1))-$((B + 1)) → direct: port $B direct"
assert_not_crossed ms "$B" "port range rule: microsocks not used"

section "block rules"
c=$(cfg block <<EOF
  http: ${SRV_URL[ms]}
  rules:
    - match: "127.0.0.1:$A"
      via: block
    - match: "::1"
      via: block
EOF
)
mark ms
n0=$(origin_lines web)
assert_eq EACCES "$(errno_of "$c" 127.0.0.1 "$A")" "block 127.0.0.1:$A: EACCES"
assert_eq EACCES "$(errno_of "$c" ::ffff:127.0.0.1 "$A")" "block 127.0.0.1:$A: EACCES for the IPv4-mapped form too"
assert_eq EACCES "$(errno_of "$c" ::1 "${SRV_PORT[web6]}")" "block ::1: EACCES"
rc=0
shim_run "$c" "${CURL[@]}" --noproxy '*' "${SRV_URL[web]}/hello.txt" >/dev/null 2>&1 || rc=$?
assert_eq 7 "$rc" "block: curl fails to connect (exit 7)"
sleep 0.2
assert_eq "$n0" "$(origin_lines web)" "block: the origin saw nothing"
assert_not_crossed ms "$A" "block: nothing went to the proxy"
assert_eq "$MS_OUT" "$(who "$c" webb)" "block 127.0.0.1:$A: port $B still proxied"

section "chains (strict)"
chain() { # chain NAME URL...: a rule sending 127.0.0.0/8 through URL...
	local n=$1 u
	shift
	{
		echo "  chain: strict"
		echo "  rules:"
		echo "    - match: 127.0.0.0/8"
		echo "      via:"
		for u in "$@"; do echo "        - $u"; done
	} | cfg "$n"
}
c=$(chain ms_tp "${SRV_URL[ms]}" "${SRV_URL[tp]}")
mark ms
mark tp
assert_eq "$HELLO_BODY" "$(hello "$c" web)" "chain [microsocks, tinyproxy]: hello.txt"
assert_crossed ms "${SRV_PORT[tp]}" "chain [ms, tp]: microsocks connected to tinyproxy"
assert_crossed tp "$A" "chain [ms, tp]: tinyproxy connected to the origin"
assert_not_crossed ms "$A" "chain [ms, tp]: microsocks did not reach the origin itself"
mark tp
out=$(shim_run "$c" timeout 10 "$T/httpget" banner 127.0.0.1 "${SRV_PORT[ban]}" chained 2>&1)
assert_eq "${SRV_BANNER[ban]}"$'\n'"echo chained" "$out" "chain [ms, tp]: the banner arrives intact"
assert_crossed tp "${SRV_PORT[ban]}" "chain [ms, tp]: banner crossed the last hop"
c=$(chain tp_ms "${SRV_URL[tp]}" "${SRV_URL[ms]}")
mark ms
mark tp
assert_eq "$MS_OUT" "$(who "$c" web)" "chain [tinyproxy, microsocks]: the origin sees the last hop"
assert_crossed tp "${SRV_PORT[ms]}" "chain [tp, ms]: tinyproxy connected to microsocks"
assert_crossed ms "$A" "chain [tp, ms]: microsocks connected to the origin"
if [[ -n ${SRV_PID[dn]:-} ]]; then
	c=$(chain three "${SRV_URL[ms]}" "socks4://${SRV_ADDR[dn]}" "${SRV_URL[tp]}")
	mark ms
	mark dn
	mark tp
	assert_eq "$HELLO_BODY" "$(hello "$c" web)" "chain [socks5, socks4, http]: hello.txt"
	assert_crossed ms "${SRV_PORT[dn]}" "chain of 3: microsocks → dante"
	assert_crossed dn "${SRV_PORT[tp]}" "chain of 3: dante → tinyproxy"
	assert_crossed tp "$A" "chain of 3: tinyproxy → origin"
fi

c=$(chain hop2down "${SRV_URL[ms]}" "http://127.0.0.1:$(free_port)")
mark ms
assert_eq ECONNREFUSED "$(errno_of "$c" 127.0.0.1 "$A")" \
	"chain [ms, dead]: the second hop is down: ECONNREFUSED (from microsocks' reply)"
assert_not_crossed ms "$A" "chain [ms, dead]: microsocks was not asked for the origin"

section "failover"
dead=$(free_port)
c=$(cfg fo_refused <<EOF
  chain: failover
  rules:
    - match: 127.0.0.0/8
      via: [socks5://127.0.0.1:$dead, ${SRV_URL[ms]}]
EOF
)
mark ms
assert_eq "$MS_OUT" "$(who "$c" web)" "failover past a refused upstream: reached through microsocks"
assert_crossed ms "$A" "failover: microsocks logged it"

# An upstream that never answers a SYN: the first connect waits out the
# connect timeout (1 s) before failing over; the mark is shared by every
# process of the table, so the next process skips it at once.
if start_blackhole bh; then
	bh=${SRV_PORT[bh]}
	c=$(cfg fo_hang <<EOF
  chain: failover
  rules:
    - match: 127.0.0.0/8
      via: [socks5://127.0.0.1:$bh, ${SRV_URL[ms]}]
EOF
	)
	mark ms
	r1=$(PROXYSHIM_LOG=info PROXYSHIM_LOG_FILE=$T/fo1.log who "$c" web)
	r2=$(PROXYSHIM_LOG=info PROXYSHIM_LOG_FILE=$T/fo2.log who "$c" web)
	assert_eq "$MS_OUT" "$r1" "failover past a hanging upstream: first connection via microsocks"
	assert_match "$T/fo1.log" "127\.0\.0\.1:$bh: connect: Connection timed out" \
		"first connection waited out the connect timeout on the hanging upstream"
	assert_eq "$MS_OUT" "$r2" "failover: second connection (another process) via microsocks"
	assert_match "$T/fo2.log" "-> via" "the second connection logged its route"
	assert_not_contains "$T/fo2.log" "127.0.0.1:$bh: connect" \
		"second connection skipped the upstream marked dead (never dialled it)"
	assert_crossed ms "$A" "failover: microsocks logged both" 2
fi

start_garbage junk
if [[ -n ${SRV_PID[junk]:-} ]]; then
	c=$(cfg fo_junk <<EOF
  chain: failover
  rules:
    - match: 127.0.0.0/8
      via: [socks5://${SRV_ADDR[junk]}, ${SRV_URL[ms]}]
EOF
	)
	mark junk
	assert_eq "$MS_OUT" "$(who "$c" web)" "failover past an upstream that answers garbage"
	assert_eq "$MS_OUT" "$(who "$c" web)" "failover past garbage, again"
	assert_log junk "^accept " "the garbage upstream was tried"
	assert_eq 2 "$(since junk | grep -c '^accept ')" \
		"an upstream that answered is not marked dead: tried both times"
fi

# An IPv4 socket cannot use an IPv6 upstream (EAFNOSUPPORT): it fails over
# to the next one, but the IPv6 upstream is not dead for everyone: an IPv6
# socket right after must still get it.
if start_microsocks ms6 host=::1; then
	c=$(cfg fo_family <<EOF
  chain: failover
  rules:
    - match: ["127.0.0.0/8", "::1"]
      via: ["${SRV_URL[ms6]}", "${SRV_URL[ms]}"]
EOF
	)
	mark ms
	mark ms6
	assert_eq "$MS_OUT" "$(who "$c" web)" "failover [ms6, ms]: an IPv4 socket goes through ms"
	out=$(shim_run "$c" timeout 10 "$T/httpget" get ::1 "${SRV_PORT[web6]}" /hello.txt 2>&1)
	assert_eq "$HELLO_BODY" "$out" "failover [ms6, ms]: then an IPv6 socket works"
	assert_crossed ms6 "${SRV_PORT[web6]}" \
		"failover [ms6, ms]: ...through ms6: not marked dead by the IPv4 socket's EAFNOSUPPORT"
fi

c=$(cfg fo_alldead <<EOF
  chain: failover
  rules:
    - match: 127.0.0.0/8
      via: [socks5://127.0.0.1:$dead, http://127.0.0.1:$dead]
EOF
)
assert_eq ECONNREFUSED "$(errno_of "$c" 127.0.0.1 "$A")" "failover, every upstream down: ECONNREFUSED"

section "never routed: UDP, AF_UNIX"
# The only upstream is down and loopback is proxied: anything the shim
# tried to route would fail.
c=$(cfg passthrough <<EOF
  http: socks5://127.0.0.1:$dead
EOF
)
out=$(shim_run "$c" timeout 10 python3 - "$T/unix.sock" <<'EOF' 2>&1
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 0))
r.settimeout(5)
u.connect(r.getsockname())
u.send(b"datagram")
print("udp", r.recv(100).decode())
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(1)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
a, _ = srv.accept()
c.sendall(b"stream")
print("unix", a.recv(100).decode())
EOF
)
assert_eq $'udp datagram\nunix stream' "$out" "UDP connect/send and AF_UNIX connect pass through untouched"
assert_eq ECONNREFUSED "$(errno_of "$c" 127.0.0.1 "$A")" "...while TCP to the same place is routed (to the dead upstream)"

section "round_robin"
c=$(cfg rr <<EOF
  chain: round_robin
  rules:
    - match: 127.0.0.0/8
      via: [${SRV_URL[ms]}, ${SRV_URL[tp]}]
EOF
)
mark ms
mark tp
urls=()
for i in 1 2 3 4 5 6; do urls+=("${SRV_URL[web]}/hello.txt?$i"); done
out=$(shim_run "$c" "${CURL[@]}" --noproxy '*' "${urls[@]}" 2>&1)
assert_eq 6 "$(grep -cxF "$HELLO_BODY" <<<"$out")" "round_robin: 6 requests in one process all answered"
for i in 1 2 3 4; do hello "$c" web >/dev/null; done
sleep 0.3
nm=$(conn_count ms "$A")
nt=$(conn_count tp "$A")
echo "# round_robin: microsocks $nm, tinyproxy $nt"
assert_eq 10 "$((nm + nt))" "round_robin: 10 connections, each through one proxy"
assert_eq "5 5" "$nm $nt" "round_robin: alternates evenly (in one process and across processes)"
it_done
