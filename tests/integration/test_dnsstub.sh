#!/usr/bin/env bash
# The DNS stub (docs/behaviour.md#names-for-static-and-go-programs) as the
# supervisor runs it ($B/tests/dnsstub_serve: the published table, the
# run's shared name map, UDP and TCP on loopback), asked by a real client
# (dns_query.py, a hand-built query over a stdlib socket): proxied and
# blocked names get fake addresses that the name map holds, the same ones
# that a program under the library gets for them; a direct name is
# resolved for real (the stub's own /etc/hosts) and recorded; a direct
# name the hosts file lacks goes to the DNS server of the stub's
# resolv.conf, a proxied name never does (a counting DNS server); an answer
# past 512 bytes is TC over UDP and whole over TCP.  Then a Go program
# (CGO_ENABLED=0, GODEBUG=netdns=go) whose resolv.conf names the stub
# resolves the same names through it, TCP retry included.
#
# The stub listens on port 53 of an address of 127.0.0.0/8 (resolv.conf
# takes no port) in a mount namespace of its own with its /etc/hosts and
# resolv.conf, and so does the Go program (root only: skipped otherwise).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

SERVE=$B/tests/dnsstub_serve
if [[ ! -x $SERVE ]]; then
	skip "dnsstub: $SERVE not built (make $SERVE; make test-integration builds it)"
	it_done
fi
if ! is_root || ! unshare --mount --propagation private -- true 2>/dev/null; then
	skip "dnsstub: needs root and a mount namespace (the stub's own /etc/hosts and resolv.conf)"
	it_done
fi

PNAME=proxied.example   # via socks5h: fake address
BNAME=blocked.test      # a block rule: fake address too
DNAME=direct.test       # exempt: real, from the stub's /etc/hosts
XNAME=gone.direct.test  # exempt, in no hosts file: the DNS server's NXDOMAIN
# exempt, 16 IPv6 addresses in the stub's hosts file: with this long a name
# they pass 512 bytes, so UDP says TC and the whole answer comes over TCP
MNAME=many-addresses-with-a-name-long-enough-to-pass-512-bytes.direct.test

# A counting DNS server for the stub's own resolv.conf, as in
# test_resolver.sh.
DNS_IP=$(free_port53 127.78)
if [[ -z $DNS_IP ]] || ! _it_opts host="$DNS_IP" port=53 || ! _it_new dns ||
	! _it_pyserver dns dns resolver_dns.py; then
	fail "counting DNS server on port 53 of 127.78.x.y"
	it_done
fi
STUB_IP=$(free_port53 127.78 "$DNS_IP") || {
	fail "no free port 53 in 127.78.0.0/16 for the stub"
	it_done
}
printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$DNS_IP" >"$T/stub-resolv"
{
	cat /etc/hosts
	echo "10.77.0.7 $DNAME"
	for i in $(seq 1 16); do echo "fd00:77::$i $MNAME"; done
} >"$T/stub-hosts"

c=$(proxy_cfg stub "http: socks5h://127.0.0.1:1" "dns: remote" \
	"exempt: \"$DNAME\"" "rules:" "  - match: [\"$BNAME\"]" "    via: block")
TABLE=$("$SHIM_CMD" compile -c "$c" 2>&1)
assert_re "$TABLE" "^/proxyshim-[0-9]+-" "compile publishes the table ($TABLE)"

mkfifo "$T/ctl"
_it_spawn "$T/stub.log" unshare --mount --propagation private -- \
	bash "$IT_DIR/nswrap.sh" --bind "$T/stub-hosts" /etc/hosts \
	--bind "$T/stub-resolv" /etc/resolv.conf -- \
	"$SERVE" "$TABLE" "$T/stub.ports" "$T/ctl" "$STUB_IP"
STUB_PID=$_IT_LAST_PID
if ! ports=$(_it_wait_portfile "$STUB_PID" "$T/stub.ports"); then
	fail "dnsstub_serve did not start"
	sed 's/^/#   /' "$T/stub.log"
	it_done
fi
read -r UDP <<<"$ports"
TCP=$UDP # one port for both (53)
exec 7>"$T/ctl" # the stub's control line: an address in, "map ADDR NAME" out

q() { python3 -B "$IT_DIR/dns_query.py" "$@" 2>&1; }
# map ADDR: the name the stub's name map holds for ADDR ("-" for none).
map() {
	local n
	n=$(grep -c "^map " "$T/stub.log")
	echo "$1" >&7
	wait_for_log_count "$T/stub.log" "^map " $((n + 1)) 20 || return 1
	grep "^map " "$T/stub.log" | tail -n 1 | cut -d' ' -f3
}

# ------------------------------------------------------------------------
section "proxied and blocked names: fake addresses from the name map"
out=$(q "$STUB_IP" "$UDP" "$PNAME" A)
read -r rc a4 rest <<<"$out"
assert_eq "NOERROR" "$rc" "UDP A $PNAME: NOERROR ($out)"
assert_re "$a4" "^198\.1[89]\." "UDP A $PNAME: a fake IPv4 in 198.18.0.0/15"
assert_eq "" "$rest" "one address"
assert_eq "$PNAME" "$(map "$a4")" "the name map holds $PNAME for $a4"
out=$(q --tcp "$STUB_IP" "$TCP" "$PNAME" AAAA)
read -r rc a6 rest <<<"$out"
assert_eq "NOERROR" "$rc" "TCP AAAA $PNAME: NOERROR ($out)"
assert_re "$a6" "^fdfe:dcba:9876:" "TCP AAAA $PNAME: a fake IPv6 in fdfe:dcba:9876::/48"
assert_eq "$PNAME" "$(map "$a6")" "the name map holds $PNAME for $a6"
assert_eq "NOERROR $a4" "$(q --tcp "$STUB_IP" "$TCP" "${PNAME^^}" A)" \
	"the same name in upper case over TCP: the same address"
out=$(q "$STUB_IP" "$UDP" "$BNAME" A)
read -r rc b4 rest <<<"$out"
assert_re "$b4" "^198\.1[89]\." "UDP A $BNAME (block rule): a fake address ($out)"
assert_eq "$BNAME" "$(map "$b4")" "the name map holds $BNAME"
assert_eq "NOERROR" "$(q "$STUB_IP" "$UDP" "$PNAME" 15)" "MX $PNAME: no data"
assert_eq "REFUSED" "$(q "$STUB_IP" "$UDP" "10.1.2.3" A)" "a numeric name is refused"

section "a program under the library sees the same fake address"
out=$(shim_run "$c" python3 -c '
import socket, sys
print(socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0],
      socket.getnameinfo((sys.argv[2], 80), socket.NI_NAMEREQD)[0])
' "$PNAME" "$a4" 2>&1)
assert_eq "$a4 $PNAME" "$out" \
	"getaddrinfo($PNAME) under proxyshim run gives the stub's $a4, getnameinfo gives the name back"

section "direct names: real answers, recorded"
out=$(q "$STUB_IP" "$UDP" "$DNAME" A)
assert_eq "NOERROR 10.77.0.7" "$out" "UDP A $DNAME: the stub's /etc/hosts address"
assert_eq "$DNAME" "$(map 10.77.0.7)" "the name map records $DNAME for 10.77.0.7"
assert_eq "NOERROR" "$(q --tcp "$STUB_IP" "$TCP" "$DNAME" AAAA)" \
	"TCP AAAA $DNAME: no data (the hosts file has IPv4 only)"
assert_eq "NXDOMAIN" "$(q "$STUB_IP" "$UDP" "$XNAME" A)" \
	"UDP A $XNAME: the DNS server's NXDOMAIN, passed on"
out=$(q "$STUB_IP" "$UDP" "$MNAME" AAAA)
assert_eq "NOERROR TC" "$out" "UDP AAAA $MNAME: 16 records pass 512 bytes: TC, no records"
out=$(q --tcp "$STUB_IP" "$TCP" "$MNAME" AAAA)
assert_eq "NOERROR $(printf 'fd00:77::%d ' $(seq 1 16) | sed 's/ $//')" "$out" \
	"TCP AAAA $MNAME: all 16 addresses"

section "no query for a proxied name left the machine"
dnslog=${SRV_LOG[dns]}
assert_match "$dnslog" "^query $XNAME 1\$" "the DNS server was asked for the direct name $XNAME"
assert_eq 0 "$(grep -cE "^query ($PNAME|$BNAME|${PNAME^^}) " "$dnslog")" \
	"the DNS server was never asked for $PNAME or $BNAME"
assert_eq 0 "$(grep -c "^query $DNAME " "$dnslog")" "nor for $DNAME (the hosts file answered)"

section "Go's own resolver, pointed at the stub"
if ! command -v go >/dev/null; then
	skip "Go's resolver: no go toolchain (golang-go)"
else
	export GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local \
		GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
	if out=$(CGO_ENABLED=0 go build -o "$T/golookup" "$IT_DIR/clients/golookup.go" 2>&1); then
		# The Go program's namespace: hosts without our names, the stub
		# as its nameserver.
		grep -vE "$DNAME" /etc/hosts >"$T/go-hosts"
		printf 'nameserver %s\noptions attempts:2 timeout:5\n' "$STUB_IP" >"$T/go-resolv"
		out=$(GODEBUG=netdns=go unshare --mount --propagation private -- \
			bash "$IT_DIR/nswrap.sh" --bind "$T/go-hosts" /etc/hosts \
			--bind "$T/go-resolv" /etc/resolv.conf -- \
			timeout 60 "$T/golookup" "$PNAME" "$BNAME" "$DNAME" "$XNAME" \
			"$MNAME" 2>&1)
		assert_eq "$PNAME $a4 $a6" "$(grep "^$PNAME " <<<"$out")" \
			"Go: $PNAME is the stub's fake IPv4 and IPv6 address"
		assert_eq "$BNAME $b4" "$(grep "^$BNAME " <<<"$out" | cut -d' ' -f1-2)" \
			"Go: $BNAME is its fake address"
		assert_eq "$DNAME 10.77.0.7" "$(grep "^$DNAME " <<<"$out")" \
			"Go: $DNAME is the real address the stub resolved"
		assert_eq 16 "$(grep "^$MNAME " <<<"$out" | tr ' ' '\n' | grep -c '^fd00:77::')" \
			"Go: $MNAME: 16 addresses (UDP said TC, Go asked again over TCP)"
		assert_re "$(grep "^$XNAME " <<<"$out")" "no such host" \
			"Go: $XNAME: no such host (NXDOMAIN passed on)"
		assert_eq 0 "$(grep -cE "^query ($PNAME|$BNAME) " "$dnslog")" \
			"after Go's lookups too, no query for $PNAME or $BNAME reached the DNS server"
	else
		fail "go build golookup (CGO_ENABLED=0): $out"
	fi
fi

section "the stub stops when told"
exec 7>&-
wait_for_log "$T/stub.log" "^stopped$" 20
if grep -q "^stopped$" "$T/stub.log"; then
	pass "end of the control line: every serving thread ended, exit"
else
	fail "the stub did not stop: $(tail -n 3 "$T/stub.log")"
fi
it_done
