#!/usr/bin/env bash
# Go's own resolver under `proxyshim run` with dns: remote
# (docs/behaviour.md#names-for-static-and-go-programs): the supervisor
# connects the Go program's DNS sockets (port 53 of its resolv.conf's
# nameserver) to its DNS stub, so a name that only the proxy can resolve
# reaches the proxy (microsocks, socks5h, whose private /etc/hosts has it)
# and the nameserver — a counting DNS server on port 53 of an address of
# 127.0.0.0/8 — is never asked for it.  Direct names still resolve for
# real: one in the hosts file (Go reads it itself) connects direct; an
# exempt one that no hosts file has is asked of the counting server (by
# the stub) and gets its NXDOMAIN.  With dns: local nothing is redirected:
# the counting server is asked for the proxied name and Go fails to resolve it.
#
# `proxyshim run` and the Go program run in a mount namespace of their own
# with that resolv.conf and hosts file (root only: skipped otherwise).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need_shim || it_done

if ! is_root || ! unshare --mount --propagation private -- true 2>/dev/null; then
	skip "Go DNS under run: needs root and a mount namespace (a private resolv.conf)"
	it_done
fi
if ! command -v go >/dev/null; then
	skip "Go DNS under run: no go toolchain (golang-go)"
	it_done
fi
export GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local \
	GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
for g in goget golookup; do
	if ! out=$(CGO_ENABLED=0 go build -o "$T/$g" "$IT_DIR/clients/$g.go" 2>&1); then
		fail "go build $g (CGO_ENABLED=0): $out"
		it_done
	fi
done

PNAME=only-the-proxy.example # the proxy's hosts file has it, nobody else's
DNAME=direct.example         # in the Go program's hosts file (loopback)
XNAME=gone.direct.example    # exempt, in no hosts file: the server's NXDOMAIN
MS_OUT=127.0.0.9

start_origin web || it_done
start_microsocks ms out=$MS_OUT hosts="$PNAME=127.0.0.1" || it_done
A=${SRV_PORT[web]}

# A counting DNS server on port 53 of a free address of 127.0.0.0/8
# (resolv.conf takes no port: lib.sh free_port53).
DNS_IP=$(free_port53 127.79)
if [[ -z $DNS_IP ]] || ! _it_opts host="$DNS_IP" port=53 || ! _it_new dns ||
	! _it_pyserver dns dns resolver_dns.py; then
	fail "counting DNS server on port 53 of 127.79.x.y"
	it_done
fi
dnslog=${SRV_LOG[dns]}
printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$DNS_IP" >"$T/resolv"
{
	grep -v "$PNAME" /etc/hosts
	echo "127.0.0.1 $DNAME"
} >"$T/hosts"

cfg() {
	proxy_cfg "$1" "http: \"socks5h://${SRV_ADDR[ms]}\"" \
		"dns: $2" "exempt: \"$XNAME\"" \
		"timeouts: {connect: 3s, handshake: 5s}"
}
REMOTE=$(cfg remote remote)
LOCAL=$(cfg local local)

# get CFG HOST: /whoami on HOST:A by the Go client under run -v, in the
# namespace; its output (the address the origin saw), run's log in $T/run.err.
get() {
	GODEBUG=netdns=go unshare --mount --propagation private -- \
		bash "$IT_DIR/nswrap.sh" --bind "$T/hosts" /etc/hosts \
		--bind "$T/resolv" /etc/resolv.conf -- \
		"$SHIM_CMD" run -v -c "$1" -- timeout 30 "$T/goget" get \
		"http://$2:$A/whoami" 2>"$T/run.err"
}
qcount() { grep -c "^query $1 " "$dnslog"; }

section "dns: remote: a name only the proxy knows, by Go's own resolver"
mark ms
out=$(get "$REMOTE" "$PNAME")
assert_eq "$MS_OUT" "${out%% *}" \
	"Go fetched http://$PNAME:$A/ through microsocks (the origin saw $MS_OUT)"
assert_crossed ms "$A" "microsocks logged the tunnel to port $A"
assert_match "${SRV_LOG[ms]}" "$PNAME" "microsocks was given the name $PNAME (socks5h)"
assert_eq 0 "$(qcount "$PNAME")" "the nameserver was never asked for $PNAME"
assert_match "$T/run.err" "UDP DNS to port 53 -> the DNS stub" \
	"run -v: the supervisor sent Go's DNS socket to its stub"

section "dns: remote: Go's queries over TCP"
out=$(GODEBUG=netdns=go unshare --mount --propagation private -- \
	bash "$IT_DIR/nswrap.sh" --bind "$T/hosts" /etc/hosts \
	--bind "$T/resolv" /etc/resolv.conf -- \
	"$SHIM_CMD" run -v -c "$REMOTE" -- timeout 30 "$T/golookup" -tcp "$PNAME" \
	2>"$T/run.err")
assert_re "$out" "^$PNAME 198\.1[89]\.[0-9.]+ fdfe:dcba:9876:" \
	"Go over TCP: $PNAME has its fake IPv4 and IPv6 addresses ($out)"
assert_match "$T/run.err" "TCP DNS to port 53 -> the DNS stub" \
	"run -v: the supervisor sent Go's TCP DNS socket to its stub"
assert_eq 0 "$(qcount "$PNAME")" "the nameserver was never asked for $PNAME"

section "dns: remote: direct names resolve for real"
mark ms
out=$(get "$REMOTE" "$DNAME")
assert_eq 127.0.0.1 "${out%% *}" "$DNAME (hosts file, loopback): direct, the origin saw 127.0.0.1"
assert_not_crossed ms "$A" "$DNAME: nothing through microsocks"
before=$(qcount "$XNAME")
out=$(get "$REMOTE" "$XNAME" 2>&1)
assert_re "$out" "no such host" "exempt $XNAME: no such host (the nameserver's NXDOMAIN)"
assert_re "$(qcount "$XNAME")" "^[1-9]" \
	"the stub asked the nameserver for the direct name $XNAME (was $before)"
assert_eq 0 "$(qcount "$PNAME")" "still no query for $PNAME"

section "dns: local: nothing redirected"
out=$(get "$LOCAL" "$PNAME" 2>&1)
assert_re "$out" "no such host" "dns: local: Go asks the nameserver itself and $PNAME is not found"
assert_re "$(qcount "$PNAME")" "^[1-9]" "dns: local: the nameserver was asked for $PNAME"
it_done
